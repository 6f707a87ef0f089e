"""The summary cards and the sequence table: the store's numbers, data shown as text."""

from __future__ import annotations

from bokeh.document import Document
from support.app_runs import XSS_FAMILY, XSS_ID

from biocoreset_viz.app import tables
from biocoreset_viz.app.tables import SequenceTable, SummaryCards, summary_cards_html
from biocoreset_viz.selection import coreset_size


def test_summary_cards_follow_the_store_and_escape_text(store) -> None:
    store.param.update(method="cci", pruning_rate=0.9)
    cards = SummaryCards(store)
    assert f'coreset-size">{store.selection.n:,}<' in cards.html()
    store.pruning_rate = 0.8
    assert f'coreset-size">{coreset_size(store.n_total, 0.8, None):,}<' in cards.html()
    html = summary_cards_html({**store.summary, "labels": {XSS_FAMILY: (1, 2)}})
    assert XSS_FAMILY not in html and "&lt;img src=x onerror=window.__xss=2&gt;" in html


def test_the_sequence_table_lists_the_highlighted_then_the_coreset(store) -> None:
    column = SequenceTable(store).__panel__()
    column.get_root(Document())
    caption, table = column[0][0], column[1]
    assert "in the coreset" in caption.object and len(table.value) == store.selection.n
    store.highlight_ids([XSS_ID])
    assert caption.object.startswith("<b>1 sequences highlighted")
    assert table.value["id"].tolist() == [XSS_ID]  # handed to the table as text


def test_the_reading_guide_says_what_the_scale_and_the_distance_are(store) -> None:
    guide = tables.ReadingGuide(store).html()
    assert "<b>Self-influence</b>" in guide and "diagonal Fisher" in guide
    assert "euclidean distance from its embedding" in guide  # the space and the metric
    manifest = {"targets": ["a", "b", "c", XSS_ID], "damping_value": 0.001}
    scale = tables.scale_text(manifest)
    assert "<code>a, b, c …</code>" in scale and "λ = 0.001" in scale
    assert XSS_ID not in tables.scale_text({"config": {"target": XSS_ID, "damping": 1e-4}})
    sampled = tables.distance_text({"nn_metric": "cosine", "nn_sampled": True}, True)
    assert "cosine distance" in sampled and "seeded sample" in sampled
    assert "no embeddings" in tables.distance_text({}, False)
