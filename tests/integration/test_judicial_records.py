"""Judicial records through the real gateway, mocks and gateway as OS processes on real
sockets: a token, a certificate request (idempotent), its status followed until issued, the
certificate — its holder the population's citizen —, the SDK's typed methods, and every
exchange in the gateway's log.

The lifecycle runs at 0.0005 s a simulated minute (the 10-working-day deadline is 2.4 s), and
the test waits on the status, with a deadline, never on a duration.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from connectors import NdxpClient
from connectors.errors import Conflict, NotFound
from contracts.judicial_records import Certificate, CertificateRequestStatus
from mock_services.judicial_records import example_request, nth_request_id
from ndxp_sim.testing import Stack, running_stack
from tests.integration.province_clients import province_client

pytestmark = pytest.mark.integration

SEED = 2024
THANH_HOA = "038"
DEADLINE_S = 60.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state_dir: Path = tmp_path_factory.mktemp("judicial-records-stack")
    env = {"NDXP_MOCKS__LIFECYCLE_MINUTE_S": "0.0005", "NDXP_MOCKS__SEED": str(SEED)}
    with running_stack(state_dir, env, hops=False) as running:
        yield running


@pytest.fixture
def thanh_hoa(stack: Stack) -> Iterator[httpx.Client]:
    with province_client(stack) as client:
        yield client


def test_token_request_status_certificate_through_the_gateway(
    stack: Stack, thanh_hoa: httpx.Client
) -> None:
    # The module's first request: seq 1, for which the example applicant is issued.
    body = example_request(SEED, THANH_HOA, number=7001).model_dump(mode="json")
    created = thanh_hoa.post("/judicial-records/v1/certificate-requests", json=body)
    assert created.status_code == 201, created.text
    assert created.headers["x-ndxp-exchange-id"]
    status = CertificateRequestStatus.model_validate(created.json())
    assert status.status == "received"
    again = thanh_hoa.post("/judicial-records/v1/certificate-requests", json=body)
    assert again.status_code == 200
    assert again.json()["request_id"] == status.request_id

    path = f"/judicial-records/v1/certificate-requests/{status.request_id}"
    deadline = time.monotonic() + DEADLINE_S
    while status.status != "issued":
        assert time.monotonic() < deadline, f"not issued in {DEADLINE_S} s: {status}"
        answer = thanh_hoa.get(path)
        assert answer.status_code == 200, answer.text
        status = CertificateRequestStatus.model_validate(answer.json())
        assert status.status != "rejected", status
    assert [t.status for t in status.history] == ["received", "verifying", "issued"]
    assert status.certificate_ready

    answer = thanh_hoa.get(f"{path}/certificate")
    assert answer.status_code == 200, answer.text
    certificate = Certificate.model_validate(answer.json())
    citizen = thanh_hoa.get(f"/population/v1/citizens/{body['applicant']['personal_id']}")
    assert citizen.status_code == 200
    assert (certificate.full_name, certificate.date_of_birth.isoformat()) == (
        citizen.json()["full_name"],
        citizen.json()["date_of_birth"],
    )

    admin = {"Authorization": f"Bearer {stack.admin_token}"}
    # One query per operation: the status polls alone can fill a page of the log.
    for operation in ("request_certificate", "get_certificate_request", "get_certificate"):
        log = httpx.get(
            f"{stack.gateway_url}/admin/exchanges",
            params={
                "consumer": "onestop-thanh-hoa",
                "service": f"judicial-records.{operation}",
                "limit": 1,
            },
            headers=admin,
            timeout=30.0,
        )
        assert log.status_code == 200, log.text
        assert log.json()["total"] >= 1, operation


def test_bad_input_is_a_problem_and_unknown_ids_are_404_through_the_gateway(
    thanh_hoa: httpx.Client,
) -> None:
    body = example_request(SEED, THANH_HOA, number=7002).model_dump(mode="json")
    body["applicant"] = {"personal_id": "038090991234"}  # serial 991234: nobody
    refused = thanh_hoa.post("/judicial-records/v1/certificate-requests", json=body)
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "citizen_mismatch"
    missing = thanh_hoa.get("/judicial-records/v1/certificate-requests/LT0389999999999")
    assert missing.status_code == 404


async def test_the_sdk_s_typed_methods(stack: Stack) -> None:
    """The sandbox request is issued at once; a new request's certificate is a Conflict
    (409) until issued — or the certificate, if the machine was slow: both are answers."""
    async with NdxpClient(
        stack.gateway_url, "onestop-ha-noi", "dev-secret-ha-noi", timeout=30.0
    ) as ndxp:
        sandbox = nth_request_id(SEED, "001", seq=0)
        status = await ndxp.judicial_records.get_certificate_request(sandbox)
        assert status.certificate_ready
        certificate = await ndxp.judicial_records.get_certificate(sandbox)
        assert isinstance(certificate, Certificate)
        assert certificate.certificate_type == "so_1"

        request = example_request(SEED, "001", number=7003)
        created = await ndxp.judicial_records.request_certificate(
            request, idempotency_key=request.dossier_code
        )
        assert created.request_id.startswith("LT001")
        early: Certificate | Conflict
        try:
            early = await ndxp.judicial_records.get_certificate(created.request_id)
        except Conflict as exc:
            early = exc
        if isinstance(early, Conflict):
            assert early.code in ("certificate_not_ready", "request_rejected")
        else:
            assert early.personal_id == request.applicant.personal_id
        with pytest.raises(NotFound):
            await ndxp.judicial_records.get_certificate_request("LT0019999999999")
