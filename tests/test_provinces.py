"""The 63 provinces of the 2024 map and their lookup by code or name."""

from __future__ import annotations

import pytest

from contracts.provinces import PROVINCES, find_province, slugify


def test_there_are_63_provinces_with_unique_codes_and_slugs() -> None:
    assert len(PROVINCES) == 63
    assert len({p.code for p in PROVINCES}) == 63
    assert len({p.slug for p in PROVINCES}) == 63


@pytest.mark.parametrize(
    "query", ["038", "Thanh Hóa", "thanh hoa", "thanh-hoa", "Tỉnh Thanh Hóa", "THANH HÓA"]
)
def test_find_province_accepts_names_with_or_without_diacritics(query: str) -> None:
    found = find_province(query)
    assert found is not None
    assert found.code == "038"


def test_d_with_stroke_becomes_d_in_slugs() -> None:
    assert slugify("Đắk Lắk") == "dak-lak"
    assert find_province("TP Hồ Chí Minh") is not None


def test_unknown_province_is_none() -> None:
    assert find_province("Atlantis") is None
