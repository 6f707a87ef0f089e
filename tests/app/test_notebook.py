"""In JupyterLab every Panel, HoloViews and Bokeh asset is local, as for ``biocoreset serve``.

The notebooks call :func:`~biocoreset_viz.app.notebook.notebook_extension` in their
first cell. Before, a HoloViews figure shown as a cell's result kept Panel's
stylesheet links to ``cdn.holoviz.org`` (a notebook page made a dozen requests
there). The executed notebooks are checked too (``tests/test_notebooks.py`` runs
them; this checks what one cell displays, in this process).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
CDN = re.compile(r"https?://(cdn\.holoviz\.org|cdn\.bokeh\.org|unpkg\.com|cdn\.jsdelivr\.net)")

CELL = """
import holoviews as hv, panel as pn
from biocoreset_viz.app import notebook_extension
{setup}
renderer = hv.renderer("bokeh")
shown = [renderer.components(hv.Curve([1, 2, 3]) * hv.Points([(1, 2)]))[0]]
shown.append(pn.Column(pn.widgets.FloatSlider(), hv.Curve([1, 2]))._repr_mimebundle_()[0])
print(repr(shown))
"""


def displayed(setup: str) -> str:
    """What a notebook cell displays after ``setup`` (in a fresh interpreter)."""
    code = CELL.format(setup=setup)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout


def test_figures_in_a_notebook_link_no_cdn_stylesheet() -> None:
    before = displayed('hv.extension("bokeh", inline=True)\npn.extension(inline=True)')
    assert CDN.search(before), "the check must see the links it is meant to catch"
    after = displayed("notebook_extension()")
    stylesheets = re.findall(r"https?://[^\"'\s\\]+\.css", after)
    assert stylesheets == [] and "cdn.holoviz.org" not in after


def test_every_notebook_loads_panel_and_holoviews_with_local_assets() -> None:
    notebooks = sorted(NOTEBOOKS.glob("*.ipynb"))
    assert notebooks
    for path in notebooks:
        cells = json.loads(path.read_text())["cells"]
        code = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        assert "notebook_extension()" in code, path.name
        assert not re.search(r"\b(hv|pn)\.extension\(", code), path.name
