"""Hostile uploads (issue #14): a seeded run of generated files through `python -m analytics ingest`.

Every file is uploaded in-process into a copy of one template store (the demo and some
statuspage incidents) and must pass tests/fuzz_checks.py's rules: exit 0 or a documented
code, one "error:" line naming the file and an untouched store on refusal, reconciled counts,
unique tickets and a formula-safe `tickets --csv` on acceptance, bounded time and memory.

    HYPERCARE_FUZZ_COUNT=1000 HYPERCARE_FUZZ_SEED=7 pytest tests/test_fuzz.py

Cases on a real export's excerpt skip (with the reason) when the real exports are absent; the
demo's run anyway. A defect the fuzzer found is listed in tests/fuzz_defects.py: its cases are
strict xfails, so they fail loudly once it is fixed, and the entry must go.
"""

from __future__ import annotations

import gzip
import io
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from analytics.cli import main as cli
from tests import fuzz_files as ff
from tests.fuzz_checks import Outcome, run_case, table_digests
from tests.fuzz_defects import known_defect

# 120 in ./test.sh --all (CI's half-hour holds about two minutes of it); more with the variable.
FUZZ_COUNT = int(os.environ.get("HYPERCARE_FUZZ_COUNT") or 120)
FUZZ_SEED = int(os.environ.get("HYPERCARE_FUZZ_SEED") or 14)
CASES = ff.plan(FUZZ_COUNT, FUZZ_SEED)


def _marks(case: ff.Case) -> list:
    reason = known_defect(case)
    return [pytest.mark.xfail(strict=True, reason=reason)] if reason else []


@dataclass
class Fuzz:
    seeds: dict[str, ff.SeedFile]
    template: Path
    before: dict[str, str]
    references: dict[str, Outcome] = field(default_factory=dict)


@pytest.fixture(scope="session")
def fuzz(request, tmp_path_factory) -> Fuzz:
    try:
        real = request.getfixturevalue("real_data")
    except pytest.skip.Exception:
        real = None  # the demo's cases still run; the real ones skip via the fixture
    work = tmp_path_factory.mktemp("fuzz")
    seeds = ff.load_seeds(real, work / "demo")
    template = work / "template.duckdb"
    ff.build_template(template, seeds)
    return Fuzz(seeds, template, table_digests(template))


@pytest.fixture
def run_cli(capsys):
    def run(argv: list[str]) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = cli(argv)
        except SystemExit as exc:  # argparse
            code = exc.code
        captured = capsys.readouterr()
        return code, captured.out, captured.err
    return run


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name, marks=_marks(c)) for c in CASES])
def test_hostile_upload(case: ff.Case, fuzz: Fuzz, run_cli, request, tmp_path):
    if case.seed_name not in fuzz.seeds:
        request.getfixturevalue("real_data")  # skips, saying where the exports were looked for
    variant = ff.build(case, fuzz.seeds)
    reference = None
    if variant.expect == ff.SAME:
        if case.seed_name not in fuzz.references:
            clean = ff.build(ff.Case(-1, "clean", case.seed_name, 0), fuzz.seeds)
            fuzz.references[case.seed_name] = run_case(clean, fuzz.template, fuzz.before, tmp_path, run_cli)
        reference = fuzz.references[case.seed_name]
    outcome = run_case(variant, fuzz.template, fuzz.before, tmp_path, run_cli, reference)
    if outcome.problems:  # keep the file for the reproduction (pytest keeps a failed test's tmp_path)
        (tmp_path / variant.file_name).write_bytes(variant.data)
        pytest.fail(
            f"{variant.name} ({variant.note or case.kind}; exit {outcome.code}, {outcome.seconds:.1f} s):\n  "
            + "\n  ".join(outcome.problems)
            + f"\nreproduce: python -m analytics ingest {tmp_path / variant.file_name} --db <a copy of "
            f"{fuzz.template}> --json   (or: python bench/fuzz.py --seed {FUZZ_SEED} --fuzz-count {FUZZ_COUNT} "
            f"--kind {case.kind})", pytrace=False)


# --- the generator itself: seeded, and each kind is what its name says ---------------------------

@pytest.fixture(scope="module")
def demo_seeds(tmp_path_factory) -> dict[str, ff.SeedFile]:
    return ff.load_seeds(None, tmp_path_factory.mktemp("seeds"))


def test_the_same_seed_gives_the_same_files_and_another_seed_other_files(demo_seeds):
    names = tuple(demo_seeds)
    first, again, other = ff.plan(120, 5, names), ff.plan(120, 5, names), ff.plan(120, 6, names)
    assert first == again and first != other
    each = [c for c in first[: len(ff.KINDS)] if c.kind != "xlsx-many-rows"]  # every kind once (but a slow one)
    assert [ff.build(c, demo_seeds).data for c in each] == [ff.build(c, demo_seeds).data for c in each]


def test_every_kind_is_in_the_default_run():
    assert FUZZ_COUNT < 2 * len(ff.KINDS) or {c.kind for c in CASES} == set(ff.KINDS)
    two_rounds = ff.plan(2 * len(ff.KINDS) - len(ff.HEAVY), 1)
    assert sum(c.kind in ff.HEAVY for c in two_rounds) == len(ff.HEAVY)  # every other round
    assert {c.kind for c in two_rounds} == set(ff.KINDS)


def _build(kind: str, seeds, seed: int = 1, seed_name: str = "demo-tickets") -> ff.Variant:
    return ff.build(ff.Case(0, kind, seed_name, seed), seeds)


@pytest.mark.parametrize("seed", range(5))
def test_the_generated_files_are_what_their_kind_says(demo_seeds, seed):
    s = demo_seeds["demo-tickets"]
    clean = _build("clean", demo_seeds, seed).data

    stored = _build("gzip-corrupt-stored", demo_seeds, seed).data
    with pytest.raises(gzip.BadGzipFile, match="CRC"):  # only the CRC can tell
        gzip.decompress(stored)
    body = zlib.decompressobj(-zlib.MAX_WBITS).decompress(stored[10:])  # the raw deflate data, no CRC check
    assert len(body) == len(clean) and sum(a != b for a, b in zip(body, clean)) == 1

    bomb = _build("gzip-bomb", demo_seeds, seed)
    limit = float(bomb.env["HYPERCARE_MAX_UPLOAD_MB"]) * 2**20
    assert len(bomb.data) < limit / 10 and len(gzip.decompress(bomb.data)) > 10 * limit

    truncated = _build("truncated-mid-quote", demo_seeds, seed).data.decode()
    assert truncated.count('"') % 2 == 1  # ends inside a quoted field

    wide = _build("columns-3000", demo_seeds, seed).data.decode()
    assert len(wide.split("\n", 1)[0].split(",")) == 3000
    assert len(_build("header-over-64kb", demo_seeds, seed).data.split(b"\n", 1)[0]) > 64 * 1024

    for token, row in (("TBD", 3), ("n/a", 1900)):
        text = _build(f"{token.lower().replace('/', '')}-at-row-{row}", demo_seeds, seed).data.decode()
        lines = text.splitlines()
        assert lines[row].split(",")[s.col("opened_at")] == token and token not in "".join(lines[:row])

    for label, payload in ff.FORMULAS.items():
        import csv

        rows = list(csv.reader(io.StringIO(_build(f"formula-{label}", demo_seeds, seed).data.decode(), newline="")))
        assert sum(cell == payload for r in rows for cell in r) == 1

    assert _build("cp1252", demo_seeds, seed).data.decode("cp1252").count("für Björn") == 1
    assert b"\\ud800" in _build("json-lone-surrogate", demo_seeds, 1).data \
        or b"\\udfff" in _build("json-lone-surrogate", demo_seeds, 1).data
