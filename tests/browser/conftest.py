"""A real Streamlit server and a real headless Chromium for the browser tests.

The server runs `streamlit run app.py` on a free loopback port against its own database file
(the app loads demo data into it on first start). Chromium is Debian's /usr/bin/chromium,
driven by Playwright; nothing is downloaded. test.sh installs chromium when it is missing.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"
CHROMIUM = os.environ.get("HYPERCARE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 1800}
SERVER_START_DEADLINE = 90  # seconds until /_stcore/health must answer "ok"
UI_TIMEOUT_MS = 30_000  # per expect(); the first page load also loads the demo data


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 40) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


def _wait_healthy(proc: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_DEADLINE
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.read().decode().strip() == "ok":
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        try:
            # Doubles as the poll interval and notices a server that died on start-up.
            code = proc.wait(timeout=0.25)
        except subprocess.TimeoutExpired:
            continue
        pytest.fail(f"streamlit exited with {code} before answering {url}:\n{_tail(log)}")
    pytest.fail(f"streamlit did not answer {url} within {SERVER_START_DEADLINE}s:\n{_tail(log)}")


@contextlib.contextmanager
def launch_streamlit(tmp: Path, *, secrets: str = "", extra_env: dict[str, str] | None = None):
    """Run `streamlit run app.py` on a free loopback port; yields (base URL, port).

    It reads `secrets` as its only secrets file (empty: local mode, whatever a developer's
    own .streamlit/secrets.toml says), and its own database and profile folder under `tmp`.
    """
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    secrets_file = tmp / "secrets.toml"
    secrets_file.write_text(secrets.replace("{port}", str(port)), encoding="utf-8")
    env = {
        **os.environ,
        "HYPERCARE_DB": str(tmp / "browser.duckdb"),
        "HYPERCARE_PROFILES": str(tmp / "profiles"),
        **(extra_env or {}),
    }
    env.pop("HYPERCARE_NO_DEMO", None)  # these tests need the demo data of a first start
    log = tmp / "streamlit.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "streamlit", "run", "app.py",
                "--server.port", str(port),
                "--server.headless", "true",
                "--server.address", "127.0.0.1",
                "--browser.gatherUsageStats", "false",
                "--secrets.files", str(secrets_file),
            ],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_healthy(proc, f"{base}/_stcore/health", log)
            yield base, port
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@pytest.fixture(scope="session")
def streamlit_server(tmp_path_factory: pytest.TempPathFactory):
    """Base URL of a running `streamlit run app.py` (local mode) with a fresh database."""
    with launch_streamlit(tmp_path_factory.mktemp("browser")) as (base, _port):
        yield base


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: run ./test.sh (installs it as root) "
                    "or set HYPERCARE_CHROMIUM")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for stale in SCREENSHOTS.glob("FAILED-*.png"):  # from an earlier run
        stale.unlink()
    return SCREENSHOTS


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@contextlib.contextmanager
def page_factory(browser, base_url: str, screenshots: Path, request, prepare=None):
    """Yield a function that opens a page in a new browser context (own cookies, own Streamlit
    session) on `base_url`; `prepare(context)` may add routes. On a failed test each context
    leaves a FAILED-<test>-<i>.png; every context is closed."""
    expect.set_options(timeout=UI_TIMEOUT_MS)
    contexts = []

    def open_page():
        context = browser.new_context(viewport=VIEWPORT, base_url=base_url)
        context.set_default_timeout(UI_TIMEOUT_MS)
        if prepare is not None:
            prepare(context)
        contexts.append(context)
        return context.new_page()

    try:
        yield open_page
    finally:
        failed = getattr(request.node, "rep_call", None)
        for i, context in enumerate(contexts):
            if failed is not None and failed.failed and context.pages:
                with contextlib.suppress(Exception):  # best effort: the page may be gone
                    context.pages[0].screenshot(path=screenshots / f"FAILED-{request.node.name}-{i}.png")
            context.close()


@pytest.fixture
def new_session(browser, streamlit_server, screenshots, request):
    """Factory: a new browser page in its own context (own cookies, own Streamlit session)."""
    with page_factory(browser, streamlit_server, screenshots, request) as open_page:
        yield open_page


@pytest.fixture
def page(new_session):
    """The page most tests need: one fresh session on the running app."""
    return new_session()
