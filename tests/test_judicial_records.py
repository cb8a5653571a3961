"""The judicial-records mock (lý lịch tư pháp): idempotent requests, the applicant checked
against the population, the time-scaled lifecycle, certificates and convictions."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from contracts.judicial_records import Certificate, CertificateRequestStatus
from mock_services.judicial_records import (
    create_app,
    example_request,
    nth_request_id,
)
from mock_services.judicial_records_data import (
    CONVICTED_SHARE,
    DUE_MINUTES,
    convictions_of,
    steps_of,
)
from mock_services.people import CITIZEN_COUNT, citizen_at, person
from mock_services.population import citizen_record
from ndxp_config.settings import MockSettings, Settings
from tests.lifecycle_mocks import FakeClock, store_of

SEED = 2024
PATH = "/v1/certificate-requests"


@pytest.fixture
def app(settings: Settings, clock: FakeClock) -> FastAPI:
    return create_app(settings, clock=clock)


def body(code: str = "000.00.38.H38-241230-0101", **changes: Any) -> dict[str, Any]:
    """The published example request (a real Thanh Hóa citizen), with this dossier code."""
    return {**example_request(SEED).model_dump(mode="json"), "dossier_code": code, **changes}


def convicted_ids(count: int, *, start: int = 0) -> list[str]:
    """Citizens with a conviction on record, found by scanning the population in order."""
    found: list[str] = []
    index = start
    while len(found) < count:
        pid = citizen_at(index % CITIZEN_COUNT)
        if convictions_of(SEED, pid, "so_2", date(2024, 12, 31)):
            found.append(pid)
        index += 7919  # a prime stride: many provinces and cohorts
    return found


# --- requests ------------------------------------------------------------------------------


async def test_first_request_is_201_received_and_a_repeat_is_200_with_the_same_request(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    first = await client.post(PATH, json=body())
    again = await client.post(PATH, json=body())
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    status = CertificateRequestStatus.model_validate(first.json())
    assert (status.status, status.status_code, status.certificate_ready) == ("received", 2, False)
    assert status.request_id.startswith("LT038")
    assert store_of(settings, "judicial-records").count() == 1


async def test_concurrent_repeats_create_exactly_one_request(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    responses = await asyncio.gather(*(client.post(PATH, json=body()) for _ in range(8)))
    assert sorted(r.status_code for r in responses) == [200] * 7 + [201]
    assert len({r.json()["request_id"] for r in responses}) == 1
    assert store_of(settings, "judicial-records").count() == 1


async def test_same_dossier_code_with_a_different_body_is_409_dossier_code_conflict(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    assert (await client.post(PATH, json=body())).status_code == 201
    response = await client.post(PATH, json=body(certificate_type="so_2"))
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "dossier_code_conflict"
    assert store_of(settings, "judicial-records").count() == 1


@pytest.mark.parametrize(
    "applicant",
    [
        pytest.param({"personal_id": "038090991234"}, id="unknown-id"),
        pytest.param({"full_name": "Trần Văn Khác"}, id="wrong-name"),
        pytest.param({"date_of_birth": "1901-01-01"}, id="wrong-date-of-birth"),
    ],
)
async def test_an_applicant_who_is_not_that_citizen_is_422_citizen_mismatch(
    client: httpx.AsyncClient, settings: Settings, applicant: dict[str, str]
) -> None:
    sent = body()
    response = await client.post(
        PATH, json={**sent, "applicant": {**sent["applicant"], **applicant}}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "citizen_mismatch"
    assert response.json()["detail"].startswith("applicant:")
    assert store_of(settings, "judicial-records").count() == 0


async def test_the_population_record_s_name_and_date_are_accepted(
    client: httpx.AsyncClient,
) -> None:
    sent = body()
    citizen = citizen_record(SEED, sent["applicant"]["personal_id"])
    applicant = {
        **sent["applicant"],
        "full_name": citizen.full_name.upper(),
        "date_of_birth": citizen.date_of_birth.isoformat(),
    }
    assert (await client.post(PATH, json={**sent, "applicant": applicant})).status_code == 201


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        pytest.param({"delivery": {"method": "post"}}, "address", id="post-without-address"),
        pytest.param(
            {"delivery": {"method": "electronic", "address": "1 Lê Lợi"}}, "address", id="address"
        ),
        pytest.param(
            {"applicant": {"personal_id": "038090001234", "date_of_birth": 0}},
            "date_of_birth",
            id="date-of-birth-0",  # not 1970-01-01: an RFC 3339 date, as every contract
        ),
        pytest.param({"certificate_type": "so_3"}, "certificate_type", id="type"),
        pytest.param({"copies": 11}, "copies", id="copies"),
        pytest.param({"province_code": "999"}, "province_code", id="province"),
    ],
)
async def test_an_invalid_request_is_a_problem_naming_the_field(
    client: httpx.AsyncClient, settings: Settings, changes: dict[str, Any], where: str
) -> None:
    response = await client.post(PATH, json=body(**changes))
    assert response.status_code in (400, 422)
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "invalid_request"  # refused by the contract itself
    assert where in response.text
    assert store_of(settings, "judicial-records").count() == 0


# --- lifecycle and certificate -------------------------------------------------------------


async def test_a_request_is_verified_then_issued_and_the_certificate_is_the_citizen_s(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    created = CertificateRequestStatus.model_validate((await client.post(PATH, json=body())).json())
    rid = created.request_id
    early = await client.get(f"{PATH}/{rid}/certificate")
    assert early.status_code == 409
    assert early.json()["code"] == "certificate_not_ready"

    seen: list[str] = []
    for _ in range(200):  # walk the clock an hour at a time until the request settles
        clock.now += timedelta(hours=1)
        now = CertificateRequestStatus.model_validate((await client.get(f"{PATH}/{rid}")).json())
        if not seen or seen[-1] != now.status:
            seen.append(now.status)
        if now.status == "issued":
            break
    assert seen == ["verifying", "issued"] or seen == ["issued"]
    assert now.certificate_ready
    assert now.issued_at is not None
    assert [t.status for t in now.history] == ["received", "verifying", "issued"]
    assert now.status_code == 9

    cert = Certificate.model_validate((await client.get(f"{PATH}/{rid}/certificate")).json())
    citizen = citizen_record(SEED, body()["applicant"]["personal_id"])
    assert (cert.personal_id, cert.full_name, cert.date_of_birth) == (
        citizen.personal_id,
        citizen.full_name,
        citizen.date_of_birth,
    )
    assert cert.issued_on == now.issued_at.date()
    assert cert.certificate_number.endswith(f"/{cert.issued_on.year}/LLTP")


async def test_the_lifecycle_scales_with_lifecycle_minute_s(
    tmp_path: Path, client_for: Callable[[FastAPI], httpx.AsyncClient]
) -> None:
    """At 0.5 s a simulated minute, the due date is 2,400 s after receipt, not 4,800 minutes."""
    settings = Settings(mocks=MockSettings(lifecycle_minute_s=0.5), state_dir=tmp_path / "state")
    async with client_for(create_app(settings, clock=FakeClock())) as client:
        status = CertificateRequestStatus.model_validate(
            (await client.post(PATH, json=body())).json()
        )
    assert status.due_at - status.received_at == timedelta(seconds=DUE_MINUTES * 0.5)


def test_applicants_with_a_conviction_always_wait_for_a_court_verification() -> None:
    for pid in convicted_ids(5):
        steps = steps_of(SEED, "LT0380000000001", pid)
        assert [s.status for s in steps] == ["received", "verifying", "issued"]
        assert "Tòa án" in (steps[1].note or "")
        assert steps[-1].minute - steps[1].minute >= 2400


def test_some_requests_are_rejected_with_a_reason() -> None:
    pid = example_request(SEED).applicant.personal_id
    ends = [steps_of(SEED, f"LT038{n:010d}", pid)[-1] for n in range(400)]
    rejected = [s for s in ends if s.status == "rejected"]
    assert 0 < len(rejected) < len(ends) / 4
    assert all(s.note for s in rejected)


def test_a_small_share_of_adults_has_convictions() -> None:
    adults = [citizen_at(i * 104_729 % CITIZEN_COUNT) for i in range(3000)]
    adults = [p for p in adults if person(SEED, p).date_of_birth.year <= 1999]
    share = sum(bool(convictions_of(SEED, p, "so_2", date(2024, 12, 31))) for p in adults) / len(
        adults
    )
    assert 0.3 * CONVICTED_SHARE < share < 2.5 * CONVICTED_SHARE


def test_so_1_omits_expunged_convictions_and_so_2_lists_them() -> None:
    """Years after the last sentence, a số 1 is clean while a số 2 still lists it, expunged."""
    pid = convicted_ids(1)[0]
    long_after = date(2040, 1, 1)
    so_2 = convictions_of(SEED, pid, "so_2", long_after)
    assert so_2
    assert all(c.expunged for c in so_2)
    assert convictions_of(SEED, pid, "so_1", long_after) == []
    on_judgment = convictions_of(SEED, pid, "so_1", so_2[-1].judgment_date)
    assert on_judgment
    assert not on_judgment[-1].expunged
    assert all(c.judgment_date >= date(2018, 1, 1) for c in so_2)


async def test_a_convicted_applicant_s_certificate_lists_the_conviction(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    pid = convicted_ids(1)[0]
    sent = body(certificate_type="so_2", applicant={"personal_id": pid})
    rid = (await client.post(PATH, json=sent)).json()["request_id"]
    clock.now += timedelta(days=30)
    cert = Certificate.model_validate((await client.get(f"{PATH}/{rid}/certificate")).json())
    assert cert.convictions
    assert cert.convictions == convictions_of(SEED, pid, "so_2", cert.issued_on)
    assert cert.has_criminal_record == any(not c.expunged for c in cert.convictions)


async def test_a_rejected_request_has_no_certificate(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Send requests until one is rejected; its certificate is 409 request_rejected."""
    for n in range(60):
        rid = (await client.post(PATH, json=body(f"REJECT-{n:04d}"))).json()["request_id"]
        clock.now += timedelta(days=30)
        status = (await client.get(f"{PATH}/{rid}")).json()
        if status["status"] == "rejected":
            response = await client.get(f"{PATH}/{rid}/certificate")
            assert response.status_code == 409
            assert response.json()["code"] == "request_rejected"
            assert status["history"][-1]["note"] in response.json()["detail"]
            return
    pytest.fail("no rejection in 60 requests (about 10 % expected)")


async def test_an_unknown_request_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.post(PATH, json=body())).status_code == 201
    for rid in ("LT0010000000001", "LT0380000000000"):
        response = await client.get(f"{PATH}/{rid}")
        assert response.status_code == 404, rid
        assert response.json()["code"] == "not_found"


async def test_each_province_s_sandbox_request_is_issued_and_not_stored(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """The kit's sample certificate: a virtual request per province, issued long ago."""
    for code in ("001", "038", "096"):
        rid = nth_request_id(SEED, code, seq=0)
        status = CertificateRequestStatus.model_validate((await client.get(f"{PATH}/{rid}")).json())
        assert status.status == "issued"
        assert status.province_code == code
        cert = Certificate.model_validate((await client.get(f"{PATH}/{rid}/certificate")).json())
        assert cert.personal_id[:3] == code
    assert store_of(settings, "judicial-records").count() == 0
    other = nth_request_id(SEED, "038", seq=0).replace("LT038", "LT999")
    assert (await client.get(f"{PATH}/{other}")).status_code in (404, 422)
