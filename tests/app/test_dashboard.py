"""The whole dashboard: every view becomes Bokeh models, and loading it loads no torch."""

from __future__ import annotations

import subprocess
import sys

from bokeh.document import Document

import biocoreset_viz.app
from biocoreset_viz.app import App, dashboard


def test_the_page_builds_and_its_controls_drive_the_store(store) -> None:
    store.param.update(method="cci", pruning_rate=0.9)
    app = App(store)
    page = app.__panel__()
    page.get_root(Document())  # every view becomes Bokeh models without error
    store.pruning_rate = 0.8
    assert "keeps 80 of 400" in app.controls.alpha_label()
    template = app.template()
    assert template.title == app.title and len(template.main) == len(app.main())


def test_the_busy_spinner_stops_when_the_views_have_updated(store) -> None:
    # Panel's default keeps it on for 500 ms at least, twice what a change of 100,000
    # sequences takes to reach the page (benchmarks/bench_dashboard.py --browser)
    spinner = App(store).template().busy_indicator
    assert spinner.throttle == dashboard.BUSY_MIN_MILLISECONDS <= 200


def test_the_dashboard_modules_load_no_torch() -> None:
    modules = ", ".join(
        f"biocoreset_viz.app.{name}"
        for name in ("dashboard", "server", "store", "views", "tables", "sidebar", "guards")
    )
    code = f"import sys, {modules}; print(sorted(m for m in ('torch', 'esm') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_every_name_of_the_app_package_resolves() -> None:
    for name in biocoreset_viz.app.__all__:
        assert getattr(biocoreset_viz.app, name).__name__ == name
