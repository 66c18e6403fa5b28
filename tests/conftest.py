"""Fixtures shared by every test: a fresh store, the real exports, isolation from user data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from analytics.store import db
from analytics.store.auth import local_operator

REPO_ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "browser: starts a real Streamlit server and drives it with headless Chromium"
    )
    config.addinivalue_line(
        "markers", "real: reads the full real exports (../shared/data/real); set on every test using real_data"
    )
    config.addinivalue_line(
        "markers", "slow: seconds per test (subprocesses, kills, fuzzing, PDFs); left out of ./test.sh's quick run"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark `real` every test that asks for the real exports, directly or through a fixture."""
    for item in items:
        if "real_data" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.real)


@pytest.fixture(autouse=True, scope="session")
def _isolate_user_data(tmp_path_factory: pytest.TempPathFactory):
    """Point the default database and profile folder at a temp dir for the whole run.

    A test that forgets to pass its own path then writes there, never into data/.
    """
    home = tmp_path_factory.mktemp("hypercare-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HYPERCARE_DB", str(home / "default.duckdb"))
        mp.setenv("HYPERCARE_PROFILES", str(home / "profiles"))
        yield home


@pytest.fixture
def con(tmp_path: Path):
    """A fresh, empty store (schema created) in a DuckDB file of its own."""
    connection = db.connect(tmp_path / "t.duckdb")
    yield connection
    connection.close()


@pytest.fixture(scope="session")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding the seeded 3,000-ticket demo, built once per run. Tests read it as it is;
    a test that writes copies it first."""
    from analytics.demo.loader import load_demo

    path = tmp_path_factory.mktemp("demo3000") / "demo.duckdb"
    connection = db.connect(path)
    load_demo(connection, 3000, actor=local_operator("demo"))
    connection.close()
    return path


@pytest.fixture(scope="session")
def real_data() -> Path:
    """Folder of the real public exports (one sub-folder per source, each with a README)."""
    path = Path(os.environ.get("HYPERCARE_REAL_DATA") or REPO_ROOT.parent / "shared" / "data" / "real")
    if not path.is_dir():
        pytest.skip(
            f"real exports not found at {path}; set HYPERCARE_REAL_DATA to run tests on the full files"
        )
    return path
