"""Working-hours calendars of an SLA policy: weekday spans in one time zone, minus holidays.

Only the model and its validation; analytics/sla/business_time.py turns a calendar into working
intervals. analytics/sla/policy.py holds the calendars of a policy.
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache
from zoneinfo import available_timezones

import holidays
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ALWAYS = "24x7"  # the built-in calendar on which all time counts
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKDAY_NAMES = {**{d: d for d in WEEKDAYS}, **dict(zip(
    ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"), WEEKDAYS))}
_HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


def _minutes_of_day(text: str) -> int:
    m = _HHMM.match(text.strip())
    if not m or (m.group(1) == "24" and m.group(2) != "00"):
        raise ValueError(f"'{text}' is not a time of day HH:MM (00:00–24:00)")
    return int(m.group(1)) * 60 + int(m.group(2))


class Calendar(BaseModel):
    """Working hours per weekday in one time zone, minus public and custom holidays."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, max_length=60)
    timezone: str = "UTC"
    # weekday -> list of [start, end] local times; a weekday left out is not a working day.
    hours: dict[str, list[tuple[str, str]]] = Field(default_factory=dict)
    country: str | None = None  # ISO code for the `holidays` package, e.g. "US", "GB"
    subdivision: str | None = None  # e.g. "NY", "ENG"
    custom_holidays: list[date] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if value not in _zone_names():
            raise ValueError(f"'{value}' is not an IANA time zone (e.g. Europe/London, America/New_York)")
        return value

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: dict[str, list[tuple[str, str]]]) -> dict[str, list[tuple[str, str]]]:
        out: dict[str, list[tuple[str, str]]] = {}
        for day, spans in value.items():
            key = _WEEKDAY_NAMES.get(day.strip().lower())
            if key is None:
                raise ValueError(f"'{day}' is not a weekday (use {', '.join(WEEKDAYS)})")
            if key in out:
                raise ValueError(f"{key} is given twice")
            parsed = sorted((_minutes_of_day(a), _minutes_of_day(b), a, b) for a, b in spans)
            for i, (a, b, ta, tb) in enumerate(parsed):
                if a >= b:
                    raise ValueError(f"{key}: {ta}–{tb} ends before it starts")
                if i and a < parsed[i - 1][1]:
                    raise ValueError(f"{key}: {ta}–{tb} overlaps {parsed[i - 1][2]}–{parsed[i - 1][3]}")
            out[key] = [(ta.strip(), tb.strip()) for _, _, ta, tb in parsed]
        return out

    @model_validator(mode="after")
    def _checks(self) -> "Calendar":
        if self.name == ALWAYS:
            raise ValueError(f"'{ALWAYS}' is built in (all time counts); name your calendar differently")
        if not any(self.hours.values()):
            raise ValueError(f"calendar '{self.name}' has no working hours (e.g. hours.mon = [[\"09:00\", \"17:00\"]])")
        if self.subdivision and not self.country:
            raise ValueError("subdivision needs a country")
        if self.country:
            supported = holidays.list_supported_countries()
            if self.country not in supported:
                raise ValueError(f"no public holidays known for country '{self.country}' (use an ISO code, e.g. US, GB, NL)")
            if self.subdivision and self.subdivision not in supported[self.country]:
                raise ValueError(f"'{self.subdivision}' is not a subdivision of {self.country} "
                                 f"(known: {', '.join(supported[self.country][:30])})")
        return self

    def spans(self, weekday: int) -> list[tuple[int, int]]:
        """Working spans of a weekday (0 = Monday) as (start, end) minutes after local midnight."""
        return [(_minutes_of_day(a), _minutes_of_day(b)) for a, b in self.hours.get(WEEKDAYS[weekday], [])]

    def holiday_dates(self, years: range) -> set[date]:
        out = set(self.custom_holidays)
        if self.country:
            out |= set(holidays.country_holidays(self.country, subdiv=self.subdivision, years=list(years)))
        return out

    def day_minutes(self) -> float:
        """The working-day length: working minutes per week ÷ working weekdays (holidays aside)."""
        days = [sum(b - a for a, b in self.spans(wd)) for wd in range(7)]
        worked = [d for d in days if d > 0]
        return sum(worked) / len(worked)


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones() | {"UTC"})
