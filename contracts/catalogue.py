"""The catalogue of operations each national database publishes — method, path, response model.

One table, read by the mock services (their routes), the gateway (its default registry: only
these operations are routable) and the SDK (one typed method per operation). A *service* in
the gateway is ``"<provider>.<operation_id>"``, e.g. ``population.get_citizen``.
Paths carry the ``/v1`` contract version; response models are named ``"module:Class"`` inside
``contracts`` so that importing the catalogue stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Literal

Provider = Literal[
    "population", "business-registry", "driver-licence", "civil-registry", "judicial-records"
]


@dataclass(frozen=True, slots=True)
class Operation:
    provider: Provider
    operation_id: str
    method: Literal["GET", "POST"]
    path: str
    response_model: str | None  # "module:Class" in contracts; None for binary downloads
    summary: str

    @property
    def service(self) -> str:
        return f"{self.provider}.{self.operation_id}"

    def load_response_model(self) -> type | None:
        """The pydantic model the provider's 2xx body must satisfy (None for files)."""
        if self.response_model is None:
            return None
        module, _, name = self.response_model.partition(":")
        model: type = getattr(import_module(f"contracts.{module}"), name)
        return model


def _ops(provider: Provider, *rows: tuple[str, str, str, str | None, str]) -> tuple[Operation, ...]:
    return tuple(Operation(provider, op, m, p, r, s) for op, m, p, r, s in rows)  # type: ignore[arg-type]


OPERATIONS: tuple[Operation, ...] = (
    *_ops(
        "population",
        ("get_citizen", "GET", "/v1/citizens/{personal_id}", "population:Citizen",
         "Citizen lookup: the 20 shared fields (tra cứu thông tin công dân)"),
        ("verify_citizen", "POST", "/v1/citizens/verify", "population:VerificationResult",
         "Verify id + full name + date of birth (xác thực thông tin công dân)"),
        ("verify_household", "POST", "/v1/households/verify", "population:VerificationResult",
         "Verify household membership (xác thực thông tin hộ gia đình)"),
        ("resolve_legacy_id", "GET", "/v1/legacy-ids/{old_id_number}", "population:LegacyIdMapping",
         "Old 9-digit ID → 12-digit personal id (xác thực số CMND → số định danh)"),
    ),
    *_ops(
        "business-registry",
        ("get_enterprise", "GET", "/v1/enterprises/{code}", "business_registry:Entity",
         "Enterprise lookup by code (tra cứu doanh nghiệp)"),
        ("list_enterprise_dossiers", "GET", "/v1/enterprise-dossiers",
         "business_registry:DossierPage", "Enterprise dossiers processed in a time window"),
        ("get_enterprise_dossier", "GET", "/v1/enterprise-dossiers/{dossier_id}",
         "business_registry:DossierDetail", "Enterprise dossier detail"),
        ("get_household_business", "GET", "/v1/household-businesses/{code}",
         "business_registry:Entity", "Household business lookup (tra cứu hộ kinh doanh)"),
        ("list_household_business_dossiers", "GET", "/v1/household-business-dossiers",
         "business_registry:DossierPage", "Household-business dossiers in a time window"),
        ("get_household_business_dossier", "GET", "/v1/household-business-dossiers/{dossier_id}",
         "business_registry:DossierDetail", "Household-business dossier detail"),
        ("get_cooperative", "GET", "/v1/cooperatives/{code}", "business_registry:Entity",
         "Cooperative lookup (tra cứu hợp tác xã)"),
        ("list_cooperative_dossiers", "GET", "/v1/cooperative-dossiers",
         "business_registry:DossierPage", "Cooperative dossiers in a time window"),
        ("get_cooperative_dossier", "GET", "/v1/cooperative-dossiers/{dossier_id}",
         "business_registry:DossierDetail", "Cooperative dossier detail"),
        ("download_file", "GET", "/v1/files/{file_id}", None,
         "Download a dossier component or result file by id"),
    ),
    *_ops(
        "driver-licence",
        ("get_licence", "GET", "/v1/licences/{licence_number}", "driver_licence:Licence",
         "Driver-licence lookup (tra cứu giấy phép lái xe)"),
        ("list_renewal_dossiers", "GET", "/v1/renewal-dossiers",
         "driver_licence:RenewalDossierPage", "Renewal dossiers in a time window (đổi GPLX)"),
        ("get_renewal_dossier", "GET", "/v1/renewal-dossiers/{dossier_id}",
         "driver_licence:RenewalDossier", "Renewal dossier detail"),
        ("download_file", "GET", "/v1/files/{file_id}", None, "Download a result file by id"),
    ),
    *_ops(
        "civil-registry",
        ("submit_birth_registration", "POST", "/v1/birth-registrations",
         "civil_registry:Registration", "Submit a birth registration (đăng ký khai sinh)"),
        ("submit_death_registration", "POST", "/v1/death-registrations",
         "civil_registry:Registration", "Submit a death registration (đăng ký khai tử)"),
        ("get_registration", "GET", "/v1/registrations/{registration_id}",
         "civil_registry:Registration", "Registration status and result"),
        ("list_status_changes", "GET", "/v1/status-changes", "civil_registry:StatusChangePage",
         "Status changes since a timestamp, for sync (đồng bộ trạng thái)"),
    ),
    *_ops(
        "judicial-records",
        ("request_certificate", "POST", "/v1/certificate-requests",
         "judicial_records:CertificateRequestStatus",
         "Request a criminal-record certificate (yêu cầu cấp Phiếu lý lịch tư pháp)"),
        ("get_certificate_request", "GET", "/v1/certificate-requests/{request_id}",
         "judicial_records:CertificateRequestStatus", "Certificate request status"),
        ("get_certificate", "GET", "/v1/certificate-requests/{request_id}/certificate",
         "judicial_records:Certificate", "The issued certificate (Phiếu lý lịch tư pháp)"),
    ),
)  # fmt: skip

PROVIDERS: tuple[Provider, ...] = (
    "population",
    "business-registry",
    "driver-licence",
    "civil-registry",
    "judicial-records",
)


def operations_of(provider: Provider) -> tuple[Operation, ...]:
    return tuple(op for op in OPERATIONS if op.provider == provider)


def operation(provider: str, operation_id: str) -> Operation:
    """The operation with this id; ``KeyError`` if the provider does not publish it."""
    for op in OPERATIONS:
        if op.provider == provider and op.operation_id == operation_id:
            return op
    raise KeyError(f"{provider}.{operation_id}")
