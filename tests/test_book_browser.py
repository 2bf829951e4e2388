"""The rendered HTML book in a real browser: headless Chromium through selenium.

Visits every chapter (an anchor of the one-page fallback book, or a page of a Quarto book),
asserts that every image loaded, every internal link resolves and nothing came from the
network, and saves one screenshot per chapter under test-output/screenshots/.
Chromium comes from Debian (`chromium`, `chromium-driver`); the test installs it when absent
and skips with the reason when it cannot.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from conftest import CHROMIUM, ensure_debian_packages
from conftest_book import BookUnderTest, rendered_book, synthetic_book  # noqa: F401

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "test-output" / "screenshots"
DRIVER = Path("/usr/bin/chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--window-size=1400,1000", "--hide-scrollbars")


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def ensure_chromium() -> tuple[str, Path]:
    """Chromium and chromedriver paths; apt-get installs them when absent (skip if impossible)."""
    ensure_debian_packages(CHROMIUM)
    return _chromium() or "", DRIVER


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    pytest.importorskip("selenium")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = ensure_chromium()
    os.environ.setdefault("SE_AVOID_STATS", "true")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in FLAGS:
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    try:
        drv = webdriver.Chrome(service=Service(executable_path=str(driver_path)), options=opts)
    except Exception as exc:  # noqa: BLE001 - a broken browser install is a skip, not a failure
        pytest.skip(f"headless chromium did not start: {str(exc).splitlines()[0]}")
    drv.set_page_load_timeout(120)
    yield drv
    drv.quit()


def _load(drv, path: Path) -> None:
    drv.get(path.resolve().as_uri())
    drv.execute_script("return document.readyState")


def _pages(book: BookUnderTest, drv) -> list[Path]:
    """index.html plus every local .html page it links to (Quarto books have one per chapter)."""
    _load(drv, book.html)
    hrefs = drv.execute_script("return [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))")
    pages = [book.html]
    for h in hrefs:
        u = urlparse(h)
        if u.scheme or not u.path.endswith(".html"):
            continue
        p = (book.html.parent / unquote(u.path)).resolve()
        if p.is_file() and p not in pages:
            pages.append(p)
    return pages


BROKEN_IMAGES_JS = """
return [...document.images]
  .filter(i => { i.scrollIntoView(); return !(i.complete && i.naturalWidth > 0); })
  .map(i => (i.getAttribute('src') || '').slice(0, 80));
"""
LINKS_JS = """
return [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'));
"""
NETWORK_JS = """
return performance.getEntriesByType('resource').map(e => e.name)
  .filter(n => !n.startsWith('file:') && !n.startsWith('data:') && !n.startsWith('blob:'));
"""
# what a page asks for, whether or not the (offline) request succeeded: scripts, stylesheets,
# preloads, fonts and icons, images, frames and media; links in the text (DOIs) are not requests
EXTERNAL_JS = """
const sel = 'script[src], link[href]:not([rel~="canonical"]):not([rel~="alternate"]), img[src], ' +
            'iframe[src], source[src], video[src], audio[src], embed[src], object[data]';
const urls = [...document.querySelectorAll(sel)]
  .map(e => e.getAttribute('src') || e.getAttribute('href') || e.getAttribute('data') || '');
for (const sheet of document.styleSheets) {
  let rules = [];
  try { rules = [...sheet.cssRules]; } catch (err) { continue; }
  for (const r of rules) {
    for (const m of (r.cssText || '').matchAll(/url\\(["']?(https?:[^"')]+)/g)) urls.push(m[1]);
    if (r.href) urls.push(r.href);
  }
}
return urls.filter(u => /^(https?:)?\\/\\//i.test(u));
"""


WIDE_TABLES_JS = """
return [...document.querySelectorAll('table')].filter(t => {
  const box = t.closest('main, #quarto-document-content, .content, article, body');
  return t.getBoundingClientRect().width > box.getBoundingClientRect().width + 2;
}).map(t => (t.innerText || '').slice(0, 60));
"""


def _check_page(drv, page: Path) -> tuple[int, list[str]]:
    """(number of images, problems) for one loaded page."""
    problems = []
    n_images = drv.execute_script("return document.images.length")
    broken = drv.execute_script(BROKEN_IMAGES_JS)
    problems += [f"{page.name}: image did not load: {b}" for b in broken]
    for href in drv.execute_script(LINKS_JS):
        u = urlparse(href)
        if u.scheme in ("http", "https", "mailto"):
            continue
        if not u.path and u.fragment:
            found = drv.execute_script("return document.getElementById(arguments[0]) !== null", unquote(u.fragment))
            if not found:
                problems.append(f"{page.name}: link {href} has no element with that id")
        elif u.path:
            target = (page.parent / unquote(u.path)).resolve()
            if not target.exists():
                problems.append(f"{page.name}: link {href} points to a missing file")
    problems += [f"{page.name}: fetched from the network: {n}" for n in drv.execute_script(NETWORK_JS)]
    problems += [f"{page.name}: requests an external URL: {u}" for u in drv.execute_script(EXTERNAL_JS)]
    problems += [f"{page.name}: table wider than the text column: {t!r}" for t in drv.execute_script(WIDE_TABLES_JS)]
    return n_images, problems


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:60] or "page"


def test_book_in_browser(rendered_book: BookUnderTest, browser) -> None:  # noqa: F811
    drv = browser
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("*.png"):
        old.unlink()
    pages = _pages(rendered_book, drv)
    total_images = 0
    problems: list[str] = []
    shots = 0
    for k, page in enumerate(pages):
        _load(drv, page)
        n, probs = _check_page(drv, page)
        total_images += n
        problems += probs
        # one screenshot per chapter: every chapter heading of the page (fallback: all on one page)
        anchors = drv.execute_script(
            "return [...document.querySelectorAll('h1[id], .part-title[id], section.level1[id]')].map(e => e.id)")
        if len(pages) > 1 or not anchors:
            drv.execute_script("window.scrollTo(0, 0)")
            drv.save_screenshot(str(SCREENSHOTS / f"{k:02d}-{_slug(page.stem)}.png"))
            shots += 1
            continue
        drv.execute_script("window.scrollTo(0, 0)")
        drv.save_screenshot(str(SCREENSHOTS / f"{k:02d}-00-title.png"))
        shots += 1
        for j, anchor in enumerate(anchors, start=1):
            drv.get(page.resolve().as_uri() + "#" + anchor)
            visible = drv.execute_script(
                "const e = document.getElementById(arguments[0]); e.scrollIntoView({block: 'start', behavior: 'instant'});"
                "const r = e.getBoundingClientRect(); return r.height > 0 && r.top < window.innerHeight;", anchor)
            assert visible, f"chapter anchor #{anchor} is not visible after navigating to it"
            drv.save_screenshot(str(SCREENSHOTS / f"{k:02d}-{j:02d}-{_slug(anchor)}.png"))
            shots += 1
    assert not problems, "\n".join(problems[:30])
    assert total_images >= len(rendered_book.figure_captions) > 0, "the book shows no figures"
    assert shots >= 2 and any(SCREENSHOTS.glob("*.png"))


def test_chapter_titles_and_folded_code_in_browser(rendered_book: BookUnderTest, browser) -> None:  # noqa: F811
    drv = browser
    pages = _pages(rendered_book, drv)
    text = ""
    folded = open_blocks = 0
    for page in pages:
        _load(drv, page)
        text += drv.execute_script("return document.body.innerText") + "\n"
        folded += drv.execute_script("return document.querySelectorAll('details.code-fold').length")
        open_blocks += drv.execute_script("return document.querySelectorAll('details.code-fold[open]').length")
    flat = " ".join(text.split())
    pos = -1
    for title in rendered_book.chapter_titles:
        i = flat.find(" ".join(title.split()), pos + 1)
        assert i > pos, f"chapter title '{title}' missing or out of order in the browser text"
        pos = i
    assert folded > 0 and open_blocks == 0, "code cells should be present and folded"
