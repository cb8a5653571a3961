"""Who and what the business registry has registered — enterprises, household businesses and
cooperatives (*doanh nghiệp, hộ kinh doanh, hợp tác xã*): each kind's reference tables (legal
forms, business lines, statuses, procedures), its code formats and check digits, and the record
of an entity derived from its code.

Entities are derived from their code, a keyed bijection of a dense index (formats in
:mod:`contracts.business_registry`): 900,000 enterprise and 30,000 cooperative indices share
one permutation of the 9-digit bodies of tax codes (so no code is both); 5,000,000 household
businesses have one permutation per province. Each kind's entities are split among provinces
by population. A code outside these ranges or with a wrong check digit is unknown (404); about
one index in eleven gives no valid check digit and so no entity. Representatives are citizens
(:func:`mock_services.people.person`): the population database agrees on their identity.
Entities are numbered in order of registration within their province, so the dossiers of
:mod:`mock_services.business_registry` can draw one registered by a given day.
"""

from __future__ import annotations

import math
import random
import re
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from typing import Any

from contracts.business_registry import (
    BusinessLine,
    Entity,
    EntityKind,
    EntityStatus,
    Representative,
)
from contracts.provinces import PROVINCES, Province, province_by_code
from mock_services.people import (
    REFERENCE_DATE,
    YEAR_MAX,
    YEAR_MIN,
    faker_for,
    faker_lock,
    keyed_random,
    permute,
    person,
    phone_number,
    random_citizen_id,
    street_address,
    unpermute,
)

_TAX_BODY_MODULUS = 10**9
_MST_WEIGHTS = (31, 29, 23, 19, 17, 13, 7, 5, 3)
_DISTRICT_LETTERS = "ABCDEFGHKL"  # one letter per district office; 10 × 10^6 = a power of ten
_HOUSEHOLD_MODULUS = 10**7
_TOTAL_POPULATION_K = sum(p.population_k for p in PROVINCES)
_GROWTH = 0.6  # registration dates: position in the province's block to this power


@dataclass(frozen=True)
class Procedure:
    """An administrative procedure (*thủ tục hành chính*) of the registry, with its documents."""

    code: str
    name: str
    weight: int
    components: tuple[str, ...]
    result: str
    legal_form: str | None = None  # founding procedures apply to one legal form only


@dataclass(frozen=True)
class KindSpec:
    """Everything that differs between enterprises, household businesses and cooperatives."""

    kind: EntityKind
    dossier_kind: str  # the calendar's kind: DN, HKD, HTX
    noun: str
    count: int
    code_base: int | None  # offset in the shared tax-code index space; None: household numbers
    daily_dossiers: float  # national, per working day
    first_year: int
    legal_forms: tuple[tuple[str, str, int, str], ...]  # (legal form, name prefix, weight, post)
    lines: tuple[tuple[str, str, str], ...]  # (VSIC code, VSIC name, word used in names)
    statuses: tuple[tuple[EntityStatus, int], ...]
    capital_median_vnd: float
    procedures: tuple[Procedure, ...]

    def daily_volume(self, province: Province) -> float:
        return self.daily_dossiers * province.population_k / _TOTAL_POPULATION_K


_ID_COPY = "Bản sao giấy tờ pháp lý của cá nhân đối với {}"
_TNHH1, _TNHH2 = (
    "Công ty trách nhiệm hữu hạn một thành viên",
    "Công ty trách nhiệm hữu hạn hai thành viên trở lên",
)
_DN_FOUNDING = ("Giấy đề nghị đăng ký doanh nghiệp", "Điều lệ công ty")
_DN_CERT = "Giấy chứng nhận đăng ký doanh nghiệp"
_HTX_CERT = "Giấy chứng nhận đăng ký hợp tác xã"
# Procedure names are those of the national catalogue (Cổng Dịch vụ công quốc gia). Codes
# 2.001610, 1.001612 and 1.005280 are the catalogue's; the others are illustrative, in its format.
_ENTERPRISE_PROCEDURES = (
    Procedure("2.001610", "Đăng ký thành lập doanh nghiệp tư nhân", 3,
              ("Giấy đề nghị đăng ký doanh nghiệp", _ID_COPY.format("chủ doanh nghiệp tư nhân")),
              _DN_CERT, "Doanh nghiệp tư nhân"),
    Procedure("2.001199", "Đăng ký thành lập công ty trách nhiệm hữu hạn một thành viên", 8,
              (*_DN_FOUNDING, _ID_COPY.format("chủ sở hữu công ty")), _DN_CERT, _TNHH1),
    Procedure("2.001187", "Đăng ký thành lập công ty trách nhiệm hữu hạn hai thành viên trở lên", 4,
              (*_DN_FOUNDING, "Danh sách thành viên"), _DN_CERT, _TNHH2),
    Procedure("2.001575", "Đăng ký thành lập công ty cổ phần", 5,
              (*_DN_FOUNDING, "Danh sách cổ đông sáng lập"), _DN_CERT, "Công ty cổ phần"),
    Procedure("2.002033", "Đăng ký thay đổi người đại diện theo pháp luật", 10,
              ("Thông báo thay đổi nội dung đăng ký doanh nghiệp",
               _ID_COPY.format("người đại diện theo pháp luật")), _DN_CERT),
    Procedure("2.002034", "Đăng ký thay đổi địa chỉ trụ sở chính của doanh nghiệp", 12,
              ("Thông báo thay đổi nội dung đăng ký doanh nghiệp",
               "Nghị quyết, quyết định về việc thay đổi địa chỉ trụ sở chính"), _DN_CERT),
    Procedure("2.002035", "Thông báo thay đổi ngành, nghề kinh doanh", 20,
              ("Thông báo thay đổi nội dung đăng ký doanh nghiệp",),
              "Giấy xác nhận về việc thay đổi nội dung đăng ký doanh nghiệp"),
    Procedure("2.001253", "Thông báo tạm ngừng kinh doanh", 10,
              ("Thông báo về việc tạm ngừng kinh doanh",),
              "Giấy xác nhận về việc doanh nghiệp đăng ký tạm ngừng kinh doanh"),
    Procedure("2.001254", "Giải thể doanh nghiệp", 5,
              ("Thông báo về việc giải thể doanh nghiệp", "Báo cáo thanh lý tài sản doanh nghiệp"),
              "Thông báo về việc giải thể doanh nghiệp"),
)  # fmt: skip
_HOUSEHOLD_PROCEDURES = (
    Procedure("1.001612", "Đăng ký thành lập hộ kinh doanh", 10,
              ("Giấy đề nghị đăng ký hộ kinh doanh", _ID_COPY.format("chủ hộ kinh doanh")),
              "Giấy chứng nhận đăng ký hộ kinh doanh"),
    Procedure("2.000575", "Đăng ký thay đổi nội dung đăng ký hộ kinh doanh", 8,
              ("Thông báo thay đổi nội dung đăng ký hộ kinh doanh",),
              "Giấy chứng nhận đăng ký hộ kinh doanh"),
    Procedure("2.000576", "Tạm ngừng kinh doanh, tiếp tục kinh doanh trước thời hạn đã thông "
              "báo của hộ kinh doanh", 3, ("Thông báo về việc tạm ngừng kinh doanh",),
              "Giấy xác nhận về việc hộ kinh doanh tạm ngừng kinh doanh"),
    Procedure("2.000577", "Chấm dứt hoạt động hộ kinh doanh", 4,
              ("Thông báo về việc chấm dứt hoạt động hộ kinh doanh",
               "Bản gốc Giấy chứng nhận đăng ký hộ kinh doanh"),
              "Thông báo về việc chấm dứt hoạt động hộ kinh doanh"),
)  # fmt: skip
_COOPERATIVE_PROCEDURES = (
    Procedure("1.005280", "Đăng ký thành lập hợp tác xã", 5,
              ("Giấy đề nghị đăng ký hợp tác xã", "Điều lệ hợp tác xã",
               "Phương án sản xuất, kinh doanh", "Danh sách thành viên"), _HTX_CERT),
    Procedure("1.005281", "Đăng ký thay đổi nội dung đăng ký hợp tác xã", 8,
              ("Giấy đề nghị đăng ký thay đổi nội dung đăng ký hợp tác xã",
               "Nghị quyết của Đại hội thành viên"), _HTX_CERT),
    Procedure("1.005282", "Thông báo tạm ngừng hoạt động hợp tác xã", 2,
              ("Thông báo về việc tạm ngừng hoạt động",),
              "Giấy xác nhận về việc hợp tác xã tạm ngừng hoạt động"),
    Procedure("1.005283", "Giải thể tự nguyện hợp tác xã", 2,
              ("Thông báo về việc giải thể hợp tác xã",
               "Nghị quyết của Đại hội thành viên về việc giải thể"),
              "Thông báo về việc giải thể hợp tác xã"),
)  # fmt: skip

KINDS: dict[EntityKind, KindSpec] = {
    "enterprise": KindSpec(
        "enterprise", "DN", "enterprise", 900_000, 0, 4000.0, 2000,
        ((_TNHH1, "Công ty TNHH", 45, "Giám đốc"), (_TNHH2, "Công ty TNHH", 20, "Giám đốc"),
         ("Công ty cổ phần", "Công ty Cổ phần", 25, "Tổng giám đốc"),
         ("Doanh nghiệp tư nhân", "Doanh nghiệp tư nhân", 9, "Chủ doanh nghiệp"),
         ("Công ty hợp danh", "Công ty Hợp danh", 1, "Thành viên hợp danh")),
        (("4632", "Bán buôn thực phẩm", "Thương mại Thực phẩm"),
         ("4663", "Bán buôn vật liệu, thiết bị lắp đặt khác trong xây dựng", "Vật liệu Xây dựng"),
         ("4101", "Xây dựng nhà để ở", "Xây dựng"),
         ("4933", "Vận tải hàng hóa bằng đường bộ", "Vận tải"),
         ("5610", "Nhà hàng và các dịch vụ ăn uống phục vụ lưu động", "Dịch vụ Ăn uống"),
         ("6201", "Lập trình máy vi tính", "Công nghệ Phần mềm"),
         ("6810", "Kinh doanh bất động sản, quyền sử dụng đất thuộc chủ sở hữu, chủ sử dụng "
                  "hoặc đi thuê", "Đầu tư Bất động sản"),
         ("7020", "Hoạt động tư vấn quản lý", "Tư vấn Quản lý"),
         ("1410", "May trang phục (trừ trang phục từ da lông thú)", "May mặc"),
         ("5510", "Dịch vụ lưu trú ngắn ngày", "Du lịch Khách sạn")),
        (("active", 70), ("suspended", 8), ("dissolving", 2), ("dissolved", 14),
         ("not_at_registered_address", 6)),
        2e9, _ENTERPRISE_PROCEDURES,
    ),
    "household_business": KindSpec(
        "household_business", "HKD", "household business", 5_000_000, None, 6000.0, 2000,
        (("Hộ kinh doanh", "Hộ kinh doanh", 1, "Chủ hộ kinh doanh"),),
        (("4711", "Bán lẻ lương thực, thực phẩm, đồ uống, thuốc lá, thuốc lào chiếm tỷ trọng "
                  "lớn trong các cửa hàng kinh doanh tổng hợp", "Tạp hóa"),
         ("5610", "Nhà hàng và các dịch vụ ăn uống phục vụ lưu động", "Quán ăn"),
         ("5630", "Dịch vụ phục vụ đồ uống", "Cà phê"),
         ("9631", "Cắt tóc, làm đầu, gội đầu", "Salon tóc"),
         ("4542", "Bảo dưỡng và sửa chữa mô tô, xe máy", "Sửa xe máy"),
         ("4771", "Bán lẻ hàng may mặc, giày dép, hàng da và giả da trong các cửa hàng chuyên "
                  "doanh", "Thời trang"),
         ("1071", "Sản xuất các loại bánh từ bột", "Bánh")),
        (("active", 80), ("suspended", 8), ("dissolved", 12)),
        1e8, _HOUSEHOLD_PROCEDURES,
    ),
    "cooperative": KindSpec(
        "cooperative", "HTX", "cooperative", 30_000, 900_000, 120.0, 1997,
        (("Hợp tác xã", "Hợp tác xã", 1, "Chủ tịch Hội đồng quản trị"),),
        (("0111", "Trồng lúa", "Nông nghiệp"),
         ("0161", "Hoạt động dịch vụ trồng trọt", "Dịch vụ Nông nghiệp"),
         ("0118", "Trồng rau, đậu các loại và trồng hoa", "Rau an toàn"),
         ("0145", "Chăn nuôi lợn và sản xuất giống lợn", "Chăn nuôi"),
         ("0322", "Nuôi trồng thủy sản nội địa", "Thủy sản"),
         ("3600", "Khai thác, xử lý và cung cấp nước", "Nước sạch"),
         ("4933", "Vận tải hàng hóa bằng đường bộ", "Vận tải")),
        (("active", 75), ("suspended", 8), ("dissolving", 3), ("dissolved", 14)),
        1.5e9, _COOPERATIVE_PROCEDURES,
    ),
}  # fmt: skip


class UnknownEntity(LookupError):
    """No entity of this kind has this code."""


# -- codes ---------------------------------------------------------------------------------


def tax_check_digit(body: str) -> int | None:
    """The check digit of a 9-digit tax-code body (*mã số thuế*); None if none is valid."""
    check = 10 - sum(w * int(d) for w, d in zip(_MST_WEIGHTS, body, strict=True)) % 11
    return None if check == 10 else check


@cache
def _province_starts(count: int) -> tuple[int, ...]:
    """Where each province's block of ``count`` entities starts (blocks sized by population)."""
    starts, running = [], 0
    for province in PROVINCES:
        starts.append(count * running // _TOTAL_POPULATION_K)
        running += province.population_k
    return (*starts, count)


def _province_block(spec: KindSpec, province: Province) -> tuple[int, int]:
    starts = _province_starts(spec.count)
    index = PROVINCES.index(province)
    return starts[index], starts[index + 1]


def entity_code(seed: int, spec: KindSpec, index: int) -> str | None:
    """The code of the ``index``-th entity of a kind; None if that index has no valid code."""
    if spec.code_base is None:
        block = bisect_right(_province_starts(spec.count), index) - 1
        province, local = PROVINCES[block], index - _province_starts(spec.count)[block]
        value = permute(seed, f"household-business:{province.code}", local, _HOUSEHOLD_MODULUS)
        letter = _DISTRICT_LETTERS[value // 10**6]
        return f"{province.code[1:]}{letter}8{value % 10**6:06d}"
    body = f"{permute(seed, 'tax-code', spec.code_base + index, _TAX_BODY_MODULUS):09d}"
    check = tax_check_digit(body)
    return None if check is None or body[2:] == "0000000" else f"{body}{check}"


def entity_index(seed: int, spec: KindSpec, code: str) -> int | None:
    """Inverse of :func:`entity_code`: the entity's index, or None if the code names none."""
    if spec.code_base is None:
        match = re.fullmatch(r"(\d{2})([A-Z])8(\d{6})", code)
        if match is None or match[2] not in _DISTRICT_LETTERS:
            return None
        try:
            province = province_by_code(f"0{match[1]}")
        except KeyError:
            return None
        value = _DISTRICT_LETTERS.index(match[2]) * 10**6 + int(match[3])
        local = unpermute(seed, f"household-business:{province.code}", value, _HOUSEHOLD_MODULUS)
        start, end = _province_block(spec, province)
        return start + local if local < end - start else None
    if re.fullmatch(r"\d{10}", code) is None or not entity_code_check(code):
        return None
    index = unpermute(seed, "tax-code", int(code[:9]), _TAX_BODY_MODULUS) - spec.code_base
    return index if 0 <= index < spec.count else None


def entity_code_check(code: str) -> bool:
    check = tax_check_digit(code[:9])
    return check is not None and code[2:9] != "0000000" and int(code[9]) == check


def _entity_province(spec: KindSpec, index: int) -> Province:
    return PROVINCES[bisect_right(_province_starts(spec.count), index) - 1]


def random_entity_code(
    seed: int, spec: KindSpec, rng: random.Random, province: Province, *, by: date = REFERENCE_DATE
) -> str:
    """Draw an existing entity of a province registered by ``by`` (how a dossier picks its own).

    Entities are numbered in order of registration within their province, so those registered
    by a date are a prefix of the province's block: no rejection sampling over dates.
    """
    start, end = _province_block(spec, province)
    limit = _registered_by(spec, end - start, by)
    while True:
        for _ in range(20):  # about one index in eleven has no valid check digit: draw again
            code = entity_code(seed, spec, start + rng.randrange(limit))
            if code is not None:
                return code
        limit = min(end - start, limit * 2)  # so few entities yet that none has a valid code


# -- entities ------------------------------------------------------------------------------


def _weighted(rng: random.Random, rows: tuple[Any, ...], weight_at: int) -> Any:
    return rng.choices(rows, weights=[row[weight_at] for row in rows])[0]


def legal_form_of(seed: int, spec: KindSpec, code: str) -> tuple[str, str, int, str]:
    """``(legal form, name prefix, weight, representative's position)`` of an entity."""
    # A generator of its own, so a dossier matches a founding procedure without the full record.
    form: tuple[str, str, int, str] = _weighted(
        keyed_random(seed, "legal-form", code), spec.legal_forms, 2
    )
    return form


def _registered_on(spec: KindSpec, index: int) -> date:
    """Registration date of the entity at ``index``: in order within its province's block, with
    registrations growing over the years (the share registered by a date rises as a power)."""
    province = _entity_province(spec, index)
    start, end = _province_block(spec, province)
    first = date(spec.first_year, 1, 1)
    position = ((index - start) / (end - start)) ** _GROWTH
    return first + timedelta(days=int((REFERENCE_DATE - first).days * position))


def _registered_by(spec: KindSpec, block_size: int, by: date) -> int:
    """How many entities of a province block were registered on or before ``by`` (at least 1)."""
    first = date(spec.first_year, 1, 1)
    span, elapsed = (REFERENCE_DATE - first).days, (by - first).days + 1
    if elapsed >= span:
        return block_size
    share: float = (max(elapsed, 0) / span) ** (1 / _GROWTH)
    return max(1, min(block_size, math.ceil(block_size * share)))


def entity_record(seed: int, kind: EntityKind, code: str) -> Entity:
    """The registry record of an entity; :class:`UnknownEntity` if the code names none."""
    spec = KINDS[kind]
    index = entity_index(seed, spec, code)
    if index is None:
        raise UnknownEntity(code)
    province = _entity_province(spec, index)
    rng = keyed_random(seed, "entity", kind, code)
    legal_form, prefix, _, position = legal_form_of(seed, spec, code)
    line_code, line_name, word = rng.choice(spec.lines)
    registered_on = _registered_on(spec, index)
    born = (max(registered_on.year - 62, YEAR_MIN), min(registered_on.year - 20, YEAR_MAX))
    home = province.code if rng.random() < 0.8 else None
    representative = person(seed, random_citizen_id(rng, province_code=home, born_between=born))
    capital = math.exp(rng.gauss(math.log(spec.capital_median_vnd), 1.2))
    with faker_lock:
        fake = faker_for(seed, "business-name", code)
        given = [fake.first_name_male()]
        while len(given) < 2:  # two distinct given names: "Minh Phát", never "Minh Minh"
            name = fake.first_name_male()
            given += [name] if name != given[0] else []
        proper = " ".join(given)
        place = re.sub(r"^(xã|phường|thị trấn)\s+", "", fake.commune(), flags=re.IGNORECASE)
    if kind == "cooperative":
        name = f"{prefix} {word} {place}"
    elif kind == "household_business" and rng.random() < 0.5:
        name = f"{prefix} {representative.full_name}"
    else:
        name = f"{prefix} {word} {proper}"
    return Entity(
        kind=kind,
        code=code,
        name=name,
        legal_form=legal_form,
        status=_weighted(rng, spec.statuses, 1)[0],
        registered_on=registered_on,
        province_code=province.code,
        registered_address=f"{street_address(seed, 'business', code)}, {province.full_name}",
        main_business_line=BusinessLine(code=line_code, name=line_name),
        capital_vnd=max(10, round(capital / 10**7)) * 10**7,
        representative=Representative(
            personal_id=representative.personal_id,
            full_name=representative.full_name,
            date_of_birth=representative.date_of_birth,
            position=position,
        ),
        phone=phone_number(seed, "business", code) if rng.random() < 0.8 else None,
        member_count=rng.randint(7, 250) if kind == "cooperative" else None,
    )


__all__ = [
    "KINDS",
    "KindSpec",
    "Procedure",
    "UnknownEntity",
    "entity_code",
    "entity_code_check",
    "entity_index",
    "entity_record",
    "legal_form_of",
    "random_entity_code",
    "tax_check_digit",
]
