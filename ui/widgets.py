"""Small rendering helpers shared by the pages: escaped text, metrics, tables, charts, CSV.

Ticket text is uploaded by users, so it is never rendered as HTML and only reaches markdown
through `escape_markdown`; tables go through st.dataframe, which shows cells as plain text.
Nothing here knows the session (engagement, store, sign-in), so every other ui module may use it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from analytics.charts import contrast, labels
from analytics.charts import text as chart_text
from analytics.store import units
from analytics.store.csv_export import to_csv_bytes

UPLOAD_PAGE = "pages/upload.py"
MAX_TABLE_ROWS = 10_000
# Markdown and Streamlit-markdown syntax characters (incl. :emoji:/:color[...] and $math$).
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:=^&])")


_SPACES = re.compile(r"[ \t\r\n\f\v\u2028\u2029]+")


def escape_markdown(text: object) -> str:
    """`text` as literal characters inside st.markdown / st.caption (one line)."""
    # Only ordinary white space folds: a no-break space inside a value ("4 h 49 min") stays.
    flat = _SPACES.sub(" ", str(text)).strip()
    return _MD_SPECIAL.sub(r"\\\1", flat)


def metric(label: str, value: int | float | str, definition: str, key: str) -> None:
    """st.metric plus a "Definition" popover holding the metric's one definition."""
    shown = f"{value:,}" if isinstance(value, int) else value
    st.metric(label, shown)
    definition_popover([definition], key=f"{key}_definition")


def definition_popover(lines: list[str], key: str) -> None:
    """A "Definition" popover whose text is sent only while it is open (a page has a dozen)."""
    pop = st.popover("Definition", icon=":material/info:", key=key, on_change="rerun")
    if pop.open:
        with pop:
            for line in lines:
                st.markdown(escape_markdown(line))


WRAPPED_ROW_PX = 72  # taller than 4rem: Streamlit's grid then wraps text, about three lines a row
WRAPPED_ROWS_SHOWN = 8  # "auto" height shows only five wrapped rows; a table of eight shows whole
_HEADER_PX = 38  # the header row and the borders
_MORE_NAMED = 5  # columns named in the "scroll sideways" note before "and n more"


def table(df: pd.DataFrame, alt: str, *, key: str | None = None, column_config: dict | None = None,
          column_order: list[str] | None = None, height: int | str = "auto", wrap: bool = False) -> None:
    """A read-only table (text shown as text, a missing value as "—", numbers with thousands
    separators); very long tables show their first rows. `wrap`: long texts wrap over about three
    lines per row; a text column narrowed to keep the table within the page wraps too.

    `column_config` overrides the defaults field by field (a page's label keeps the default number
    format); `column_order` lists the columns shown, in order (all: the frame's)."""
    if df.empty:
        st.caption("No rows.")
        return
    shown = labels.durations_as_text(df.head(MAX_TABLE_ROWS))
    config = table_config(shown, column_config or {})
    visible = [c for c in (column_order or shown.columns) if c in shown.columns and config.get(c) is not None]
    narrowed, beyond = _fit(shown, config, visible)
    wrap = wrap or bool(narrowed)
    if wrap and height == "auto":
        height = min(len(shown), WRAPPED_ROWS_SHOWN) * WRAPPED_ROW_PX + _HEADER_PX
    st.dataframe(shown, hide_index=True, alt=alt, key=key, column_config=config, column_order=column_order,
                 height=height, placeholder=units.NONE_TEXT, row_height=WRAPPED_ROW_PX if wrap else None)
    notes = ["Double-click a cell to read all of it."] if wrap else []
    if beyond:
        names = [config[c]["label"] for c in beyond]
        more = f" and {len(names) - _MORE_NAMED} more" if len(names) > _MORE_NAMED + 1 else ""
        listed = names[:_MORE_NAMED] if more else names
        notes.insert(0, f"Scroll the table sideways for {', '.join(listed)}{more}.")
    if len(df) > len(shown):
        notes.insert(0, f"Showing the first {len(shown):,} of {len(df):,} rows; download the CSV for all of them.")
    if notes:
        st.caption(escape_markdown(" ".join(notes)))


def table_config(shown: pd.DataFrame, own: dict) -> dict:
    """Streamlit column config of every column: header as words and number format by default,
    then the page's own settings (`own`: a config, a label, or None to hide) field by field."""
    config: dict = dict(own)
    for c in shown.columns:
        fmt = labels.number_format(c, shown[c])
        base = (st.column_config.NumberColumn(labels.header(c), format=fmt) if fmt
                else st.column_config.Column(labels.header(c)))
        config[c] = _merged(base, own[c]) if c in own else base
    return config


def _merged(base: dict, own: dict | str | None) -> dict | None:
    if own is None or isinstance(own, str):
        return None if own is None else {**base, "label": own}
    out = {**base, **{k: v for k, v in own.items() if v is not None and k != "type_config"}}
    mine, theirs = base.get("type_config"), own.get("type_config")
    if theirs:  # the page's column type; the default's format stays when the page set none
        same = mine is not None and mine.get("type") == theirs.get("type")
        out["type_config"] = {**mine, **{k: v for k, v in theirs.items() if v is not None}} if same else theirs
    return out


def _fit(shown: pd.DataFrame, config: dict, visible: list[str]) -> tuple[dict[str, int], list[str]]:
    """Narrow the long text columns (those without a width of the page's) so the table fits the
    page; returns (their new widths, set in `config`) and the columns still beyond its right edge."""
    widths, narrowable = {}, []
    for c in visible:
        cfg = config[c]
        type_config = cfg.get("type_config") or {}
        if cfg.get("width") is not None:
            widths[c] = labels.NAMED_PX.get(cfg["width"], cfg["width"])
            continue
        fmt = type_config.get("format") if type_config.get("type") == "number" else None
        widths[c] = labels.natural_px(str(cfg.get("label") or c), labels.values_px(shown[c], fmt))
        if type_config.get("type", "text") == "text" and pd.api.types.is_string_dtype(shown[c]):
            narrowable.append(c)
    narrowed, beyond = labels.fit(widths, narrowable)
    for c, px in narrowed.items():
        config[c] = {**config[c], "width": px}
    return narrowed, beyond


def download_csv(df: pd.DataFrame | Callable[[], pd.DataFrame], file_name: str, key: str,
                 label: str = "Download CSV") -> None:
    """A CSV download whose text cells can't run as spreadsheet formulas.

    The CSV is made when the button is clicked, not on every rerun of the page (a large table's
    CSV costs more than the rest of a filter change); `df` may be a function that fetches it."""
    def make() -> bytes:
        return to_csv_bytes(df() if callable(df) else df)

    st.download_button(label, data=make, file_name=file_name, mime="text/csv",
                       key=key, icon=":material/download:", on_click="ignore")


def chart(fig: go.Figure, summary: str, data: pd.DataFrame, key: str,
          definition: str | None = None) -> None:
    """A chart with its text alternative: alt text, a caption and a "Data table" expander.

    Its labels get colours with WCAG AA contrast (Streamlit's chart theme draws them in a grey
    with 3.7:1 on white).
    """
    st.plotly_chart(contrast.readable(chart_text.inert(fig)), key=key, alt=summary, config={"displaylogo": False})
    st.caption(escape_markdown(definition or summary))
    # Lazy: the table is built only while its expander is open, so a filter change does not
    # serialise and send a table per chart that nobody has opened.
    data_table = st.expander("Data table", key=f"{key}_data", on_change="rerun")
    if data_table.open:
        with data_table:
            if definition:
                st.caption(escape_markdown(summary))
            table(data, alt=f"Data table: {fig.layout.title.text}", key=f"{key}_table")
