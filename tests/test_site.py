"""The docs site (`make docs`, build/site) checked in a real browser: Debian's Chromium driven by Playwright.

Every page of build/site is served from 127.0.0.1 and opened in headless Chromium. Requests that would leave the
machine are blocked and listed (build/site-report.json). For every page: the title renders, the console has no
errors, every image decoded (``naturalWidth > 0``), every link into the site resolves (file and ``#anchor``), no
error output or Sphinx problem block is shown. One full-page screenshot per page goes to build/site-screenshots/.

Accessibility: axe-core (the npm package, pinned by docs/site/package-lock.json; .ci/run installs it into build/npm
with ``npm ci``) is injected into every page from that file (no network) and run with its default rules. No page may
have a serious or critical violation; the others are listed in build/site-report.json. The theme's own violations and
their fixes are described in docs/site/conf.py ("Accessibility").

The browser is the system's ``chromium`` (``apt-get install chromium``), passed to Playwright as
``executable_path``; ``playwright install`` (which downloads a browser) is never used. Without it (or without
axe-core, for the accessibility check) the test is skipped with a one-line reason locally, and fails under ``CI=true``.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlsplit

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import docs_site as site_build  # noqa: E402

SITE = ROOT / "build" / "site"
SHOTS = ROOT / "build" / "site-screenshots"
REPORT = ROOT / "build" / "site-report.json"
HOST = "127.0.0.1"
PAGE_TIMEOUT_MS = 30_000
# Error outputs as myst-nb renders them, and docutils/Sphinx problem blocks.
ERROR_BLOCKS = ".output.traceback, .output.error, .system-message, .problematic"
AXE_DIR = ROOT / "build" / "npm" / "node_modules" / "axe-core"
AXE_LOCK = ROOT / "docs" / "site" / "package-lock.json"
AXE_FAILING = ("critical", "serious")  # axe-core's two highest impacts fail the check; moderate and minor are listed
# Every violation with the elements it was found on (CSS selectors), as the failure message lists them.
AXE_RUN = """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map(n => n.target.join(" "))}))"""


def _pages() -> list[str]:
    if not (SITE / "index.html").is_file():
        return []
    skip = ("_static", "_sources", "_images")
    return sorted(
        p.relative_to(SITE).as_posix() for p in SITE.rglob("*.html") if p.relative_to(SITE).parts[0] not in skip
    )


PAGES = _pages()


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but no `chromium` on PATH: .ci/run installs it with `apt-get install chromium`")
        pytest.skip("no `chromium` on PATH (Debian: apt-get install chromium); the site's browser test needs it")
    return path


def _axe_pinned() -> str:
    return json.loads(AXE_LOCK.read_text(encoding="utf-8"))["packages"]["node_modules/axe-core"]["version"]


def _axe_script() -> Path | None:
    """axe-core's browser build in build/npm, or None if it is not installed; an installed version other than the one
    docs/site/package-lock.json pins is an error."""
    script = AXE_DIR / "axe.min.js"
    if not script.is_file():
        return None
    installed = json.loads((AXE_DIR / "package.json").read_text(encoding="utf-8"))["version"]
    assert installed == _axe_pinned(), (
        f"build/npm has axe-core {installed}, docs/site/package-lock.json pins {_axe_pinned()}: run .ci/run's npm ci"
    )
    return script


def _axe() -> Path:
    script = _axe_script()
    if script is None:
        how = "cp docs/site/package*.json build/npm/ && npm ci --prefix build/npm, as .ci/run does"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but axe-core is not installed in build/npm: {how}")
        pytest.skip(f"axe-core is not installed in build/npm ({how}); the site's accessibility check needs it")
    return script


def _run_axe(page, script: Path) -> list[dict]:
    """Inject axe-core from ``script`` (inline: no request) and return its violations on the page."""
    page.add_script_tag(path=str(script))
    assert page.evaluate("axe.version") == _axe_pinned()
    return page.evaluate(AXE_RUN)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base class's name)
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(SITE))
    httpd = http.server.ThreadingHTTPServer((HOST, 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser_context(server: str) -> Iterator[tuple[object, list[str]]]:
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    blocked: list[str] = []

    def route(r) -> None:
        if urlsplit(r.request.url).hostname == HOST:
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True, timeout=PAGE_TIMEOUT_MS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.set_default_timeout(PAGE_TIMEOUT_MS)
            context.route("**/*", route)
            yield context, blocked
        finally:
            browser.close()


@pytest.fixture(scope="module")
def visited() -> dict[str, dict]:
    return {}


def _check_page(context, server: str, name: str) -> dict:
    axe = _axe_script()  # run in the same visit when installed (test_page_is_accessible needs it)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        response = page.goto(server + name, wait_until="load")
        assert response is not None and response.ok, f"{name}: HTTP {response and response.status}"
        page.evaluate("Promise.all(Array.from(document.images).map(i => i.decode().catch(() => null)))")
        shot = SHOTS / (name.removesuffix(".html").replace("/", "__") + ".png")
        page.screenshot(path=str(shot), full_page=True)
        info = page.evaluate(
            """() => ({
                title: document.title,
                h1: (document.querySelector('h1') || {innerText: ''}).innerText.replace(/#$/, '').trim(),
                images: Array.from(document.images).map(i => [i.getAttribute('src'), i.naturalWidth]),
                links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
                ids: Array.from(document.querySelectorAll('[id]')).map(e => e.id),
            })"""
        )
        visible_errors = [e.inner_text()[:200] for e in page.locator(ERROR_BLOCKS).all() if e.is_visible()]
        info["axe"] = _run_axe(page, axe) if axe else None
    finally:
        page.close()
    info.update(console_errors=errors, error_blocks=visible_errors, screenshot=str(shot.relative_to(ROOT)))
    return info


@pytest.mark.skipif(not PAGES, reason="build/site is missing: run `make docs` (make test does)")
@pytest.mark.parametrize("name", PAGES or ["index.html"])
def test_page_renders_in_a_real_browser(browser_context, server, visited, name):
    context, blocked = browser_context
    SHOTS.mkdir(parents=True, exist_ok=True)
    before = len(blocked)
    info = _check_page(context, server, name)
    visited[name] = info
    assert info["title"].strip() and info["h1"], f"{name}: no title / no h1 heading"
    assert info["h1"] in info["title"], f"{name}: title {info['title']!r} does not name the heading {info['h1']!r}"
    assert not info["console_errors"], f"{name}: console errors {info['console_errors']}"
    broken = [src for src, width in info["images"] if width <= 0]
    assert not broken, f"{name}: images that did not load: {broken}"
    assert not info["error_blocks"], f"{name}: error output shown: {info['error_blocks']}"
    assert blocked[before:] == [], f"{name}: requests leaving {HOST} (blocked): {blocked[before:]}"
    assert (ROOT / info["screenshot"]).stat().st_size > 0


@pytest.mark.skipif(not PAGES, reason="build/site is missing: run `make docs` (make test does)")
@pytest.mark.parametrize("name", PAGES or ["index.html"])
def test_page_is_accessible(browser_context, server, visited, name):
    _axe()
    context, _ = browser_context
    if visited.get(name, {}).get("axe") is None:  # not visited yet in this session (e.g. -k selection)
        visited[name] = _check_page(context, server, name)
    failing = [v for v in visited[name]["axe"] if v["impact"] in AXE_FAILING]
    assert not failing, f"{name}: axe-core {_axe_pinned()} reports serious or critical violations:\n" + "\n".join(
        f"  {v['id']} ({v['impact']}): {v['help']}; on {', '.join(v['targets'][:5])}"
        + (f" and {len(v['targets']) - 5} more" if len(v["targets"]) > 5 else "")
        for v in failing
    )


@pytest.mark.skipif(not PAGES, reason="build/site is missing: run `make docs` (make test does)")
def test_every_internal_link_resolves(browser_context, server, visited):
    context, blocked = browser_context
    for name in PAGES:  # pages the parametrized test has not visited in this session (e.g. -k selection)
        if name not in visited:
            visited[name] = _check_page(context, server, name)
    problems, checked = [], set()
    for name, info in visited.items():
        for href in info["links"]:
            if not href.startswith(server):
                continue
            url, anchor = urldefrag(href)
            path = unquote(url[len(server) :]) or "index.html"
            target = SITE / path
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                problems.append(f"{name} → {href}: no such file")
                continue
            page = target.relative_to(SITE).as_posix()
            if anchor and page in visited and anchor not in visited[page]["ids"]:
                problems.append(f"{name} → {href}: no element with id {anchor!r}")
            checked.add(href)
    REPORT.write_text(
        json.dumps(
            {
                "pages": sorted(visited),
                "internal_links_checked": len(checked),
                "requests_blocked": sorted(set(blocked)),
                "screenshots": {n: v["screenshot"] for n, v in sorted(visited.items())},
                "axe_core": _axe_pinned() if any(v.get("axe") is not None for v in visited.values()) else None,
                "axe_violations": {
                    n: [{"id": a["id"], "impact": a["impact"], "elements": len(a["targets"])} for a in v["axe"]]
                    for n, v in sorted(visited.items())
                    if v.get("axe")
                },
            },
            indent=1,
        )
        + "\n",
        encoding="utf-8",
    )
    assert len(visited) == len(PAGES) and checked, "no page or no internal link was checked"
    assert not problems, "broken internal links:\n" + "\n".join(problems)


def test_staging_turns_badges_into_links_and_readme_links_into_the_index():
    readme_row = (
        "| 01 | [x](notebooks/01.ipynb) [![Open in Colab](https://colab.research.google.com/b.svg)](https://c/01) |"
    )
    assert site_build.offline_markdown(readme_row) == "| 01 | [x](notebooks/01.ipynb) [Open in Colab](https://c/01) |"
    header = (
        '<table align="left">\n  <td><a target="_blank" href="https://c/nb"><img src="https://t/colab.png" />Run in '
        'Google Colab</a></td>\n  <td><a target="_blank" href="https://g/nb"><img src="https://t/gh.png" />View source'
        '</a></td>\n</table>\n<br clear="all">\n\n**What you\'ll learn**'
    )
    assert site_build.external_images(header) == 2
    assert site_build.offline_markdown(header) == (
        "[Run in Google Colab](https://c/nb) · [View source](https://g/nb)\n\n**What you'll learn**"
    )
    assert site_build.offline_markdown("[← 01](01.ipynb) · [index](../README.md) · [top](../README.md#top)") == (
        "[← 01](01.ipynb) · [index](../index.md) · [top](../index.md#top)"
    )
    # docs/cluster.md and docs/accelerators.md are staged at the top level
    assert site_build.offline_markdown("[gpu](../docs/accelerators.md#keep)") == "[gpu](../accelerators.md#keep)"
    local = '<img src="figure.png"> and [![a](local.svg)](x)'
    assert site_build.offline_markdown(local) == local and site_build.external_images(local) == 0


def test_staging_hides_solution_cells_behind_a_toggle(tmp_path):
    nb = nbformat.v4.new_notebook()
    solution = nbformat.v4.new_code_cell("# @title Solution to exercise 1\nassert True")
    solution.metadata["jupyter"] = {"source_hidden": True}
    nb.cells = [nbformat.v4.new_code_cell("print(1)"), solution]
    nbformat.write(nb, tmp_path / "in.ipynb")
    site_build.stage_notebook(tmp_path / "in.ipynb", tmp_path / "out.ipynb")
    staged = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert "tags" not in staged.cells[0].metadata and staged.cells[1].metadata["tags"] == ["hide-input"]


def test_a_request_leaving_localhost_is_blocked_and_listed(browser_context, server):
    context, blocked = browser_context
    before = len(blocked)
    page = context.new_page()
    try:
        page.goto(server + "index.html", wait_until="load")
        page.set_content('<img id="badge" src="https://www.tensorflow.org/images/colab_logo_32px.png">')
        page.wait_for_function("document.getElementById('badge').complete")
        assert page.evaluate("document.getElementById('badge').naturalWidth") == 0
    finally:
        page.close()
    assert blocked[before:] == ["https://www.tensorflow.org/images/colab_logo_32px.png"]
    del blocked[before:]  # a deliberate request: not one of the site's


def test_axe_reports_a_serious_violation_on_a_bad_page(browser_context, server):
    script = _axe()
    context, _ = browser_context
    page = context.new_page()
    try:
        page.goto(server + "index.html", wait_until="load")
        page.set_content(
            '<!doctype html><html lang="en"><head><title>t</title></head><body><main><h1>t</h1>'
            '<button aria-label="Close">Open the menu</button></main></body></html>'
        )
        violations = _run_axe(page, script)
    finally:
        page.close()
    assert [(v["id"], v["impact"]) for v in violations] == [("label-content-name-mismatch", "serious")]
    assert violations[0]["targets"] == ["button"]
