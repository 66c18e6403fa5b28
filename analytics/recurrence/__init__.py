"""Recurrence: tickets that are the same failure coming back, and where and when tickets pile up.

titles (titles reduced to their failure text), clustering (`clustering.clusters`,
`clustering.problem_candidates`, kept up to date on upload), rank (how a cluster is described
and ordered), patterns (Paretos, the weekday × hour heatmap, repeat offenders).
Imports analytics.store and analytics.ingest only.
"""

__all__ = ["clustering", "patterns", "rank", "titles"]
