"""Governance: whether hypercare can end, and the reviews and sign-offs that decide it.

closure_rules (each closure criterion declared once), closure and closure_metrics (the
scorecard and the verdict), signoff, pir, pir_actions and pir_register (post-incident reviews),
defect_triage, portfolio (engagements side by side). Imports the layers below it.
"""

__all__ = ["closure", "closure_metrics", "closure_rules", "defect_triage", "pir", "pir_actions",
           "pir_register", "portfolio", "signoff"]
