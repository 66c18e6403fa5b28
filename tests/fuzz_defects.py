"""Defects the fuzz suite found (issue #14): the cases of these kinds are strict xfails in
tests/test_fuzz.py, and bench/fuzz.py counts them apart from new breakage. Once a defect is fixed
its cases pass, the xfail turns into a failure, and its entry here must go.

kind (or (kind, seed file)) -> what breaks. Each one was reproduced by hand: docs/benchmarks.md
(Hostile files) gives a one-line reproduction of each.
"""

from __future__ import annotations

from tests.fuzz_files import SEED_NAMES, Case

_STRAY = ("a record with one field too many loads when its last field is empty (DuckDB drops an empty last "
          "field): the fields after the stray comma shift one column and the last one is lost")
DEFECTS: dict[str | tuple[str, str], str] = {
    "gzip-corrupt-stored": "a .csv.gz whose CRC-32 does not match its content is loaded: the CRC is never checked",
    "gzip-bomb": "the upload limit is checked on the compressed size only: a 90 KB gzip expanding to 20 MB "
                 "loads under a 1 MB limit",
    "header-over-64kb": "a header longer than the 64 KB sniffed head is cut there: the file is refused as "
                        "'expected N fields, found M ... truncated or stray delimiter'",
    **{("stray-delimiter-last-field-empty", seed): _STRAY for seed in SEED_NAMES},
}


def known_defect(case: Case) -> str | None:
    """What breaks in this case, if it is one of DEFECTS."""
    return DEFECTS.get((case.kind, case.seed_name)) or DEFECTS.get(case.kind)
