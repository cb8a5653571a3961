"""``--host`` as a list: Locust users spread over several gateway instances.

``ndxp-sim up --replicas N --no-nginx`` (or without nginx installed) prints its instances'
URLs; pass them comma-separated (``--host http://127.0.0.1:8000,http://127.0.0.1:8001``) and
each simulated user talks to one of them, in turn, so the instances share the users evenly.
With nginx in front, pass its one URL as usual. No Locust import here (tests import it).
"""

from __future__ import annotations


def split_hosts(host: str | None) -> list[str]:
    """The URLs of a ``--host`` value: one, or several separated by commas."""
    return [part.strip().rstrip("/") for part in (host or "").split(",") if part.strip()]


def host_for(user_index: int, host: str | None) -> str | None:
    """The URL user number ``user_index`` talks to: round-robin over the list (None: none)."""
    hosts = split_hosts(host)
    return hosts[user_index % len(hosts)] if hosts else None
