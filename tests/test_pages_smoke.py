"""Every page renders through the real router on demo data, without an exception.

Pages are discovered with a glob, so a new file in pages/ is smoke-tested the day it appears;
a page file that app.py does not route fails here (AppTest.switch_page rejects it).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analytics.demo.loader import load_demo
from analytics.store import db
from analytics.store.auth import local_operator
from tests.helpers import app_using

REPO_ROOT = Path(__file__).resolve().parent.parent
APP = REPO_ROOT / "app.py"
PAGES = sorted(p for p in (REPO_ROOT / "pages").glob("*.py") if not p.name.startswith("_"))
TIMEOUT = 30  # seconds per script run; a cold first run on 2 cores takes a few


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory):
    """A store holding 500 demo tickets, set as HYPERCARE_DB for the module's app runs."""
    path = tmp_path_factory.mktemp("smoke") / "smoke.duckdb"
    con = db.connect(path)
    load_demo(con, n_tickets=500, actor=local_operator("demo"))
    con.close()
    with app_using(path, demo=True):
        yield path


def _problems(at: AppTest) -> list[str]:
    return [f"{e.message}\n{''.join(e.stack_trace)}" for e in at.exception]


def _headings(at: AppTest) -> list[str]:
    return [h.value for h in (*at.title, *at.header, *at.subheader) if str(h.value).strip()]


def test_pages_folder_holds_every_page():
    names = [p.name for p in PAGES]
    assert len(PAGES) >= 7, f"expected at least 7 pages in pages/, found {names}"


def test_app_opens_on_default_page(demo_db):
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    assert not _problems(at), _problems(at)
    assert _headings(at), "the default page shows no title or header"


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_page_renders_through_router(demo_db, page: Path):
    # The router runs first, as in a browser: it opens the store and draws the filter bar
    # whose session state every page reads.
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    assert not _problems(at), _problems(at)
    at.switch_page(str(page.relative_to(REPO_ROOT))).run()
    assert not _problems(at), _problems(at)
    assert _headings(at), f"{page.name} shows no title or header"
