"""The values every fault rule is made of: the strict base model and the weekly local-time
window (*khung giờ*) that time-of-day matches and maintenance windows share.

Times of day are local to Asia/Ho_Chi_Minh (UTC+7, no daylight saving since 1975).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mock_services.dossiers import VIETNAM_TZ

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CLOCK_TIME_PATTERN = r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$"


class Spec(BaseModel):
    """Base of the scenario values: unknown keys are refused, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def clock_minutes(hhmm: str) -> int:
    """``"08:30"`` → 510 minutes after local midnight (``"24:00"`` → 1440)."""
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


class Window(Spec):
    """A weekly local-time window (*khung giờ*), e.g. weekdays 08:00–11:30; ``end`` excluded.

    A window never spans midnight: write two (``22:00``–``24:00`` and ``00:00``–``02:00``).
    """

    days: tuple[Weekday, ...] = Field(default=WEEKDAYS, min_length=1, description="Weekdays.")
    start: str = Field(pattern=CLOCK_TIME_PATTERN, description="Local start, HH:MM.")
    end: str = Field(pattern=CLOCK_TIME_PATTERN, description="Local end, HH:MM (24:00 allowed).")

    @model_validator(mode="after")
    def _start_before_end(self) -> Window:
        if clock_minutes(self.start) >= clock_minutes(self.end):
            raise ValueError(
                f"start {self.start} must be before end {self.end}; split a window that "
                "spans midnight in two"
            )
        return self

    def contains(self, now: datetime) -> bool:
        local = now.astimezone(VIETNAM_TZ)
        minute = local.hour * 60 + local.minute
        return WEEKDAYS[local.weekday()] in self.days and clock_minutes(
            self.start
        ) <= minute < clock_minutes(self.end)

    def ends_at(self, now: datetime) -> datetime:
        """The end of this window on ``now``'s local day (the window is assumed to contain it)."""
        local = now.astimezone(VIETNAM_TZ)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        return midnight + timedelta(minutes=clock_minutes(self.end))

    def describe(self) -> str:
        """``"mon–fri 08:00–11:30"``."""
        days = list(self.days)
        indices = [WEEKDAYS.index(d) for d in days]
        contiguous = len(days) > 2 and indices == list(range(indices[0], indices[-1] + 1))
        named = f"{days[0]}–{days[-1]}" if contiguous else ", ".join(days)
        return f"{named} {self.start}–{self.end}"


__all__ = ["CLOCK_TIME_PATTERN", "WEEKDAYS", "Spec", "Weekday", "Window", "clock_minutes"]
