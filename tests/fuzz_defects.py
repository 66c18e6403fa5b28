"""Defects the fuzz suite found (issue #14): the cases of these kinds are strict xfails in
tests/test_fuzz.py, and bench/fuzz.py counts them apart from new breakage. Once a defect is fixed
its cases pass, the xfail turns into a failure, and its entry here must go.

kind (or (kind, seed file)) -> what breaks. Each one was reproduced by hand: docs/benchmarks.md
(Hostile files) gives a one-line reproduction of each.
"""

from __future__ import annotations

from tests.fuzz_files import Case

DEFECTS: dict[str | tuple[str, str], str] = {
}


def known_defect(case: Case) -> str | None:
    """What breaks in this case, if it is one of DEFECTS."""
    return DEFECTS.get((case.kind, case.seed_name)) or DEFECTS.get(case.kind)
