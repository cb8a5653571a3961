"""Synthetic citizens, derived on demand from the personal id — the population every mock shares.

No citizen is stored: each is computed from ``(seed, personal_id)``, so ~120 million ids are
addressable at no start-up cost and the same seed gives the same bytes in every process. The
other databases reach citizens only through :func:`person` and :func:`random_citizen_id`, so a
licence holder, a household-business owner or a parent is the same person (id, name, date of
birth) in every database.

Rules (documented in the README):
- A personal id (*số định danh cá nhân*) is ``PPP G YY SSSSSS``: a province code of the 2024
  map, a gender-and-century digit (0/1 male/female born 1900–1999, 2/3 born 2000–2099), the
  last two digits of the birth year, and a six-digit serial.
- A citizen exists iff the province code is real, the birth year is 1930–2024 and the serial is
  below :data:`SERIALS_PER_COHORT` (10,000): other well-formed ids are unknown (404).
- Names come from Faker's ``vi_VN`` locale seeded per id; everything else from a
  :class:`random.Random` keyed by ``(seed, purpose, id)``.
"""

from __future__ import annotations

import hashlib
import random
import threading
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from faker import Faker

from contracts.provinces import PROVINCE_CODES, PROVINCES, Province, province_by_code

YEAR_MIN = 1930
YEAR_MAX = 2024
SERIALS_PER_COHORT = 10_000
# A fixed "today" for everything derived, so bytes never depend on the wall clock.
REFERENCE_DATE = date(2024, 12, 31)

Gender = Literal["male", "female"]
_PROVINCE_INDEX = {p.code: i for i, p in enumerate(PROVINCES)}
_YEARS = YEAR_MAX - YEAR_MIN + 1
CITIZEN_COUNT = len(PROVINCES) * 2 * _YEARS * SERIALS_PER_COHORT

_faker = Faker("vi_VN")
_faker_lock = threading.Lock()  # Faker instances are not thread-safe; sync routes share one.


def keyed_random(seed: int, *parts: object) -> random.Random:
    """A ``Random`` determined by the seed and the parts (stable across processes and runs)."""
    digest = hashlib.blake2b(repr((seed, *parts)).encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


def keyed_int(seed: int, *parts: object) -> int:
    digest = hashlib.blake2b(repr((seed, *parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


@dataclass(frozen=True, slots=True)
class PersonalIdParts:
    province_code: str
    gender: Gender
    birth_year: int
    serial: int


def parse_personal_id(personal_id: str) -> PersonalIdParts | None:
    """Split a 12-digit id; None if it is not one (bad length, province or century digit)."""
    if len(personal_id) != 12 or not personal_id.isdigit():
        return None
    province_code, century_digit = personal_id[:3], int(personal_id[3])
    if province_code not in PROVINCE_CODES or century_digit > 3:
        return None
    century = 1900 if century_digit < 2 else 2000
    gender: Gender = "male" if century_digit % 2 == 0 else "female"
    return PersonalIdParts(
        province_code, gender, century + int(personal_id[4:6]), int(personal_id[6:])
    )


def make_personal_id(province_code: str, gender: Gender, birth_year: int, serial: int) -> str:
    century_digit = (0 if birth_year < 2000 else 2) + (0 if gender == "male" else 1)
    return f"{province_code}{century_digit}{birth_year % 100:02d}{serial:06d}"


def is_citizen(personal_id: str) -> bool:
    parts = parse_personal_id(personal_id)
    return (
        parts is not None
        and YEAR_MIN <= parts.birth_year <= YEAR_MAX
        and parts.serial < SERIALS_PER_COHORT
    )


def citizen_index(personal_id: str) -> int | None:
    """A dense index in ``[0, CITIZEN_COUNT)`` for a citizen id (None for unknown ids)."""
    parts = parse_personal_id(personal_id)
    if parts is None or not is_citizen(personal_id):
        return None
    cohort = (_PROVINCE_INDEX[parts.province_code] * 2 + (parts.gender == "female")) * _YEARS
    return (cohort + parts.birth_year - YEAR_MIN) * SERIALS_PER_COHORT + parts.serial


def citizen_at(index: int) -> str:
    """Inverse of :func:`citizen_index`."""
    cohort_year, serial = divmod(index, SERIALS_PER_COHORT)
    cohort, year_offset = divmod(cohort_year, _YEARS)
    province_index, female = divmod(cohort, 2)
    gender: Gender = "female" if female else "male"
    return make_personal_id(PROVINCES[province_index].code, gender, YEAR_MIN + year_offset, serial)


def random_citizen_id(
    rng: random.Random,
    *,
    province_code: str | None = None,
    gender: Gender | None = None,
    born_between: tuple[int, int] = (YEAR_MIN, YEAR_MAX),
) -> str:
    """Draw an existing citizen's id (the way other databases pick owners, parents, holders)."""
    low, high = max(born_between[0], YEAR_MIN), min(born_between[1], YEAR_MAX)
    if low > high:
        raise ValueError(f"no citizens born between {born_between}")
    return make_personal_id(
        province_code or rng.choice(PROVINCES).code,
        gender if gender is not None else rng.choice(("male", "female")),
        rng.randint(low, high),
        rng.randrange(SERIALS_PER_COHORT),
    )


class UnknownCitizen(LookupError):
    """No citizen has this personal id."""


@dataclass(frozen=True, slots=True)
class Person:
    """The identity every database agrees on: id, full name, date of birth, gender, province."""

    personal_id: str
    full_name: str
    date_of_birth: date
    gender: Gender
    province: Province

    def age_on(self, day: date) -> int:
        before_birthday = (day.month, day.day) < (self.date_of_birth.month, self.date_of_birth.day)
        return day.year - self.date_of_birth.year - before_birthday


def person(seed: int, personal_id: str) -> Person:
    """The citizen with this id; :class:`UnknownCitizen` if there is none."""
    parts = parse_personal_id(personal_id)
    if parts is None or not is_citizen(personal_id):
        raise UnknownCitizen(personal_id)
    rng = keyed_random(seed, "dob", personal_id)
    start = date(parts.birth_year, 1, 1)
    days_in_year = (date(parts.birth_year + 1, 1, 1) - start).days
    dob = start + timedelta(days=rng.randrange(days_in_year))
    with _faker_lock:
        _faker.seed_instance(keyed_int(seed, "name", personal_id))
        first = _faker.first_name_male() if parts.gender == "male" else _faker.first_name_female()
        full_name = f"{_faker.last_name()} {_faker.middle_name()} {first}"
    return Person(personal_id, full_name, dob, parts.gender, province_by_code(parts.province_code))


def faker_for(seed: int, *parts: object) -> Faker:
    """The shared ``vi_VN`` Faker, seeded for these parts. Call it under :data:`faker_lock`."""
    _faker.seed_instance(keyed_int(seed, *parts))
    return _faker


faker_lock = _faker_lock


def street_address(seed: int, *parts: object) -> str:
    """A Vietnamese street address and ward (no province): ``"51 Lê Duẩn, Phường Hòa Bình"``."""
    with _faker_lock:
        fake = faker_for(seed, "address", *parts)
        return f"{fake.street_address()}, {fake.commune()}"


def phone_number(seed: int, *parts: object) -> str:
    """A Vietnamese phone number in national format (leading 0, digits only)."""
    with _faker_lock:
        raw = faker_for(seed, "phone", *parts).phone_number()
    digits = "".join(c for c in raw if c.isdigit())
    return "0" + digits[2:] if digits.startswith("84") else digits


def permute(seed: int, purpose: str, value: int, modulus: int) -> int:
    """A keyed bijection on ``[0, modulus)`` (affine, modulus a power of ten): reversible ids."""
    a, b = _affine_key(seed, purpose, modulus)
    return (a * value + b) % modulus


def unpermute(seed: int, purpose: str, value: int, modulus: int) -> int:
    a, b = _affine_key(seed, purpose, modulus)
    return (pow(a, -1, modulus) * (value - b)) % modulus


def _affine_key(seed: int, purpose: str, modulus: int) -> tuple[int, int]:
    rng = keyed_random(seed, "permute", purpose)
    a = rng.randrange(modulus // 10, modulus)
    while a % 2 == 0 or a % 5 == 0:  # coprime with a power of ten, hence invertible
        a += 1
    return a, rng.randrange(modulus)
