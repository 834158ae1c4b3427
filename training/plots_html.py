"""The HTML template of ``dvc plots show`` / ``dvc plots diff``, rendering without a network.

DVC's default page loads vega, vega-lite and vega-embed from a CDN, so its plots stay
blank offline. This writes a page with the three libraries inlined instead, taken
from the pinned ``vl-convert-python`` package (``vl_convert.javascript_bundle``), at
the Vega-Lite major version of DVC's own plot templates. ``.dvc/config`` names it
(``plots.html_template``); ``make install`` writes it, ``make plots`` renders with it:

    python -m training.plots_html [--repo .]
"""

from __future__ import annotations

import argparse
import re
from importlib.metadata import version
from pathlib import Path

#: The template, relative to the repository; ``.dvc/config`` names it relative to ``.dvc``.
TEMPLATE = Path(".dvc/plots/offline.html")
CONFIG_VALUE = "plots/offline.html"
#: Run after the libraries: DVC's plot elements call these globals.
GLOBALS = "window.vegaEmbed = vegaEmbed; window.vegaLite = vegaLite; window.vega = vega;"
#: What DVC fills in (dvc_render.html); ``{scripts}`` (its CDN tags) is left out on purpose.
PLACEHOLDERS = ("{plot_divs}", "{refresh_tag}", "{scripts}")

PAGE = """<!DOCTYPE html>
<html>
<head>
    {refresh_tag}
    <meta charset="utf-8">
    <title>DVC Plot</title>
    <!-- {libraries}, inlined from vl-convert-python {package} (python -m training.plots_html) -->
    <script type="text/javascript">
(() => {
<<BUNDLE>>
})();
    </script>
    <style>
        table {
            border-spacing: 15px;
        }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


def dvc_vega_lite_major() -> int:
    """The Vega-Lite major version DVC's plot templates are written for."""
    from dvc_render.vega_templates import TEMPLATES

    majors = {
        int(match.group(1))
        for template in TEMPLATES
        if (match := re.search(r"/vega-lite/v(\d+)", template.DEFAULT_CONTENT.get("$schema", "")))
    }
    if len(majors) != 1:
        raise RuntimeError(f"DVC's templates use several Vega-Lite versions: {sorted(majors)}")
    return majors.pop()


def vega_lite_version(available: list[str], major: int) -> str:
    """The newest of ``available`` ("5.21", "6.4", ...) with the given major version."""
    matching = [v for v in available if v.split(".")[0] == str(major)]
    if not matching:
        raise RuntimeError(f"vl-convert offers no Vega-Lite {major}.x (only {available})")
    return max(matching, key=lambda v: tuple(int(part) for part in v.split(".")))


def inline_script(bundle: str) -> str:
    """``bundle`` made safe inside an HTML ``<script>`` element and DVC's placeholders."""
    safe = re.sub(r"</(script)", r"<\\/\1", bundle, flags=re.IGNORECASE)
    clashes = [p for p in PLACEHOLDERS if p in safe]
    if clashes or "<!--" in safe:
        raise RuntimeError(f"the JavaScript bundle contains {clashes or '<!--'}: cannot inline it")
    return safe


def render_template() -> str:
    """The whole template: DVC's page with vega, vega-lite and vega-embed inline."""
    import vl_convert

    vl = vega_lite_version(vl_convert.get_vegalite_versions(), dvc_vega_lite_major())
    libraries = (
        f"vega {vl_convert.get_vega_version()}, vega-lite {vl}, "
        f"vega-embed {vl_convert.get_vega_embed_version()}"
    )
    page = PAGE.replace("{libraries}", libraries).replace("{package}", version("vl-convert-python"))
    return page.replace(
        "<<BUNDLE>>", inline_script(vl_convert.javascript_bundle(GLOBALS, vl_version=vl))
    )


def write_template(repo: Path) -> Path:
    """Write the template into ``repo``'s ``.dvc`` folder; its path."""
    path = repo / TEMPLATE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_template(), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    """Console entry point."""
    parser = argparse.ArgumentParser(prog="python -m training.plots_html", description=__doc__)
    parser.add_argument("--repo", type=Path, default=Path(), help="the repository (default: .)")
    args = parser.parse_args(argv)
    path = write_template(args.repo)
    print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
