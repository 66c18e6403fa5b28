"""The monthly report's content as data: a `Report` of sections of text, tables and charts.

analytics/report/builder.py builds it; report_pdf.py and report_pack.py render the same object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Union

import pandas as pd
import plotly.graph_objects as go

from analytics.kpi.kpis import KpiResult
from analytics.store.filters import Filters


@dataclass(frozen=True, eq=False)
class Text:
    """A paragraph; style "body", "note" (small), "subheading" or "headline" (the verdict)."""

    text: str
    style: str = "body"


@dataclass(frozen=True, eq=False)
class Table:
    """A table: `data` (raw values) goes into the data pack, `view` (text) into the PDF."""

    name: str  # file / sheet part: lower-case letters, digits, underscores
    title: str
    data: pd.DataFrame
    view: pd.DataFrame | None = None  # None: the PDF formats `data` itself
    pdf: bool = True  # False: only in the data pack (e.g. long lists)
    widths: tuple[float, ...] | None = None  # relative column widths in the PDF


@dataclass(frozen=True)
class Spark:
    """A table cell drawn as a small trend line: `values` oldest first (None: a gap), with the
    target as a dashed line when there is one."""

    values: tuple[float | None, ...]
    target: float | None = None

    def __str__(self) -> str:  # the text wherever a line cannot be drawn
        return " · ".join("–" if v is None else f"{v:,.1f}" for v in self.values)


@dataclass(frozen=True, eq=False)
class Chart:
    """A chart with its text alternative; `data` is its full data (pack), `table` the small
    table printed under it in the PDF (None: the text alternative says it all)."""

    name: str
    figure: go.Figure
    alt: str
    data: pd.DataFrame
    table: pd.DataFrame | None = None

    @property
    def title(self) -> str:
        return self.figure.layout.title.text or self.name


Block = Union[Text, Table, Chart]


@dataclass(frozen=True, eq=False)
class Section:
    key: str
    title: str
    blocks: tuple[Block, ...]

    @property
    def tables(self) -> list[Table]:
        return [b for b in self.blocks if isinstance(b, Table)]

    @property
    def charts(self) -> list[Chart]:
        return [b for b in self.blocks if isinstance(b, Chart)]


@dataclass(frozen=True, eq=False)
class Report:
    month: str
    start: date
    end: date  # last day, inclusive
    as_of: datetime
    filters: Filters
    caption: str
    tool_version: str
    fingerprint: str
    policy_versions: tuple[str, ...]
    sections: tuple[Section, ...]
    kpis: dict[str, KpiResult] = field(default_factory=dict)
    engagement: str = ""  # the engagement's name ("" for a store that has none)

    @property
    def title(self) -> str:
        whose = f"{self.engagement} — " if self.engagement else ""
        return f"Hypercare monthly governance report — {whose}{self.start:%B %Y}"

    def section(self, key: str) -> Section:
        return next(s for s in self.sections if s.key == key)

    @property
    def charts(self) -> list[Chart]:
        return [c for s in self.sections for c in s.charts]
