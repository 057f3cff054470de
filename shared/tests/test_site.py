"""The static site and the plots, without a browser (see test_site_browser.py for that)."""

from __future__ import annotations

import html.parser
import json
from pathlib import Path

from assay.publish.plots import _axis_range, _log_scale, board_plot, plotted_metrics
from assay.publish.rendering import write_boards
from assay.publish.site import register_section, write_site
from site_boards import loop_board, tagging_board


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.links.append(value)


def local_links(page: Path) -> list[str]:
    parser = _Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return [link for link in parser.links if not link.startswith("#")]


def test_site_pages_escape_text_mark_ties_and_external_entries(tmp_path: Path) -> None:
    boards = [tagging_board(), loop_board()]
    write_boards(boards, tmp_path)
    written = write_site(boards, tmp_path)
    assert tmp_path / "index.html" in written
    page = (tmp_path / "hep" / "tagging.html").read_text()
    assert "Tagging &lt;jets&gt; &amp; more" in page  # never raw markup from a title
    assert "<jets>" not in page
    assert ">1=</td>" in page  # two entries share rank 1
    assert '<span class="badge">external</span>' in page
    assert "CC-BY-4.0" in page
    assert "12 duplicate rows merged" in page
    assert "a" * 64 in page
    assert "b" * 64 in page
    assert "ValueError: bad &amp; worse" in page
    loop = (tmp_path / "loops" / "discovery.html").read_text()
    assert "No discovery curves were drawn" in loop
    assert "not recorded with these runs" in loop
    index = (tmp_path / "index.html").read_text()
    assert "tied: pfn, particlenet (external)" in index
    assert "(1 external)" in index
    assert "http" not in index + page  # offline: no CDN, no remote asset


def test_every_local_link_of_the_site_resolves(tmp_path: Path) -> None:
    boards = [tagging_board(), loop_board()]
    write_boards(boards, tmp_path)
    write_site(boards, tmp_path)
    pages = sorted(tmp_path.rglob("*.html"))
    assert len(pages) == 3
    for page in pages:
        for link in local_links(page):
            target = (page.parent / link.split("#")[0]).resolve()
            assert target.is_file(), f"{page.name}: {link} does not resolve"


def test_boards_left_from_an_earlier_build_are_listed_as_not_rebuilt(tmp_path: Path) -> None:
    write_boards([tagging_board()], tmp_path)
    write_boards([loop_board()], tmp_path)  # the tagging board is not rebuilt this time
    write_site([loop_board()], tmp_path)
    index = (tmp_path / "index.html").read_text()
    assert '<a href="hep/tagging.md">hep/tagging</a>' in index
    assert "not rebuilt" in index


def test_a_registered_section_is_placed_on_every_page(tmp_path: Path) -> None:
    def curves(board: object, out: Path) -> str:
        return "<h2>Extra section</h2>"

    register_section(curves)
    try:
        write_site([tagging_board()], tmp_path)
        assert "<h2>Extra section</h2>" in (tmp_path / "hep" / "tagging.html").read_text()
    finally:
        from assay.publish import site

        site._SECTIONS.remove(curves)


def test_plot_axes_fit_what_they_show_and_use_log_where_the_field_does() -> None:
    assert _log_scale("rejection_30", [1.0, 900.0])
    assert _log_scale("logical_error_rate_per_round_r3", [0.0058, 0.0059, 0.0358])
    assert not _log_scale("roc_auc", [0.5, 0.99])
    assert not _log_scale("r2", [-0.2, 0.9])  # a value at or below zero: never log
    low, high = _axis_range([0.92, 0.985, 0.9868], log=False)
    assert 0.9 < low < 0.92
    assert 0.9868 < high < 1.0
    low, high = _axis_range([1.0, 900.0], log=True)
    assert 0.5 < low < 1.0
    assert 900.0 < high < 2000.0


def test_plot_panels_are_the_primary_and_the_metrics_references_quote() -> None:
    assert plotted_metrics(tagging_board()) == ["roc_auc", "rejection_30"]


def test_the_plot_keeps_every_label_inside_the_image(tmp_path: Path) -> None:
    import matplotlib.image

    path = tmp_path / "tagging.png"
    board_plot(tagging_board(), path)
    image = matplotlib.image.imread(path)
    height, width = image.shape[:2]
    assert width > 400
    assert height > 200
    # Saved with a tight bounding box: the outermost pixel rows and columns are margin.
    for edge in (image[0], image[-1], image[:, 0], image[:, -1]):
        assert edge[..., :3].min() > 0.9, "something is drawn against the image's edge"


def test_a_page_links_its_croissant_description_or_names_the_export(tmp_path: Path) -> None:
    from dataclasses import replace

    described = replace(tagging_board(), scenario="core/diabetes", size="quick")
    undescribed = replace(tagging_board(), scenario="core/breast-cancer", size="quick")
    other_data = replace(tagging_board(), scenario="core/croissant", size="quick")
    loop = replace(loop_board(), scenario="core/hartmann6-loop")
    boards = [described, undescribed, other_data, loop]
    write_boards(boards, tmp_path)
    for name, sha in (("diabetes", described.data_sha), ("croissant", "b" * 64)):
        made = {"measurementTechnique": f"Prepared by ...; data sha256 {sha}."}
        (tmp_path / "core" / f"{name}.croissant.json").write_text(json.dumps(made))
    write_site(boards, tmp_path)
    page = (tmp_path / "core" / "diabetes.html").read_text()
    assert (
        '<dt>Croissant</dt><dd><a href="diabetes.croissant.json">diabetes.croissant.json</a> '
        "describes these data" in page
    )
    assert "<code>assay data export core/diabetes --size quick --out DIR</code>" in page
    for name in ("breast-cancer", "croissant"):  # none, or one of other data: the command
        other = (tmp_path / "core" / f"{name}.html").read_text()
        assert "croissant.json</a>" not in other
        assert (
            f"<dt>Croissant</dt><dd><code>assay data export core/{name} --size quick "
            "--out DIR</code> writes these data" in other
        )
    assert "<dt>Croissant</dt>" not in (tmp_path / "core" / "hartmann6-loop.html").read_text()
