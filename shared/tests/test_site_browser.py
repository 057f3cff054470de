"""The static site in headless Chromium: every page loads without console errors, every
link and image resolves, sorting works; screenshots are saved as test artifacts.

Driven by Playwright with a Chromium from the system's packages (Debian's
`chromium-headless-shell` or `chromium`), never one downloaded by
`playwright install`. The `browser` tier: a plain run leaves it out, and
`nox -s site` (which CI runs) installs both and selects it (`-m browser`), so
wherever it is selected a missing browser fails.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest
from assay.publish.rendering import write_boards
from assay.publish.site import write_site
from site_boards import loop_board, tagging_board

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "leaderboards"
pytestmark = pytest.mark.browser


def screenshot_dir() -> Path:
    path = Path(os.environ.get("ASSAY_SCREENSHOTS", REPO / "build" / "site-screenshots"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def made_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    boards = [tagging_board(), loop_board()]
    write_boards(boards, out)
    write_site(boards, out)
    return out


def _local_path(url: str) -> Path:
    return Path(unquote(urlparse(url).path))


def check_page(browser: Any, page_path: Path, shot: Path) -> list[Path]:
    """Load one page; assert no console error, no failed request, every image shown and
    every local link resolving; returns the HTML pages it links to."""
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    problems: list[str] = []
    page.on(
        "console",
        lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"failed request: {r.url}"))
    page.goto(page_path.as_uri(), wait_until="load")
    assert page.evaluate("document.documentElement.dataset.site") == "ready", "site.js did not run"
    assert page.evaluate("document.styleSheets.length") >= 1
    broken_images = page.evaluate(
        "Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)"
    )
    assert not broken_images, f"{page_path.name}: images not shown: {broken_images}"
    links = page.evaluate("Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
    pages = []
    for link in links:
        assert link.startswith("file://"), f"{page_path.name}: a link leaves the site: {link}"
        target = _local_path(link.split("#")[0])
        assert target.is_file(), f"{page_path.name}: {link} does not resolve"
        if target.suffix == ".html":
            pages.append(target)
    page.screenshot(path=str(shot), full_page=True)
    page.close()
    assert not problems, f"{page_path.name}: {problems}"
    return pages


def crawl(browser: Any, root: Path, name: str) -> list[Path]:
    """Every page reachable from index.html, each checked; returns the pages seen."""
    shots = screenshot_dir() / name
    shots.mkdir(parents=True, exist_ok=True)
    seen: list[Path] = []
    todo = [root / "index.html"]
    while todo:
        path = todo.pop().resolve()
        if path in seen:
            continue
        seen.append(path)
        shot = shots / (path.relative_to(root.resolve()).as_posix().replace("/", "__") + ".png")
        todo += check_page(browser, path, shot)
    return seen


def test_every_page_of_a_made_site_loads_cleanly(browser: Any, made_site: Path) -> None:
    seen = crawl(browser, made_site, "made")
    assert len(seen) == 3  # the index and both boards, all reached from the index


def test_every_committed_page_loads_cleanly(browser: Any) -> None:
    if not (COMMITTED / "index.html").is_file():
        pytest.skip("no committed site: build it with `assay leaderboard build --html`")
    seen = crawl(browser, COMMITTED, "committed")
    pages = {p.resolve() for p in COMMITTED.rglob("*.html")}
    assert pages <= set(seen), f"pages not linked from the index: {pages - set(seen)}"


def _column(page: Any, index: int) -> list[str]:
    return list(
        page.evaluate(
            f"Array.from(document.querySelectorAll('table.board tbody tr')).map("
            f"r => r.children[{index}].getAttribute('data-sort'))"
        )
    )


def test_clicking_a_header_sorts_the_table(browser: Any, made_site: Path) -> None:
    page = browser.new_page()
    page.goto((made_site / "hep" / "tagging.html").as_uri())
    models = _column(page, 1)
    page.click("table.board th:nth-child(2) button")
    assert _column(page, 1) == sorted(models, key=str.lower)
    assert page.get_attribute("table.board th:nth-child(2)", "aria-sort") == "ascending"
    page.click("table.board th:nth-child(2) button")
    assert _column(page, 1) == sorted(models, key=str.lower, reverse=True)
    page.click("table.board th:nth-child(3) button")  # the primary metric, numerically
    means = [float(v) for v in _column(page, 2)]
    assert means == sorted(means)
    page.click("table.board th:nth-child(1) button")  # rank: the unranked entry goes last
    ranks = _column(page, 0)
    assert ranks[-1] == ""
    assert [int(r) for r in ranks[:-1]] == sorted(int(r) for r in ranks[:-1])
    page.screenshot(path=str(screenshot_dir() / "sorted-by-rank.png"), full_page=True)
    page.close()
