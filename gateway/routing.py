"""Which registered operation a consumer's request names — and nothing else (no open proxy).

The consumer-facing URL is ``/{provider}{operation path}``: ``GET
/population/v1/citizens/038090001234`` is ``population.get_citizen``. Matching is done on the
*raw* path, segment by segment, before any decoding could smuggle a ``..`` or a ``/`` in:
empty segments (``//``), dot segments (``.``, ``..``, ``%2e%2e``), encoded slashes or
backslashes (``%2f``, ``%5c``), control characters and malformed escapes are all refused as
``unknown_service``, and literal segments must match the template byte for byte. What reaches
the provider is the same raw path minus the provider prefix, so the provider sees exactly the
segments that were checked (RFC 3986 §3.3, §5.2.4 on dot segments).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from urllib.parse import unquote

from gateway.errors import MethodNotAllowed, UnknownService
from gateway.registry import Registry, Timeouts
from ndxp_config.settings import Settings

# RFC 3986 pchar: unreserved / pct-encoded / sub-delims / ":" / "@".
_SEGMENT = re.compile(r"^(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})+$")
_FORBIDDEN_DECODED = re.compile(r"[/\\\x00-\x1f\x7f]")
# The common case in one match: segments of plain pchars, none escaped, none starting with a
# dot (so none is "." or ".."); anything else is checked segment by segment.
_PLAIN_PATH = re.compile(r"(?:/[A-Za-z0-9_~!$&'()*+,;=:@-][A-Za-z0-9._~!$&'()*+,;=:@-]*)+")


@dataclass(frozen=True, slots=True)
class Route:
    """A registered operation, resolved against settings: where it goes and how long to wait."""

    provider: str
    operation_id: str
    method: str
    path_template: str
    base_url: str
    timeouts: Timeouts
    response_model: str | None
    request_model: str | None = None
    shares_quota_of: str | None = None  # the registry's quota_service

    @property
    def service(self) -> str:
        return f"{self.provider}.{self.operation_id}"

    @property
    def quota_service(self) -> str:
        """The service whose daily counters an exchange draws on: its own, or the one it shares
        (a v2 operation its v1's)."""
        return self.shares_quota_of or self.service


@dataclass(frozen=True, slots=True)
class Match:
    route: Route
    upstream_path: str  # raw (still percent-encoded) path on the provider, e.g. /v1/citizens/0380…


_Pattern = tuple[str | None, ...]  # a literal segment, or None for a {parameter}


class Router:
    """Matches ``(method, raw path)`` to a :class:`Route`; built once per app from the registry."""

    def __init__(self, registry: Registry, settings: Settings) -> None:
        self.routes: list[Route] = []
        self._table: dict[tuple[str, str, int], list[tuple[_Pattern, Route]]] = defaultdict(list)
        # Every method of a provider's operations, for the Allow of a 405.
        self._methods: dict[str, set[str]] = defaultdict(set)
        for provider in registry.providers:
            base_url = registry.base_url(provider, settings)
            for op in provider.operations:
                route = Route(
                    provider=provider.name,
                    operation_id=op.id,
                    method=op.method,
                    path_template=op.path,
                    base_url=base_url,
                    timeouts=provider.timeouts.merged(op.timeouts),
                    response_model=op.response_model,
                    request_model=op.request_model,
                    shares_quota_of=op.quota_service,
                )
                self.routes.append(route)
                pattern: _Pattern = tuple(
                    None if seg.startswith("{") else seg for seg in op.path.split("/")[1:]
                )
                self._table[(provider.name, op.method, len(pattern))].append((pattern, route))
                self._methods[provider.name].add(op.method)
        for candidates in self._table.values():
            # A literal segment beats a parameter: /v1/x/verify before /v1/x/{id}.
            candidates.sort(key=lambda item: sum(seg is None for seg in item[0]))
        self.providers = frozenset(p.name for p in registry.providers)
        self.by_service = {route.service: route for route in self.routes}

    def match(self, method: str, raw_path: str) -> Match:
        """The operation at this method and raw path.

        Raises:
            UnknownService: for anything that is not exactly a registered operation.
        """
        segments = raw_path.split("/")
        if segments[0] != "" or len(segments) < 3:
            raise UnknownService(f"no service at {method} {_shown(raw_path)}")
        if not _PLAIN_PATH.fullmatch(raw_path):
            for segment in segments[1:]:
                if not _safe(segment):
                    raise UnknownService("the path has an empty, dot or encoded-separator segment")
        provider, rest = segments[1], segments[2:]
        for pattern, route in self._table.get((provider, method, len(rest)), ()):
            if _fits(pattern, rest):
                return Match(route, "/" + "/".join(rest))
        allowed = self.allowed_methods(provider, rest)
        if allowed:
            shown = ", ".join(allowed)
            raise MethodNotAllowed(
                f"{method} is not an operation at {_shown(raw_path)}; this path takes {shown}",
                headers={"Allow": shown},
            )
        raise UnknownService(f"no service at {method} {_shown(raw_path)}")

    def allowed_methods(self, provider: str, rest: list[str]) -> list[str]:
        """The methods of the most specific operations at this path (the ``Allow`` of a 405).

        As in the mocks, a literal segment wins over a parameter: ``PUT /v1/citizens/verify``
        is answered with ``Allow: POST`` (the verification), not with the ``GET`` of
        ``/v1/citizens/{personal_id}``.
        """
        best: dict[int, list[str]] = defaultdict(list)
        for method in self._methods.get(provider, ()):
            for pattern, _ in self._table.get((provider, method, len(rest)), ()):
                if _fits(pattern, rest):
                    best[sum(seg is None for seg in pattern)].append(method)
                    break
        return sorted(best[min(best)]) if best else []


def _fits(pattern: _Pattern, segments: list[str]) -> bool:
    return all(lit is None or lit == seg for lit, seg in zip(pattern, segments, strict=True))


def _safe(segment: str) -> bool:
    if not _SEGMENT.match(segment):
        return False
    try:
        decoded = unquote(segment, errors="strict") if "%" in segment else segment
    except UnicodeDecodeError:
        return False
    return decoded not in (".", "..") and not _FORBIDDEN_DECODED.search(decoded)


def _shown(raw_path: str) -> str:
    # Details end up in logs and exchange records; never echo an unbounded path.
    return raw_path if len(raw_path) <= 200 else raw_path[:200] + "…"
