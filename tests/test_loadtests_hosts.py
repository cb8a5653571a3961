"""Locust's ``--host`` as a list: users spread over several gateway instances in turn."""

from __future__ import annotations

from loadtests.hosts import host_for, split_hosts


def test_one_host_is_every_users_host() -> None:
    assert split_hosts("http://127.0.0.1:8000") == ["http://127.0.0.1:8000"]
    assert {host_for(i, "http://127.0.0.1:8000/") for i in range(5)} == {"http://127.0.0.1:8000"}


def test_a_list_spreads_users_round_robin() -> None:
    hosts = "http://127.0.0.1:8000, http://127.0.0.1:8001,http://127.0.0.1:8002"
    chosen = [host_for(i, hosts) for i in range(6)]
    assert (
        chosen
        == [
            "http://127.0.0.1:8000",
            "http://127.0.0.1:8001",
            "http://127.0.0.1:8002",
        ]
        * 2
    )


def test_no_host_is_none() -> None:
    assert split_hosts(None) == []
    assert host_for(3, "") is None
