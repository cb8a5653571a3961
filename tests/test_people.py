"""Synthetic citizens: the id rules, determinism, and the reversible permutations."""

from __future__ import annotations

import random

import pytest

from mock_services.people import (
    CITIZEN_COUNT,
    SERIALS_PER_COHORT,
    UnknownCitizen,
    citizen_at,
    citizen_index,
    is_citizen,
    parse_personal_id,
    permute,
    person,
    random_citizen_id,
    unpermute,
)


@pytest.mark.parametrize(
    ("personal_id", "province", "gender", "year"),
    [
        pytest.param("038090001234", "038", "male", 1990, id="male-1900s"),
        pytest.param("001185000007", "001", "female", 1985, id="female-1900s"),
        pytest.param("079205000042", "079", "male", 2005, id="male-2000s"),
        pytest.param("096319000001", "096", "female", 2019, id="female-2000s"),
    ],
)
def test_personal_id_encodes_province_gender_and_birth_year(
    personal_id: str, province: str, gender: str, year: int
) -> None:
    parts = parse_personal_id(personal_id)
    assert parts is not None
    assert (parts.province_code, parts.gender, parts.birth_year) == (province, gender, year)
    citizen = person(2024, personal_id)
    assert citizen.date_of_birth.year == year
    assert citizen.gender == gender
    assert citizen.province.code == province


@pytest.mark.parametrize(
    "personal_id",
    [
        pytest.param("003090001234", id="no-province-003"),
        pytest.param("038490001234", id="century-digit-4"),
        pytest.param("038090010000", id="serial-beyond-cohort"),
        pytest.param("038229000001", id="born-2029"),
        pytest.param("038192900001", id="born-1929"),
        pytest.param("03809000123", id="eleven-digits"),
    ],
)
def test_ids_outside_the_rules_are_unknown(personal_id: str) -> None:
    assert not is_citizen(personal_id)
    with pytest.raises(UnknownCitizen):
        person(2024, personal_id)


def test_same_seed_same_person_other_seed_other_person() -> None:
    assert person(7, "038090001234") == person(7, "038090001234")
    assert person(7, "038090001234").full_name != person(8, "038090001234").full_name or (
        person(7, "038090001234").date_of_birth != person(8, "038090001234").date_of_birth
    )


def test_names_are_vietnamese_three_part_names() -> None:
    names = [person(2024, citizen_at(i * 997)).full_name for i in range(200)]
    assert all(len(name.split()) >= 3 for name in names)
    assert len(set(names)) > 150  # Faker vi_VN, not a short list


def test_more_than_a_million_citizens_are_addressable() -> None:
    assert CITIZEN_COUNT > 1_000_000
    assert is_citizen(citizen_at(CITIZEN_COUNT - 1))
    assert SERIALS_PER_COHORT == 10_000


def test_citizen_index_round_trips() -> None:
    rng = random.Random(1)
    for _ in range(500):
        index = rng.randrange(CITIZEN_COUNT)
        assert citizen_index(citizen_at(index)) == index


def test_random_citizen_id_always_draws_an_existing_citizen() -> None:
    rng = random.Random(3)
    drawn = [
        random_citizen_id(rng, province_code="044", born_between=(1960, 1970)) for _ in range(200)
    ]
    assert all(is_citizen(pid) and pid.startswith("044") for pid in drawn)
    assert all(1960 <= person(2024, pid).date_of_birth.year <= 1970 for pid in drawn)


@pytest.mark.parametrize("modulus", [10**9, 10**12])
def test_permute_is_a_bijection_with_an_inverse(modulus: int) -> None:
    rng = random.Random(5)
    values = [rng.randrange(modulus) for _ in range(300)]
    images = [permute(11, "purpose", v, modulus) for v in values]
    assert [unpermute(11, "purpose", i, modulus) for i in images] == values
    assert len(set(images)) == len(set(values))
