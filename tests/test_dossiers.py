"""The shared dossier calendar: windows, ids that regenerate, file ids, PDFs, window rules."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

import pytest

from contracts.provinces import PROVINCES, Province
from mock_services.dossiers import (
    VIETNAM_TZ,
    dossier_id_for,
    dossier_id_pattern,
    dossier_stub,
    dossiers_in_window,
    file_id_for,
    page_of,
    parse_file_id,
    pdf_bytes,
    validate_window,
    working_days_after,
    working_days_before,
)
from mock_services.service import ProblemError

SEED = 2024
KIND = "DN"
_TOTAL_K = sum(p.population_k for p in PROVINCES)
MONDAY = date(2024, 6, 3)


def volume(province: Province) -> float:
    """4,000 dossiers a working day nationwide, split by population (as the registry does)."""
    return 4000 * province.population_k / _TOTAL_K


def local(day: date, hour: int = 0, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), VIETNAM_TZ)


def window(start: datetime, end: datetime, province: str | None = "038", seed: int = SEED):
    return dossiers_in_window(seed, KIND, start, end, province, daily_volume=volume)


def test_same_seed_gives_the_same_window_and_another_seed_differs() -> None:
    start, end = local(MONDAY), local(MONDAY + timedelta(days=2))
    assert list(window(start, end)) == list(window(start, end))
    assert list(window(start, end)) != list(window(start, end, seed=SEED + 1))


def test_one_province_one_working_day_has_tens_of_dossiers() -> None:
    day = window(local(MONDAY), local(MONDAY + timedelta(days=1)))
    assert 20 <= len(day) <= 400
    small = window(local(MONDAY), local(MONDAY + timedelta(days=1)), province="006")  # Bắc Kạn
    assert 1 <= len(small) < len(day)


def test_sunday_has_no_dossiers_and_saturday_few() -> None:
    saturday = MONDAY - timedelta(days=2)
    assert len(window(local(MONDAY - timedelta(days=1)), local(MONDAY), province=None)) == 0
    weekend = len(window(local(saturday), local(saturday + timedelta(days=1)), province=None))
    weekday = len(window(local(MONDAY), local(MONDAY + timedelta(days=1)), province=None))
    assert 0 < weekend < weekday / 5


def test_window_holds_exactly_the_dossiers_ending_inside_sorted_by_end_time() -> None:
    start, end = local(MONDAY, 10), local(MONDAY + timedelta(days=1), 9, 30)  # partial days
    whole_days = list(window(local(MONDAY), local(MONDAY + timedelta(days=2))))
    expected = [s for s in whole_days if start <= s.end_at < end]
    listed = window(start, end)
    assert list(listed) == expected
    assert len(listed) == len(expected) > 0
    assert [s.end_at for s in listed] == sorted(s.end_at for s in listed)


def test_window_bounds_in_another_offset_mean_the_same_instants() -> None:
    start, end = local(MONDAY, 8), local(MONDAY, 15)
    utc_start, utc_end = start.astimezone(UTC), end.astimezone(UTC)
    assert list(window(start, end)) == list(window(utc_start, utc_end))


def test_all_provinces_merge_in_end_time_order() -> None:
    listed = window(local(MONDAY, 9), local(MONDAY, 10), province=None)
    assert len({s.province_code for s in listed}) > 30
    keys = [(s.end_at, s.province_code, s.ordinal) for s in listed]
    assert keys == sorted(keys)


def test_dossiers_end_in_office_hours_and_are_received_no_later() -> None:
    for stub in window(local(MONDAY), local(MONDAY + timedelta(days=7)), province="001"):
        clock_time = stub.end_at.astimezone(VIETNAM_TZ).time()
        assert time(7, 30) <= clock_time < time(11, 30) or time(13, 30) <= clock_time < time(17)
        assert stub.received_at <= stub.end_at
        assert stub.end_at - stub.received_at < timedelta(days=14)


def test_thirty_one_days_of_every_province_count_and_page() -> None:
    """How fast is benchmarks/dossier_listing.py's concern; here, that it is right."""
    start = local(MONDAY, 10)  # partial edge days: the slowest case
    listed = dossiers_in_window(
        SEED, "HKD", start, start + timedelta(days=31), None, daily_volume=lambda p: volume(p) * 1.5
    )
    first, total = page_of(listed, 1, 100)
    last, _ = page_of(listed, (total - 1) // 100 + 1, 100)
    assert total > 100_000
    assert len(first) == 100
    assert 1 <= len(last) <= 100
    assert len({d.dossier_id for d in (*first, *last)}) == len(first) + len(last)


def test_a_listed_dossier_regenerates_from_its_id_alone() -> None:
    listed = window(local(MONDAY), local(MONDAY + timedelta(days=3)))
    for stub in (listed[0], listed[len(listed) // 2], listed[-1]):
        assert dossier_stub(SEED, KIND, stub.dossier_id, daily_volume=volume) == stub


@pytest.mark.parametrize(
    "dossier_id",
    [
        pytest.param("DN-038-20240603-09999", id="ordinal-beyond-the-days-count"),
        pytest.param("DN-003-20240603-00000", id="unknown-province"),
        pytest.param("DN-038-20240230-00000", id="no-such-date"),
        pytest.param("DN-038-19990603-00000", id="before-the-calendar"),
        pytest.param("HKD-038-20240603-00000", id="another-kind"),
        pytest.param("DN-038-2024-06-03-00000", id="malformed"),
        pytest.param("DN-038-20240602-00000", id="a-sunday"),
    ],
)
def test_id_that_names_no_dossier_regenerates_nothing(dossier_id: str) -> None:
    assert dossier_stub(SEED, KIND, dossier_id, daily_volume=volume) is None


def test_dossier_id_encodes_kind_province_day_and_ordinal() -> None:
    dossier_id = dossier_id_for(KIND, "038", MONDAY, 17)
    assert dossier_id == "DN-038-20240603-00017"
    assert re.fullmatch(dossier_id_pattern(KIND), dossier_id)
    assert not re.fullmatch(dossier_id_pattern("GPLX"), dossier_id)


@pytest.mark.parametrize("kind", ["dn", "D", "TOOLONGKIND", "D-N"])
def test_kind_must_be_a_short_upper_case_code(kind: str) -> None:
    with pytest.raises(ValueError, match="kind"):
        dossier_id_pattern(kind)


def test_page_of_slices_and_counts() -> None:
    items = list(range(45))
    assert page_of(items, 1, 20) == (list(range(20)), 45)
    assert page_of(items, 3, 20) == ([40, 41, 42, 43, 44], 45)
    assert page_of(items, 4, 20) == ([], 45)


def test_pages_of_a_window_tile_it_without_overlap() -> None:
    listed = window(local(MONDAY, 11), local(MONDAY + timedelta(days=2), 9), province=None)
    seen = []
    for page in range(1, len(listed) // 1000 + 2):
        items, total = page_of(listed, page, 1000)
        seen += items
    assert total == len(seen) == len({s.dossier_id for s in seen})


def test_file_id_round_trips_and_rejects_malformed_ids() -> None:
    file_id = file_id_for("DN-038-20240603-00017", "result", 1)
    assert file_id == "DN-038-20240603-00017-result-01"
    assert parse_file_id(file_id) == ("DN-038-20240603-00017", "result", 1)
    for bad in ("DN-038-20240603-00017-result-00", "DN-038-20240603-00017-Result-01", "x"):
        assert parse_file_id(bad) is None
    with pytest.raises(ValueError, match="role"):
        file_id_for("DN-038-20240603-00017", "Result", 1)


def test_pdf_is_valid_and_deterministic() -> None:
    title = "Giấy chứng nhận đăng ký doanh nghiệp"
    pdf = pdf_bytes(SEED, "DN-038-20240603-00017-result-01", title)
    assert pdf == pdf_bytes(SEED, "DN-038-20240603-00017-result-01", title)
    assert pdf != pdf_bytes(SEED + 1, "DN-038-20240603-00017-result-01", title)
    assert pdf.startswith(b"%PDF-1.4\n")
    assert pdf.endswith(b"%%EOF\n")
    startxref = int(pdf.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])
    assert pdf[startxref:].startswith(b"xref\n0 7\n")
    entries = pdf[startxref:].split(b"\n")[3:9]  # objects 1..6 after the header and free entry
    for number, entry in enumerate(entries, start=1):
        offset = int(entry.split()[0])
        assert pdf[offset:].startswith(b"%d 0 obj" % number)
    assert ("\ufeff" + title).encode("utf-16-be").hex().upper().encode() in pdf
    assert b"GIAY CHUNG NHAN DANG KY DOANH NGHIEP" in pdf


@pytest.mark.parametrize(
    ("start", "end", "detail"),
    [
        pytest.param(local(MONDAY, 9), local(MONDAY, 8), "not be after", id="inverted"),
        pytest.param(
            local(MONDAY), local(MONDAY) + timedelta(days=31, seconds=1), "31 days", id="too-long"
        ),
        pytest.param(datetime(2024, 6, 3), local(MONDAY, 8), "offset", id="naive"),
    ],
)
def test_bad_window_is_a_422_invalid_request(start: datetime, end: datetime, detail: str) -> None:
    with pytest.raises(ProblemError) as raised:
        validate_window(start, end)
    assert (raised.value.status, raised.value.code) == (422, "invalid_request")
    assert detail in (raised.value.detail or "")


def test_a_window_of_exactly_thirty_one_days_is_accepted() -> None:
    validate_window(local(MONDAY), local(MONDAY) + timedelta(days=31))


@pytest.mark.parametrize(
    ("start", "end"),
    [
        pytest.param(local(MONDAY, 9), local(MONDAY, 9), id="empty"),
        pytest.param(local(date(1999, 12, 1)), local(date(1999, 12, 31)), id="before-2000"),
        pytest.param(datetime(1, 1, 1, tzinfo=UTC), datetime(1, 1, 2, tzinfo=UTC), id="year-one"),
        pytest.param(
            datetime(9999, 12, 30, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC), id="year-9999"
        ),
    ],
)
def test_a_window_without_a_kept_day_is_valid_and_holds_nothing(
    start: datetime, end: datetime
) -> None:
    validate_window(start, end)
    assert len(window(start, end)) == 0


def test_a_window_across_the_first_kept_year_holds_only_its_days_in_it() -> None:
    start, end = local(date(1999, 12, 25)), local(date(2000, 1, 5))
    validate_window(start, end)
    stubs = list(window(start, end))
    assert stubs, "the kept days of 2000 have dossiers"
    assert all(stub.end_at >= local(date(2000, 1, 1)) for stub in stubs)


def test_working_days_skip_the_weekend() -> None:
    friday = MONDAY - timedelta(days=3)
    assert working_days_before(MONDAY, 1) == friday
    assert working_days_before(MONDAY, 0) == MONDAY
    assert working_days_after(local(friday, 10), 1) == local(MONDAY, 10)
    assert working_days_after(local(friday, 10), 3) == local(MONDAY + timedelta(days=2), 10)
