"""Charts: DataFrame → plotly figure, each with a one-sentence text alternative.

overview (the palette, the shared layout and the Overview's charts), kpi (KPI cards and trend
charts), sla, recurrence, labels (table headers and values as words), contrast (WCAG contrast
of chart text), text (data text made inert in figures). Imports the metric packages below it.
"""

__all__ = ["contrast", "kpi", "labels", "overview", "recurrence", "sla", "text"]
