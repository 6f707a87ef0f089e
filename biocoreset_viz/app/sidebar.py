"""The dashboard's sidebar: the selection controls, the exports and the highlight upload.

* :class:`Controls`: method, α, β, k, strata kind, seed and the display choices,
  labelled as :data:`~biocoreset_viz.selection.controls.CONTROLS` names them; a
  control is enabled only for the methods it applies to
  (:func:`~biocoreset_viz.selection.controls.applies_to`); the α label states the
  coreset the views show, and for CCI the α slider starts where the coreset fits
  in what survives β;
* :class:`ExportButtons`: the current coreset as FASTA, CSV of ids, JSON manifest
  (disabled while a slow method is still selecting);
* :class:`HighlightUpload`: a FASTA or a CSV/TSV of the user's ids to highlight,
  refused in the browser when over the limit.

Messages from the data (file names, errors) are escaped before they are put in HTML.
"""

from __future__ import annotations

import html
import io
from typing import Any

import panel as pn

from biocoreset_viz.app.guards import MAX_UPLOAD_BYTES, size_text
from biocoreset_viz.app.upload import LimitedFileInput
from biocoreset_viz.app.views import StoreView
from biocoreset_viz.errors import BiocoresetError
from biocoreset_viz.selection.controls import CONTROLS, applies_to

# sliders update the views while dragging up to this pool size, on release above
LIVE_UP_TO = 200_000
SEED_MAX = 2**31 - 1

EXPLANATION = """
**Score ranked by**: self-influence (the paper's score), length-adjusted (over
the typical self-influence at that length: self-influence favours short
sequences), the loss alone or the gradient norm without the Fisher (cheap
baselines from the same scoring pass), as the run's scores allow.

**α (pruning rate)**: the fraction of the pool removed. The coreset keeps
round((1 − α)·N) sequences; α = 0.9 keeps one in ten.

**β (hard cutoff)** (CCI): the fraction of the *most* influential sequences
dropped first. The highest self-influence often marks noise or outliers.

**k (strata)** (CCI): the remaining score range is cut into k strata and the
coreset draws from every stratum as evenly as it can, so easy, typical and hard
sequences are all kept. Top-I instead keeps only the highest scores.
"""


def parse_seed(text: str) -> tuple[int | None, str]:
    """A seed typed by the user: ``(value, "")``, or ``(None, why it is refused)``."""
    typed = str(text).strip()
    if typed.isdigit() and typed.isascii() and int(typed) <= SEED_MAX:
        return int(typed), ""
    return None, (
        f"{CONTROLS['random_state'].label}: a whole number from 0 to {SEED_MAX:,}, "
        f"not {typed[:40]!r}"
    )


def _alert(text_param: Any, kind: str, css: str) -> pn.pane.Alert:
    """An alert showing a store string parameter (escaped), hidden while it is empty."""
    return pn.pane.Alert(
        pn.bind(lambda text: html.escape(text), text_param),
        alert_type=kind,
        visible=pn.bind(bool, text_param),
        sizing_mode="stretch_width",
        css_classes=[css],
    )


class Controls(StoreView):
    """Method, α, β, k, strata kind, seed; β, k and strata are enabled only for CCI."""

    def alpha_label(self) -> str:
        """The α slider's label: the size of the coreset the views show."""
        store = self.store
        label = CONTROLS["pruning_rate"].label
        if store.busy:
            return f"{label}: selecting…"
        return f"{label}: keeps {store.selection.n:,} of {store.n_total:,}"

    def slider(self, kind: type, name: str, **options: Any) -> Any:
        """A slider for a store parameter: live while dragging on pools up to
        :data:`LIVE_UP_TO` sequences, on release above (where an update takes longer)."""
        store = self.store
        parameter = store.param[name]
        low, high = parameter.bounds
        widget = kind(value=getattr(store, name), start=low, end=high, **options)
        if getattr(parameter, "step", None) and kind is pn.widgets.FloatSlider:
            widget.step = parameter.step
        event = "value" if store.n_total <= LIVE_UP_TO else "value_throttled"
        widget.param.watch(lambda change: setattr(store, name, change.new), event)
        # the store's current value, not the event's: the store may have moved it since
        # (α raised for CCI), and a stale value would bounce between the two for ever
        store.param.watch(lambda _: setattr(widget, "value", getattr(store, name)), name)
        return widget

    def seed_input(self) -> tuple[pn.widgets.TextInput, pn.pane.Alert]:
        """The seed box (non-negative integers only) and the note shown when it refuses."""
        store = self.store
        seed = pn.widgets.TextInput(
            value=str(store.seed),
            label=CONTROLS["random_state"].label,
            width=160,
            css_classes=["bc-seed"],
        )
        refused = pn.pane.Alert(
            "", alert_type="warning", visible=False, sizing_mode="stretch_width",
            css_classes=["bc-seed-message"],
        )  # fmt: skip

        def typed(event: Any) -> None:
            value, problem = parse_seed(event.new)
            refused.object = html.escape(f"{problem}; the seed stays {store.seed}.")
            refused.visible = value is None
            if value is not None:
                store.seed = value

        seed.param.watch(typed, "value")
        store.param.watch(lambda _: setattr(seed, "value", str(store.seed)), "seed")
        return seed, refused

    def __panel__(self) -> pn.viewable.Viewable:
        store = self.store
        method = pn.widgets.Select.from_param(
            store.param.method, label="Method", css_classes=["bc-method"]
        )
        score = pn.widgets.Select.from_param(
            store.param.score, label="Score ranked by", css_classes=["bc-score"]
        )
        wide = {"sizing_mode": "stretch_width"}
        alpha = self.slider(
            pn.widgets.FloatSlider,
            "pruning_rate",
            label=self.alpha_label(),
            css_classes=["bc-alpha"],
            **wide,
        )
        beta = self.slider(
            pn.widgets.FloatSlider,
            "hard_cutoff",
            label=CONTROLS["hard_cutoff"].label,
            css_classes=["bc-beta"],
            **wide,
        )
        k = self.slider(
            pn.widgets.IntSlider,
            "n_strata",
            label=CONTROLS["n_strata"].label,
            css_classes=["bc-k"],
            **wide,
        )
        strata = pn.widgets.RadioButtonGroup.from_param(
            store.param.strata, label=CONTROLS["strata"].label, color="light", **wide
        )
        seed, seed_refused = self.seed_input()
        # selector parameter -> its widget
        settings = {"hard_cutoff": beta, "n_strata": k, "strata": strata, "random_state": seed}

        def update(*_: Any) -> None:
            alpha.label = self.alpha_label()
            alpha.start = store.alpha_floor()
            for parameter, widget in settings.items():
                widget.disabled = not applies_to(parameter, store.method)

        store.param.watch(update, ["revision", "busy", "method", "hard_cutoff"])
        update()
        strata_title = f"<small>{html.escape(CONTROLS['strata'].label)}</small>"
        widgets: list[Any] = [method, score, alpha, beta, k, pn.pane.HTML(strata_title), strata]
        widgets += [seed, seed_refused]
        return pn.Column(
            *widgets,
            _alert(store.param.busy, "info", "bc-busy"),
            _alert(store.param.note, "info", "bc-note"),
            _alert(store.param.error, "warning", "bc-error"),
            pn.pane.Markdown(EXPLANATION),
            **wide,
        )

    def display(self) -> pn.viewable.Viewable:
        """How the views draw the data: the score axis, redundancy labels, map colours."""
        store = self.store
        widgets: list[Any] = [
            pn.pane.HTML("<small>Histogram score axis</small>"),
            pn.widgets.RadioButtonGroup.from_param(
                store.param.score_scale, color="light", sizing_mode="stretch_width"
            ),
        ]
        if store.group_columns:
            widgets.append(
                pn.widgets.Select.from_param(store.param.label_column, label="Redundancy by")
            )
        if len(store.param.map_colour.objects) > 1 and store.map_frame() is not None:
            widgets.append(
                pn.widgets.Select.from_param(
                    store.param.map_colour, label="Colour the map by", css_classes=["bc-colour"]
                )
            )
        return pn.Column(*widgets, sizing_mode="stretch_width")


class HighlightUpload(StoreView):
    """Upload a FASTA or CSV of your own ids to highlight them on the map and in the table."""

    def __panel__(self) -> pn.viewable.Viewable:
        store = self.store
        upload = LimitedFileInput(sizing_mode="stretch_width", css_classes=["bc-upload"])
        message = pn.pane.Alert(
            "",
            alert_type="light",
            visible=False,
            sizing_mode="stretch_width",
            css_classes=["bc-upload-message"],
        )
        clear = pn.widgets.Button(label="Clear highlight", color="light")

        def show(text: str, kind: str) -> None:
            message.alert_type = kind
            message.object = html.escape(text)
            message.visible = True

        def uploaded(event: Any) -> None:
            if event.new is None:
                return
            try:
                store.highlight_upload(upload.data(), upload.filename or "upload")
            except BiocoresetError as error:
                show(str(error), "danger")
            else:
                show(store.highlight_message, "success")

        def refused(_: Any) -> None:
            error = upload.refusal()
            if error is not None:
                show(str(error), "danger")

        def cleared(_: Any) -> None:
            store.highlight_ids([])
            message.visible = False

        upload.param.watch(uploaded, "value")
        upload.param.watch(refused, "refused")
        clear.on_click(cleared)
        return pn.Column(
            pn.pane.Markdown(
                "**Highlight your sequences**: a FASTA, or a CSV/TSV with an id column "
                f"(such as the Ids export), whose ids are in this run (at most "
                f"{size_text(MAX_UPLOAD_BYTES)})."
            ),
            upload,
            clear,
            message,
            sizing_mode="stretch_width",
        )


class ExportButtons(StoreView):
    """Downloads of the current coreset: FASTA, CSV of ids, JSON manifest."""

    def __panel__(self) -> pn.viewable.Viewable:
        store = self.store
        problem = pn.pane.Alert("", alert_type="danger", visible=False, sizing_mode="stretch_width")

        def guarded(make: Any) -> Any:
            def callback() -> Any:
                try:
                    return io.BytesIO(make())
                except BiocoresetError as error:
                    problem.object = html.escape(str(error))
                    problem.visible = True
                    return None

            return callback

        # file suffix -> its button; the suffix also names the button's CSS class
        buttons = {
            suffix: pn.widgets.FileDownload(
                callback=guarded(make),
                filename=f"coreset.{suffix}",
                label=label,
                color=color,
                sizing_mode="stretch_width",
                css_classes=[f"bc-export-{suffix}"],
            )
            for suffix, label, color, make in (
                ("fasta", "Coreset FASTA", "primary", store.coreset_fasta),
                ("csv", "Ids (CSV)", "light", store.coreset_csv),
                ("json", "Parameters (JSON)", "light", store.coreset_manifest),
            )
        }
        reason = store.fasta_unavailable()
        if reason is not None:
            fasta = buttons["fasta"]
            fasta.label = "Coreset FASTA (unavailable)"
            fasta.description = reason

        def rename(*_: Any) -> None:
            name = store.export_name()
            for suffix, button in buttons.items():
                button.filename = f"{name}.{suffix}"
                # nothing to export while the coreset shown is not the controls' one yet
                button.disabled = bool(store.busy) or (suffix == "fasta" and reason is not None)

        store.param.watch(rename, ["revision", "busy"])
        rename()
        return pn.Column(
            pn.pane.Markdown("**Export the coreset**"),
            buttons["fasta"],
            pn.Row(buttons["csv"], buttons["json"], sizing_mode="stretch_width"),
            problem,
            sizing_mode="stretch_width",
        )
