"""One typed method per operation of :mod:`contracts.catalogue`, grouped by national database.

``ndxp.population.get_citizen(...)`` and friends: each method is named exactly as the
catalogue's ``operation_id``, takes path parameters positionally, query parameters by keyword
(``from_``/``to`` for the wire's ``from``/``to``, since ``from`` is a Python keyword), request
bodies as the ``contracts`` request models, and returns the catalogue's response model (bytes
for file downloads). Every method takes ``timeout=`` to override the client's default for that
call; POSTs take ``idempotency_key=`` — without one a POST is never retried.

The methods only describe the call; sending, retrying and error mapping live in
:class:`connectors.client.NdxpClient`, reached through the small :class:`Caller` protocol
(:mod:`connectors.namespace`). A method whose request another already has — a v2 operation that
kept v1's request, a household business's or cooperative's lookups — is made from that one with
:func:`~connectors.namespace.twin`. A test holds this module and the catalogue equal, both ways.
"""

# ruff: noqa: ASYNC109 -- ``timeout=`` is httpx's per-phase Timeout (connect, read, write,
# pool) passed through to the request, as httpx's own API does; asyncio.timeout cannot say that.

from __future__ import annotations

from datetime import datetime

from connectors.namespace import Caller as Caller
from connectors.namespace import Namespace, twin
from connectors.namespace import TimeoutTypes as TimeoutTypes
from contracts import driver_licence_v2 as dl2
from contracts import population_v2 as pop2
from contracts.business_registry import DossierDetail, DossierPage, Entity
from contracts.catalogue import Provider
from contracts.civil_registry import (
    BirthRegistrationRequest,
    DeathRegistrationRequest,
    Registration,
    StatusChangePage,
)
from contracts.driver_licence import Licence, RenewalDossier, RenewalDossierPage
from contracts.judicial_records import Certificate, CertificateRequest, CertificateRequestStatus
from contracts.population import (
    Citizen,
    CitizenVerification,
    HouseholdVerification,
    LegacyIdMapping,
    VerificationResult,
)


class Population(Namespace):
    """*CSDLQG về dân cư* — the national population database."""

    provider: Provider = "population"

    async def get_citizen(
        self, personal_id: str, *, timeout: TimeoutTypes | None = None
    ) -> Citizen:
        """The 20 shared fields of a citizen; :class:`~connectors.errors.NotFound` if unknown."""
        return await self._send("get_citizen", Citizen, personal_id=personal_id, timeout=timeout)

    async def verify_citizen(
        self,
        body: CitizenVerification,
        *,
        idempotency_key: str | None = None,
        timeout: TimeoutTypes | None = None,
    ) -> VerificationResult:
        """Do this id, full name and date of birth belong together?"""
        return await self._send(
            "verify_citizen",
            VerificationResult,
            body=body,
            idempotency_key=idempotency_key,
            timeout=timeout,
        )

    async def verify_household(
        self,
        body: HouseholdVerification,
        *,
        idempotency_key: str | None = None,
        timeout: TimeoutTypes | None = None,
    ) -> VerificationResult:
        """Is this citizen in the household headed by ``head_personal_id``?"""
        return await self._send(
            "verify_household",
            VerificationResult,
            body=body,
            idempotency_key=idempotency_key,
            timeout=timeout,
        )

    async def resolve_legacy_id(
        self, old_id_number: str, *, timeout: TimeoutTypes | None = None
    ) -> LegacyIdMapping:
        """The 12-digit personal id of an old 9-digit ID number (*số CMND*)."""
        return await self._send(
            "resolve_legacy_id", LegacyIdMapping, old_id_number=old_id_number, timeout=timeout
        )

    # --- contract v2 (served beside v1; see contracts/population_v2.py for what changed) ---

    get_citizen_v2 = twin(
        get_citizen,
        "get_citizen_v2",
        pop2.Citizen,
        "The citizen in contract v2 (partial dates of birth, ``id_card_issued_on``).",
    )

    async def verify_citizen_v2(
        self,
        body: pop2.CitizenVerification,
        *,
        idempotency_key: str | None = None,
        timeout: TimeoutTypes | None = None,
    ) -> VerificationResult:
        """v1's verification, stating the procedure (``procedure_code``) it serves."""
        return await self._send(
            "verify_citizen_v2",
            VerificationResult,
            body=body,
            idempotency_key=idempotency_key,
            timeout=timeout,
        )

    verify_household_v2 = twin(
        verify_household,
        "verify_household_v2",
        VerificationResult,
        "Household membership, contract v2 (unchanged).",
    )
    resolve_legacy_id_v2 = twin(
        resolve_legacy_id,
        "resolve_legacy_id_v2",
        LegacyIdMapping,
        "Old 9-digit ID → personal id, contract v2 (unchanged).",
    )


class BusinessRegistry(Namespace):
    """*CSDLQG về đăng ký doanh nghiệp* — enterprises, household businesses, cooperatives."""

    provider: Provider = "business-registry"

    async def get_enterprise(self, code: str, *, timeout: TimeoutTypes | None = None) -> Entity:
        """An enterprise by its code (*mã số doanh nghiệp*)."""
        return await self._send("get_enterprise", Entity, code=code, timeout=timeout)

    async def list_enterprise_dossiers(
        self,
        *,
        from_: datetime,
        to: datetime,
        province: str | None = None,
        page: int | None = None,
        size: int | None = None,
        timeout: TimeoutTypes | None = None,
    ) -> DossierPage:
        """Enterprise dossiers processed in ``[from_, to)`` (at most 31 days), one page."""
        window = {"from_": from_, "to": to, "province": province, "page": page, "size": size}
        return await self._send("list_enterprise_dossiers", DossierPage, **window, timeout=timeout)

    async def get_enterprise_dossier(
        self, dossier_id: str, *, timeout: TimeoutTypes | None = None
    ) -> DossierDetail:
        """One enterprise dossier with its files."""
        return await self._send(
            "get_enterprise_dossier", DossierDetail, dossier_id=dossier_id, timeout=timeout
        )

    get_household_business = twin(
        get_enterprise,
        "get_household_business",
        Entity,
        "A household business (*hộ kinh doanh*) by its code.",
    )
    list_household_business_dossiers = twin(
        list_enterprise_dossiers,
        "list_household_business_dossiers",
        DossierPage,
        "Household-business dossiers processed in ``[from_, to)``, one page.",
    )
    get_household_business_dossier = twin(
        get_enterprise_dossier,
        "get_household_business_dossier",
        DossierDetail,
        "One household-business dossier with its files.",
    )
    get_cooperative = twin(
        get_enterprise, "get_cooperative", Entity, "A cooperative (*hợp tác xã*) by its code."
    )
    list_cooperative_dossiers = twin(
        list_enterprise_dossiers,
        "list_cooperative_dossiers",
        DossierPage,
        "Cooperative dossiers processed in ``[from_, to)``, one page.",
    )
    get_cooperative_dossier = twin(
        get_enterprise_dossier,
        "get_cooperative_dossier",
        DossierDetail,
        "One cooperative dossier with its files.",
    )

    async def download_file(self, file_id: str, *, timeout: TimeoutTypes | None = None) -> bytes:
        """A dossier component or result file (a PDF), as bytes."""
        return await self._send("download_file", bytes, file_id=file_id, timeout=timeout)


class DriverLicence(Namespace):
    """*CSDL giấy phép lái xe* — driver licences and their renewal dossiers."""

    provider: Provider = "driver-licence"

    async def get_licence(
        self, licence_number: str, *, timeout: TimeoutTypes | None = None
    ) -> Licence:
        """A driver licence by number, with its classes and status."""
        return await self._send(
            "get_licence", Licence, licence_number=licence_number, timeout=timeout
        )

    async def list_renewal_dossiers(
        self,
        *,
        from_: datetime,
        to: datetime,
        province: str | None = None,
        page: int | None = None,
        size: int | None = None,
        timeout: TimeoutTypes | None = None,
    ) -> RenewalDossierPage:
        """Renewal dossiers (*đổi GPLX*) whose processing ended in ``[from_, to)``, one page."""
        window = {"from_": from_, "to": to, "province": province, "page": page, "size": size}
        return await self._send(
            "list_renewal_dossiers", RenewalDossierPage, **window, timeout=timeout
        )

    async def get_renewal_dossier(
        self, dossier_id: str, *, timeout: TimeoutTypes | None = None
    ) -> RenewalDossier:
        """One renewal dossier with its result file id."""
        return await self._send(
            "get_renewal_dossier", RenewalDossier, dossier_id=dossier_id, timeout=timeout
        )

    async def download_file(self, file_id: str, *, timeout: TimeoutTypes | None = None) -> bytes:
        """A renewal's result file (a PDF), as bytes."""
        return await self._send("download_file", bytes, file_id=file_id, timeout=timeout)

    # --- contract v2 (see contracts/driver_licence_v2.py for what changed) ---

    get_licence_v2 = twin(
        get_licence,
        "get_licence_v2",
        dl2.Licence,
        "The licence in contract v2 (2025 classes, points, ``issued_by``).",
    )
    list_renewal_dossiers_v2 = twin(
        list_renewal_dossiers,
        "list_renewal_dossiers_v2",
        dl2.RenewalDossierPage,
        "Renewal dossiers in ``[from_, to)``, contract v2 (fees itemised).",
    )
    get_renewal_dossier_v2 = twin(
        get_renewal_dossier,
        "get_renewal_dossier_v2",
        dl2.RenewalDossier,
        "One renewal dossier, contract v2.",
    )
    download_file_v2 = twin(
        download_file,
        "download_file_v2",
        bytes,
        "A renewal's result file, contract v2 (unchanged).",
    )


class CivilRegistry(Namespace):
    """*Hộ tịch* — birth and death registrations and their status."""

    provider: Provider = "civil-registry"

    async def submit_birth_registration(
        self,
        body: BirthRegistrationRequest,
        *,
        idempotency_key: str | None = None,
        timeout: TimeoutTypes | None = None,
    ) -> Registration:
        """Register a birth (*đăng ký khai sinh*); a repeat returns the same registration.

        The registry is idempotent on ``body.dossier_code``, so the dossier code is a natural
        ``idempotency_key``; without a key the submission is sent once and never retried.
        """
        return await self._send(
            "submit_birth_registration",
            Registration,
            body=body,
            idempotency_key=idempotency_key,
            timeout=timeout,
        )

    async def submit_death_registration(
        self,
        body: DeathRegistrationRequest,
        *,
        idempotency_key: str | None = None,
        timeout: TimeoutTypes | None = None,
    ) -> Registration:
        """Register a death (*đăng ký khai tử*); idempotent on the dossier code likewise."""
        return await self._send(
            "submit_death_registration",
            Registration,
            body=body,
            idempotency_key=idempotency_key,
            timeout=timeout,
        )

    async def get_registration(
        self, registration_id: str, *, timeout: TimeoutTypes | None = None
    ) -> Registration:
        """A registration's status, history and, once processed, its result."""
        return await self._send(
            "get_registration", Registration, registration_id=registration_id, timeout=timeout
        )

    async def list_status_changes(
        self,
        *,
        since: datetime,
        cursor: str | None = None,
        province: str | None = None,
        limit: int | None = None,
        timeout: TimeoutTypes | None = None,
    ) -> StatusChangePage:
        """Status transitions after ``since`` (then after ``cursor``), oldest first: for sync."""
        query = {"since": since, "cursor": cursor, "province": province, "limit": limit}
        return await self._send("list_status_changes", StatusChangePage, **query, timeout=timeout)


class JudicialRecords(Namespace):
    """*Lý lịch tư pháp* — criminal-record certificate requests, their status, the certificate."""

    provider: Provider = "judicial-records"

    async def request_certificate(
        self,
        body: CertificateRequest,
        *,
        idempotency_key: str | None = None,
        timeout: TimeoutTypes | None = None,
    ) -> CertificateRequestStatus:
        """Request a Phiếu lý lịch tư pháp; a repeat returns the same request.

        Idempotent on ``body.dossier_code``, a natural ``idempotency_key``; without a key the
        request is sent once and never retried.
        """
        return await self._send(
            "request_certificate",
            CertificateRequestStatus,
            body=body,
            idempotency_key=idempotency_key,
            timeout=timeout,
        )

    async def get_certificate_request(
        self, request_id: str, *, timeout: TimeoutTypes | None = None
    ) -> CertificateRequestStatus:
        """The request's status and history; ``certificate_ready`` once issued."""
        return await self._send(
            "get_certificate_request",
            CertificateRequestStatus,
            request_id=request_id,
            timeout=timeout,
        )

    async def get_certificate(
        self, request_id: str, *, timeout: TimeoutTypes | None = None
    ) -> Certificate:
        """The issued certificate; :class:`~connectors.errors.Conflict` (409
        ``certificate_not_ready`` or ``request_rejected``) before or instead."""
        return await self._send(
            "get_certificate", Certificate, request_id=request_id, timeout=timeout
        )
