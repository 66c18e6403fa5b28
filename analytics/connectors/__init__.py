"""Live sources: pull tickets from vendor APIs into an engagement, as their file exports would.

base (the watermark, a rendered file, a pull, SourceError, the Connector protocol), http (the
polite JSON client), config (credentials from secrets.toml or the environment), sync (one pull
applied in one transaction with its watermark), and one module per vendor: servicenow, jira,
pagerduty, statuspage. Imports analytics.uploads and below.
"""

__all__ = ["base", "config", "http", "sync"]
