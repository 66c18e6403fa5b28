"""Defects the fuzz suite found (issue #14): the cases of these kinds are strict xfails in
tests/test_fuzz.py, and bench/fuzz.py counts them apart from new breakage. Once a defect is fixed
its cases pass, the xfail turns into a failure, and its entry here must go.

kind (or (kind, seed file)) -> what breaks. Each one was reproduced by hand: docs/benchmarks.md
(Hostile files) gives a one-line reproduction of each.
"""

from __future__ import annotations

from tests.fuzz_files import Case

_ISO_SAMPLE = ("one value that is not a timestamp among the sampled values of an ISO 8601 column refuses the "
               "whole file: 'no value of column ... reads as a timestamp in format iso; e.g. <a valid value>'")
DEFECTS: dict[str | tuple[str, str], str] = {
    **{("tbd-at-row-3", seed): _ISO_SAMPLE for seed in ("volvo", "statuspage", "statuspage-updates", "rabobank",
                                                        "demo-tickets", "demo-history")},
}


def known_defect(case: Case) -> str | None:
    """What breaks in this case, if it is one of DEFECTS."""
    return DEFECTS.get((case.kind, case.seed_name)) or DEFECTS.get(case.kind)
