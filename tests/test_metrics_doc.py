"""docs/metrics.md documents every KPI of the registry and matches its generator."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from analytics.kpi import registry

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")


def _generator():
    spec = importlib.util.spec_from_file_location("gen_metrics_doc", ROOT / "scripts" / "gen_metrics_doc.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_kpi_is_documented_with_its_definition_and_exclusions():
    for k in registry.KPIS:
        assert f"(`{k.key}`)" in DOC, f"{k.key} missing from docs/metrics.md"
        assert k.definition in DOC
        assert k.how_to_fix in DOC
        for e in k.exclusions:
            assert e.label in DOC


def test_every_card_kpi_is_in_the_registry():
    assert set(registry.CARD_KEYS) <= set(registry.BY_KEY)


def test_doc_is_up_to_date_with_the_generator():
    assert _generator().render() == DOC, "run: .venv/bin/python scripts/gen_metrics_doc.py"


def test_check_mode_fails_on_a_stale_doc(tmp_path, monkeypatch):
    gen = _generator()
    stale = tmp_path / "metrics.md"
    stale.write_text("old\n", encoding="utf-8")
    monkeypatch.setattr(gen, "DOC", stale)
    assert gen.main(["--check"]) == 1
    stale.write_text(gen.render(), encoding="utf-8")
    assert gen.main(["--check"]) == 0
