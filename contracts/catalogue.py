"""The catalogue of operations each national database publishes — method, path, response model.

One table, read by the mock services (their routes), the gateway (its default registry: only
these operations are routable) and the SDK (one typed method per operation). A *service* in
the gateway is ``"<provider>.<operation_id>"``, e.g. ``population.get_citizen``.
Paths carry the contract version (``/v1``; ``/v2`` for the v2 of population and driver
licences, served side by side with v1); response models are named ``"module:Class"`` inside
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
    request_model: str | None = None  # "module:Class" of the JSON body; None: no body

    @property
    def service(self) -> str:
        return f"{self.provider}.{self.operation_id}"

    @property
    def version(self) -> int:
        """The contract version, the path's first segment: ``/v2/...`` is 2."""
        return int(self.path.split("/")[1].removeprefix("v"))

    @property
    def quota_service(self) -> str | None:
        """The service whose daily counter this one shares: a v2 operation's is its v1's (one
        quota for the lookup, whichever version a province calls); None: its own."""
        if self.version == 1:
            return None
        return f"{self.provider}.{self.operation_id.removesuffix(f'_v{self.version}')}"

    @property
    def contract(self) -> str:
        """The published document's name: ``population`` (v1) or ``population.v2``."""
        return contract_name(self.provider, self.version)

    def load_response_model(self) -> type | None:
        """The pydantic model the provider's 2xx body must satisfy (None for files)."""
        if self.response_model is None:
            return None
        module, _, name = self.response_model.partition(":")
        model: type = getattr(import_module(f"contracts.{module}"), name)
        return model


# The published request body of each operation that takes one (the gateway checks a provider's
# 400/422 against it: refusing a request the contract allows is drift too, FM-08).
REQUEST_MODELS: dict[str, str] = {
    "population.verify_citizen": "population:CitizenVerification",
    "population.verify_household": "population:HouseholdVerification",
    "population.verify_citizen_v2": "population_v2:CitizenVerification",
    "population.verify_household_v2": "population_v2:HouseholdVerification",
    "civil-registry.submit_birth_registration": "civil_registry:BirthRegistrationRequest",
    "civil-registry.submit_death_registration": "civil_registry:DeathRegistrationRequest",
    "judicial-records.request_certificate": "judicial_records:CertificateRequest",
}


def _ops(provider: Provider, *rows: tuple[str, str, str, str | None, str]) -> tuple[Operation, ...]:
    return tuple(
        Operation(provider, op, m, p, r, s, REQUEST_MODELS.get(f"{provider}.{op}"))  # type: ignore[arg-type]
        for op, m, p, r, s in rows
    )


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

# Contract v2 of two databases, served beside v1 (FM-08: contracts change; see
# contracts/population_v2.py and contracts/driver_licence_v2.py for what changed). A v2
# operation's id is its v1 id + "_v2", so services stay "<provider>.<operation id>".
V2_OPERATIONS: tuple[Operation, ...] = (
    *_ops(
        "population",
        ("get_citizen_v2", "GET", "/v2/citizens/{personal_id}", "population_v2:Citizen",
         "Citizen lookup, v2 (partial dates of birth, id_card_issued_on, VNeID level)"),
        ("verify_citizen_v2", "POST", "/v2/citizens/verify", "population_v2:VerificationResult",
         "Verify id + full name + date of birth, v2: states the procedure (mã TTHC) served"),
        ("verify_household_v2", "POST", "/v2/households/verify",
         "population_v2:VerificationResult", "Verify household membership, v2 (unchanged)"),
        ("resolve_legacy_id_v2", "GET", "/v2/legacy-ids/{old_id_number}",
         "population_v2:LegacyIdMapping", "Old 9-digit ID → 12-digit personal id, v2 (unchanged)"),
    ),
    *_ops(
        "driver-licence",
        ("get_licence_v2", "GET", "/v2/licences/{licence_number}", "driver_licence_v2:Licence",
         "Driver-licence lookup, v2 (2025 classes, points, issued_by)"),
        ("list_renewal_dossiers_v2", "GET", "/v2/renewal-dossiers",
         "driver_licence_v2:RenewalDossierPage", "Renewal dossiers in a time window, v2"),
        ("get_renewal_dossier_v2", "GET", "/v2/renewal-dossiers/{dossier_id}",
         "driver_licence_v2:RenewalDossier", "Renewal dossier detail, v2 (fees itemised)"),
        ("download_file_v2", "GET", "/v2/files/{file_id}", None,
         "Download a result file by id, v2 (unchanged)"),
    ),
)  # fmt: skip
OPERATIONS += V2_OPERATIONS

PROVIDERS: tuple[Provider, ...] = (
    "population",
    "business-registry",
    "driver-licence",
    "civil-registry",
    "judicial-records",
)


def contract_name(provider: str, version: int) -> str:
    """A published contract's file stem: the provider for v1, ``<provider>.v<N>`` after."""
    return provider if version == 1 else f"{provider}.v{version}"


def operations_of(provider: Provider) -> tuple[Operation, ...]:
    return tuple(op for op in OPERATIONS if op.provider == provider)


def operation(provider: str, operation_id: str) -> Operation:
    """The operation with this id; ``KeyError`` if the provider does not publish it."""
    for op in OPERATIONS:
        if op.provider == provider and op.operation_id == operation_id:
            return op
    raise KeyError(f"{provider}.{operation_id}")
