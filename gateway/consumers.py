"""Onboarding at runtime (*đăng ký kết nối*): the consumers the gateway knows, in its store.

The YAML registry is the seed: at start-up each of its consumers is written to
``<state_dir>/consumers.db`` (SQLite, shared by every worker) unless ops changed it at runtime
since. From then on the store is the truth, changed through ``/admin/consumers``:
register (``pending``) → approve (``active``, a secret issued) → rotate the secret (the old
one accepted for a grace period) → suspend / reactivate / revoke; subscriptions and the
sandbox window (:class:`contracts.consumers.SandboxWindow`) changed in place.

Every worker reads a snapshot of the store and reloads it when SQLite's ``data_version``
says another connection committed, so a change made through one worker applies to the next
request in all of them. Secrets are kept as the YAML registry keeps them — this is a sandbox
whose kit hands them over; a production gateway would store a hash and show a secret once.

:class:`DirectoryAuthenticator` is the gateway's authenticator over this store: it refuses a
suspended or revoked consumer with its own 401 code, and a call outside the consumer's
sandbox window with 403 ``sandbox_window_closed`` and ``Retry-After``.
"""

from __future__ import annotations

import hmac
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jwt
from pydantic import SecretStr

from contracts.consumers import (
    ConsumerRecord,
    ConsumerRegistration,
    ConsumerStatus,
    SandboxWindow,
)
from gateway.auth import ALGORITHM, AUDIENCE, ISSUER, Authenticator, _bearer
from gateway.errors import (
    ConsumerNotActive,
    ConsumerRevoked,
    ConsumerSuspended,
    InvalidRequest,
    NotFound,
    SandboxWindowClosed,
    Unauthenticated,
)
from gateway.registry import (
    CONSUMER_DAILY_QUOTA,
    POPULATION_LOOKUPS_PER_DAY,
    ConsumerSpec,
    Registry,
)
from gateway.runtime import Runtime

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS consumers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    province TEXT,
    client_id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    source TEXT NOT NULL,
    subscriptions TEXT NOT NULL,
    daily_quota INTEGER,
    service_quotas TEXT NOT NULL,
    sandbox_window TEXT,
    changed_at_runtime INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS secrets (
    consumer_id TEXT NOT NULL,
    secret TEXT NOT NULL,
    issued_at REAL NOT NULL,
    expires_at REAL,
    PRIMARY KEY (consumer_id, secret)
);
"""


@dataclass(frozen=True, slots=True)
class Consumer:
    """One consumer as the store holds it."""

    spec: ConsumerSpec  # what the rest of the gateway reads (subscriptions, quotas)
    status: ConsumerStatus
    source: str
    sandbox_window: SandboxWindow | None
    secrets: tuple[tuple[str, float, float | None], ...]  # (secret, issued_at, expires_at)

    @property
    def current_secret(self) -> str | None:
        current = [s for s in self.secrets if s[2] is None]
        return max(current, key=lambda s: s[1])[0] if current else None

    def accepts(self, secret: str, now: float) -> bool:
        """Whether ``secret`` is the current one or a rotated one still in its grace."""
        ok = False
        for value, _, expires_at in self.secrets:
            valid = expires_at is None or now < expires_at
            ok |= hmac.compare_digest(value.encode(), secret.encode()) and valid
        return ok

    def record(self) -> ConsumerRecord:
        current = [s for s in self.secrets if s[2] is None]
        grace = [s[2] for s in self.secrets if s[2] is not None]
        return ConsumerRecord(
            id=self.spec.id,
            name=self.spec.name,
            province=self.spec.province,
            client_id=self.spec.client_id,
            status=self.status,
            source="registry" if self.source == "registry" else "runtime",
            subscriptions=list(self.spec.subscriptions),
            daily_quota=self.spec.daily_quota,
            service_quotas=dict(self.spec.service_quotas),
            sandbox_window=self.sandbox_window,
            secret_issued_at=_aware(max(s[1] for s in current)) if current else None,
            previous_secret_valid_until=_aware(max(grace)) if grace else None,
        )


def _aware(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class ConsumerDirectory:
    """The consumers in ``<state_dir>/consumers.db``, seeded from the registry."""

    def __init__(self, path: Path, registry: Registry, clock: Callable[[], float] = time.time):
        self._registry = registry
        self._clock = clock
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            path, timeout=30.0, isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._version = -1
        self._by_id: dict[str, Consumer] = {}
        self._by_client_id: dict[str, Consumer] = {}
        self._seed()

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            # data_version counts other connections' commits only: reload after our own.
            self._version = -1

    def _seed(self) -> None:
        now = self._clock()
        with self._write() as db:
            for c in self._registry.consumers:
                fields = (
                    c.name,
                    c.province,
                    c.client_id,
                    json.dumps(c.subscriptions),
                    c.daily_quota,
                    json.dumps(c.service_quotas),
                )
                db.execute(
                    "INSERT INTO consumers (id, name, province, client_id, status, source,"
                    " subscriptions, daily_quota, service_quotas) VALUES (?, ?, ?, ?, 'active',"
                    " 'registry', ?, ?, ?) ON CONFLICT(id) DO UPDATE SET name=excluded.name,"
                    " province=excluded.province, client_id=excluded.client_id,"
                    " subscriptions=excluded.subscriptions, daily_quota=excluded.daily_quota,"
                    " service_quotas=excluded.service_quotas WHERE changed_at_runtime = 0",
                    (c.id, *fields),
                )
                changed = db.execute(
                    "SELECT changed_at_runtime FROM consumers WHERE id = ?", (c.id,)
                ).fetchone()[0]
                if not changed:  # the YAML's secret is the consumer's one current secret
                    secret = c.client_secret.get_secret_value()
                    db.execute(
                        "DELETE FROM secrets WHERE consumer_id = ? AND secret != ?", (c.id, secret)
                    )
                    db.execute(
                        "INSERT OR IGNORE INTO secrets VALUES (?, ?, ?, NULL)", (c.id, secret, now)
                    )

    def _refresh(self) -> None:
        version = self._db.execute("PRAGMA data_version").fetchone()[0]
        if version == self._version:
            return
        rows = self._db.execute(
            "SELECT id, name, province, client_id, status, source, subscriptions, daily_quota,"
            " service_quotas, sandbox_window FROM consumers"
        ).fetchall()
        held: dict[str, list[tuple[str, float, float | None]]] = {}
        for consumer_id, secret, issued, expires in self._db.execute("SELECT * FROM secrets"):
            held.setdefault(consumer_id, []).append((secret, issued, expires))
        by_id = {}
        for row in rows:
            own = tuple(sorted(held.get(row[0], []), key=lambda s: s[1]))
            current = [s[0] for s in own if s[2] is None]
            spec = ConsumerSpec(
                id=row[0],
                name=row[1],
                province=row[2],
                client_id=row[3],
                client_secret=SecretStr(current[-1] if current else ""),
                subscriptions=json.loads(row[6]),
                daily_quota=row[7],
                service_quotas=json.loads(row[8]),
            )
            window = SandboxWindow.model_validate_json(row[9]) if row[9] else None
            by_id[row[0]] = Consumer(spec, row[4], row[5], window, own)
        self._by_id = by_id
        self._by_client_id = {c.spec.client_id: c for c in by_id.values()}
        self._version = version

    # --- reads (hot path) -----------------------------------------------------------------

    def get(self, consumer_id: str) -> Consumer | None:
        with self._lock:
            self._refresh()
            return self._by_id.get(consumer_id)

    def by_client_id(self, client_id: str) -> Consumer | None:
        with self._lock:
            self._refresh()
            return self._by_client_id.get(client_id)

    def all(self) -> list[Consumer]:
        with self._lock:
            self._refresh()
            return sorted(self._by_id.values(), key=lambda c: c.spec.id)

    def require(self, consumer_id: str) -> Consumer:
        found = self.get(consumer_id)
        if found is None:
            raise NotFound(f"no consumer {consumer_id!r}")
        return found

    # --- onboarding (admin API) -------------------------------------------------------------

    def register(self, new: ConsumerRegistration, services: set[str]) -> Consumer:
        """A new ``pending`` consumer (client id = its id); no secret until approved."""
        check_services(new.subscriptions, services, "subscriptions")
        check_services(list(new.service_quotas), services, "service_quotas", wildcard=False)
        window = new.sandbox_window.model_dump_json() if new.sandbox_window else None
        # Quotas left out get the registry's defaults, as every seeded consumer has them
        # (an explicit null or {} still means none).
        daily = new.daily_quota if "daily_quota" in new.model_fields_set else CONSUMER_DAILY_QUOTA
        per_service = (
            new.service_quotas
            if "service_quotas" in new.model_fields_set
            else {"population.get_citizen": POPULATION_LOOKUPS_PER_DAY}
        )
        try:
            with self._write() as db:
                db.execute(
                    "INSERT INTO consumers VALUES"
                    " (?, ?, ?, ?, 'pending', 'runtime', ?, ?, ?, ?, 1)",
                    (
                        new.id,
                        new.name,
                        new.province,
                        new.id,
                        json.dumps(new.subscriptions),
                        daily,
                        json.dumps(per_service),
                        window,
                    ),
                )
        except sqlite3.IntegrityError:
            raise ConsumerNotActive(f"a consumer {new.id!r} exists already") from None
        return self.require(new.id)

    def approve(self, consumer_id: str) -> tuple[Consumer, str]:
        """Issue the first secret of a pending consumer and make it active."""
        if self.require(consumer_id).status != "pending":
            raise ConsumerNotActive(f"{consumer_id} is not pending approval")
        secret = _new_secret()
        with self._write() as db:
            db.execute("UPDATE consumers SET status='active' WHERE id=?", (consumer_id,))
            db.execute(
                "INSERT INTO secrets VALUES (?, ?, ?, NULL)", (consumer_id, secret, self._clock())
            )
        return self.require(consumer_id), secret

    def rotate(self, consumer_id: str, grace_s: int) -> tuple[Consumer, str]:
        """A new secret; the current ones stay valid for ``grace_s`` seconds."""
        if self.require(consumer_id).status != "active":
            raise ConsumerNotActive(f"{consumer_id} is not active: approve or reactivate it")
        now, secret = self._clock(), _new_secret()
        with self._write() as db:
            db.execute(
                "UPDATE secrets SET expires_at=? WHERE consumer_id=? AND expires_at IS NULL",
                (now + grace_s, consumer_id),
            )
            db.execute(
                "DELETE FROM secrets WHERE consumer_id=? AND expires_at<=?", (consumer_id, now)
            )
            db.execute("INSERT INTO secrets VALUES (?, ?, ?, NULL)", (consumer_id, secret, now))
            _touch(db, consumer_id)
        return self.require(consumer_id), secret

    def set_status(self, consumer_id: str, status: ConsumerStatus) -> Consumer:
        """Suspend, reactivate or revoke (revoked is final)."""
        current = self.require(consumer_id).status
        allowed = {
            "suspended": {"active"},
            "active": {"suspended"},
            "revoked": {"active", "suspended", "pending"},
        }[status]
        if current not in allowed:
            raise ConsumerNotActive(f"{consumer_id} is {current}: it cannot become {status}")
        with self._write() as db:
            db.execute("UPDATE consumers SET status=? WHERE id=?", (status, consumer_id))
            _touch(db, consumer_id)
        return self.require(consumer_id)

    def set_subscriptions(self, consumer_id: str, subs: list[str], services: set[str]) -> Consumer:
        self.require(consumer_id)
        check_services(subs, services, "subscriptions")
        with self._write() as db:
            db.execute(
                "UPDATE consumers SET subscriptions=? WHERE id=?", (json.dumps(subs), consumer_id)
            )
            _touch(db, consumer_id)
        return self.require(consumer_id)

    def set_sandbox_window(self, consumer_id: str, window: SandboxWindow | None) -> Consumer:
        self.require(consumer_id)
        with self._write() as db:
            db.execute(
                "UPDATE consumers SET sandbox_window=? WHERE id=?",
                (window.model_dump_json() if window else None, consumer_id),
            )
            _touch(db, consumer_id)
        return self.require(consumer_id)


def _touch(db: sqlite3.Connection, consumer_id: str) -> None:
    # From now on the YAML seed no longer overwrites this consumer at start-up.
    db.execute("UPDATE consumers SET changed_at_runtime=1 WHERE id=?", (consumer_id,))


def _new_secret() -> str:
    return secrets.token_urlsafe(32)


def check_services(names: list[str], services: set[str], field: str, wildcard: bool = True) -> None:
    """Refuse a name that is not a registered service (or ``provider.*``)."""
    providers = {s.partition(".")[0] for s in services}
    for name in names:
        provider, _, op = name.partition(".")
        if name not in services and not (wildcard and op == "*" and provider in providers):
            raise InvalidRequest(f"{field}: unknown service {name!r}")


# --- sandbox windows ------------------------------------------------------------------------


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def window_open(window: SandboxWindow, at: datetime) -> bool:
    """Whether ``at`` (aware) falls in the window, in local time."""
    local = at.astimezone(LOCAL_TZ)
    minute = local.hour * 60 + local.minute
    for rule in window.rules:
        if local.isoweekday() not in rule.days:
            continue
        start, end = _minutes(rule.start), _minutes(rule.end)
        inside = start <= minute < end if start < end else minute >= start or minute < end
        if inside:
            return True
    return False


def seconds_until_open(window: SandboxWindow, at: datetime) -> int:
    """Whole seconds until the window next opens (a week at most)."""
    probe = at.replace(second=0, microsecond=0) + timedelta(minutes=1)
    for _ in range(7 * 24 * 60):
        if window_open(window, probe):
            return max(1, int((probe - at).total_seconds()))
        probe += timedelta(minutes=1)
    return 7 * 86400


# --- authentication over the store ------------------------------------------------------------


class DirectoryAuthenticator(Authenticator):
    """The gateway's authenticator with the consumers of a :class:`ConsumerDirectory`."""

    def __init__(
        self,
        directory: ConsumerDirectory,
        registry: Registry,
        *,
        secret: str,
        ttl_s: int,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(registry, secret=secret, ttl_s=ttl_s)
        self.directory = directory
        self._now = now
        self._key = secret
        self._claims: dict[str, tuple[str, float]] = {}

    def authenticate_client(self, client_id: str, client_secret: str) -> ConsumerSpec:
        consumer = self.directory.by_client_id(client_id)
        ok = consumer is not None and consumer.accepts(client_secret, self._now().timestamp())
        if consumer is None or not ok:
            raise Unauthenticated(
                "unknown client or wrong secret", extensions={"error": "invalid_client"}
            )
        _check_status(consumer)
        return consumer.spec

    def consumers(self) -> list[ConsumerSpec]:
        """The registry's consumers and those onboarded at runtime, whatever their status."""
        return [c.spec for c in self.directory.all()]

    def consumer(self, consumer_id: str) -> ConsumerSpec | None:
        found = self.directory.get(consumer_id)
        return None if found is None else found.spec

    def verify(self, authorization: str | None) -> ConsumerSpec:
        token = _bearer(authorization)
        cached = self._claims.get(token)
        if cached is None or cached[1] <= time.time():
            try:
                claims: dict[str, Any] = jwt.decode(
                    token,
                    self._key,
                    algorithms=[ALGORITHM],
                    audience=AUDIENCE,
                    issuer=ISSUER,
                    options={"require": ["sub", "iss", "aud", "iat", "exp", "jti"]},
                )
            except jwt.ExpiredSignatureError:
                raise Unauthenticated("the access token has expired") from None
            except jwt.InvalidTokenError as exc:
                raise Unauthenticated(f"invalid access token: {exc}") from None
            if len(self._claims) >= 4096:
                self._claims.clear()
            cached = self._claims[token] = (str(claims["sub"]), float(claims["exp"]))
        consumer = self.directory.get(cached[0])
        if consumer is None:
            raise Unauthenticated("the token's consumer is not registered")
        _check_status(consumer)
        window = consumer.sandbox_window
        now = self._now()
        if window is not None and not window_open(window, now):
            raise SandboxWindowClosed(
                f"{consumer.spec.id} may call only {window.description}",
                headers={"Retry-After": str(seconds_until_open(window, now))},
            )
        return consumer.spec


def _check_status(consumer: Consumer) -> None:
    if consumer.status == "suspended":
        raise ConsumerSuspended(f"{consumer.spec.id} is suspended; ask NDXP ops")
    if consumer.status == "revoked":
        raise ConsumerRevoked(f"{consumer.spec.id}'s access is revoked")
    if consumer.status != "active":
        raise Unauthenticated(f"{consumer.spec.id} is not approved yet")


def open_consumers(runtime: Runtime) -> ConsumerDirectory:
    """Open the store under the state directory and authenticate through it from now on."""
    directory = ConsumerDirectory(runtime.settings.state_dir / "consumers.db", runtime.registry)
    runtime.auth = DirectoryAuthenticator(
        directory,
        runtime.registry,
        secret=runtime.settings.gateway.jwt_secret.get_secret_value(),
        ttl_s=runtime.settings.gateway.token_ttl_s,
        now=lambda: runtime.clock(),
    )
    return directory
