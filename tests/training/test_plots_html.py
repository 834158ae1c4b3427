"""``dvc plots show`` and ``dvc plots diff`` pages that render with no network.

The real DVC on a small ``dvc repro evaluate`` of the shipped sample, with the
template ``python -m training.plots_html`` writes; the page is parsed, and rendered by
headless Chromium with every request sent to a dead proxy when Chromium is installed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.support.pipeline import dvc, fresh_clone, git, set_params
from training import plots_html

#: The vega plots of dvc.yaml: file -> title.
VEGA_PLOTS = {
    next(iter(plot)): next(iter(plot.values()))["title"]
    for plot in yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"]["evaluate"]["plots"]
    if next(iter(plot)).endswith(".csv")
}
REMOTE = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)


class Page(HTMLParser):
    """Tags with their attributes, and the text of each script, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[bool, str]] = []  # (inside <head>, text)
        self._in_head = False
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_head |= tag == "head"
        if tag == "script":
            self._in_script = True
            self.scripts.append((self._in_head, ""))

    def handle_endtag(self, tag: str) -> None:
        self._in_head &= tag != "head"
        self._in_script &= tag != "script"

    def handle_data(self, data: str) -> None:
        if self._in_script:
            in_head, text = self.scripts[-1]
            self.scripts[-1] = (in_head, text + data)


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def specs(page: Page) -> dict[str, dict[str, object]]:
    """Each plot's vega-lite spec, by the id of the element it is embedded in."""
    found = {}
    for _, text in page.scripts:
        match = re.search(r"var spec = (\{.*\});\s*vegaEmbed\('#(\w+)', spec\);", text, re.S)
        if match:
            found[match.group(2)] = json.loads(match.group(1))
    return found


def assert_offline(page: Page) -> None:
    """Nothing the page loads comes from a network; the libraries are inline, in <head>."""
    for tag, attrs in page.tags:
        for name in ("src", "href", "data"):
            assert not REMOTE.match(attrs.get(name) or ""), f"<{tag} {name}={attrs[name]}>"
    libraries = [text for in_head, text in page.scripts if "window.vegaEmbed=" in text]
    assert len(libraries) == 1
    assert page.scripts[0] == (True, libraries[0])  # loaded before any plot calls vegaEmbed
    for name in ("vega", "vegaLite"):
        assert f"window.{name}=" in libraries[0]
    assert len(libraries[0]) > 500_000  # the whole of vega, vega-lite and vega-embed


def element_id(plot: str) -> str:
    return re.sub(r"[^\w]", "_", plot)


@pytest.fixture(scope="module")
def plots_repo(repo_root: Path, imdb_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clone whose plots exist at HEAD (C=1) and, different, in the workspace (C=20)."""
    clone = fresh_clone(repo_root, tmp_path_factory.mktemp("plots") / "clone")
    set_params(
        clone,
        ingest={"source": str(imdb_csv), "max_rows": 600},
        train={"ngram_max": 1, "hash_bits": 14, "min_df": 2, "classifier_c": 1.0},
    )
    tracking = f"sqlite:///{clone.parent}/unused.db"  # evaluate never talks to MLflow
    dvc(clone, tracking, "repro", "evaluate")
    git(clone, "add", "-f", "reports/plots", "reports/metrics.json", "dvc.lock", "params.yaml")
    git(clone, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "C=1")
    set_params(clone, train={"classifier_c": 20.0})
    dvc(clone, tracking, "repro", "evaluate")
    subprocess.run(
        [sys.executable, "-m", "training.plots_html", "--repo", str(clone)],
        cwd=repo_root,
        check=True,
        capture_output=True,
    )
    dvc(clone, tracking, "plots", "show", "-o", "show")
    dvc(clone, tracking, "plots", "diff", "HEAD", "-o", "diff")
    return clone


def test_vega_lite_version_follows_dvc_templates_major() -> None:
    available = ["5.8", "5.14", "5.21", "6.1", "6.4"]
    assert plots_html.vega_lite_version(available, 5) == "5.21"
    assert plots_html.vega_lite_version(available, 6) == "6.4"
    with pytest.raises(RuntimeError, match=r"no Vega-Lite 7\.x"):
        plots_html.vega_lite_version(available, 7)
    assert plots_html.dvc_vega_lite_major() == 5  # dvc-render 1.0.2's templates


def test_inline_script_cannot_close_the_element_nor_fill_a_placeholder() -> None:
    assert plots_html.inline_script('s="</SCRIPT>";') == 's="<\\/SCRIPT>";'
    with pytest.raises(RuntimeError, match="plot_divs"):
        plots_html.inline_script("x = '{plot_divs}'")


@pytest.mark.integration
@pytest.mark.parametrize("command", ["show", "diff"])
def test_dvc_plots_page_needs_no_network(plots_repo: Path, command: str) -> None:
    page = parse(plots_repo / command / "index.html")
    assert_offline(page)
    embedded = specs(page)
    assert set(embedded) == {element_id(plot) for plot in VEGA_PLOTS}
    revisions = {"workspace"} if command == "show" else {"workspace", "HEAD"}
    for plot, title in VEGA_PLOTS.items():
        spec = embedded[element_id(plot)]
        assert title in json.dumps(spec["title"])
        values = spec["data"]["values"]  # type: ignore[index]
        assert {row["rev"] for row in values} == revisions
        rows = len(pd.read_csv(plots_repo / plot))
        assert sum(row["rev"] == "workspace" for row in values) == rows
    for image in ("confusion", "roc", "precision_recall"):
        assert f"reports_plots_{image}_png" in {attrs.get("id") for _, attrs in page.tags}


@pytest.mark.integration
def test_headless_browser_draws_every_plot_offline(plots_repo: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no Chromium (Debian package chromium) to render the page")
    page = plots_repo / "diff" / "index.html"
    dom = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu",
         "--proxy-server=127.0.0.1:9",  # any request would fail
         "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    # vega-embed replaces each plot's element content with what it drew (an SVG).
    drawn = dict(re.findall(r'<div id="(reports_plots_\w+)"([^<]*<(?:(?!<div id=").)*)', dom, re.S))
    for plot in VEGA_PLOTS:
        element = drawn.get(element_id(plot), "")
        assert 'class="vega-embed' in element, f"{plot} was not embedded"
        assert 'role="graphics-document"' in element, f"{plot} drew nothing"
