"""The dossier calendar (*lịch hồ sơ*): which dossiers a national database finished processing,
and when — derived from the seed on demand, never stored. Shared by every mock that lists
dossiers in a time window (business registration, driver-licence renewal, ...).

A *kind* is a short upper-case code naming one family of dossiers, chosen by the mock that uses
it: ``"DN"`` (*doanh nghiệp*, enterprise), ``"HKD"`` (*hộ kinh doanh*), ``"HTX"`` (*hợp tác
xã*), ``"GPLX"`` (*giấy phép lái xe*). Kinds never share dossiers: the kind is part of the id.

The model, in order of derivation:

1. **Cells.** Time is Vietnam local time (UTC+7; Vietnam has kept it, without daylight saving,
   since 1975, so a fixed offset is exact). For each ``(kind, province, local day)`` the number
   of dossiers that *ended* (finished processing) that day is a Poisson draw from
   ``keyed_random(seed, "dossier-day", kind, province, day)`` with mean
   ``daily_volume(province)`` on working days, a tenth of it on Saturdays (some one-stop
   centres open on Saturday mornings) and none on Sundays. Public holidays are not modelled.
2. **Times.** The same generator then places the end times uniformly over office hours
   (07:30–11:30, 13:30–17:00), sorted: a dossier's *ordinal* is its rank in its cell. Each
   dossier was received 0 to ``processing_days`` working days earlier (a few run late), during
   office hours, never after it ended. Dossiers exist from 2000 to 2099 (:data:`FIRST_YEAR`,
   :data:`LAST_YEAR`); a window outside these years holds none.
3. **Ids.** ``KIND-PPP-YYYYMMDD-NNNNN``: kind, province code, local day of the end, ordinal
   (e.g. ``DN-038-20240603-00017``). :func:`dossier_stub` parses an id and regenerates its
   cell, so any id is checked without storage: an id that parses but whose ordinal is not below
   that day's count names no dossier. File ids append a role and a 1-based index
   (``DN-038-20240603-00017-result-01``) and are reversible with :func:`parse_file_id`.
4. **Windows.** :func:`dossiers_in_window` lists dossiers whose end falls in ``[start, end)``,
   ordered by end time (ties: province, ordinal). It is lazy: its length comes from the cell
   counts (only the two partial days at the window's edges are generated), and indexing
   generates one local day at a time, so a 31-day window of every province pages fast.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import random
import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import TypeVar, overload

from contracts.provinces import PROVINCES, Province, province_by_code
from mock_services.people import keyed_random
from mock_services.service import ProblemError

VIETNAM_TZ = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")
MAX_WINDOW_DAYS = 31
FIRST_YEAR, LAST_YEAR = 2000, 2099
# Office hours of a one-stop centre (giờ hành chính): morning and afternoon sessions.
_SESSIONS = ((time(7, 30), 4 * 3600), (time(13, 30), 3 * 3600 + 1800))
_OFFICE_SECONDS = sum(length for _, length in _SESSIONS)
# Share of a working day's volume by weekday (Monday first).
_WEEKDAY_FACTOR = (1.0, 1.0, 1.0, 1.0, 1.0, 0.1, 0.0)
_KIND_PATTERN = r"[A-Z][A-Z0-9]{1,7}"
_ROLE_PATTERN = r"[a-z]+"
_DOSSIER_RE = re.compile(rf"^({_KIND_PATTERN})-(\d{{3}})-(\d{{8}})-(\d{{5}})$")
_FILE_RE = re.compile(rf"^({_KIND_PATTERN}-\d{{3}}-\d{{8}}-\d{{5}})-({_ROLE_PATTERN})-(\d{{2}})$")
FILE_ID_PATTERN = _FILE_RE.pattern
FILE_ID_DESCRIPTION = (
    "File id (mã tệp): the dossier id, the role (component / result) and a 1-based index, "
    "e.g. DN-038-20240603-00017-result-01."
)

T = TypeVar("T")
DailyVolume = Callable[[Province], float]


@dataclass(frozen=True, slots=True)
class DossierStub:
    """What the calendar knows of one dossier; each mock derives the rest from ``dossier_id``."""

    dossier_id: str
    kind: str
    province_code: str
    received_at: datetime
    end_at: datetime
    ordinal: int


def dossier_id_pattern(kind: str) -> str:
    """The regular expression of this kind's dossier ids (for path parameters)."""
    _check_kind(kind)
    return rf"^{kind}-\d{{3}}-\d{{8}}-\d{{5}}$"


def dossier_id_for(kind: str, province_code: str, day: date, ordinal: int) -> str:
    return f"{kind}-{province_code}-{day:%Y%m%d}-{ordinal:05d}"


def parse_dossier_id(dossier_id: str) -> tuple[str, str, date, int] | None:
    """``(kind, province_code, day, ordinal)``; None if the id is malformed or names no day."""
    match = _DOSSIER_RE.match(dossier_id)
    if match is None:
        return None
    kind, province_code, day_text, ordinal = match.groups()
    try:
        day = datetime.strptime(day_text, "%Y%m%d").date()
    except ValueError:
        return None
    return kind, province_code, day, int(ordinal)


def dossier_stub(
    seed: int,
    kind: str,
    dossier_id: str,
    *,
    daily_volume: DailyVolume,
    processing_days: int = 3,
) -> DossierStub | None:
    """Regenerate the dossier an id names; None if it is malformed, of another kind, or absent."""
    parsed = parse_dossier_id(dossier_id)
    if parsed is None or parsed[0] != kind:
        return None
    _, province_code, day, ordinal = parsed
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        return None
    try:
        province = province_by_code(province_code)
    except KeyError:
        return None
    cell = _Cell(seed, kind, province, day, daily_volume, processing_days)
    if ordinal >= cell.count():
        return None
    return cell.stubs()[ordinal]


def dossiers_in_window(
    seed: int,
    kind: str,
    start: datetime,
    end: datetime,
    province_code: str | None,
    *,
    daily_volume: DailyVolume,
    processing_days: int = 3,
) -> DossierWindow:
    """Dossiers of this kind whose end time falls in ``[start, end)``, sorted by end time.

    ``province_code`` None means every province (``KeyError`` for an unknown code); call
    :func:`validate_window` first. The result is a lazy, immutable
    ``Sequence[DossierStub]``: ``len()`` and slices are cheap; a list of it is not.
    """
    _check_kind(kind)
    provinces = PROVINCES if province_code is None else (province_by_code(province_code),)
    start, end = _kept(start, end)
    return DossierWindow(seed, kind, start, end, provinces, daily_volume, processing_days)


def page_of(items: Sequence[T], page: int, size: int) -> tuple[list[T], int]:
    """The ``page``-th (1-based) slice of ``size`` items, and the total count."""
    if page < 1 or size < 1:
        raise ValueError("page and size start at 1")
    offset = (page - 1) * size
    return list(items[offset : offset + size]), len(items)


def validate_window(start: datetime, end: datetime, max_days: int = MAX_WINDOW_DAYS) -> None:
    """Refuse a window that is inverted, longer than ``max_days`` or not time-zoned.

    An empty window (``from == to``: ``[t, t)``) is a window with no dossier in it, and a
    window outside the years the calendar keeps (:data:`FIRST_YEAR`–:data:`LAST_YEAR`) simply
    holds none: both answer an empty page, as a database answers for days it has nothing on.
    Raises :class:`ProblemError` 422 ``invalid_request``: the caller's input breaks the contract.
    """

    def refuse(detail: str) -> ProblemError:
        return ProblemError(422, "invalid_request", "Invalid request", detail)

    if start.utcoffset() is None or end.utcoffset() is None:
        raise refuse("`from` and `to` need a UTC offset (RFC 3339), e.g. 2024-06-03T00:00:00Z.")
    if start > end:
        raise refuse(f"`from` ({start.isoformat()}) must not be after `to` ({end.isoformat()}).")
    if end - start > timedelta(days=max_days):
        raise refuse(f"The window from `from` to `to` is at most {max_days} days long.")


def _kept(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The part of ``[start, end)`` in the years the calendar keeps; ``start == end`` if none."""
    first = datetime(FIRST_YEAR, 1, 1, tzinfo=VIETNAM_TZ)
    after = datetime(LAST_YEAR + 1, 1, 1, tzinfo=VIETNAM_TZ)
    try:
        start, end = max(start, first), min(end, after)
    except OverflowError:  # year 1 or 9999 at an offset: far outside, nothing kept
        return first, first
    return (start, end) if start < end else (first, first)


def file_id_for(dossier_id: str, role: str, index: int) -> str:
    """The id of a dossier's ``index``-th (1-based) file in ``role`` (``component``, ``result``)."""
    if re.fullmatch(_ROLE_PATTERN, role) is None or not 1 <= index <= 99:
        raise ValueError(f"bad file role or index: {role!r}, {index}")
    return f"{dossier_id}-{role}-{index:02d}"


def parse_file_id(file_id: str) -> tuple[str, str, int] | None:
    """``(dossier_id, role, index)``; None if the id is malformed."""
    match = _FILE_RE.match(file_id)
    if match is None or parse_dossier_id(match[1]) is None or int(match[3]) < 1:
        return None
    return match[1], match[2], int(match[3])


def pdf_bytes(seed: int, file_id: str, title: str) -> bytes:
    """A one-page PDF 1.4 naming the file, byte-identical for the same arguments.

    The page uses a standard font, so its text is the title without diacritics; the exact
    Vietnamese title is in the document information (UTF-16, as PDF allows).
    """
    digest = hashlib.blake2b(repr((seed, "pdf", file_id)).encode(), digest_size=16).hexdigest()
    lines = [
        "CONG HOA XA HOI CHU NGHIA VIET NAM",
        "Doc lap - Tu do - Hanh phuc",
        "",
        _ascii(title).upper(),
        "",
        f"Ma tep (file id): {file_id}",
        f"Ma xac thuc (checksum): {digest[:16].upper()}",
        "Ban sao dien tu do ndxp-sim tao ra (synthetic document).",
    ]
    text = "\n".join(f"({_pdf_escape(line)}) Tj T*" for line in lines)
    stream = f"BT /F1 12 Tf 16 TL 72 760 Td\n{text}\nET".encode("ascii")
    title_hex = ("\ufeff" + title).encode("utf-16-be").hex().upper()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        f"<< /Title <{title_hex}> /Producer (ndxp-sim) >>".encode("ascii"),
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += (
        b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R /ID [<%s> <%s>] >>\nstartxref\n%d\n%%%%EOF\n"
        % (len(objects) + 1, digest.encode(), digest.encode(), xref_at)
    )
    return bytes(out)


def working_days_before(day: date, count: int) -> date:
    """The working day (Monday–Friday) ``count`` working days before ``day``."""
    while count > 0:
        day -= timedelta(days=1)
        count -= day.weekday() < 5
    return day


def working_days_after(moment: datetime, count: int) -> datetime:
    """The same clock time ``count`` working days later (a legal deadline, *hạn xử lý*)."""
    while count > 0:
        moment += timedelta(days=1)
        count -= moment.weekday() < 5
    return moment


class DossierWindow(Sequence[DossierStub]):
    """A lazy, sorted sequence of the dossiers ending in a window (see the module docstring)."""

    def __init__(
        self,
        seed: int,
        kind: str,
        start: datetime,
        end: datetime,
        provinces: Sequence[Province],
        daily_volume: DailyVolume,
        processing_days: int,
    ) -> None:
        self._start, self._end = start, end
        first = start.astimezone(VIETNAM_TZ).date()
        last = (end - timedelta(microseconds=1)).astimezone(VIETNAM_TZ).date()
        self._days: list[list[_Cell]] = [
            [
                _Cell(seed, kind, p, first + timedelta(days=n), daily_volume, processing_days)
                for p in provinces
            ]
            for n in range((last - first).days + 1)
        ]
        self._cache: dict[int, list[DossierStub]] = {}
        self._ends: list[int] = []  # cumulative size after each day
        total = 0
        for index, cells in enumerate(self._days):
            day_start = datetime.combine(cells[0].day, time(), VIETNAM_TZ)
            inside = start <= day_start and day_start + timedelta(days=1) <= end
            total += sum(c.count() for c in cells) if inside else len(self._day(index))
            self._ends.append(total)

    def __len__(self) -> int:
        return self._ends[-1] if self._ends else 0

    @overload
    def __getitem__(self, index: int) -> DossierStub: ...
    @overload
    def __getitem__(self, index: slice) -> list[DossierStub]: ...
    def __getitem__(self, index: int | slice) -> DossierStub | list[DossierStub]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        day = bisect.bisect_right(self._ends, index)
        before = self._ends[day - 1] if day else 0
        return self._day(day)[index - before]

    def __iter__(self) -> Iterator[DossierStub]:
        for day in range(len(self._days)):
            yield from self._day(day)

    def _day(self, index: int) -> list[DossierStub]:
        if index not in self._cache:
            if len(self._cache) >= 2:  # a page spans at most two days; keep memory flat
                self._cache.pop(next(iter(self._cache)))
            stubs = [s for cell in self._days[index] for s in cell.stubs()]
            stubs.sort(key=lambda s: (s.end_at, s.province_code, s.ordinal))
            self._cache[index] = [s for s in stubs if self._start <= s.end_at < self._end]
        return self._cache[index]


@dataclass(frozen=True, slots=True)
class _Cell:
    """The dossiers of one kind that ended in one province on one local day."""

    seed: int
    kind: str
    province: Province
    day: date
    daily_volume: DailyVolume
    processing_days: int

    def _rng(self) -> tuple[random.Random, int]:
        rng = keyed_random(
            self.seed, "dossier-day", self.kind, self.province.code, self.day.isoformat()
        )
        mean = self.daily_volume(self.province) * _WEEKDAY_FACTOR[self.day.weekday()]
        return rng, _poisson(rng, mean)

    def count(self) -> int:
        return self._rng()[1]

    def stubs(self) -> list[DossierStub]:
        rng, count = self._rng()
        offsets = sorted(rng.randrange(_OFFICE_SECONDS) for _ in range(count))
        stubs = []
        for ordinal, offset in enumerate(offsets):
            end_at = _office_time(self.day, offset)
            lag = rng.randint(0, self.processing_days)
            if rng.random() < 0.05:  # late: past the legal time limit (quá hạn)
                lag = self.processing_days + rng.randint(1, 5)
            received_on = working_days_before(self.day, lag)
            received_offset = rng.randrange(max(offset, 1) if lag == 0 else _OFFICE_SECONDS)
            stubs.append(
                DossierStub(
                    dossier_id=dossier_id_for(self.kind, self.province.code, self.day, ordinal),
                    kind=self.kind,
                    province_code=self.province.code,
                    received_at=_office_time(received_on, received_offset),
                    end_at=end_at,
                    ordinal=ordinal,
                )
            )
        return stubs


def _office_time(day: date, offset: int) -> datetime:
    """The moment ``offset`` seconds into the office hours of ``day`` (local time)."""
    for opens, length in _SESSIONS:
        if offset < length:
            return datetime.combine(day, opens, VIETNAM_TZ) + timedelta(seconds=offset)
        offset -= length
    raise ValueError("offset beyond office hours")


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 30:  # the normal approximation is close here and costs two draws, not ``mean``
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _check_kind(kind: str) -> None:
    if re.fullmatch(_KIND_PATTERN, kind) is None:
        raise ValueError(f"dossier kind must match {_KIND_PATTERN}: {kind!r}")


def _ascii(text: str) -> str:
    text = text.replace("đ", "d").replace("Đ", "D")
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _pdf_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


__all__ = [
    "FILE_ID_PATTERN",
    "FIRST_YEAR",
    "LAST_YEAR",
    "MAX_WINDOW_DAYS",
    "VIETNAM_TZ",
    "DossierStub",
    "DossierWindow",
    "dossier_id_for",
    "dossier_id_pattern",
    "dossier_stub",
    "dossiers_in_window",
    "file_id_for",
    "page_of",
    "parse_dossier_id",
    "parse_file_id",
    "pdf_bytes",
    "validate_window",
    "working_days_after",
    "working_days_before",
]
