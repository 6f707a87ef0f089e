"""The dashboard's text views: the summary cards, the table of sequences, how to read them.

:class:`SummaryCards` shows the store's headline numbers (pool, coreset, strata
and labels kept, distance to the coreset), or what is being computed while a
slow method selects; :class:`SequenceTable` lists the sequences of the region
drawn on the map, else the highlighted ones, else the coreset;
:class:`ReadingGuide` says what the self-influence scale and the "median
distance" are, for this run. Every value from the data is escaped before it is
put in HTML; the table's cells are rendered as text.
"""

from __future__ import annotations

import html
from typing import Any

import panel as pn
from bokeh.models.widgets.tables import ScientificFormatter

from biocoreset_viz.app.views import StoreView

CARD_CSS = """
.bc-cards {display: flex; flex-wrap: wrap; gap: 12px; margin: 4px 0 8px 0;}
.bc-card {flex: 1 1 150px; border: 1px solid #d9dee3; border-radius: 8px;
  padding: 10px 14px; background: #fafbfc; min-width: 150px;}
.bc-card .bc-value {font-size: 1.6em; font-weight: 600; color: #0b3c5d;}
.bc-card .bc-title {font-size: 0.85em; color: #555; text-transform: uppercase;
  letter-spacing: 0.03em;}
.bc-card .bc-note {font-size: 0.8em; color: #666;}
.bc-card.bc-muted {opacity: 0.45;}
.bc-card.bc-busy .bc-value {color: #888;}
"""
GUIDE_CSS = """
.bc-guide {font-size: 0.85em; color: #333; line-height: 1.35;}
.bc-guide p {margin: 2px 0 6px 0;}
"""
# the id column's width in the table (longer ids are cut, the whole id shows on hover)
ID_WIDTH = 170


class SequenceTable(StoreView):
    """The sequences of the region drawn on the map (else highlighted, else the coreset)."""

    def __panel__(self) -> pn.viewable.Viewable:
        store = self.store
        frame, caption = store.table_rows()
        table = pn.widgets.Tabulator(
            frame,
            disabled=True,
            show_index=False,
            pagination="remote",
            page_size=12,
            sizing_mode="stretch_width",
            height=430,
            layout="fit_data_stretch",
            titles={"self_influence": "score"},
            widths={"id": ID_WIDTH},
            css_classes=["bc-table"],
            formatters={"self_influence": ScientificFormatter(precision=2, power_limit_high=4)},
            # a cut id shows whole on hover
            configuration={"columnDefaults": {"tooltip": True}},
        )
        label = pn.pane.HTML(
            f"<b>{html.escape(caption)}</b>",
            sizing_mode="stretch_width",
            css_classes=["bc-table-caption"],
        )
        clear = pn.widgets.Button(label="Clear region", color="light", width=110)
        clear.on_click(lambda _: store.clear_brush())

        def refresh(*_: Any) -> None:
            rows, text = store.table_rows()
            table.value = rows
            label.object = f"<b>{html.escape(text)}</b>"

        store.param.watch(refresh, ["brushed", "highlighted", "revision"])
        self.follow_busy(table)
        return pn.Column(pn.Row(label, clear), table, sizing_mode="stretch_width")


def summary_cards_html(summary: dict[str, Any], *, busy: str = "", revision: int = 0) -> str:
    """The summary cards as HTML; every value from the data is escaped.

    The strata card is greyed for a method that does not draw from strata
    (CCI's strata are then only a comparison). With ``busy`` (what a slow method
    is computing), the coreset's cards say so instead of showing the previous
    coreset's numbers. ``revision`` (the store's) is written in ``data-revision``, for
    tests and benchmarks that wait for a change to arrive.
    """
    strata_note = "non-empty score strata with a coreset member"
    if not summary.get("uses_strata", True):
        strata_note = "CCI only: this method draws no strata"
    cards = [
        ("Pool", f"{summary['pool']:,}", "scored sequences", "pool-size", ""),
        (
            "Coreset",
            f"{summary['coreset']:,}",
            f"{summary['kept_fraction']:.1%} of the pool kept",
            "coreset-size",
            "",
        ),
        (
            "Strata represented",
            f"{summary['strata'][0]} / {summary['strata'][1]}",
            strata_note,
            "strata-covered",
            "" if summary.get("uses_strata", True) else "bc-muted",
        ),
    ]
    for column, (kept, total) in list(summary.get("labels", {}).items())[:2]:
        cards.append(
            (f"{column} kept", f"{kept:,} / {total:,}", f"{column} values with a member", "", "")
        )
    if "nn_median" in summary:
        note = f"pruned → nearest coreset member, {summary.get('nn_metric', 'euclidean')}"
        if summary.get("nn_sampled"):
            note += " (sample)"
        cards.append(("Median distance", f"{summary['nn_median']:.3g}", note, "nn-median", ""))
    if busy:  # the pool stays; every card about the coreset waits for the new one
        cards = [cards[0]] + [
            (title, "…", "selecting…", css, "bc-busy") for title, _, _, css, _ in cards[1:]
        ]
    parts = []
    for title, value, note, css, state in cards:
        klass = f"bc-value {css}".strip()
        parts.append(
            f'<div class="{f"bc-card {state}".strip()}">'
            f'<div class="bc-title">{html.escape(title)}</div>'
            f'<div class="{klass}">{html.escape(value)}</div>'
            f'<div class="bc-note">{html.escape(note)}</div></div>'
        )
    return f'<div class="bc-cards" data-revision="{int(revision)}">{"".join(parts)}</div>'


class SummaryCards(StoreView):
    """Pool size, coreset size, strata and families kept, distance to the coreset."""

    def html(self) -> str:
        store = self.store
        return summary_cards_html(store.summary, busy=store.busy, revision=store.revision)

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.pane.HTML(
            pn.bind(
                lambda revision, busy: self.html(), self.store.param.revision, self.store.param.busy
            ),
            stylesheets=[CARD_CSS],
            sizing_mode="stretch_width",
            css_classes=["bc-summary"],
        )


def scale_text(manifest: dict[str, Any]) -> str:
    """What a self-influence score is, with this run's target weights and damping (HTML)."""
    config = manifest.get("config") if isinstance(manifest.get("config"), dict) else {}
    targets = manifest.get("targets") or [config.get("target") or "the target weights"]
    target = ", ".join(str(t) for t in targets[:3]) + (" …" if len(targets) > 3 else "")
    damping = manifest.get("damping_value", config.get("damping"))
    damping_text = f"λ = {damping:.3g}" if isinstance(damping, int | float) else "λ"
    return (
        "<b>Self-influence</b> s = Σ<sub>j</sub> g<sub>j</sub>² / (F<sub>j</sub> + λ): the "
        "squared gradient g of the sequence's own loss with respect to the weights "
        f"<code>{html.escape(target)}</code>, each divided by the diagonal Fisher F of a "
        f"reference subset plus the damping {html.escape(damping_text)}. It is ≥ 0 and has "
        "no unit: it grows with the number of target weights, so compare scores within a "
        "run, not across runs. Large: the model would move far to fit the sequence (rare, "
        "hard or noisy); small: typical, already well fitted."
    )


def distance_text(summary: dict[str, Any], has_embeddings: bool) -> str:
    """What the "median distance" card measures (HTML)."""
    if not has_embeddings:
        return "<b>Median distance</b>: this run has no embeddings, so it is not measured."
    metric = summary.get("nn_metric", "euclidean")
    sampled = " (measured on a seeded sample of the pool)" if summary.get("nn_sampled") else ""
    return (
        f"<b>Median distance</b>: for each pruned sequence, the {html.escape(metric)} "
        "distance from its embedding (the model's last-layer token states, averaged over "
        "the sequence) to the nearest coreset member's, and the median of those"
        f"{sampled}. Small: every pruned sequence has a close stand-in in the coreset. "
        "The embedding space has no absolute scale: compare values between coresets of "
        "this run."
    )


class ReadingGuide(StoreView):
    """How to read the numbers: the self-influence scale and the median distance."""

    def html(self) -> str:
        store = self.store
        return (
            f'<div class="bc-guide"><p>{scale_text(store.manifest)}</p>'
            f"<p>{distance_text(store.summary, store.embeddings is not None)}</p></div>"
        )

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.pane.HTML(
            self.html(),
            stylesheets=[GUIDE_CSS],
            sizing_mode="stretch_width",
            css_classes=["bc-guide-pane"],
        )
