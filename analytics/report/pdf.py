"""The monthly report as a PDF (fpdf2): the decision on page 1, the sections, bookmarks, metadata.

Text: DejaVu Sans when the machine has it (Unicode, and the ✓ ✗ status symbols), else the PDF's
built-in Helvetica, which only knows Latin-1: every text then goes through `clean`, which
transliterates what it can ("é" stays, "≥" becomes ">=", "✓" becomes "+") and writes "?" for the
rest, so no ticket title can break the document. Status is a symbol and a word; colour only
repeats it. The PDF's creation date is the report's as-of time, not the wall clock.
"""

from __future__ import annotations

import io
import os
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from time import perf_counter

import numpy as np
import pandas as pd
from fpdf import FPDF, FontFace
from fpdf.fonts import TTFFont

from analytics.report.builder import build
from analytics.report.charts import EarlyBrowser
from analytics.report.charts import render as render_charts
from analytics.report.model import Chart, Report, Section, Spark, Table, Text
from analytics.store.periods import utc_now

FONT_CANDIDATES = (  # Debian/Ubuntu, Arch, Fedora
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
)
# Characters outside Latin-1 that have a faithful plain spelling.
_PLAIN = {"✓": "+", "✗": "x", "–": "-", "—": "-", "−": "-", "≥": ">=", "≤": "<=", "…": "...",
          "→": "->", "‘": "'", "’": "'", "“": '"', "”": '"', "•": "·", "÷": "÷", "≈": "~", " ": " "}
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\ufeff]")
INK, MUTED, RULE = (26, 29, 35), (85, 85, 85), (190, 190, 190)
STATUS_COLOURS = {"✓": (0, 110, 60), "✗": (176, 0, 32), "!": (150, 75, 0)}  # dark enough for 4.5:1
BODY, NOTE, SMALL = 9.5, 8, 7.5
OWN_PAGE = ("appendix", "provenance")  # these start a page; body sections follow on when there is room
MIN_ROOM = 0.3  # share of the page's height a section needs left to start on it
_HASH = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Font:
    family: str
    unicode: bool
    regular: str | None = None
    bold: str | None = None
    glyphs: frozenset[int] = frozenset()


def find_font(candidates: Sequence[str] = FONT_CANDIDATES) -> Font:
    """DejaVu Sans (and its bold) when installed, HYPERCARE_PDF_FONT first; else Helvetica."""
    paths = [os.environ.get("HYPERCARE_PDF_FONT") or "", *candidates]
    for path in paths:
        if path and Path(path).is_file():
            bold = Path(path).with_name(Path(path).stem + "-Bold.ttf")
            return Font("report", True, path, str(bold) if bold.is_file() else path)
    return Font("helvetica", False)


def clean(text: object, font: Font) -> str:
    """Text the font can draw: controls become spaces, missing characters are transliterated or
    become "?"."""
    s = _CONTROL.sub(" ", str(text))
    out = []
    for ch in s:
        if ch == "\n" or _drawable(ch, font):
            out.append(ch)
            continue
        plain = _PLAIN.get(ch)
        if plain is not None and all(_drawable(c, font) for c in plain):
            out.append(plain)
            continue
        parts = [c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c)]
        out.append("".join(c for c in parts if _drawable(c, font)) or "?")
    return "".join(out)


def _drawable(ch: str, font: Font) -> bool:
    if font.unicode:
        return ord(ch) in font.glyphs
    return ord(ch) < 256 and (ch.isprintable() or ch == " ")


def cell_text(value: object) -> str:
    """A raw value as table text: numbers with thousands separators, times to the minute."""
    if value is None or value is pd.NaT:
        return "–"
    if isinstance(value, (list, tuple, np.ndarray)):
        return "; ".join(cell_text(v) for v in value)
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return "–"
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
    if isinstance(value, (int, np.integer)):
        return f"{value:,}"
    if isinstance(value, (pd.Timestamp, datetime)):
        return f"{pd.Timestamp(value):%Y-%m-%d %H:%M}"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


class _Document(FPDF):
    def __init__(self, report: Report, font: Font):
        super().__init__(orientation="P", unit="mm", format="A4")
        self.report, self.face = report, font
        if font.unicode:
            self.add_font(font.family, "", font.regular)
            self.add_font(font.family, "B", font.bold)
            added = self.fonts[f"{font.family}"]
            if not isinstance(added, TTFFont):  # add_font keeps a core font's name for the core font
                raise ValueError(f"the report font {font.family!r} names a built-in PDF font, not a TrueType file")
            glyphs = frozenset(added.cmap)
            self.face = Font(font.family, True, font.regular, font.bold, glyphs)
        self.set_margins(16, 16, 16)
        self.set_auto_page_break(True, margin=16)

    def t(self, text: object) -> str:
        return clean(text, self.face)

    def style(self, size: float, bold: bool = False, colour: tuple[int, int, int] = INK) -> None:
        self.set_font(self.face.family, "B" if bold else "", size)
        self.set_text_color(*colour)

    def footer(self) -> None:
        self.set_y(-11)
        self.style(7, colour=MUTED)
        r = self.report
        self.cell(0, 4, self.t(f"Hypercare monthly report {r.month} · inputs fingerprint {r.fingerprint[:16]}… · "
                               f"page {self.page_no()} of {{nb}}"), align="C")

    # --- blocks ---------------------------------------------------------------------------

    def paragraph(self, block: Text) -> None:
        if block.style == "headline":
            self.ln(1)
            self.style(15, bold=True)
            self.multi_cell(0, 8, self.t(block.text), align="L", new_x="LMARGIN", new_y="NEXT")
            return
        if block.style == "subheading":
            if self.get_y() + 25 > self.page_break_trigger:  # keep a heading with what follows
                self.add_page()
            self.ln(1.5)
            self.style(BODY + 0.5, bold=True)
            self.multi_cell(0, 5.2, self.t(block.text), align="L", new_x="LMARGIN", new_y="NEXT")
            return
        size, colour = (NOTE, MUTED) if block.style == "note" else (BODY, INK)
        self.style(size, colour=colour)
        self.multi_cell(0, size * 0.5, self.t(block.text), align="L", new_x="LMARGIN", new_y="NEXT")
        self.ln(1.2)

    def caption(self, text: str) -> None:
        if self.get_y() + 20 > self.page_break_trigger:  # a table's title stays with its first rows
            self.add_page()
        self.style(BODY, bold=True)
        self.multi_cell(0, 5, self.t(text), align="L", new_x="LMARGIN", new_y="NEXT")
        self.ln(0.5)

    def grid(self, frame: pd.DataFrame, widths: Sequence[float] | None = None) -> None:
        """A table of text cells; the header repeats on every page; status cells in colour too."""
        if frame.empty:
            self.paragraph(Text("(no rows)", "note"))
            return
        widths = tuple(widths) if widths and len(widths) == frame.shape[1] else None
        head = FontFace(emphasis="BOLD", fill_color=(232, 234, 238), color=INK)
        self.style(SMALL)
        with self.table(col_widths=widths, width=self.epw, text_align="LEFT", line_height=3.6,
                        headings_style=head, borders_layout="HORIZONTAL_LINES", padding=(0.5, 1.2),
                        repeat_headings=1, v_align="TOP") as table:
            row = table.row()
            for col in frame.columns:
                row.cell(self.t(col))
            for values in frame.itertuples(index=False):
                row = table.row()
                for value in values:
                    svg = spark_svg(value) if isinstance(value, Spark) else None
                    if svg is not None:
                        row.cell(img=io.BytesIO(svg), img_fill_width=True)
                        continue
                    text = self.t("no data" if isinstance(value, Spark) else cell_text(value))
                    row.cell(text, style=_cell_style(text))
        self.ln(2.5)

    def table_block(self, block: Table) -> None:
        if not block.pdf:
            return
        self.caption(block.title)
        view = block.view if block.view is not None else block.data
        self.grid(view, block.widths)

    def chart_block(self, block: Chart, image: bytes | None, error: str | None) -> None:
        title = block.title
        if image is not None:
            width = self.epw
            height = width * 440 / 1000
            if self.get_y() + height > self.page_break_trigger:
                self.add_page()
            self.image(io.BytesIO(image), w=width, h=height, alt_text=self.t(block.alt), title=self.t(title))
        else:
            self.caption(title)
            self.paragraph(Text(f"Chart not drawn ({error or 'no image'}); its text alternative and data "
                                "follow.", "note"))
        self.paragraph(Text(f"Text alternative: {block.alt}", "note"))
        if block.table is not None:
            self.grid(block.table)


def _cell_style(text: str) -> FontFace | None:
    if _HASH.match(text):  # a sha256 fits its column on one line, so it can be compared by eye
        return FontFace(size_pt=6.4)
    colour = STATUS_COLOURS.get(text[:1]) if len(text) > 2 and text[1] == " " else None
    return FontFace(color=colour) if colour else None


def _metadata(pdf: _Document, report: Report) -> None:
    pdf.set_title(clean(report.title, pdf.face))
    pdf.set_author("Hypercare")
    pdf.set_subject(clean(f"Monthly governance report {report.month}; {report.caption}", pdf.face))
    pdf.set_keywords(f"hypercare governance {report.month} fingerprint:{report.fingerprint}")
    pdf.set_creator(clean(report.tool_version, pdf.face))
    pdf.set_lang("en")
    # The as-of time, not the wall clock: the same inputs give the same document properties.
    pdf.set_creation_date(report.as_of.replace(tzinfo=timezone.utc))


def _front(pdf: _Document, report: Report, section: Section) -> None:
    pdf.style(16, bold=True)
    pdf.start_section(pdf.t(section.title))
    pdf.multi_cell(0, 7.5, pdf.t(report.title), align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.style(10, colour=MUTED)
    pdf.multi_cell(0, 5, pdf.t(f"{report.caption.removeprefix('Filters: ')} · as of "
                               f"{report.as_of:%Y-%m-%d %H:%M} UTC"), align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.style(NOTE, colour=MUTED)
    # The one line that differs between two builds of the same report (tests skip it).
    pdf.multi_cell(0, 4, f"Generated at {utc_now():%Y-%m-%d %H:%M:%S} UTC", align="L", new_x="LMARGIN",
                   new_y="NEXT")
    pdf.multi_cell(0, 4, pdf.t(f"The detail follows from page 2 ({len(report.sections) - 1} sections, in the "
                               "bookmarks); the inputs fingerprint, every dataset's sha256 and the settings are on the "
                               "last page (Provenance)."), align="L", new_x="LMARGIN", new_y="NEXT")
    _blocks(pdf, section, {}, None)


def spark_svg(spark: Spark, width: float = 60, height: float = 9) -> bytes | None:
    """The trend line of a table cell as SVG: the values (a gap where one is missing), the last
    one as a dot, the target dashed; None when there is no value to draw."""
    shown = [v for v in spark.values if v is not None]
    if not shown:
        return None
    lo, hi = min(shown + ([spark.target] if spark.target is not None else [])), \
        max(shown + ([spark.target] if spark.target is not None else []))
    if hi == lo:
        lo, hi = lo - 1, hi + 1
    pad, step = 1.5, (width - 3.0) / max(1, len(spark.values) - 1)
    if len(spark.values) == 1:  # one month: its dot at the right end, where the month always is
        pad = width - pad

    def y(v: float) -> float:
        return round(height - pad - (v - lo) / (hi - lo) * (height - 2 * pad), 2)

    parts, run = [], []
    for i, v in enumerate(list(spark.values) + [None]):
        if v is not None:
            run.append(f"{round(pad + i * step, 2)},{y(v)}")
        elif run:
            parts.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="#1f4e79" stroke-width="1.2"/>'
                         if len(run) > 1 else f'<circle cx="{run[0].split(",")[0]}" cy="{run[0].split(",")[1]}" '
                         'r="1" fill="#1f4e79"/>')
            run = []
    last = len(spark.values) - 1
    final = spark.values[last]
    if final is not None:  # the report's month, when it has a value
        parts.append(f'<circle cx="{round(pad + last * step, 2)}" cy="{y(final)}" r="1.6" '
                     'fill="#1f4e79"/>')
    if spark.target is not None:
        parts.insert(0, f'<line x1="0" y1="{y(spark.target)}" x2="{width}" y2="{y(spark.target)}" '
                        'stroke="#767676" stroke-width="0.6" stroke-dasharray="2,1.5"/>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}">{"".join(parts)}</svg>').encode()


def _blocks(pdf: _Document, section: Section, images: dict[int, bytes | None], error: str | None) -> None:
    for block in section.blocks:
        if isinstance(block, Text):
            pdf.paragraph(block)
        elif isinstance(block, Table):
            pdf.table_block(block)
        else:
            pdf.chart_block(block, images.get(id(block)), error)


def render(report: Report, images: Sequence[bytes | None] | None = None, error: str | None = None,
           font: Font | None = None) -> bytes:
    """The PDF bytes; `images` are the PNGs of `report.builder.charts` in order (from report_charts)."""
    pdf = _Document(report, font or find_font())
    _metadata(pdf, report)
    by_chart = {id(c): img for c, img in zip(report.charts, images or [None] * len(report.charts), strict=True)}
    pdf.add_page()
    _front(pdf, report, report.sections[0])
    for number, section in enumerate(report.sections[1:], 1):
        room = pdf.page_break_trigger - pdf.get_y()
        if number == 1 or section.key in OWN_PAGE or room < MIN_ROOM * pdf.h:
            pdf.add_page()
        else:
            pdf.ln(6)
        pdf.style(15, bold=True)
        heading = f"{number}. {section.title}"
        pdf.start_section(pdf.t(heading))
        pdf.multi_cell(0, 8, pdf.t(heading), align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)
        _blocks(pdf, section, by_chart, error)
    return bytes(pdf.output())


def to_pdf(report: Report, browser=None) -> tuple[bytes, str | None]:
    """Charts rendered (one browser session; `browser`: a report.charts.EarlyBrowser already
    starting) and the PDF built: (bytes, chart error or None)."""
    images, error = render_charts([c.figure for c in report.charts], browser=browser)
    return render(report, images, error), error


def build_pdf(con, month: str, *, timings: dict[str, float] | None = None,
              **options) -> tuple[Report, bytes, str | None]:
    """Gather the report and draw its PDF, Chromium starting while the figures are gathered:
    (report, PDF bytes, chart error or None). `options`: as for report.builder.build."""
    with EarlyBrowser() as browser:
        t0 = perf_counter()
        report = build(con, month, timings=timings, **options)
        t1 = perf_counter()
        images, error = render_charts([c.figure for c in report.charts], browser=browser)
    t2 = perf_counter()
    pdf = render(report, images, error)
    if timings is not None:
        timings.update(gather=t1 - t0, charts=t2 - t1, pdf=perf_counter() - t2)
    return report, pdf, error
