"""SLA: response and resolution clocks per ticket, and compliance per severity.

policy and policy_form (targets, calendars, pause rules), calendar, business_time and
business_days (working time), load, clock and engine (`engine.evaluate`: every ticket's clocks),
cache (judgements per store version), compliance (`compliance.counts`: the one cohort),
definitions (its words), breakdown, timeline (one ticket's story), agreement (our verdict
beside the source's). Imports analytics.store and analytics.ingest only.
"""

__all__ = ["agreement", "breakdown", "business_days", "business_time", "cache", "calendar", "clock",
           "compliance", "definitions", "engine", "load", "policy", "policy_form", "timeline"]
