"""The demo: one seeded generator of post-go-live tickets for the demo, the tests and the benchmarks.

generator (`generator.generate`), calendar (its business hours and holidays), formats (the
vendor formats it writes), loader (`loader.load_demo`, through the real upload path).
"""

__all__ = ["calendar", "formats", "generator", "loader"]
