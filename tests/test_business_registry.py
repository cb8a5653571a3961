"""The business-registration mock (CSDLQG về đăng ký doanh nghiệp): entities, dossier windows,
dossier detail, file download, errors, determinism and agreement with the population mock."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from contracts.business_registry import DossierDetail, DossierPage, Entity
from mock_services.business_entities import KINDS, entity_code, tax_check_digit
from mock_services.business_registry import create_app, examples
from mock_services.population import citizen_record
from ndxp_config.settings import Settings

SEED = 2024
DAY = {"from": "2024-06-03T00:00:00+07:00", "to": "2024-06-04T00:00:00+07:00"}
ROUTES = {  # kind → (entity collection, dossier collection)
    "enterprise": ("enterprises", "enterprise-dossiers"),
    "household_business": ("household-businesses", "household-business-dossiers"),
    "cooperative": ("cooperatives", "cooperative-dossiers"),
}
KIND_IDS = list(ROUTES)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def _page(client: httpx.AsyncClient, kind: str, **params: Any) -> DossierPage:
    response = await client.get(f"/v1/{ROUTES[kind][1]}", params={**DAY, **params})
    assert response.status_code == 200, response.text
    return DossierPage.model_validate(response.json())


async def _detail(client: httpx.AsyncClient, kind: str, dossier_id: str) -> DossierDetail:
    response = await client.get(f"/v1/{ROUTES[kind][1]}/{dossier_id}")
    assert response.status_code == 200, response.text
    return DossierDetail.model_validate(response.json())


async def _entity(client: httpx.AsyncClient, kind: str, code: str) -> Entity:
    response = await client.get(f"/v1/{ROUTES[kind][0]}/{code}")
    assert response.status_code == 200, response.text
    return Entity.model_validate(response.json())


def _assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert (body["status"], body["code"]) == (status, code)
    return body


@pytest.mark.parametrize("kind", KIND_IDS)
async def test_dossier_of_a_day_leads_to_its_detail_and_its_entity(
    client: httpx.AsyncClient, kind: str
) -> None:
    page = await _page(client, kind, province="038", size=5)
    assert page.items
    summary = page.items[0]
    detail = await _detail(client, kind, summary.dossier_id)
    assert detail.model_dump(include=set(type(summary).model_fields)) == summary.model_dump()
    assert detail.components
    assert detail.results
    assert detail.due_at > detail.received_at
    entity = await _entity(client, kind, detail.entity_code)
    assert (entity.kind, entity.name, entity.province_code) == (kind, detail.entity_name, "038")
    assert entity.registered_address.endswith("Tỉnh Thanh Hóa")


@pytest.mark.parametrize("kind", KIND_IDS)
async def test_codes_follow_their_documented_format(client: httpx.AsyncClient, kind: str) -> None:
    page = await _page(client, kind, size=50)
    for item in page.items:
        if kind == "household_business":
            assert re.fullmatch(r"\d{2}[A-Z]8\d{6}", item.entity_code)
            assert item.entity_code[:2] == item.province_code[1:]
        else:
            assert tax_check_digit(item.entity_code[:9]) == int(item.entity_code[9])


async def test_representatives_are_the_population_databases_citizens(
    client: httpx.AsyncClient,
) -> None:
    checked = 0
    for kind in KIND_IDS:
        for item in (await _page(client, kind, province="044", size=6)).items:
            entity = await _entity(client, kind, item.entity_code)
            citizen = citizen_record(SEED, entity.representative.personal_id)
            assert entity.representative.full_name == citizen.full_name
            assert entity.representative.date_of_birth == citizen.date_of_birth
            assert entity.registered_on.year - citizen.date_of_birth.year >= 20
            checked += 1
    assert checked >= 10


async def test_same_seed_gives_byte_identical_answers_and_another_seed_differs(
    make_settings: Callable[..., Settings],
    client_for: Callable[[FastAPI], httpx.AsyncClient],
) -> None:
    answers = []
    for seed in (SEED, SEED, SEED + 1):
        async with client_for(create_app(make_settings(seed=seed))) as client:
            listing = await client.get("/v1/enterprise-dossiers", params={**DAY, "size": 10})
            first = listing.json()["items"][0]
            detail = await client.get(f"/v1/enterprise-dossiers/{first['dossier_id']}")
            entity = await client.get(f"/v1/enterprises/{first['entity_code']}")
            file = await client.get(f"/v1/files/{detail.json()['results'][0]['file_id']}")
            answers.append(b"|".join(r.content for r in (listing, detail, entity, file)))
    assert answers[0] == answers[1]
    assert answers[0] != answers[2]


async def test_founding_dossiers_match_the_entitys_legal_form(client: httpx.AsyncClient) -> None:
    founding = {p.name: p.legal_form for p in KINDS["enterprise"].procedures if p.legal_form}
    page = await _page(client, "enterprise", province="079", size=100)
    matched = 0
    for item in page.items:
        if item.procedure_name in founding:
            entity = await _entity(client, "enterprise", item.entity_code)
            assert entity.legal_form == founding[item.procedure_name]
            matched += 1
    assert matched > 0


@pytest.mark.parametrize("kind", KIND_IDS)
async def test_dossiers_concern_entities_registered_by_then(
    client: httpx.AsyncClient, kind: str
) -> None:
    page = await _page(client, kind, **{"from": "2006-03-06T00:00:00Z"}, to="2006-03-07T00:00:00Z")
    assert page.items
    for item in page.items[:10]:
        entity = await _entity(client, kind, item.entity_code)
        assert entity.registered_on <= item.end_at.date()


async def test_only_cooperatives_count_members(client: httpx.AsyncClient) -> None:
    for kind in KIND_IDS:
        item = (await _page(client, kind, size=1)).items[0]
        entity = await _entity(client, kind, item.entity_code)
        assert (entity.member_count is not None) == (kind == "cooperative")


async def test_window_lists_dossiers_ending_inside_in_order_of_end_time(
    client: httpx.AsyncClient,
) -> None:
    # Half an hour, given in two offsets: 09:00 to 09:30 in Hồ Chí Minh City, local time.
    window = {"from": "2024-06-03T09:00:00+07:00", "to": "2024-06-03T02:30:00Z"}
    page = await _page(client, "enterprise", **window, province="079", size=100)
    assert len(page.items) == page.total > 0
    start, end = (datetime.fromisoformat(window[k]) for k in ("from", "to"))
    ends = [item.end_at for item in page.items]
    assert ends == sorted(ends)
    assert all(start <= e < end for e in ends)


async def test_pages_tile_the_window(client: httpx.AsyncClient) -> None:
    first = await _page(client, "enterprise", province="038", size=100)
    ids = [item.dossier_id for item in first.items]
    page = 2
    while len(ids) < first.total:
        ids += [
            i.dossier_id
            for i in (await _page(client, "enterprise", province="038", size=100, page=page)).items
        ]
        page += 1
    assert len(ids) == len(set(ids)) == first.total
    beyond = await _page(client, "enterprise", province="038", size=100, page=page)
    assert (beyond.items, beyond.total) == ([], first.total)


async def test_province_filter_keeps_only_that_province(client: httpx.AsyncClient) -> None:
    everywhere = await _page(client, "household_business", size=100)
    thanh_hoa = await _page(client, "household_business", province="038", size=100)
    assert {item.province_code for item in thanh_hoa.items} == {"038"}
    assert len({item.province_code for item in everywhere.items}) > 10
    assert everywhere.total > thanh_hoa.total * 10


async def test_result_file_downloads_as_a_named_pdf(client: httpx.AsyncClient) -> None:
    item = (await _page(client, "cooperative", size=1)).items[0]
    detail = await _detail(client, "cooperative", item.dossier_id)
    for document in detail.components + detail.results:
        response = await client.get(f"/v1/files/{document.file_id}")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/pdf"
        assert response.content.startswith(b"%PDF-1.4")
        disposition = response.headers["content-disposition"]
        assert disposition.startswith(f'attachment; filename="{document.file_id}.pdf"')


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        pytest.param("/v1/enterprises/0100233480", "enterprise", id="wrong-check-digit"),
        pytest.param("/v1/household-businesses/03A8000001", "household", id="no-province-003"),
        pytest.param("/v1/household-businesses/38Z8000001", "household", id="no-district-Z"),
        pytest.param("/v1/enterprise-dossiers/DN-038-20240603-09999", "dossier", id="ordinal"),
        pytest.param("/v1/enterprise-dossiers/DN-038-20240602-00000", "dossier", id="sunday"),
        pytest.param("/v1/files/DN-038-20240603-00000-result-09", "file", id="file-index"),
        pytest.param("/v1/files/HTX-038-20240603-09999-result-01", "file", id="file-dossier"),
    ],
)
async def test_unknown_ids_are_404_problems(
    client: httpx.AsyncClient, path: str, detail: str
) -> None:
    body = _assert_problem(await client.get(path), 404, "not_found")
    assert detail in body["detail"]


async def test_codes_of_another_kind_or_beyond_the_registry_are_404(
    client: httpx.AsyncClient,
) -> None:
    cooperative = next(
        c for i in range(100) if (c := entity_code(SEED, KINDS["cooperative"], i)) is not None
    )
    beyond = next(
        c for i in range(30_000, 30_100) if (c := entity_code(SEED, KINDS["cooperative"], i))
    )
    assert (await client.get(f"/v1/cooperatives/{cooperative}")).status_code == 200
    _assert_problem(await client.get(f"/v1/enterprises/{cooperative}"), 404, "not_found")
    _assert_problem(await client.get(f"/v1/cooperatives/{beyond}"), 404, "not_found")


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/v1/enterprises/12345", id="short-code"),
        pytest.param("/v1/household-businesses/3808000001", id="household-needs-a-letter"),
        pytest.param(
            "/v1/enterprise-dossiers/HKD-038-20240603-00000", id="dossier-of-another-kind"
        ),
        pytest.param("/v1/cooperative-dossiers/HTX-38-20240603-00000", id="malformed-dossier"),
        pytest.param("/v1/files/DN-038-20240603-00000-scan-01", id="unknown-file-role"),
    ],
)
async def test_malformed_ids_are_422_invalid_request(client: httpx.AsyncClient, path: str) -> None:
    _assert_problem(await client.get(path), 422, "invalid_request")


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        pytest.param({"to": "2024-06-01T00:00:00+07:00"}, "not be after", id="inverted-window"),
        pytest.param({"to": "2024-07-04T00:00:01+07:00"}, "31 days", id="longer-than-31-days"),
        pytest.param({"from": "2024-06-03T00:00:00"}, "from", id="no-offset"),
        pytest.param({"province": "003"}, "province", id="unknown-province"),
        pytest.param({"size": 101}, "size", id="size-over-100"),
        pytest.param({"page": 0}, "page", id="page-zero"),
    ],
)
async def test_bad_window_queries_are_422_with_a_clear_detail(
    client: httpx.AsyncClient, params: dict[str, Any], detail: str
) -> None:
    response = await client.get("/v1/enterprise-dossiers", params={**DAY, **params})
    assert detail in _assert_problem(response, 422, "invalid_request")["detail"]


@pytest.mark.parametrize(
    "window",
    [
        pytest.param({"to": DAY["from"]}, id="from-equals-to"),
        pytest.param(
            {"from": "1999-12-01T00:00:00Z", "to": "1999-12-31T00:00:00Z"}, id="before-2000"
        ),
        pytest.param({"from": "0001-01-01T00:00:00Z", "to": "0001-01-02T00:00:00Z"}, id="year-1"),
    ],
)
async def test_a_window_with_no_dossier_day_is_an_empty_page(
    client: httpx.AsyncClient, window: dict[str, str]
) -> None:
    response = await client.get("/v1/enterprise-dossiers", params={**DAY, **window})
    assert response.status_code == 200, response.text
    assert DossierPage.model_validate(response.json()).model_dump() == {
        "items": [],
        "page": 1,
        "size": 20,
        "total": 0,
    }


async def test_a_date_time_given_as_a_number_is_422(client: httpx.AsyncClient) -> None:
    # Pydantic alone reads "0" as 1970-01-01 UTC; the contract says an RFC 3339 string.
    response = await client.get("/v1/enterprise-dossiers", params={**DAY, "from": "0"})
    assert "RFC 3339" in _assert_problem(response, 422, "invalid_request")["detail"]


async def test_missing_window_is_422(client: httpx.AsyncClient) -> None:
    _assert_problem(await client.get("/v1/cooperative-dossiers"), 422, "invalid_request")


async def test_documented_examples_are_what_the_mock_answers(client: httpx.AsyncClient) -> None:
    from contracts.catalogue import operations_of

    documented = examples(SEED)
    for op in operations_of("business-registry"):
        example = documented[op.operation_id]
        response = await client.get(
            op.path.format_map(dict(example.path_params)), params=dict(example.query)
        )
        assert response.status_code == 200, op.operation_id
        if example.response is not None:
            assert response.json() == example.response.model_dump(mode="json"), op.operation_id
