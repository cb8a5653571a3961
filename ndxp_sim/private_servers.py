"""The real engines for tests and benchmarks: the shared Redis and PostgreSQL, or private ones.

Conformance tests use the machine's shared servers (``NDXP_TEST_REDIS_URL``,
``NDXP_TEST_POSTGRES_URL``; defaults: Redis on 127.0.0.1:6379, PostgreSQL database ``test``
on 127.0.0.1:5432) under a key prefix or schema of their own. Tests that kill or stop a server
start a private one instead — :func:`private_redis`, :func:`private_postgres` — on a free
port in a temporary directory, so nobody else's server is ever touched.

Nothing here skips: a missing server or binary raises :class:`ServerMissing` with what to
install or start, so a CI without Redis or PostgreSQL fails loudly.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
START_TIMEOUT_S = 60.0
_PG_USER = "postgres"  # initdb and postgres refuse to run as root


class ServerMissing(RuntimeError):
    """A server or binary the test needs is not there; the message says how to get it."""


def redis_url() -> str:
    return os.environ.get("NDXP_TEST_REDIS_URL", DEFAULT_REDIS_URL)


def postgres_url() -> str:
    return os.environ.get("NDXP_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def _answers(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        try:
            sock.connect((host, port))
        except OSError:
            return False
    return True


def require_redis(url: str | None = None) -> str:
    """The shared Redis URL, once a TCP connection to it succeeds; else :class:`ServerMissing`."""
    url = url or redis_url()
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 6379
    if not _answers(host, port):
        raise ServerMissing(
            f"no Redis at {url}: start it (`.ci/run` does: redis-server --daemonize yes "
            "--port 6379 ...) or point NDXP_TEST_REDIS_URL at one"
        )
    return url


def require_postgres(url: str | None = None) -> str:
    """The shared PostgreSQL URL, once it accepts a connection; else :class:`ServerMissing`."""
    import psycopg

    url = url or postgres_url()
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        raise ServerMissing(
            f"no PostgreSQL at {url} ({exc}): start it (`.ci/run` does: pg_ctlcluster ... "
            "main start) or point NDXP_TEST_POSTGRES_URL at one"
        ) from None
    return url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _binary(name: str, hint: str) -> str:
    found = shutil.which(name)
    if found is None:
        for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
            return str(candidate)
        raise ServerMissing(f"{name} is not installed: {hint}")
    return found


def _wait(
    check: Callable[[], bool], what: str, process: subprocess.Popen[bytes] | None, log: Path
) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not check():
        if process is not None and process.poll() is not None:
            raise ServerMissing(f"{what} exited with {process.returncode}: {_tail(log)}")
        if time.monotonic() > deadline:
            raise ServerMissing(f"{what} did not answer in {START_TIMEOUT_S:.0f} s: {_tail(log)}")
        time.sleep(0.05)


def _tail(log: Path) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-10:])
    except FileNotFoundError:
        return "(no log)"


@dataclass
class PrivateRedis:
    """A redis-server of our own, persisting every write (AOF, fsync always) in ``directory``.

    ``appendfsync always``: an admission Redis acknowledged survives a SIGKILL, so a restart
    finds every count — what a production quota Redis needs too (see the README).
    """

    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log(self) -> Path:
        return self.directory / "redis.log"

    def start(self) -> None:
        binary = _binary("redis-server", "apt-get install redis-server")
        self.directory.mkdir(parents=True, exist_ok=True)
        argv = [
            binary,
            "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
            "--save", "", "--appendonly", "yes", "--appendfsync", "always",
            "--daemonize", "no", "--logfile", str(self.log),
        ]  # fmt: skip
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait(self.ping, f"redis-server on {self.port}", self.process, self.log)

    def ping(self) -> bool:
        """Whether the server answers PING now."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final save — a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        self.kill()
        self.process = None


@contextmanager
def private_redis(directory: Path) -> Iterator[PrivateRedis]:
    """A started :class:`PrivateRedis`, killed on exit."""
    server = PrivateRedis(directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class PrivatePostgres:
    """A PostgreSQL cluster of our own (initdb in ``directory``), trust auth on 127.0.0.1."""

    directory: Path
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"postgresql://{_PG_USER}@127.0.0.1:{self.port}/postgres"

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def log(self) -> Path:
        return self.directory / "postgres.log"

    def _run(self, argv: list[str]) -> None:
        if os.geteuid() == 0:
            argv = ["runuser", "-u", _PG_USER, "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ServerMissing(f"{' '.join(argv)}: {done.stdout}{done.stderr}{_tail(self.log)}")

    def init(self) -> None:
        initdb = _binary("initdb", "apt-get install postgresql")
        self.directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.directory, _PG_USER, _PG_USER)
        self._run([initdb, "-D", str(self.data), "-U", _PG_USER, "--auth=trust", "-E", "UTF8"])

    def start(self) -> None:
        pg_ctl = _binary("pg_ctl", "apt-get install postgresql")
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run([pg_ctl, "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start"])

    def stop(self, mode: str = "fast") -> None:
        pg_ctl = _binary("pg_ctl", "apt-get install postgresql")
        if (self.data / "postmaster.pid").exists():
            self._run([pg_ctl, "-D", str(self.data), "-m", mode, "-w", "stop"])


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A started :class:`PrivatePostgres` in a fresh directory of its own under the system's
    temporary directory (its user must reach it: pytest's ``tmp_path`` is private to root),
    stopped (immediate) and deleted on exit."""
    server = PrivatePostgres(Path(tempfile.mkdtemp(prefix="ndxp-pg-")))
    try:
        server.init()
        server.start()
        yield server
    finally:
        try:
            server.stop("immediate")
        finally:
            shutil.rmtree(server.directory, ignore_errors=True)
