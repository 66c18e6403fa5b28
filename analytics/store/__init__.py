"""The store: one DuckDB file per engagement, and everything that reads or writes it directly.

db (connect, the transaction helper), schema (tables and migrations), audit (the append-only
log; every write goes through `audit.transaction`), auth (identities, roles, `require`), roles
(per-engagement roles), engagements (the catalog of stores), sharing (one file, many
processes), row_hash (stable change hashes), cache (what the metrics keep per store version),
filters and periods (the query vocabulary every metric uses), exclusions, time_range, units,
csv_export, reachability.
Imports nothing else from analytics/.
"""

__all__ = ["audit", "auth", "cache", "csv_export", "db", "engagements", "exclusions", "filters", "periods",
           "reachability", "roles", "row_hash", "schema", "sharing", "time_range", "units"]
