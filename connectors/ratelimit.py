"""Reading the gateway's quota headers, and remembering them per policy for the reserve.

The gateway follows draft-ietf-httpapi-ratelimit-headers (drafts 09–11 share this shape):
``RateLimit-Policy`` lists every policy a request draws on and ``RateLimit`` the tightest one,
both as RFC 8941 Structured-Field lists::

    RateLimit-Policy: "daily";q=200000;w=86400, "daily-population.get_citizen";q=50000;w=86400
    RateLimit: "daily-population.get_citizen";r=49120;t=3713

``r`` is what is left today, ``t`` the seconds to the reset (local midnight in
Asia/Ho_Chi_Minh). Policy names are ``daily`` (the consumer's own quota) and
``daily-<service>``. The parser is tolerant: an item it cannot read is skipped, never raised
on, since a quota header must never make a successful call fail.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

CONSUMER_POLICY = "daily"
_ITEM = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|([A-Za-z*][A-Za-z0-9_\-.:%*/]*))\s*((?:;[^,;]*)*)')


@dataclass(frozen=True, slots=True)
class RateLimit:
    """One item of ``RateLimit``: ``remaining`` requests of ``policy`` for ``reset_s`` more s."""

    policy: str
    remaining: int
    reset_s: int | None


@dataclass(frozen=True, slots=True)
class RateLimitPolicy:
    """One item of ``RateLimit-Policy``: ``quota`` requests per ``window_s`` seconds."""

    policy: str
    quota: int
    window_s: int | None


def _split_list(value: str) -> list[str]:
    """Top-level members of an SF list: commas inside quoted strings do not split."""
    members: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            members.append("".join(current))
            current = []
            continue
        current.append(char)
    members.append("".join(current))
    return [member.strip() for member in members if member.strip()]


def _items(value: str | None) -> list[tuple[str, dict[str, int]]]:
    """``(name, integer params)`` for every readable member of an SF list header."""
    found: list[tuple[str, dict[str, int]]] = []
    for member in _split_list(value or ""):
        match = _ITEM.fullmatch(member)
        if match is None:
            continue
        name = match[1] if match[1] is not None else match[2]
        name = re.sub(r"\\(.)", r"\1", name)
        params: dict[str, int] = {}
        for param in match[3].split(";")[1:]:
            key, _, raw = param.strip().partition("=")
            if raw.strip().lstrip("-").isdigit():
                params[key.strip()] = int(raw)
        found.append((name, params))
    return found


def parse_ratelimit(value: str | None) -> list[RateLimit]:
    """The items of a ``RateLimit`` header; those without ``r`` are skipped."""
    return [
        RateLimit(policy=name, remaining=params["r"], reset_s=params.get("t"))
        for name, params in _items(value)
        if "r" in params
    ]


def parse_ratelimit_policy(value: str | None) -> list[RateLimitPolicy]:
    """The items of a ``RateLimit-Policy`` header; those without ``q`` are skipped."""
    return [
        RateLimitPolicy(policy=name, quota=params["q"], window_s=params.get("w"))
        for name, params in _items(value)
        if "q" in params
    ]


def policies_of(service: str) -> tuple[str, str]:
    """The policy names a call of ``service`` draws on: the consumer's and the service's."""
    return CONSUMER_POLICY, f"{CONSUMER_POLICY}-{service}"


class QuotaTracker:
    """The last ``remaining`` seen per policy, forgotten once its reset time has passed.

    Counters only go down within a day, so a remembered figure is an upper bound of what is
    really left (other calls may have used some since): the reserve check is never stricter
    than the truth, and a reset always lifts it.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._seen: dict[str, tuple[int, float | None]] = {}

    def observe(self, header: str | None) -> RateLimit | None:
        """Remember the items of a ``RateLimit`` header; returns the tightest (or None)."""
        items = parse_ratelimit(header)
        now = self._clock()
        for item in items:
            until = None if item.reset_s is None else now + item.reset_s
            self._seen[item.policy] = (item.remaining, until)
        return min(items, key=lambda item: item.remaining) if items else None

    def remaining(self, service: str) -> tuple[str, int, float | None] | None:
        """``(policy, remaining, seconds to reset)`` of the tightest known policy of ``service``."""
        now = self._clock()
        known: list[tuple[str, int, float | None]] = []
        for policy in policies_of(service):
            seen = self._seen.get(policy)
            if seen is None:
                continue
            remaining, until = seen
            if until is not None and until <= now:
                del self._seen[policy]  # the day has turned: the figure no longer holds
                continue
            known.append((policy, remaining, None if until is None else until - now))
        return min(known, key=lambda entry: entry[1]) if known else None
