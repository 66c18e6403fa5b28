"""bench/sync.py --quick runs end to end and prints its figures (timings are not asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow  # a subprocess, the test server in another, a 20,000-ticket store: ~15 s
def test_sync_bench_quick_prints_its_figures(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "sync.py"), "--quick", "--no-cli"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert out.startswith("load before:") and "load after:" in out
    assert "test server: 2,000 incidents" in out
    first = re.search(r"first sync into an empty store \(2,000 incidents\): [\d.]+ s +\(pull [\d.]+ s: "
                      r"(\d+) requests .* apply [\d.]+ s: staging [\d.]+ s, write turn [\d.]+ s\)", out)
    assert first and int(first.group(1)) > 0, out
    assert "tickets 2,000 inserted, 0 updated" in out and "peak RSS" in out
    assert "store: 20,000 tickets" in out
    assert "changed on the server: 20 incidents" in out
    incremental = out.split("incremental sync (20 changed) into 20,000 tickets: ", 1)[-1]
    assert re.match(r"[\d.]+ s +\(pull ", incremental), out
    assert "tickets 0 inserted, 20 updated" in incremental.split("upload stages")[0], out
    assert re.search(r"incremental end to end \(SyncResult.duration_s\): [\d.]+ s \[target < 10 s: (met|NOT met)\]",
                     out)
