"""Write docs/metrics.md from the KPI registry (analytics/kpi/registry.py).

    .venv/bin/python scripts/gen_metrics_doc.py          # rewrite docs/metrics.md
    .venv/bin/python scripts/gen_metrics_doc.py --check  # exit 1 when the file is out of date
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analytics.kpi import registry as reg  # noqa: E402
from analytics.sla import definitions  # noqa: E402
from analytics.store import exclusions  # noqa: E402

DOC = ROOT / "docs" / "metrics.md"


def _target(k: reg.Kpi) -> str:
    if k.default_target is None:
        return "none by default (settable)"
    op = "≥" if k.direction == reg.HIGHER else "≤"
    return f"{op} {k.default_target:g} {k.unit} — {k.target_text}"


def render() -> str:
    """The whole docs/metrics.md text."""
    out = [
        "# KPI definitions",
        "",
        "Generated from `analytics/kpi/registry.py` by `scripts/gen_metrics_doc.py`; do not edit "
        "by hand (a test checks it is up to date). Every KPI the app shows is listed here with "
        "the same text the app shows in its Definition popover.",
        "",
        "General rules:",
        "- Timestamps are UTC. A period is [start, end): the filter's first day to the day after "
        "its last day; without a date filter it spans the data: the day of the first to the day "
        "after the last event of any kind (opened, impact start, detection, acknowledgement, "
        "mitigation, resolution, closure, status change) of the filtered tickets, capped at now. "
        "The same period is the default of the pages, the CLI (`kpis`, `sla --summary`), the KPI "
        "trends, and the end of the closure criteria's windows. The previous period is the "
        "interval of the same length just before it.",
        "- Cohorts: " + "; ".join(f"**{c}** = {t}" for c, t in reg.COHORT_TEXT.items()) + ".",
        "- An excluded ticket is counted under the first exclusion it matches, and each card says "
        "how many were excluded and why. A KPI with nothing left to measure shows "
        "\"not measurable\" with the reason and how to fix it, never 0.",
        "- Status: **met** when the value is at or better than the target, **missed** otherwise, "
        "**not measurable** without a value, **no target** when none is set (Settings → KPI "
        f"targets). n < 5 is flagged as a small sample (SLA compliance: n < {definitions.SLA_SMALL_N}, "
        "the one threshold of the SLA page, the cards, the closure criterion and the report); "
        "durations show mean, median and p90.",
        f"- SLA compliance is one cohort everywhere: {definitions.SLA_COMPLIANCE_TEXT}",
        f"- Open backlog is one definition everywhere (Overview, KPI trends, closure criteria): "
        f"{reg.BACKLOG_TEXT}",
        f"- MTTA is not measurable for a source that records the acknowledgement at the opening "
        f"instant for at least {exclusions.ACK_AT_OPEN_SHARE * 100:g} % of its acknowledged tickets (the "
        "Volvo VINST export: 84.6 %; ServiceNow 24.5 %, the Italian help desk 1.7 %): its tickets "
        "are an exclusion with that label, and with nothing left the card says not measurable.",
        "- Availability, MTBF and MTBSI are measured only for sources whose SEV-1/SEV-2 tickets "
        "describe service outages (datasets.describes_outages, from the profile the file was "
        "uploaded with; a ticket without that answer — inserted without a dataset row, or from "
        f"an upload older than the column — counts only if its source is Hypercare's own, "
        f"`{reg.HYPERCARE_SOURCE}`); the other sources' incidents are an exclusion with that "
        "label, and without any such source the cards say not measurable and why.",
        "- Statuspage's 839 bulk-imported legacy incidents (created = started = resolved) are "
        "not silently dropped: they show as exclusions with their counts — MTTR \"tickets with "
        "zero duration\" (839 in the GitHub export), MTTD \"impact start, detection and "
        "resolution are the same instant\" (836; 3 have a different start), availability/MTBF "
        "\"incidents with zero duration\" (those among the outage severities: its profile marks "
        "it as describing outages).",
        "",
        "| key | KPI | unit | cohort | statistic | default target |",
        "|---|---|---|---|---|---|",
    ]
    for k in reg.KPIS:
        out.append(f"| `{k.key}` | {k.name} | {k.unit} | {k.cohort} | {k.statistic} | {_target(k)} |")
    for k in reg.KPIS:
        out += ["", f"## {k.name} (`{k.key}`)", "", k.definition, "",
                f"- Start event: {k.start_event}; end event: {k.end_event}",
                f"- Statistic: {k.statistic}; unit: {k.unit}; {k.direction} is better",
                f"- Cohort: {reg.COHORT_TEXT[k.cohort]}" + (f" ({k.scope_text})" if k.scope_text else ""),
                f"- Target: {_target(k)} (setting `{k.setting_key}`)"]
        if k.exclusions:
            out.append("- Exclusions: " + "; ".join(e.label for e in k.exclusions))
        else:
            out.append("- Exclusions: none")
        out.append(f"- When not computable: {k.how_to_fix}")
    return "\n".join(out) + "\n" + real_data_section()


REAL_DATA_HEADING = "## Figures on the real exports"


def real_data_section() -> str:
    """The real-data table as it stands in docs/metrics.md: scripts/real_data_figures.py writes
    it (it needs the exports and ten seconds), this generator only keeps it."""
    current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    return "\n" + current[current.index(REAL_DATA_HEADING):] if REAL_DATA_HEADING in current else ""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="fail when docs/metrics.md is stale")
    args = p.parse_args(argv)
    text = render()
    if args.check:
        current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
        if current != text:
            print("docs/metrics.md is out of date: run scripts/gen_metrics_doc.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
