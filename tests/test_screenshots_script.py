"""scripts/screenshots.py without a server: it finds every page of app.py's navigation, skips a
real export that is absent with a message, and keeps every PNG under its size limit.

The full run (servers, Chromium, the PDF) is the script itself: `.venv/bin/python
scripts/screenshots.py`, looked at by eye (docs/screenshots/README.md).
"""

from __future__ import annotations

import importlib.util
import io
import random
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def shots(monkeypatch):
    """The script as a module; the bench/ folder it adds to sys.path is removed afterwards."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    spec = importlib.util.spec_from_file_location("screenshots_script", ROOT / "scripts" / "screenshots.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_every_page_of_the_navigation_is_visited(shots):
    app = (ROOT / "app.py").read_text(encoding="utf-8")
    in_app = re.findall(r'st\.Page\("pages/(\w+)\.py", title="([^"]+)"(, [^)]*default=True)?', app)
    assert len(in_app) >= 8, "app.py's st.Page calls changed shape: update this test's pattern"
    expected = [(title, "" if default else stem) for stem, title, default in in_app]
    found = shots.app_pages()
    assert [(p.title, p.url_path) for p in found] == expected
    assert len({p.file_stem for p in found}) == len(found), "two pages would share a file name"


def test_a_missing_real_export_is_skipped_with_a_message(shots, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("HYPERCARE_REAL_DATA", str(tmp_path))
    assert shots.main(["--list"]) == 0
    out = capsys.readouterr().out
    real_sets = [ds for ds in shots.SETS if ds.folder]
    assert len(real_sets) == 2
    for ds in real_sets:
        assert f"{ds.name}: skipped: {tmp_path / ds.folder / ds.files[0]} is absent" in out
    assert "demo: the demo" in out


def test_the_real_exports_it_names_exist_where_the_tests_find_them(shots, real_data):
    for ds in shots.SETS:
        if ds.folder:
            assert shots.missing_input(ds, real_data) == ""


def test_an_unknown_set_is_refused(shots, capsys):
    with pytest.raises(SystemExit) as stop:
        shots.main(["--only", "demo,nope"])
    assert stop.value.code == 2
    assert "unknown set(s) nope" in capsys.readouterr().err


def test_pngs_stay_under_the_limit(shots):
    from PIL import Image

    rng = random.Random(15)
    noise = Image.frombytes("RGB", (400, 300), bytes(rng.randrange(256) for _ in range(400 * 300 * 3)))
    small = shots.small_png(noise, limit=60_000)
    assert len(small) <= 60_000
    plain = Image.new("RGB", (1280, 4000), "white")  # fits as it is: kept full size
    kept = Image.open(io.BytesIO(shots.small_png(plain, limit=60_000)))
    assert kept.size == (1280, 4000)
