"""The 63 provinces and centrally-run cities of the 2024 map (*63 tỉnh, thành phố*).

Codes are the three-digit province codes that open every 12-digit personal id (*mã tỉnh trong
số định danh cá nhân*, Circular 59/2021/TT-BCA). ``population_k`` is the approximate 2023
population in thousands (GSO), used only to weight synthetic volumes per province.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True, slots=True)
class Province:
    code: str
    name: str
    kind: str  # "Thành phố" (centrally-run city) or "Tỉnh" (province)
    population_k: int

    @property
    def full_name(self) -> str:
        return f"{self.kind} {self.name}"

    @property
    def slug(self) -> str:
        return slugify(self.name)


_TABLE: tuple[tuple[str, str, str, int], ...] = (
    ("001", "Hà Nội", "Thành phố", 8500), ("002", "Hà Giang", "Tỉnh", 900),
    ("004", "Cao Bằng", "Tỉnh", 545), ("006", "Bắc Kạn", "Tỉnh", 330),
    ("008", "Tuyên Quang", "Tỉnh", 800), ("010", "Lào Cai", "Tỉnh", 770),
    ("011", "Điện Biên", "Tỉnh", 640), ("012", "Lai Châu", "Tỉnh", 480),
    ("014", "Sơn La", "Tỉnh", 1290), ("015", "Yên Bái", "Tỉnh", 850),
    ("017", "Hòa Bình", "Tỉnh", 880), ("019", "Thái Nguyên", "Tỉnh", 1340),
    ("020", "Lạng Sơn", "Tỉnh", 800), ("022", "Quảng Ninh", "Tỉnh", 1380),
    ("024", "Bắc Giang", "Tỉnh", 1920), ("025", "Phú Thọ", "Tỉnh", 1510),
    ("026", "Vĩnh Phúc", "Tỉnh", 1200), ("027", "Bắc Ninh", "Tỉnh", 1490),
    ("030", "Hải Dương", "Tỉnh", 1950), ("031", "Hải Phòng", "Thành phố", 2100),
    ("033", "Hưng Yên", "Tỉnh", 1300), ("034", "Thái Bình", "Tỉnh", 1880),
    ("035", "Hà Nam", "Tỉnh", 880), ("036", "Nam Định", "Tỉnh", 1880),
    ("037", "Ninh Bình", "Tỉnh", 1010), ("038", "Thanh Hóa", "Tỉnh", 3720),
    ("040", "Nghệ An", "Tỉnh", 3440), ("042", "Hà Tĩnh", "Tỉnh", 1320),
    ("044", "Quảng Bình", "Tỉnh", 920), ("045", "Quảng Trị", "Tỉnh", 650),
    ("046", "Thừa Thiên Huế", "Tỉnh", 1160), ("048", "Đà Nẵng", "Thành phố", 1230),
    ("049", "Quảng Nam", "Tỉnh", 1520), ("051", "Quảng Ngãi", "Tỉnh", 1250),
    ("052", "Bình Định", "Tỉnh", 1510), ("054", "Phú Yên", "Tỉnh", 880),
    ("056", "Khánh Hòa", "Tỉnh", 1260), ("058", "Ninh Thuận", "Tỉnh", 600),
    ("060", "Bình Thuận", "Tỉnh", 1260), ("062", "Kon Tum", "Tỉnh", 580),
    ("064", "Gia Lai", "Tỉnh", 1590), ("066", "Đắk Lắk", "Tỉnh", 1920),
    ("067", "Đắk Nông", "Tỉnh", 680), ("068", "Lâm Đồng", "Tỉnh", 1330),
    ("070", "Bình Phước", "Tỉnh", 1050), ("072", "Tây Ninh", "Tỉnh", 1190),
    ("074", "Bình Dương", "Tỉnh", 2760), ("075", "Đồng Nai", "Tỉnh", 3310),
    ("077", "Bà Rịa - Vũng Tàu", "Tỉnh", 1200), ("079", "Hồ Chí Minh", "Thành phố", 9460),
    ("080", "Long An", "Tỉnh", 1730), ("082", "Tiền Giang", "Tỉnh", 1790),
    ("083", "Bến Tre", "Tỉnh", 1300), ("084", "Trà Vinh", "Tỉnh", 1020),
    ("086", "Vĩnh Long", "Tỉnh", 1030), ("087", "Đồng Tháp", "Tỉnh", 1600),
    ("089", "An Giang", "Tỉnh", 1900), ("091", "Kiên Giang", "Tỉnh", 1760),
    ("092", "Cần Thơ", "Thành phố", 1250), ("093", "Hậu Giang", "Tỉnh", 730),
    ("094", "Sóc Trăng", "Tỉnh", 1200), ("095", "Bạc Liêu", "Tỉnh", 920),
    ("096", "Cà Mau", "Tỉnh", 1210),
)  # fmt: skip

PROVINCES: tuple[Province, ...] = tuple(Province(*row) for row in _TABLE)
PROVINCE_CODES: frozenset[str] = frozenset(p.code for p in PROVINCES)
_BY_CODE = {p.code: p for p in PROVINCES}


def slugify(text: str) -> str:
    """``"Thanh Hóa"`` → ``"thanh-hoa"``; ``đ`` becomes ``d`` (NFKD leaves it alone)."""
    text = text.replace("đ", "d").replace("Đ", "D")
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = "".join(c if c.isalnum() else " " for c in ascii_text.lower()).split()
    return "-".join(words)


@cache
def _by_key() -> dict[str, Province]:
    keys: dict[str, Province] = {}
    for p in PROVINCES:
        keys[p.code] = p
        keys[p.slug] = p
        keys[slugify(p.full_name)] = p
    return keys


def province_by_code(code: str) -> Province:
    """The province with this three-digit code; ``KeyError`` if there is none."""
    return _BY_CODE[code]


def find_province(name_or_code: str) -> Province | None:
    """Look a province up by code, name or slug, with or without diacritics.

    ``"038"``, ``"Thanh Hóa"``, ``"thanh hoa"``, ``"thanh-hoa"`` and ``"Tỉnh Thanh Hóa"`` all
    find Thanh Hóa; ``"TP Hồ Chí Minh"`` and ``"ho-chi-minh"`` find Hồ Chí Minh.
    """
    key = slugify(name_or_code)
    if key.startswith("tp-"):
        key = key[3:]
    return _by_key().get(key) or _BY_CODE.get(name_or_code.strip())
