"""The VDXP route's wire: X-Road's REST message protocol (PR-REST) as ndxp-sim speaks it.

A call through VDXP names its service by X-Road identifiers instead of the gateway's path::

    GET /r1/VN/GOV/BCA/CSDLQGDC/population/v1/citizens/038090001234
        X-Road-Client: VN/GOV/UBND-038/MCDT        (INSTANCE/CLASS/MEMBER[/SUBSYSTEM])

is the gateway's ``GET /population/v1/citizens/038090001234``. The identifiers are
``/r1/{instance}/{member class}/{member code}/{subsystem}/{service code}`` (``r1``: PR-REST's
major version); each national database is one member's subsystem publishing one REST service
whose code is the gateway's provider name — the rest of the path is the operation's own.
Member codes are the owning ministry's initials (BCA: Public Security, BKHĐT → BKHDT:
Planning and Investment, BGTVT: Transport, BTP: Justice); subsystem codes the database's.
They are ours, for the simulation, not codes any registry assigned.

Errors raised by the route itself (not the provider's, which pass through unchanged) follow
X-Road: an ``X-Road-Error: <code>`` header and ``{"type", "message", "detail"}``. X-Road 7.8
(XRDDEV-2962) respelled the codes in lower snake case: ``Server.ServerProxy.AccessDenied``
became ``server.serverproxy.access_denied``; :func:`error_type` gives either spelling.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, unquote

PROTOCOL_VERSION = "r1"
MEMBER_CLASS = "GOV"
CLIENT_HEADER = "X-Road-Client"
ID_HEADER = "X-Road-Id"
SERVICE_HEADER = "X-Road-Service"
REQUEST_ID_HEADER = "X-Road-Request-Id"
ERROR_HEADER = "X-Road-Error"

Spelling = Literal["7.7", "7.8"]


@dataclass(frozen=True, slots=True)
class XRoadService:
    """The X-Road identifiers of one national database's REST service."""

    provider: str
    member_code: str
    subsystem_code: str

    def service_id(self, instance: str) -> str:
        """``INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE``, as ``X-Road-Service`` carries it."""
        parts = (instance, MEMBER_CLASS, self.member_code, self.subsystem_code, self.provider)
        return "/".join(parts)


SERVICES: tuple[XRoadService, ...] = (
    XRoadService("population", "BCA", "CSDLQGDC"),  # CSDL quốc gia về dân cư
    XRoadService("business-registry", "BKHDT", "CSDLQGDKDN"),  # đăng ký doanh nghiệp
    XRoadService("driver-licence", "BGTVT", "CSDLGPLX"),  # giấy phép lái xe
    XRoadService("civil-registry", "BTP", "HTDT"),  # hộ tịch điện tử
    XRoadService("judicial-records", "BTP", "LLTP"),  # lý lịch tư pháp
)
_BY_PROVIDER = {service.provider: service for service in SERVICES}
_CLIENT_ID = re.compile(r"^[^/\s]+/[^/\s]+/[^/\s]+(?:/[^/\s]+)?$")


class PathError(ValueError):
    """A PR-REST path that names no service; ``code`` is the X-Road error (7.7 spelling)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def service_of(provider: str) -> XRoadService:
    """The X-Road identifiers of ``provider`` (KeyError: not a national database)."""
    return _BY_PROVIDER[provider]


def pr_rest_path(instance: str, provider: str, gateway_path: str) -> str:
    """The PR-REST path of a gateway path ``/{provider}/...``'s remainder ``gateway_path``."""
    service = service_of(provider)
    ids = (
        PROTOCOL_VERSION,
        instance,
        MEMBER_CLASS,
        service.member_code,
        service.subsystem_code,
        provider,
    )
    return "/" + "/".join(quote(part, safe="") for part in ids) + gateway_path


def gateway_path(raw_path: str, instance: str) -> tuple[XRoadService, str]:
    """The service a raw PR-REST path names, and the gateway path it maps to.

    The rest of the path is passed on byte for byte (the gateway checks it segment by
    segment); only the five identifiers are decoded, as PR-REST percent-encodes them.
    """
    parts = raw_path.split("/", 7)  # "", r1, instance, class, member, subsystem, service, rest
    if len(parts) < 2 or parts[1] != PROTOCOL_VERSION:
        version = parts[1] if len(parts) > 1 else ""
        raise PathError(
            "Server.ClientProxy.InvalidProtocolVersion",
            f"the path must start /{PROTOCOL_VERSION}/ (PR-REST), not /{version}",
        )
    if len(parts) < 7 or not all(parts[2:7]):
        raise PathError(
            "Client.InvalidRequest",
            "the path must name /r1/{instance}/{class}/{member}/{subsystem}/{service}",
        )
    ids = [unquote(part) for part in parts[2:7]]
    got_instance, member_class, member, subsystem, code = ids
    service = _BY_PROVIDER.get(code)
    if (
        got_instance != instance
        or member_class != MEMBER_CLASS
        or service is None
        or (member, subsystem) != (service.member_code, service.subsystem_code)
    ):
        raise PathError(
            "Server.ServerProxy.UnknownService", f"Unknown service: SERVICE:{'/'.join(ids)}"
        )
    rest = "/" + parts[7] if len(parts) == 8 else ""
    return service, f"/{service.provider}{rest}"


def valid_client(value: str | None) -> bool:
    """``INSTANCE/CLASS/MEMBER[/SUBSYSTEM]``, as ``X-Road-Client`` must be."""
    return value is not None and _CLIENT_ID.fullmatch(value) is not None


def client_id(instance: str, province: str) -> str:
    """The X-Road client of a province's one-stop system: ``VN/GOV/UBND-038/MCDT``.

    (*UBND*: the provincial People's Committee; *MCĐT*: its one-stop information system.)
    """
    return f"{instance}/{MEMBER_CLASS}/UBND-{province}/MCDT"


def _snake(part: str) -> str:
    # "IOError" → "io_error": a word starts at a capital after a lower case letter, or at
    # the last capital of a run followed by a lower case one.
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", part).lower()


def error_type(code: str, spelling: Spelling) -> str:
    """``code`` (7.7 spelling, e.g. ``Server.ServerProxy.ServiceFailed.IOError``) as sent.

    7.8 lowercases the origin prefix (``server.serverproxy``) and writes each part of the
    code in snake case (``service_failed.io_error``).
    """
    if spelling == "7.7":
        return code
    parts = code.split(".")
    prefix_len = 2 if parts[0] == "Server" else 1
    prefix = [part.lower() for part in parts[:prefix_len]]
    return ".".join(prefix + [_snake(part) for part in parts[prefix_len:]])


__all__ = [
    "CLIENT_HEADER",
    "ERROR_HEADER",
    "ID_HEADER",
    "MEMBER_CLASS",
    "PROTOCOL_VERSION",
    "REQUEST_ID_HEADER",
    "SERVICES",
    "SERVICE_HEADER",
    "PathError",
    "Spelling",
    "XRoadService",
    "client_id",
    "error_type",
    "gateway_path",
    "pr_rest_path",
    "service_of",
    "valid_client",
]
