"""The driver-licence mock (CSDL giấy phép lái xe): lookup, renewal dossiers, result files."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import date, datetime

import httpx
import pytest
from fastapi import FastAPI

from contracts.driver_licence import Licence, RenewalDossier, RenewalDossierPage
from contracts.provinces import PROVINCES
from mock_services.driver_licence import (
    create_app,
    holder_of,
    holds_licence,
    licence_number_of,
    licence_of,
)
from mock_services.people import CITIZEN_COUNT, REFERENCE_DATE, keyed_random, permute, person
from mock_services.population import citizen_record, sample_ids
from ndxp_config.settings import Settings

SEED = 2024
DAY = {"from": "2024-06-02T17:00:00Z", "to": "2024-06-03T17:00:00Z"}  # 3 June 2024 in Vietnam
SEVEN_REPORTED_FIELDS = (
    "phone",
    "health_certificate_ref",
    "fees_collected",
    "current_administrative_unit",
    "result_date",
    "return_date",
    "result_file_id",
)


@pytest.fixture
async def client(
    settings: Settings, client_for: Callable[[FastAPI], httpx.AsyncClient]
) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(create_app(settings)) as c:
        yield c


def adults(count: int) -> list[str]:
    """Adult citizens from every province (the samples are born 1950–2000)."""
    per_province = count // len(PROVINCES) + 1
    ids = [pid for p in PROVINCES for pid in sample_ids(SEED, p.code, count=per_province)]
    return ids[:count]


def licensed(count: int) -> list[Licence]:
    holders = (person(SEED, pid) for pid in adults(count * 3))
    found = [licence_of(SEED, h) for h in holders if holds_licence(SEED, h)]
    assert len(found) >= count
    return found[:count]


async def renewal_day(client: httpx.AsyncClient, **params: object) -> RenewalDossierPage:
    response = await client.get("/v1/renewal-dossiers", params={**DAY, **params})
    assert response.status_code == 200, response.text
    return RenewalDossierPage.model_validate(response.json())


# --- licences ------------------------------------------------------------------------------


async def test_lookup_returns_the_holder_as_the_population_knows_them(
    client: httpx.AsyncClient,
) -> None:
    for expected in licensed(10):
        response = await client.get(f"/v1/licences/{expected.licence_number}")
        assert response.status_code == 200
        licence = Licence.model_validate(response.json())
        citizen = citizen_record(SEED, licence.personal_id)
        assert (licence.full_name, licence.date_of_birth) == (
            citizen.full_name,
            citizen.date_of_birth,
        )
        assert licence == expected


def test_about_45_percent_of_adults_hold_a_licence_and_no_minor_does() -> None:
    share = sum(holds_licence(SEED, person(SEED, pid)) for pid in adults(2000)) / 2000
    assert 0.40 < share < 0.50
    rng = keyed_random(SEED, "test-minors")
    born_2010s = (f"0382{rng.randint(10, 23)}{rng.randrange(10_000):06d}" for _ in range(300))
    minors = [person(SEED, pid) for pid in born_2010s]
    assert sum(m.age_on(REFERENCE_DATE) < 18 for m in minors) > 250
    assert not any(holds_licence(SEED, m) for m in minors if m.age_on(REFERENCE_DATE) < 18)


def test_licence_number_names_exactly_its_holder() -> None:
    for licence in licensed(50):
        assert holder_of(SEED, licence.licence_number).personal_id == licence.personal_id
    assert len({licence.licence_number for licence in licensed(200)}) == 200


async def test_numbers_of_non_holders_and_of_no_citizen_are_404(
    client: httpx.AsyncClient,
) -> None:
    non_holder = next(pid for pid in adults(50) if not holds_licence(SEED, person(SEED, pid)))
    beyond = f"{permute(SEED, 'licence', CITIZEN_COUNT + 7, 10**12):012d}"
    for number in (licence_number_of(SEED, non_holder), beyond):
        response = await client.get(f"/v1/licences/{number}")
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("bad", ["12345", "1234567890123", "12345678901a"])
async def test_malformed_licence_number_is_422(client: httpx.AsyncClient, bad: str) -> None:
    response = await client.get(f"/v1/licences/{bad}")
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_request"


def test_classes_follow_the_validity_and_age_rules() -> None:
    statuses = set()
    for licence in licensed(600):
        holder = person(SEED, licence.personal_id)
        for grant in licence.classes:
            age_at_issue = holder.age_on(grant.issue_date)
            assert age_at_issue >= {"C": 21, "D": 24, "FC": 24, "E": 27}.get(
                grant.licence_class, 18
            )
            assert grant.issue_date <= REFERENCE_DATE
            years = {"A1": None, "A2": None, "B2": 10, "C": 5, "D": 5, "E": 5, "FC": 5}
            if grant.licence_class in years:
                expected = years[grant.licence_class]
                if expected is None:
                    assert grant.expiry_date is None
                else:
                    assert grant.expiry_date is not None
                    assert grant.expiry_date.year - grant.issue_date.year == expected
            else:  # B1: to retirement age, or ten years if issued late
                assert grant.expiry_date is not None
                assert grant.expiry_date > grant.issue_date
        assert licence.issue_date == max(g.issue_date for g in licence.classes)
        expiries = [g.expiry_date for g in licence.classes if g.expiry_date is not None]
        assert licence.expiry_date == (min(expiries) if expiries else None)
        if licence.status in ("valid", "expired"):
            lapsed = licence.expiry_date is not None and licence.expiry_date < REFERENCE_DATE
            assert (licence.status == "expired") == lapsed
        statuses.add(licence.status)
    assert statuses == {"valid", "expired", "suspended", "revoked"}


# --- renewal dossiers ----------------------------------------------------------------------


async def test_renewal_dossiers_name_licence_holders_of_their_province_as_the_population_does(
    client: httpx.AsyncClient,
) -> None:
    page = await renewal_day(client, province="038", size=20)
    assert page.total > 5
    for dossier in page.items:
        assert dossier.province_code == "038"
        assert dossier.holder.personal_id.startswith("038")
        citizen = citizen_record(SEED, dossier.holder.personal_id)
        assert (dossier.holder.full_name, dossier.holder.date_of_birth) == (
            citizen.full_name,
            citizen.date_of_birth,
        )
        assert dossier.phone == citizen.phone
        ward = dossier.current_administrative_unit.ward
        assert citizen.permanent_address.endswith(f", {ward}, Tỉnh Thanh Hóa")
        licence = (await client.get(f"/v1/licences/{dossier.licence_number}")).json()
        assert licence["personal_id"] == dossier.holder.personal_id


async def test_renewal_fields_the_reports_found_missing_are_required_and_present(
    client: httpx.AsyncClient,
) -> None:
    required = set(RenewalDossier.model_json_schema()["required"])
    assert set(SEVEN_REPORTED_FIELDS) <= required
    page = await renewal_day(client, size=50)
    for dossier in page.items:
        assert all(getattr(dossier, name) is not None for name in SEVEN_REPORTED_FIELDS)
        assert dossier.procedure_name == "Đổi giấy phép lái xe do ngành Giao thông vận tải cấp"
        assert dossier.fees_collected == 135_000
        assert dossier.received_at < dossier.result_date < dossier.return_date
        exam = datetime.strptime(dossier.health_certificate_ref[6:12], "%y%m%d").date()
        assert exam < dossier.received_at.date()
        assert dossier.holder.date_of_birth <= date(dossier.received_at.year - 18, 12, 31)


async def test_renewal_pages_cover_the_window_in_result_order(client: httpx.AsyncClient) -> None:
    whole = await renewal_day(client, province="079", size=30)
    first = await renewal_day(client, province="079", size=10, page=1)
    second = await renewal_day(client, province="079", size=10, page=2)
    assert whole.total == first.total == second.total >= 20
    assert first.items + second.items == whole.items[:20]
    ends = [d.result_date for d in whole.items]
    assert ends == sorted(ends)
    start, end = (datetime.fromisoformat(DAY[k].replace("Z", "+00:00")) for k in ("from", "to"))
    assert all(start <= e < end for e in ends)


async def test_every_province_together_is_the_sum_of_each(client: httpx.AsyncClient) -> None:
    everyone = (await renewal_day(client, size=1)).total
    each = [(await renewal_day(client, province=p, size=1)).total for p in ("001", "038", "096")]
    assert everyone > sum(each) > 0


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"from": "2024-06-01T00:00:00Z", "to": "2024-07-03T00:00:00Z"}, id="32-days"),
        pytest.param({"from": "2024-06-03T00:00:00Z", "to": "2024-06-02T00:00:00Z"}, id="inverted"),
        pytest.param({"from": "2024-06-02T00:00:00", "to": "2024-06-03T00:00:00"}, id="no-offset"),
        pytest.param({**DAY, "province": "003"}, id="unknown-province"),
        pytest.param({**DAY, "size": 101}, id="size"),
        pytest.param({**DAY, "page": 0}, id="page"),
        pytest.param({"to": "2024-06-03T00:00:00Z"}, id="no-from"),
    ],
)
async def test_bad_windows_are_422_invalid_request(
    client: httpx.AsyncClient, params: dict[str, object]
) -> None:
    response = await client.get("/v1/renewal-dossiers", params=params)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "invalid_request"


async def test_dossier_detail_is_the_listed_dossier_and_unknown_ids_are_404(
    client: httpx.AsyncClient,
) -> None:
    page = await renewal_day(client, province="038", size=100)
    listed = page.items[-1]
    detail = await client.get(f"/v1/renewal-dossiers/{listed.dossier_id}")
    assert RenewalDossier.model_validate(detail.json()) == listed
    beyond = f"GPLX-038-20240603-{page.total:05d}"
    assert (await client.get(f"/v1/renewal-dossiers/{beyond}")).status_code == 404
    sunday = "GPLX-038-20240602-00000"
    assert (await client.get(f"/v1/renewal-dossiers/{sunday}")).json()["code"] == "not_found"
    assert (await client.get("/v1/renewal-dossiers/DN-038-20240603-00000")).status_code == 422


# --- result files --------------------------------------------------------------------------


async def test_result_file_is_a_pdf_and_other_file_ids_are_404(
    client: httpx.AsyncClient,
) -> None:
    dossier = (await renewal_day(client, province="038", size=1)).items[0]
    response = await client.get(f"/v1/files/{dossier.result_file_id}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-1.4")
    assert dossier.result_file_id in response.headers["content-disposition"]
    for missing in (
        dossier.result_file_id.replace("result-01", "result-02"),
        "GPLX-038-20240602-00000-result-01",
    ):
        problem = await client.get(f"/v1/files/{missing}")
        assert problem.status_code == 404
        assert problem.json()["code"] == "not_found"


# --- determinism ---------------------------------------------------------------------------


async def test_same_seed_gives_byte_identical_responses_and_another_seed_differs(
    make_settings: Callable[..., Settings],
    client_for: Callable[[FastAPI], httpx.AsyncClient],
) -> None:
    transcripts = []
    for seed in (SEED, SEED, SEED + 1):
        async with client_for(create_app(make_settings(seed=seed))) as client:
            listed = await client.get("/v1/renewal-dossiers", params={**DAY, "province": "038"})
            first = listed.json()["items"][0]
            transcripts.append(
                [
                    listed.content,
                    (await client.get(f"/v1/licences/{first['licence_number']}")).content,
                    (await client.get(f"/v1/files/{first['result_file_id']}")).content,
                ]
            )
    assert transcripts[0] == transcripts[1]
    assert transcripts[0] != transcripts[2]
