"""Mock driver-licence database, contract v2 (:mod:`contracts.driver_licence_v2`) at ``/v2``.

The same licences and dossiers as v1, in v2's shape: each answer is v1's converted, so both
versions agree on the data and differ only where the contract does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from contracts.common import problem_responses
from contracts.driver_licence import Licence as LicenceV1
from contracts.driver_licence import RenewalDossier as RenewalDossierV1
from contracts.driver_licence import RenewalDossierPage as RenewalDossierPageV1
from contracts.driver_licence_v2 import (
    MAX_POINTS,
    FeeItem,
    Licence,
    LicenceClassGrant,
    RenewalDossier,
    RenewalDossierPage,
)
from mock_services import driver_licence as v1
from mock_services.openapi import Example
from mock_services.people import keyed_random
from mock_services.service import OperationRoute

router = APIRouter(prefix="/v2", route_class=OperationRoute, tags=["driver-licence v2"])


def licence_v2(seed: int, licence: LicenceV1) -> Licence:
    """v1's licence in v2's shape, with its points (12 unless deducted)."""
    rng = keyed_random(seed, "points", licence.licence_number)
    points = MAX_POINTS if rng.random() < 0.9 else rng.randint(0, MAX_POINTS - 1)
    data = licence.model_dump(exclude={"issuing_authority", "classes"})
    return Licence(
        **data,
        classes=[LicenceClassGrant(**grant.model_dump()) for grant in licence.classes],
        issued_by=licence.issuing_authority,
        points=points,
    )


def dossier_v2(dossier: RenewalDossierV1) -> RenewalDossier:
    """v1's dossier in v2's shape: v1's total is the renewal charge (lệ phí, Circular
    37/2023/TT-BTC); no fee (phí) is collected for a renewal, so it is the one item."""
    fees = [FeeItem(kind="charge", amount=dossier.fees_collected)]
    return RenewalDossier(
        **{**dossier.model_dump(exclude={"fees_collected"}), "fees_collected": fees}
    )


def page_v2(page: RenewalDossierPageV1) -> RenewalDossierPage:
    return RenewalDossierPage(
        items=[dossier_v2(d) for d in page.items], page=page.page, size=page.size, total=page.total
    )


@router.get(
    "/licences/{licence_number}", **v1._op("get_licence_v2"), responses=problem_responses(404, 422)
)
def get_licence(request: Request, licence_number: v1.LicenceNumberPath) -> Licence:
    """Number, holder, classes, status and points, in real time."""
    return licence_v2(request.app.state.seed, v1.get_licence(request, licence_number))


@router.get(
    "/renewal-dossiers", **v1._op("list_renewal_dossiers_v2"), responses=problem_responses(422)
)
def list_renewal_dossiers(
    request: Request,
    start: v1.FromQuery,
    end: v1.ToQuery,
    province: v1.ProvinceQuery = None,
    page: Annotated[int, Query(ge=1, description="1-based page number.")] = 1,
    size: Annotated[int, Query(ge=1, le=100, description="Page size, 1–100.")] = 20,
) -> RenewalDossierPage:
    """Renewal dossiers whose processing ended in ``[from, to)``, by end time, paginated."""
    return page_v2(v1.list_renewal_dossiers(request, start, end, province, page, size))


@router.get(
    "/renewal-dossiers/{dossier_id}",
    **v1._op("get_renewal_dossier_v2"),
    responses=problem_responses(404, 422),
)
def get_renewal_dossier(request: Request, dossier_id: v1.DossierIdPath) -> RenewalDossier:
    """One renewal dossier, fees itemised."""
    return dossier_v2(v1.get_renewal_dossier(request, dossier_id))


@router.get(
    "/files/{file_id}",
    **v1._op("download_file_v2"),
    response_class=Response,
    responses={**v1.PDF_RESPONSE, **problem_responses(404, 422)},
)
def download_file(request: Request, file_id: v1.FileIdPath) -> Response:
    """A renewal's result file as a PDF (unchanged from v1)."""
    return v1.download_file(request, file_id)


def examples_v2(seed: int, v1_examples: Mapping[str, Example]) -> dict[str, Example]:
    """v1's examples through v2: the same licence, day, dossier and file."""
    licence, page, dossier = (
        v1_examples[k].response
        for k in ("get_licence", "list_renewal_dossiers", "get_renewal_dossier")
    )
    assert isinstance(licence, LicenceV1)
    assert isinstance(dossier, RenewalDossierV1)
    assert isinstance(page, RenewalDossierPageV1)
    found = {
        "get_licence_v2": licence_v2(seed, licence),
        "list_renewal_dossiers_v2": page_v2(page),
        "get_renewal_dossier_v2": dossier_v2(dossier),
        "download_file_v2": None,
    }
    return {
        op: Example(
            v1_examples[op.removesuffix("_v2")].summary,
            v1_examples[op.removesuffix("_v2")].path_params,
            v1_examples[op.removesuffix("_v2")].query,
            response=response,
        )
        for op, response in found.items()
    }
