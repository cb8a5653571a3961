"""The shared quota store: Redis, for several gateway instances (``redis://`` in the settings).

Every instance and worker runs the same Lua script, which reads every counter of an exchange
(consumer, consumer × service) and the overrides in force, and increments all of them or none:
Redis runs a script to the end before any other command, so the check-and-count is atomic
across the whole deployment — the guarantee :class:`gateway.quotas.SqliteQuotaStore` gives
on one host, and that Kong's cluster policy does not (it counts asynchronously).

Keys (``prefix`` defaults to ``ndxp:``; the braces are a Redis Cluster hash tag, so that
everything one exchange touches lives in one slot of a cluster)::

    {prefix}quota:{<consumer>}:<day>   hash: counter key → used, for one local day
    {prefix}override:{<consumer>}      hash: counter key → runtime limit

A day's hash expires :data:`EXPIRY_GRACE_S` after the local midnight that ends it
(Asia/Ho_Chi_Minh): the grace keeps a worker whose clock lags a little from recreating a
just-expired counter at zero. Overrides do not expire, as in SQLite.

Redis errors are raised as :class:`gateway.quotas.QuotaStoreUnavailable`; what the gateway
then does is the failure policy (:mod:`gateway.quota_policy`). The client gives up fast — one
immediate retry on a fresh connection (after a Redis restart every pooled connection is dead),
2 s socket timeouts by default — so a Redis outage costs each request milliseconds, not the
client library's default back-off of seconds; the pool reconnects on its own when Redis
returns, so recovery needs no restart. A reply lost after the script ran is retried once and
may count one admission twice: that can only under-admit, never over-admit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import date, datetime, time, timedelta
from time import time as wall_clock
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from gateway.quotas import LOCAL_TZ, QuotaDecision, QuotaRule, QuotaState, QuotaStoreUnavailable

DEFAULT_PREFIX = "ndxp:"
EXPIRY_GRACE_S = 3600
DEFAULT_TIMEOUT_S = 2.0
# Waiting for a free pooled connection is queueing in this process, not Redis failing: a
# burst of hundreds of exchanges in one worker must wait here, not turn into 503s.
POOL_TIMEOUT_S = 30.0
MAX_CONNECTIONS = 64  # per process; admissions are sub-millisecond, so few are ever busy
_T = TypeVar("_T")

# KEYS[2i-1], KEYS[2i]: the day's usage hash and the override hash of rule i.
# ARGV[1]: expiry (unix seconds) of the day's hashes; ARGV[1+i]: the counter key of rule i;
# ARGV[1+n+i]: the registry limit of rule i.
# Returns {admitted (0/1), used_1, limit_1, used_2, limit_2, ...}, usage before the admission;
# limits as strings, since Lua numbers are doubles and limits may be near 2^62.
_ACQUIRE = """
local n = (#ARGV - 1) / 2
local used, limits = {}, {}
local admitted = 1
for i = 1, n do
  local field = ARGV[1 + i]
  used[i] = tonumber(redis.call('HGET', KEYS[2 * i - 1], field) or '0')
  limits[i] = redis.call('HGET', KEYS[2 * i], field) or ARGV[1 + n + i]
  if used[i] >= tonumber(limits[i]) then admitted = 0 end
end
if admitted == 1 then
  for i = 1, n do
    redis.call('HINCRBY', KEYS[2 * i - 1], ARGV[1 + i], 1)
    redis.call('EXPIREAT', KEYS[2 * i - 1], ARGV[1])
  end
end
local out = {admitted}
for i = 1, n do
  out[2 * i] = used[i]
  out[2 * i + 1] = limits[i]
end
return out
"""


def _consumer_of(key: str) -> str:
    return key.partition("|")[0]


def day_expiry(day: date, now: float) -> int:
    """Unix time at which the counters of ``day`` expire: the local midnight that ends it plus
    the grace, and never sooner than the grace after ``now`` (a day already over, written by a
    lagging clock or a test's injected one, must not vanish at its first write)."""
    end = datetime.combine(day + timedelta(days=1), time(0), LOCAL_TZ)
    return int(max(end.timestamp(), now)) + EXPIRY_GRACE_S


def _glob_escape(text: str) -> str:
    # SCAN MATCH is a glob: the prefix and the day are literal text.
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)


class RedisQuotaStore:
    """:class:`gateway.quotas.QuotaStore` on Redis, shared by every gateway instance.

    Args:
        url: ``redis://[:password@]host:port/db`` (``rediss://`` for TLS); client options in
            the query string (e.g. ``?socket_timeout=2``) replace the defaults here.
        prefix: the start of every key; tests use their own and delete it afterwards.
    """

    def __init__(self, url: str, *, prefix: str = DEFAULT_PREFIX) -> None:
        self.url = url
        self.prefix = prefix
        options = set(parse_qs(urlsplit(url).query))
        defaults: dict[str, Any] = {
            "socket_timeout": DEFAULT_TIMEOUT_S,
            "socket_connect_timeout": DEFAULT_TIMEOUT_S,
            "timeout": POOL_TIMEOUT_S,
            "max_connections": MAX_CONNECTIONS,
        }
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            retry=Retry(NoBackoff(), 1),
            decode_responses=True,
            **{k: v for k, v in defaults.items() if k not in options},
        )
        self._redis = aioredis.Redis.from_pool(pool)  # owns the pool: aclose() closes it
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._closed = False

    def _usage_key(self, consumer: str, day: date) -> str:
        return f"{self.prefix}quota:{{{consumer}}}:{day.isoformat()}"

    def _override_key(self, consumer: str) -> str:
        return f"{self.prefix}override:{{{consumer}}}"

    async def _call(self, fn: Callable[[], Awaitable[_T]]) -> _T:
        if self._closed:
            raise RuntimeError("the quota store is closed")
        try:
            return await fn()
        except RedisError as exc:
            raise QuotaStoreUnavailable(f"redis: {exc}") from exc

    async def acquire(self, rules: Sequence[QuotaRule], day: date) -> QuotaDecision:
        """See :meth:`gateway.quotas.QuotaStore.acquire`; one Lua script, one round trip."""
        keys = [rule.key for rule in rules]
        if len(set(keys)) != len(keys):
            raise ValueError(f"quota rules must have distinct keys, got {keys}")
        if not rules:
            return QuotaDecision(admitted=True, states=(), violated=())
        script_keys: list[str] = []
        for rule in rules:
            consumer = _consumer_of(rule.key)
            script_keys += [self._usage_key(consumer, day), self._override_key(consumer)]
        args: list[str | int] = [day_expiry(day, wall_clock()), *keys]
        args += [rule.limit for rule in rules]
        reply = await self._call(lambda: self._acquire(keys=script_keys, args=args))
        admitted = reply[0] == 1
        states = []
        violated = []
        for i, rule in enumerate(rules):
            before, limit = int(reply[1 + 2 * i]), int(reply[2 + 2 * i])
            if before >= limit:
                violated.append(rule.policy)
            used = before + (1 if admitted else 0)
            states.append(QuotaState(rule.key, rule.policy, limit, used, max(0, limit - used)))
        return QuotaDecision(admitted=admitted, states=tuple(states), violated=tuple(violated))

    async def _scan(self, pattern: str) -> AsyncIterator[str]:
        async for key in self._redis.scan_iter(match=pattern, count=500):
            yield key

    async def usage(self, day: date) -> dict[str, int]:
        """See :meth:`gateway.quotas.QuotaStore.usage`: a ``SCAN``, an ``HGETALL`` per consumer."""
        pattern = f"{_glob_escape(self.prefix)}quota:{{*}}:{_glob_escape(day.isoformat())}"

        async def read() -> dict[str, int]:
            found: dict[str, int] = {}
            async for key in self._scan(pattern):
                counters = await self._redis.hgetall(key)
                found.update((str(field), int(used)) for field, used in counters.items())
            return found

        return await self._call(read)

    async def overrides(self) -> dict[str, int]:
        """See :meth:`gateway.quotas.QuotaStore.overrides`."""
        pattern = f"{_glob_escape(self.prefix)}override:{{*}}"

        async def read() -> dict[str, int]:
            found: dict[str, int] = {}
            async for key in self._scan(pattern):
                limits = await self._redis.hgetall(key)
                found.update((str(field), int(limit)) for field, limit in limits.items())
            return found

        return await self._call(read)

    async def set_override(self, key: str, limit: int | None) -> None:
        """See :meth:`gateway.quotas.QuotaStore.set_override`; a negative limit is refused."""
        hash_key = self._override_key(_consumer_of(key))
        if limit is None:
            await self._call(lambda: self._redis.hdel(hash_key, key))
            return
        if limit < 0:
            raise ValueError(f"a quota limit must be >= 0, got {limit}")
        await self._call(lambda: self._redis.hset(hash_key, key, limit))

    async def reset(self, day: date, key: str | None = None) -> None:
        """See :meth:`gateway.quotas.QuotaStore.reset`."""
        if key is not None:
            usage_key = self._usage_key(_consumer_of(key), day)
            await self._call(lambda: self._redis.hdel(usage_key, key))
            return
        pattern = f"{_glob_escape(self.prefix)}quota:{{*}}:{_glob_escape(day.isoformat())}"

        async def delete_all() -> None:
            async for found in self._scan(pattern):
                await self._redis.delete(found)

        await self._call(delete_all)

    async def ping(self) -> bool:
        """Whether Redis answers now (for health reports); never raises."""
        try:
            return bool(await self._redis.ping())
        except RedisError:
            return False

    async def delete_prefix(self) -> int:
        """Delete every key under this store's prefix (tests and benchmarks clean up with it)."""

        async def delete_all() -> int:
            deleted = 0
            async for found in self._scan(_glob_escape(self.prefix) + "*"):
                deleted += await self._redis.delete(found)
            return deleted

        return await self._call(delete_all)

    async def close(self) -> None:
        """Close the connection pool; idempotent."""
        if self._closed:
            return
        self._closed = True
        await self._redis.aclose()
