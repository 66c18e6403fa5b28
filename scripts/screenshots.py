"""Screenshots of every page and of the monthly PDF report's first three pages (issue #15).

    .venv/bin/python scripts/screenshots.py                  # every set into docs/screenshots/
    .venv/bin/python scripts/screenshots.py --only demo      # one set (comma-separate several)
    .venv/bin/python scripts/screenshots.py --list           # the sets, their files and the pages; starts nothing

For each set: a fresh store in a scratch folder (the demo: the app's first start loads it; a
real export: `python -m analytics engagements create` and `ingest`, as a user would), a real
`streamlit run app.py` on a free loopback port (bench/kpis_browser.py's), every page of the
app's navigation (read from app.py) in Debian's Chromium through Playwright, each saved once
its run has finished and its charts are drawn; then `python -m analytics report` for the set's
month, its first three pages rasterised with pypdfium2. Output: docs/screenshots/<set>/
<nn>-<page>.png and report-p1..p3.png, each PNG under 300 KB, and docs/screenshots/README.md.
A real export whose folder is absent (HYPERCARE_REAL_DATA, default ../shared/data/real) is
skipped with a message; its earlier screenshots are kept.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))  # the benchmarks' server and browser helpers

from kpis_browser import CHROMIUM, CHROMIUM_ARGS, _start_server  # noqa: E402
from people_servers import Server, stop_servers  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
VIEWPORT_WIDTH = 1280
MIN_HEIGHT, MAX_HEIGHT = 800, 12_000  # px; a page taller than MAX_HEIGHT is cut (and said so)
PNG_LIMIT = 300_000  # bytes per PNG
PDF_DPI, PDF_PAGES = 100, 3
TIMEOUT_MS = 180_000  # per page: the demo's first page also loads the demo data
SETTLE_S = 1.0  # the page must stay unchanged this long before it is saved


@dataclass(frozen=True)
class DataSet:
    name: str  # its folder under docs/screenshots/, and the engagement's slug
    title: str  # what it is, for the README
    month: str  # the monthly report's month (one with data)
    folder: str = ""  # under the real-data folder; empty: the built-in demo
    files: tuple[str, ...] = ()  # in upload order (tickets before their history)
    engagement: tuple[str, ...] = ()  # `engagements create` options


SETS = (
    DataSet("demo", "the built-in demo (5,000 tickets, go-live 7 Sep 2026), loaded by the app's first start",
            "2026-09"),
    DataSet("servicenow", "UCI ServiceNow incident event log (141,712 events, 24,918 incidents, 2016-17)",
            "2016-03", "servicenow-incident-event-log", ("incident_event_log.csv.gz",),
            ("--name", "ServiceNow event log", "--go-live", "2016-03-01")),
    DataSet("github-status", "GitHub status-page incidents 2010-2023 (1,282 incidents + 2,801 updates)",
            "2023-09", "github-status-incidents",
            ("githubstatus_incidents.csv.gz", "githubstatus_incident_updates.csv.gz"),
            ("--name", "GitHub status", "--go-live", "2023-09-01")),
)

# True once the page's script run is over, nothing shows as loading and every chart is drawn.
_READY_JS = """() => {
  const app = document.querySelector('[data-testid=stApp]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  const main = document.querySelector('[data-testid=stMainBlockContainer]');
  if (!main || !main.querySelector('[data-testid=stElementContainer]')) return false;
  if (document.querySelector('[data-testid=stSkeleton], [data-testid=stSpinner]')) return false;
  const status = document.querySelector('[data-testid=stStatusWidget]');
  if (status && /running/i.test(status.innerText)) return false;
  return [...document.querySelectorAll('[data-testid=stPlotlyChart]')].every(c => c.querySelector('.main-svg'));
}"""
# How tall the page's content is (main area or sidebar, whichever is taller) and a cheap
# fingerprint of what is drawn, to tell when it has stopped changing.
_SHAPE_JS = """() => {
  const h = sel => { const e = document.querySelector(sel); return e ? e.scrollHeight : 0; };
  const main = document.querySelector('[data-testid=stMainBlockContainer]');
  const scroller = document.querySelector('[data-testid=stMain]');
  const bottoms = main ? [...main.children].map(e => e.getBoundingClientRect().bottom) : [];
  const end = Math.max(0, ...bottoms) + (scroller ? scroller.scrollTop : 0) + 48;
  const height = Math.max(end, h('[data-testid=stSidebarContent]'));
  return [Math.ceil(height), document.querySelectorAll('*').length];
}"""


@dataclass(frozen=True)
class AppPage:
    title: str
    url_path: str  # "" for the default page

    @property
    def file_stem(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")


def app_pages(app: Path = ROOT / "app.py") -> list[AppPage]:
    """The pages of app.py's st.navigation, in its order: each st.Page("pages/x.py", title=...)."""
    pages = []
    for node in ast.walk(ast.parse(app.read_text(encoding="utf-8"))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "Page"
                and node.args and isinstance(node.args[0], ast.Constant)):
            kw = {k.arg: k.value.value for k in node.keywords if isinstance(k.value, ast.Constant)}
            url_path = "" if kw.get("default") is True else Path(node.args[0].value).stem
            pages.append((node.lineno, AppPage(kw.get("title", ""), url_path)))
    return [p for _, p in sorted(pages, key=lambda lp: lp[0])]


def real_dir() -> Path:
    return Path(os.environ.get("HYPERCARE_REAL_DATA") or ROOT.parent / "shared" / "data" / "real")


def missing_input(ds: DataSet, real: Path) -> str:
    """Why `ds` can't be made here ("" when it can)."""
    absent = [real / ds.folder / f for f in ds.files if not (real / ds.folder / f).is_file()]
    if absent:
        return f"{absent[0]} is absent (set HYPERCARE_REAL_DATA to the folder of the real exports)"
    return ""


# --- images ---------------------------------------------------------------------------------


def small_png(image, limit: int = PNG_LIMIT) -> bytes:
    """`image` (a PIL image) as a PNG under `limit` bytes: as it is if it fits, else reduced to
    a 256-colour palette (sharp text, no dithering), else also scaled down."""
    from PIL import Image

    def encode(img) -> bytes:
        buf = BytesIO()
        img.save(buf, format="PNG", optimize=True)
        return buf.getvalue()

    image = image.convert("RGB")
    data = encode(image)
    scale = 1.0
    while len(data) > limit and scale > 0.25:
        img = image if scale == 1.0 else image.resize(
            (round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
        data = encode(img.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE))
        scale *= 0.85
    return data


def _save(image, path: Path) -> str:
    path.write_bytes(small_png(image))
    return f"{path.relative_to(ROOT)} ({image.width}×{image.height}, {path.stat().st_size // 1024} KB)"


def rasterise(pdf: Path, out: Path) -> list[str]:
    """The PDF's first PDF_PAGES pages as report-p1.png… at PDF_DPI."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(pdf))
    try:
        said = [_save(doc[i].render(scale=PDF_DPI / 72).to_pil(), out / f"report-p{i + 1}.png")
                for i in range(min(PDF_PAGES, len(doc)))]
        if len(doc) < PDF_PAGES:
            said.append(f"the report has {len(doc)} page(s) only")
    finally:
        doc.close()
    return said


# --- the app ----------------------------------------------------------------------------------


def _wait_ready(page) -> list[str]:
    """Wait until the page has finished and stopped changing; the problems seen on it."""
    page.wait_for_function(_READY_JS, timeout=TIMEOUT_MS, polling=200)
    last, since = None, time.monotonic()
    deadline = since + TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        shape = page.evaluate(_SHAPE_JS)
        if shape != last:
            last, since = shape, time.monotonic()
        elif time.monotonic() - since >= SETTLE_S and page.evaluate(_READY_JS):
            break
        time.sleep(0.2)
    return [f"exception shown: {t.splitlines()[0] if t else '?'}"
            for t in page.get_by_test_id("stException").all_inner_texts()]


def shoot_pages(browser, base: str, out: Path, pages: list[AppPage]) -> list[str]:
    from PIL import Image

    context = browser.new_context(viewport={"width": VIEWPORT_WIDTH, "height": MIN_HEIGHT},
                                  device_scale_factor=1, base_url=base)
    said = []
    try:
        page = context.new_page()
        for i, p in enumerate(pages, 1):
            t0 = time.monotonic()
            page.set_viewport_size({"width": VIEWPORT_WIDTH, "height": MIN_HEIGHT})
            page.goto(f"/{p.url_path}", timeout=TIMEOUT_MS)
            problems = _wait_ready(page)
            height = page.evaluate(_SHAPE_JS)[0]
            if height > MIN_HEIGHT:  # a taller viewport draws the rest (Streamlit scrolls inside)
                page.set_viewport_size({"width": VIEWPORT_WIDTH, "height": min(height, MAX_HEIGHT)})
                problems = _wait_ready(page)
                height = page.evaluate(_SHAPE_JS)[0]
            if height > MAX_HEIGHT:
                problems.append(f"cut at {MAX_HEIGHT} of {height} px")
            image = Image.open(BytesIO(page.screenshot()))
            note = _save(image, out / f"{i:02d}-{p.file_stem}.png")
            said.append(f"{note} in {time.monotonic() - t0:.1f} s" + "".join(f"; {x}" for x in problems))
            print("  " + said[-1], flush=True)
    finally:
        context.close()
    return said


def _cli(*args: str, work: Path) -> str:
    """`python -m analytics ARGS` as a user runs it; its stdout. A failure stops the script."""
    env = {**os.environ, "HYPERCARE_PROFILES": str(work / "profiles"), "HYPERCARE_OPERATOR": "screenshots"}
    done = subprocess.run([sys.executable, "-m", "analytics", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"python -m analytics {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def make_set(ds: DataSet, browser, real: Path, pages: list[AppPage]) -> list[str]:
    out = OUT / ds.name
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    with tempfile.TemporaryDirectory(prefix=f"hypercare-shots-{ds.name}-") as tmp:
        work = Path(tmp)
        store = work / "hypercare.duckdb"
        if ds.folder:
            _cli("engagements", "--db", str(store), "create", ds.name, *ds.engagement, work=work)
            _cli("ingest", "--db", str(store), "--engagement", ds.name,
                 *[str(real / ds.folder / f) for f in ds.files], work=work)
        proc, base = _start_server(store, work, demo=not ds.folder)
        try:
            said = shoot_pages(browser, base, out, pages)
        finally:
            stop_servers([Server(proc, base, work / "streamlit.log")])
        pdf = work / f"report-{ds.month}.pdf"
        said.append(_cli("report", "--db", str(store), "--month", ds.month, "--out", str(pdf), work=work).strip())
        said += rasterise(pdf, out)
        print("  " + "\n  ".join(said[len(pages):]), flush=True)
    return said


# --- README ------------------------------------------------------------------------------------

_EYE = "## Checked by eye"


def _made_on() -> str:
    def git(*a: str) -> str:
        return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    dirty = " with uncommitted changes" if git("status", "--porcelain", "--untracked-files=no") else ""
    return f"{time.strftime('%Y-%m-%d')}, commit {git('rev-parse', '--short', 'HEAD') or '?'}{dirty}"


def write_readme(path: Path, made: dict[str, list[str]], skipped: dict[str, str]) -> None:
    """docs/screenshots/README.md: the sets, what each is and when it was made. A set not remade
    keeps its earlier date; the "Checked by eye" section is kept as it was written."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    before = {m[1]: re.sub(r" \(not remade .*\)$", "", m[2])
              for m in re.finditer(r"^\| \[([\w-]+)\]\(.*\| ([^|]*) \|$", old, re.M)}
    eye = (old[old.index(_EYE):] if _EYE in old
           else f"{_EYE}\n\nNot yet: look at every image and note here what is wrong.\n")
    rows = []
    for ds in SETS:
        when = _made_on() if ds.name in made else before.get(ds.name, "never")
        if ds.name in skipped:
            when += f" (not remade on {time.strftime('%Y-%m-%d')}: input absent)"
        rows.append(f"| [{ds.name}]({ds.name}/) | {ds.title} | {ds.month} | {when} |")
    path.write_text(f"""# Screenshots

Every page of the dashboard and the first {PDF_PAGES} pages of the monthly PDF report, on the demo
data and on two real public exports (issue #15). Made by a script anyone can run (it starts real
servers and Debian's Chromium; about four minutes):

    .venv/bin/python scripts/screenshots.py            # all sets; --only demo for one, --list for the plan

Each set's folder holds `<nn>-<page>.png`, one per page of the navigation in its order (the page as
it opens, first tab only; {VIEWPORT_WIDTH} px wide, as tall as the page), and `report-p1.png` …
`report-p{PDF_PAGES}.png` (`python -m analytics report --month <month>`, {PDF_DPI} dpi). Every PNG is
under {PNG_LIMIT // 1000} KB: a large one is reduced to 256 colours. A real export comes from
`../shared/data/real/` (`HYPERCARE_REAL_DATA`), loaded with `python -m analytics ingest` into an
engagement named after the set.

| set | data | report month | made |
|---|---|---|---|
{chr(10).join(rows)}

{eye}""", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", help="comma-separated sets: " + ", ".join(ds.name for ds in SETS))
    ap.add_argument("--list", action="store_true", help="print the sets, their files and the pages; start nothing")
    args = ap.parse_args(argv)
    chosen = list(SETS)
    if args.only:
        names = args.only.split(",")
        unknown = sorted(set(names) - {ds.name for ds in SETS})
        if unknown:
            ap.error(f"unknown set(s) {', '.join(unknown)}; the sets are {', '.join(ds.name for ds in SETS)}")
        chosen = [ds for ds in SETS if ds.name in names]
    pages, real = app_pages(), real_dir()
    runnable, skipped = [], {}
    for ds in chosen:
        why = missing_input(ds, real) if ds.folder else ""
        if why:
            skipped[ds.name] = why
            print(f"{ds.name}: skipped: {why}", flush=True)
        else:
            runnable.append(ds)
    if args.list:
        for ds in runnable:
            print(f"{ds.name}: {', '.join(str(real / ds.folder / f) for f in ds.files) or 'the demo'}; "
                  f"report {ds.month}")
        for i, p in enumerate(pages, 1):
            print(f"page {i:02d}-{p.file_stem}: {p.title} (/{p.url_path})")
        return 0
    if not Path(CHROMIUM).exists():
        print(f"Chromium not found at {CHROMIUM}: install Debian's chromium or set HYPERCARE_CHROMIUM",
              file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    t0 = time.monotonic()
    made = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            for ds in runnable:
                print(f"{ds.name}: {ds.title}", flush=True)
                made[ds.name] = make_set(ds, browser, real, pages)
        finally:
            browser.close()
    write_readme(OUT / "README.md", made, skipped)
    print(f"done in {time.monotonic() - t0:.0f} s. Now look at every image and update the \"Checked by eye\" "
          f"section of {OUT.relative_to(ROOT)}/README.md", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
