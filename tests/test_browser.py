"""The website as a reader meets it: every page opened in headless Chromium, offline.

The built site is served on 127.0.0.1 and every request to any other host is blocked.
Each page must then load without console errors or failed requests, decode every image,
typeset every formula with the site's own MathJax, offer download links that answer, and
point its Colab links at notebooks of the course repository.
"""

from __future__ import annotations

import functools
import http.server
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml
from playwright.sync_api import Browser, Page, Request, Route, sync_playwright

from conftest import ROOT
from test_book import built_site, chapters, toc_files  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
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
HOST = "127.0.0.1"
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPOSITORY = CONFIG["repository"]["url"].rstrip("/").split("github.com/")[-1]
BRANCH = CONFIG["repository"].get("branch", "main")
COLAB_LINK = re.compile(
    rf"^https://colab\.research\.google\.com/github/{re.escape(REPOSITORY)}/blob/{re.escape(BRANCH)}/"
    r"(?P<path>[\w./-]+\.ipynb)$"
)
# Pages that Sphinx writes besides the documents of the toc.
GENERATED_PAGES = ["genindex", "search"]
PAGES = [*toc_files(), *GENERATED_PAGES]
NOT_PAGES = ("_static", "_sources", "_downloads", "_images", "reports", "jupyter_execute")
RAW_TEX = re.compile(r"\$\$|\\\(|\\\)|\\\[|\\\]|\\begin\{|\$[^$\n]{0,200}?\\[A-Za-z]+[^$\n]{0,200}?\$")
DOWNLOAD_LINKS = 'a[download], a.download, a[class*="btn-download"]'

# JavaScript run in the page ------------------------------------------------------------
WAIT_FOR_MATHJAX = """async () => {
  if (!document.querySelector("span.math, div.math")) return "no math";
  if (!window.MathJax || !MathJax.startup || !MathJax.startup.promise) return "MathJax did not load";
  await MathJax.startup.promise;
  return "typeset";
}"""
MATH_REPORT = """() => {
  const math = [...document.querySelectorAll("span.math, div.math")];
  return {
    count: math.length,
    untypeset: math.filter(el => !el.querySelector("mjx-container")).map(el => el.textContent.slice(0, 80)),
    // TeX errors, and undefined macros (shown by MathJax's noundefined package as red text)
    errors: [...document.querySelectorAll('mjx-merror, [data-mml-node="merror"], [data-mml-node="mtext"][fill="red"]')]
      .map(el => el.getAttribute("data-mjx-error") || el.closest(".math").textContent.slice(0, 80)),
  };
}"""
# Text a reader sees as prose: everything but code, scripts and typeset math.
PROSE_TEXT = """() => {
  const skip = "pre, code, script, style, textarea, mjx-container, .highlight";
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const parts = [];
  while (walker.nextNode()) {
    const parent = walker.currentNode.parentElement;
    if (parent && !parent.closest(skip)) parts.push(walker.currentNode.textContent);
  }
  return parts.join(" ");
}"""
UNDECODED_IMAGES = """async () => {
  const images = [...document.images];
  images.forEach(img => { img.loading = "eager"; });
  await Promise.all(images.map(img => img.decode().catch(() => null)));
  return images.filter(img => !(img.complete && img.naturalWidth > 0)).map(img => img.currentSrc || img.src);
}"""
RENDERING = """() => ({
  title: document.title,
  text: (document.querySelector("article") || document.body).innerText.trim().length,
  stylesheets: [...document.styleSheets].filter(sheet => {
    try { return sheet.cssRules.length > 0; } catch (e) { return false; }
  }).length,
  icons: document.querySelectorAll("svg.svg-inline--fa").length,
  sidebar: !!document.querySelector("nav.bd-docs-nav"),
})"""
LINKS = "(nodes) => nodes.map(a => a.href)"


@dataclass
class Visit:
    """What happened while one page loaded."""

    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    blocked_requests: list[str] = field(default_factory=list)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def _is_local(url: str) -> bool:
    return urlparse(url).hostname == HOST or url.startswith(("data:", "blob:", "about:"))


@pytest.fixture(scope="module")
def site_url(built_site: Path) -> Iterator[str]:  # noqa: F811
    """The built site, served over HTTP on 127.0.0.1 from a background thread."""
    handler = functools.partial(QuietHandler, directory=str(built_site))
    server = http.server.ThreadingHTTPServer((HOST, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{HOST}:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium driven by Playwright (never a browser Playwright downloads)."""
    if not CHROMIUM.is_file():
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(service_workers="block")
    tab = context.new_page()
    yield tab
    context.close()


def open_offline(page: Page, url: str) -> Visit:
    """Load ``url`` with every non-local request aborted; wait until MathJax is done."""
    visit = Visit()

    def only_local(route: Route, request: Request) -> None:
        if _is_local(request.url):
            route.continue_()
        else:
            visit.blocked_requests.append(request.url)
            route.abort("blockedbyclient")

    page.route("**/*", only_local)
    page.on("console", lambda message: message.type == "error" and visit.console_errors.append(message.text))
    page.on("pageerror", lambda error: visit.console_errors.append(f"uncaught: {error}"))
    page.on(
        "requestfailed",
        lambda request: _is_local(request.url) and visit.failed_requests.append(f"{request.url}: {request.failure}"),
    )
    page.on(
        "response",
        lambda response: response.status >= 400 and visit.failed_requests.append(f"{response.url}: HTTP {response.status}"),
    )
    page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")
    mathjax = page.evaluate(WAIT_FOR_MATHJAX)
    assert mathjax != "MathJax did not load", f"{url}: the page has math but MathJax did not load"
    return visit


def _page_url(site_url: str, docname: str) -> str:
    return f"{site_url}/{docname}.html"


def _colab_links(page: Page) -> list[str]:
    return page.eval_on_selector_all('a[href*="colab.research.google.com"]', LINKS)


def test_every_built_page_is_checked(built_site: Path):  # noqa: F811
    built = {
        str(path.relative_to(built_site).with_suffix(""))
        for path in built_site.rglob("*.html")
        if path.relative_to(built_site).parts[0] not in NOT_PAGES
    }
    unchecked = built - set(PAGES) - {"index"}
    assert not unchecked, f"pages built but not opened in the browser test: {sorted(unchecked)}"


def check_rendering(page: Page, docname: str) -> list[str]:
    """The page is drawn with the theme's styles and icons, has text, and every image decodes."""
    problems = []
    rendering = page.evaluate(RENDERING)
    if not rendering["title"]:
        problems.append("no title")
    if rendering["stylesheets"] < 3:
        problems.append(f"the theme's stylesheets did not load ({rendering})")
    if not rendering["icons"]:
        problems.append(f"the theme's icons were not drawn ({rendering})")
    if not rendering["sidebar"]:
        problems.append("no navigation sidebar")
    if docname not in GENERATED_PAGES and rendering["text"] < 200:
        problems.append(f"almost no text ({rendering})")
    undecoded = page.evaluate(UNDECODED_IMAGES)
    if undecoded:
        problems.append(f"images that did not decode: {undecoded}")
    return problems


def check_math(page: Page) -> list[str]:
    """Every formula is typeset by the site's own MathJax, without errors or raw TeX left."""
    problems = []
    math = page.evaluate(MATH_REPORT)
    if math["untypeset"]:
        problems.append(f"formulas left as TeX: {math['untypeset'][:5]}")
    if math["errors"]:
        problems.append(f"MathJax errors: {math['errors'][:5]}")
    raw = sorted(set(RAW_TEX.findall(page.evaluate(PROSE_TEXT))))
    if raw:
        problems.append(f"raw TeX in the visible text: {raw[:10]}")
    scripts = page.eval_on_selector_all("script[src]", "(nodes) => nodes.map(s => s.src)")
    if math["count"] and not any("/_static/mathjax/" in src for src in scripts):
        problems.append("MathJax is not the site's own copy")
    return problems


def check_downloads(page: Page, docname: str) -> list[str]:
    """Every download link answers 200 with content; an exercise page serves its notebook."""
    problems = []
    served_notebooks = []
    for href in sorted(set(page.eval_on_selector_all(DOWNLOAD_LINKS, LINKS))):
        if not _is_local(href):
            problems.append(f"download link leaves the site: {href}")
            continue
        response = page.request.get(href)
        body = response.body() if response.ok else b""
        if response.status != 200 or not body:
            problems.append(f"download {href} answers HTTP {response.status} ({len(body)} bytes)")
        elif href.endswith(".ipynb"):
            if "cells" not in json.loads(body):
                problems.append(f"download {href} is not a notebook")
            served_notebooks.append(body)
    if docname.startswith("exercises/") and (ROOT / f"{docname}.ipynb").read_bytes() not in served_notebooks:
        problems.append(f"no download link serves {docname}.ipynb")
    return problems


def check_colab(page: Page, docname: str) -> list[str]:
    """Colab links open notebooks of the repository; an exercise page opens its own."""
    problems = []
    targets = set()
    for href in _colab_links(page):
        match = COLAB_LINK.match(href)
        if not match:
            problems.append(f"Colab link does not open a notebook of {REPOSITORY}@{BRANCH}: {href}")
        elif not (ROOT / match["path"]).is_file():
            problems.append(f"Colab link to a notebook the repository lacks: {href}")
        else:
            targets.add(match["path"])
    if docname.startswith("exercises/") and f"{docname}.ipynb" not in targets:
        problems.append(f"no Colab button for {docname}.ipynb (links: {sorted(targets)})")
    return problems


@pytest.mark.parametrize("docname", PAGES)
def test_page_works_offline(page: Page, site_url: str, docname: str):
    """No console error, no failed or outside request, styled, images, math, downloads, Colab."""
    visit = open_offline(page, _page_url(site_url, docname))
    problems = [f"asks for resources outside the site: {url}" for url in visit.blocked_requests]
    problems += [f"failed request: {failure}" for failure in visit.failed_requests]
    problems += [f"console error: {error}" for error in visit.console_errors]
    problems += check_rendering(page, docname)
    problems += check_math(page)
    problems += check_downloads(page, docname)
    problems += check_colab(page, docname)
    assert not problems, f"{docname}:\n" + "\n".join(problems)


def _nbgrader_points(notebook: Path) -> float:
    cells = json.loads(notebook.read_text())["cells"]
    return sum(float(c["metadata"].get("nbgrader", {}).get("points", 0)) for c in cells
               if c["metadata"].get("nbgrader", {}).get("grade"))


def test_exercises_page_lists_every_assignment_with_points_and_links(page: Page, site_url: str):
    from conftest import EXERCISES, assignments

    open_offline(page, _page_url(site_url, "book/exercises"))
    rows = page.eval_on_selector_all(
        "article table tbody tr", "(rows) => rows.map(r => [...r.cells].map(c => c.innerText.trim()))"
    )
    colab = {COLAB_LINK.match(href)["path"] for href in _colab_links(page)}
    downloads = page.eval_on_selector_all("article table a.download", LINKS)
    for name in assignments():
        assert f"exercises/{name}/{name}.ipynb" in colab, f"the exercises page has no Colab link for {name}"
        assert any(href.endswith(f"/{name}.ipynb") for href in downloads), f"no download link for {name}"
        row = next((cells for cells in rows if cells[0] == name[:2]), None)
        assert row, f"the exercises table has no row for {name}: {rows}"
        points = _nbgrader_points(EXERCISES / name / f"{name}.ipynb")
        assert points > 0 and float(row[3]) == points, f"{name}: the table gives {row[3]} points, nbgrader {points}"
        per_function = [float(p) for p in re.findall(r"\((\d+(?:\.\d+)?)\)", row[2])]
        assert sum(per_function) == points, f"{name}: points per graded function {row[2]!r} do not add up to {points}"


def test_root_redirects_to_the_landing_page_and_navigation_lists_every_page(page: Page, site_url: str):
    open_offline(page, f"{site_url}/index.html")
    page.wait_for_url(f"{site_url}/book/intro.html")
    nav = page.eval_on_selector_all("nav.bd-docs-nav a.reference", LINKS)
    listed = {href.split("#")[0] for href in nav}
    missing = [doc for doc in toc_files()[1:] if _page_url(site_url, doc) not in listed]
    assert not missing, f"the navigation does not list {missing}"
    entries = page.eval_on_selector_all(
        "nav.bd-docs-nav a.reference", "(nodes) => nodes.map(a => [a.href, a.innerText.trim()])"
    )
    numbered = {_page_url(site_url, doc) for doc in chapters()}
    titles = [text for href, text in entries if href.split("#")[0] in numbered]
    assert len(titles) == len(numbered), f"the navigation lists {len(titles)} of {len(numbered)} chapters"
    for number, text in enumerate(titles, start=1):
        assert text.startswith(f"{number}. "), f"chapter {number} is not numbered in the navigation: {text!r}"
