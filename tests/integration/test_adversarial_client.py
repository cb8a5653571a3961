"""An adversarial province on real sockets: every abuse gets its documented code, one record.

The gateway runs on a real uvicorn server with the options ``serve-gateway`` uses
(:func:`gateway.server.uvicorn_options`: the :class:`gateway.protocol.EdgeProtocol`), small
limits and short deadlines; a raw socket plays the client. For each case: the status and the
problem ``code``; exactly one exchange record, read back through the admin API; and the same
worker still serves a good call afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from prometheus_client import CollectorRegistry

from gateway.app import create_app
from gateway.protocol import EdgeLimits
from gateway.registry import render_registry
from gateway.server import uvicorn_options
from gateway.testing import (
    ADMIN_TOKEN,
    THANH_HOA,
    free_port,
    gateway_settings,
    small_registry,
)

pytestmark = pytest.mark.integration

MAX_BODY = 65_536
LIMITS = EdgeLimits(
    max_head_bytes=8_192,
    max_header_count=50,
    header_timeout_s=2.0,
    body_timeout_s=2.0,
    linger_s=2.0,
)
CITIZEN = "/population/v1/citizens/038090001234"
VERIFY = "/population/v1/citizens/verify"
VALID = {"loc": ["body"], "msg": "ok", "type": "t"}
DEEP = 30_000  # far deeper than any parser's stack, within the body limit
WAIT_S = 60.0  # bounds a hang only; every wait below ends on a condition


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def problem(self) -> dict[str, Any]:
        assert self.headers.get("content-type") == "application/problem+json", self.headers
        problem: dict[str, Any] = json.loads(self.body)
        return problem


@dataclass
class Gateway:
    url: str
    port: int
    token: str
    seen: list[httpx.Request]  # what the provider received
    admin: httpx.Client

    def records(self, **filters: str) -> list[dict[str, Any]]:
        page = self.admin.get("/admin/exchanges", params={"limit": 1000, **filters})
        page.raise_for_status()
        items: list[dict[str, Any]] = page.json()["items"]
        return items

    def wait_for_records(self, count: int, **filters: str) -> list[dict[str, Any]]:
        """The records matching ``filters`` once there are ``count`` (the log writes async)."""
        deadline = time.monotonic() + WAIT_S
        while True:
            found = self.records(**filters)
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)  # polling a condition, not waiting out a race

    def record_of(self, answer: Answer) -> dict[str, Any]:
        """The one record of this answer's exchange id (fails if there are none or two)."""
        exchange_id = answer.headers["x-ndxp-exchange-id"]
        deadline = time.monotonic() + WAIT_S
        while True:
            found = [r for r in self.records() if r["exchange_id"] == exchange_id]
            if found or time.monotonic() > deadline:
                assert len(found) == 1, found
                return found[0]
            time.sleep(0.05)

    def still_serves(self) -> None:
        response = httpx.get(
            self.url + CITIZEN, headers={"Authorization": f"Bearer {self.token}"}, timeout=WAIT_S
        )
        assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    state = Path(tmp_path_factory.mktemp("adversarial")) / "state"
    settings = gateway_settings(state, small_registry(), max_request_bytes=MAX_BODY)
    seen: list[httpx.Request] = []

    def provider(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=VALID)

    transport = httpx.MockTransport(provider)
    app = create_app(
        settings,
        transports={"population": transport, "civil-registry": transport},
        registry=CollectorRegistry(),
    )
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, **uvicorn_options(LIMITS))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_S
    while not server.started:
        assert thread.is_alive(), "the gateway did not start"
        assert time.monotonic() < deadline, "the gateway did not start in time"
        thread.join(0.01)
    url = f"http://127.0.0.1:{port}"
    try:
        token = httpx.post(
            url + "/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": THANH_HOA[0],
                "client_secret": THANH_HOA[1],
            },
        ).json()["access_token"]
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=WAIT_S
        ) as admin:
            yield Gateway(url, port, token, seen, admin)
    finally:
        server.should_exit = True
        thread.join(WAIT_S)


def talk(port: int, *parts: bytes, close_write: bool = False) -> Answer | None:
    """Send ``parts`` on a fresh connection (in a thread, so a refusal can be read while the
    rest is still being sent); read one answer, or None if the server closed without one."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT_S)

    def send() -> None:
        try:
            for part in parts:
                sock.sendall(part)
            if close_write:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server refused and closed first: what it answered is read below

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    received = b""
    try:
        while not complete(received) and (chunk := sock.recv(65_536)):
            received += chunk
    except ConnectionResetError:
        pass
    finally:
        sock.close()
        sender.join(WAIT_S)
    return parse(received) if received else None


def complete(raw: bytes) -> bool:
    head, found, body = raw.partition(b"\r\n\r\n")
    if not found:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False  # no length: read until the server closes


def parse(raw: bytes) -> Answer:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", len(body)))
    return Answer(int(lines[0].split()[1]), headers, body[:length])


def request(method: str, target: str, *headers: str, body: bytes = b"") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: gateway.test", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def deep_json(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@dataclass(frozen=True)
class Case:
    """One abuse: the bytes to send (given the token), the status and code it must get."""

    send: Callable[[str], list[bytes]]
    status: int
    code: str
    allow: str | None = None


def bearer(token: str) -> str:
    return f"Authorization: Bearer {token}"


CASES = {
    "ten_thousand_headers": Case(
        lambda t: [request("GET", CITIZEN, bearer(t), *(f"X-H{i}: v" for i in range(10_000)))],
        431,
        "request_header_fields_too_large",
    ),
    "eight_megabyte_header": Case(
        lambda t: [
            request("GET", CITIZEN, bearer(t))[:-2],
            b"X-Big: ",
            b"a" * 8_000_000,
            b"\r\n\r\n",
        ],
        431,
        "request_header_fields_too_large",
    ),
    "head_never_finished": Case(
        lambda t: [request("GET", CITIZEN, bearer(t))[:-4]],
        408,
        "request_timeout",
    ),
    "body_trickled_then_stopped": Case(
        lambda t: [
            request(
                "POST",
                VERIFY,
                bearer(t),
                "Content-Type: application/json",
                "Content-Length: 100",
            ),
            b'{"a": ',
        ],
        408,
        "request_timeout",
    ),
    "token_endpoint_declared_256_mib": Case(
        lambda t: [request("POST", "/oauth2/token", f"Content-Length: {256 << 20}")],
        413,
        "payload_too_large",
    ),
    "admin_declared_256_mib_without_credentials": Case(
        lambda t: [
            request("PUT", "/admin/quotas/onestop-thanh-hoa", f"Content-Length: {256 << 20}")
        ],
        413,
        "payload_too_large",
    ),
    "token_endpoint_chunked_past_the_limit": Case(
        lambda t: [
            request("POST", "/oauth2/token", "Transfer-Encoding: chunked"),
            *[b"4000\r\n" + b"a" * 0x4000 + b"\r\n"] * 5,  # 80 KiB, then the client stalls
        ],
        413,
        "payload_too_large",
    ),
    "admin_chunked_past_the_limit_without_credentials": Case(
        lambda t: [
            request(
                "PUT",
                "/admin/quotas/onestop-thanh-hoa",
                "Transfer-Encoding: chunked",
                "Content-Type: application/json",
            ),
            *[b"4000\r\n" + b"a" * 0x4000 + b"\r\n"] * 5,
        ],
        413,
        "payload_too_large",
    ),
    "json_nested_30_000_deep": Case(
        lambda t: [
            request(
                "POST",
                VERIFY,
                bearer(t),
                "Content-Type: application/json",
                f"Content-Length: {2 * DEEP}",
                body=deep_json(DEEP),
            )
        ],
        400,
        "invalid_request",
    ),
    "admin_json_nested_30_000_deep": Case(
        lambda t: [
            request(
                "PUT",
                "/admin/quotas/onestop-thanh-hoa",
                f"Authorization: Bearer {ADMIN_TOKEN}",
                "Content-Type: application/json",
                f"Content-Length: {2 * DEEP}",
                body=deep_json(DEEP),
            )
        ],
        400,
        "invalid_request",
    ),
    "two_authorization_headers": Case(
        lambda t: [request("GET", CITIZEN, bearer(t), "Authorization: Bearer forged")],
        400,
        "invalid_request",
    ),
    "chunk_size_not_hexadecimal": Case(
        lambda t: [
            request(
                "POST",
                VERIFY,
                bearer(t),
                "Content-Type: application/json",
                "Transfer-Encoding: chunked",
            ),
            b"2\r\n{}\r\nzz\r\n",
        ],
        400,
        "invalid_request",
    ),
    "garbage_instead_of_a_request": Case(
        lambda t: [b"\x16\x03\x01\x02\x00 not http at all\r\n\r\n"],
        400,
        "invalid_request",
    ),
    "options_asterisk": Case(
        lambda t: [request("OPTIONS", "*")],
        400,
        "invalid_request",
    ),
    "trace": Case(
        lambda t: [request("TRACE", CITIZEN, bearer(t))],
        405,
        "method_not_allowed",
        allow="GET",  # the methods of that path, not of the gateway
    ),
    "connect": Case(
        lambda t: [request("CONNECT", "example.com:443")],
        405,
        "method_not_allowed",
        allow="DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT",
    ),
    "crlf_in_the_path": Case(
        lambda t: [request("GET", "/population/v1/citizens/%0d%0aX-Injected:%201", bearer(t))],
        404,
        "unknown_service",
    ),
    "wrong_method_on_the_token_endpoint": Case(
        lambda t: [request("DELETE", "/oauth2/token")],
        405,
        "method_not_allowed",
        allow="POST",
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_abuse_gets_its_code_one_record_and_the_worker_keeps_serving(
    gateway: Gateway, case: Case
) -> None:
    before = len(gateway.records())
    answer = talk(gateway.port, *case.send(gateway.token))
    assert answer is not None, "the gateway closed without answering"
    assert answer.status == case.status, answer
    assert answer.problem["code"] == case.code
    assert answer.headers["x-ndxp-error"] == case.code
    if case.allow is not None:
        assert answer.headers["allow"] == case.allow
    record = gateway.record_of(answer)
    assert (record["status_code"], record["outcome"]) == (case.status, case.code)
    assert len(gateway.records()) == before + 1  # logged once, and nothing else
    gateway.still_serves()


def test_a_client_gone_mid_body_is_recorded_as_client_disconnected_499(gateway: Gateway) -> None:
    before = len(gateway.records(outcome="client_disconnected"))
    head = request(
        "POST",
        VERIFY,
        bearer(gateway.token),
        "Content-Type: application/json",
        "Content-Length: 100",
    )
    assert talk(gateway.port, head, b'{"a": ', close_write=True) is None
    found = gateway.wait_for_records(before + 1, outcome="client_disconnected")
    assert len(found) == before + 1
    assert found[0]["status_code"] == 499
    gateway.still_serves()


def test_trailers_never_reach_the_provider(gateway: Gateway) -> None:
    body = b'{"personal_id": "038090001234"}'
    answer = talk(
        gateway.port,
        request(
            "POST",
            VERIFY,
            bearer(gateway.token),
            "Content-Type: application/json",
            "Transfer-Encoding: chunked",
            "Connection: close",
        ),
        b"%x\r\n%s\r\n0\r\nX-Smuggled: yes\r\nX-NDXP-Consumer: onestop-ha-noi\r\n\r\n"
        % (len(body), body),
    )
    assert answer is not None
    assert answer.status == 200, answer
    forwarded = gateway.seen[-1]
    assert forwarded.content == body
    assert "x-smuggled" not in forwarded.headers
    assert forwarded.headers["x-ndxp-consumer"] == THANH_HOA[0]
    assert gateway.record_of(answer)["outcome"] == "ok"


def test_a_percent_encoded_personal_id_is_masked_in_the_record(gateway: Gateway) -> None:
    encoded = "".join(f"%{ord(c):02X}" for c in "038090001234")
    answer = talk(
        gateway.port,
        request(
            "GET", f"/population/v1/unknown/{encoded}", bearer(gateway.token), "Connection: close"
        ),
    )
    assert answer is not None
    assert answer.status == 404
    record = gateway.record_of(answer)
    assert record["outcome"] == "unknown_service"
    assert "038*****1234" in record["detail"]
    assert encoded not in record["detail"]
    assert "038090001234" not in record["detail"]


def test_connections_that_never_send_a_byte_are_closed(gateway: Gateway) -> None:
    idle = [socket.create_connection(("127.0.0.1", gateway.port)) for _ in range(20)]
    try:
        for sock in idle:
            sock.settimeout(WAIT_S)
            assert sock.recv(1) == b""  # closed by the head deadline, nothing answered
    finally:
        for sock in idle:
            sock.close()
    gateway.still_serves()


def test_slow_heads_are_cut_while_good_calls_are_served(gateway: Gateway) -> None:
    slow = []
    for _ in range(50):
        sock = socket.create_connection(("127.0.0.1", gateway.port))
        sock.sendall(request("GET", CITIZEN)[:-4])  # the head never ends
        slow.append(sock)
    try:
        gateway.still_serves()  # while 50 slowloris connections are held
        for sock in slow:
            sock.settimeout(WAIT_S)
            received = b""
            while chunk := sock.recv(4096):
                received += chunk
            assert parse(received).status == 408
    finally:
        for sock in slow:
            sock.close()


def test_serve_gateway_runs_the_edge_protocol_in_every_worker(tmp_path: Path) -> None:
    """``ndxp-sim serve-gateway`` (2 workers) uses the edge protocol, limits from NDXP_."""
    registry = tmp_path / "registry.yaml"
    registry.write_text(render_registry(small_registry()), encoding="utf-8")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NDXP_")} | {
        "NDXP_STATE_DIR": str(tmp_path / "state"),
        "NDXP_GATEWAY__REGISTRY_PATH": str(registry),
        "NDXP_GATEWAY__PORT": str(port),
        "NDXP_GATEWAY__WORKERS": "2",
        "NDXP_GATEWAY__MAX_HEADER_COUNT": "20",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
    }
    log = (tmp_path / "gateway.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "ndxp_sim", "serve-gateway"], env=env, stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + WAIT_S
        while True:
            assert process.poll() is None, (tmp_path / "gateway.log").read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass  # not listening yet
            assert time.monotonic() < deadline, (tmp_path / "gateway.log").read_text()
            time.sleep(0.1)
        for _ in range(4):  # new connections, whichever worker accepts each
            answer = talk(port, request("GET", CITIZEN, *(f"X-H{i}: v" for i in range(21))))
            assert answer is not None
            assert answer.status == 431
            assert answer.problem["code"] == "request_header_fields_too_large"
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(WAIT_S)
        log.close()
