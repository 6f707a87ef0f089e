"""The sidebar: controls drive the store, exports download the coreset, uploads highlight."""

from __future__ import annotations

import base64

import param
from bokeh.document import Document
from support.app_runs import XSS_ID

from biocoreset_viz.app import sidebar
from biocoreset_viz.app.sidebar import Controls, ExportButtons, HighlightUpload, parse_seed


def encoded(data: bytes) -> str:
    """What the browser sends for an uploaded file: its base64 text."""
    return base64.b64encode(data).decode()


def test_sliders_of_large_pools_update_on_release(store, monkeypatch) -> None:
    monkeypatch.setattr(sidebar, "LIVE_UP_TO", 100)  # the fixture's 400 count as large
    store.param.update(method="cci", pruning_rate=0.9)
    column = Controls(store).__panel__()
    column.get_root(Document())
    alpha = next(w for w in column if "bc-alpha" in w.css_classes)
    alpha.value = 0.5  # dragging
    assert store.pruning_rate == 0.9
    with param.edit_constant(alpha):
        alpha.value_throttled = 0.5  # released
    assert store.pruning_rate == 0.5 and store.selection.n == 200
    assert alpha.label == "α (pruning rate): keeps 200 of 400"
    store.pruning_rate = 0.75
    assert alpha.value == 0.75


def test_the_alpha_slider_starts_where_a_cci_coreset_fits_and_says_its_size(store) -> None:
    store.param.update(method="cci", pruning_rate=0.9, hard_cutoff=0.1)
    column = Controls(store).__panel__()
    column.get_root(Document())
    alpha = next(w for w in column if "bc-alpha" in w.css_classes)
    beta = next(w for w in column if "bc-beta" in w.css_classes)
    assert alpha.start == 0.1
    beta.value = 0.25
    assert alpha.start == 0.25 and alpha.value == 0.9
    alpha.value = 0.0  # below the start (a notebook can set it): raised, and said
    assert alpha.value == store.pruning_rate == 0.25
    assert store.selection.n == 300
    assert alpha.label == "α (pruning rate): keeps 300 of 400"
    note = next(w for w in column if "bc-note" in w.css_classes)
    assert note.visible and "raised to 0.25" in note.object
    store.method = "random"
    assert alpha.start == 0.0


def test_the_seed_takes_non_negative_integers_only_and_says_so(store) -> None:
    column = Controls(store).__panel__()
    seed = next(w for w in column if "bc-seed" in w.css_classes)
    message = next(w for w in column if "bc-seed-message" in w.css_classes)
    seed.value = "7"
    assert store.seed == 7 and not message.visible
    for typed in ("-3", "1.5", "abc", "", "99999999999", "٣"):
        seed.value = typed
        assert store.seed == 7 and message.visible, typed
        assert "seed: a whole number from 0 to 2,147,483,647" in message.object
        assert "the seed stays 7" in message.object
    assert parse_seed(" 12 ") == (12, "")


def test_controls_are_enabled_only_for_the_methods_they_apply_to(store) -> None:
    column = Controls(store).__panel__()
    beta = next(w for w in column if getattr(w, "label", "") == "β (hard cutoff)")
    seed = next(w for w in column if getattr(w, "label", "") == "seed")
    expected = {"cci": (False, False), "topi": (True, True), "random": (True, False)}
    for method, (beta_disabled, seed_disabled) in expected.items():
        store.method = method
        assert (beta.disabled, seed.disabled) == (beta_disabled, seed_disabled), method


def test_export_buttons_are_named_for_the_selection_and_download_it(store) -> None:
    column = ExportButtons(store).__panel__()
    fasta, row = column[1], column[2]
    csv, manifest = row[0], row[1]
    name = store.export_name()
    assert [fasta.filename, csv.filename, manifest.filename] == [
        f"{name}.fasta",
        f"{name}.csv",
        f"{name}.json",
    ]
    assert fasta.callback().getvalue() == store.coreset_fasta()
    assert csv.callback().getvalue() == store.coreset_csv()
    store.pruning_rate = 0.5
    assert csv.filename == f"{store.export_name()}.csv" != f"{name}.csv"


def test_an_upload_highlights_its_ids_and_says_how_many(store) -> None:
    column = HighlightUpload(store).__panel__()
    upload, message = column[1], column[3]
    upload.filename = "mine.fasta"
    upload.value = encoded(f">{XSS_ID}\nACGU\n>rna0010\nACGU\n>unknown\nACGU\n".encode())
    assert sorted(store.highlighted) == [3, 10]
    assert message.alert_type == "success" and "2 of 3 ids found" in message.object
    upload.filename = "notes.exe"
    upload.value = encoded(b"MZ")
    assert message.alert_type == "danger" and "unsupported file type" in message.object
    # the dashboard's own ids export highlights its ids
    upload.filename = "coreset.csv"
    upload.value = encoded(store.coreset_csv())
    assert message.alert_type == "success"
    assert list(store.highlighted) == store.selection.indices.tolist()
    # a file over the limit is refused in the browser: only its name and size arrive
    upload.refused = "huge.fasta\t7300000\t1"
    assert message.alert_type == "danger"
    assert message.object == "huge.fasta: file is 7.3 MB; uploads are limited to 5 MB"


def test_exports_wait_while_a_slow_method_selects(store) -> None:
    column = ExportButtons(store).__panel__()
    csv = column[2][0]
    store.select_in_background(lambda function: None)  # never finishes
    store.method = "diversity"
    assert csv.disabled
    store.method = "cci"
    assert not csv.disabled
