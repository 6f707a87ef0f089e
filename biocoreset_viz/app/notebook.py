"""Panel, HoloViews and Bokeh in JupyterLab with every asset local, as ``biocoreset serve`` has.

``pn.extension(inline=True)`` inlines the JavaScript, and Panel inlines the CSS
of what Panel itself displays. A HoloViews figure shown as a cell's result is
rendered by HoloViews' own renderer, though, which keeps Panel's stylesheet
links to ``cdn.holoviz.org`` (a dozen requests per notebook page, failing
offline). :func:`notebook_extension` loads both extensions inline and has
HoloViews' notebook output inline those stylesheets too; the notebooks call it
in their first cell::

    from biocoreset_viz.app import notebook_extension
    notebook_extension()
"""

from __future__ import annotations

from typing import Any


def notebook_extension(*extensions: str) -> None:
    """Load Panel (with ``extensions``) and HoloViews' Bokeh backend, every asset inline."""
    import holoviews as hv
    import panel as pn

    pn.extension(*extensions, inline=True)
    hv.extension("bokeh", inline=True)
    inline_holoviews_stylesheets()


def inline_stylesheets(model: Any) -> Any:
    """Replace the CDN stylesheet links of ``model`` and its children by their local text."""
    from bokeh.models import UIElement
    from panel.io.notebook import patch_inline_stylesheets

    for element in model.select({"type": UIElement}):
        patch_inline_stylesheets(element)
    return model


def inline_holoviews_stylesheets() -> None:
    """Make HoloViews' notebook renderer inline stylesheets (idempotent)."""
    from holoviews.plotting import renderer

    for name in ("render_mimebundle", "render_model"):
        original = getattr(renderer, name)
        if getattr(original, "inlines_stylesheets", False):
            continue

        def render(model: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            return _original(inline_stylesheets(model), *args, **kwargs)

        render.inlines_stylesheets = True  # type: ignore[attr-defined]
        setattr(renderer, name, render)
