"""The monthly report: its content gathered once, then rendered as PDF or data pack.

model (a `Report` of sections of text, tables and charts), builder (`builder.build`), summary
(page 1: the decision), sections (metric sections), governance (governance sections), charts
(figures as images), pdf (`pdf.build_pdf`), pack (CSV zip and XLSX). Imports every layer below.
"""

__all__ = ["builder", "charts", "governance", "model", "pack", "pdf", "sections", "summary"]
