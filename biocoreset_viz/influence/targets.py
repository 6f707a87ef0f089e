"""Target parameters theta_T: resolving a target specification to parameter names.

Presets (``lm_head.dense.weight``, ``lm_head``, ``last_block``, ``all``), a
parameter name, a list of names or a regular expression; tied aliases resolve to
their canonical name. The presets mean the same layer in every model family
(:mod:`biocoreset_viz.models.family`): ``lm_head.dense.weight`` is the family's
default target, the dense layer at the start of the LM head (``lm_head.dense.weight``
in ESM-2, RNA-FM, Hugging Face ESM and RoBERTa and Sapiens,
``cls.predictions.transform.dense.weight`` in BERT, ``sequence_head.0.weight`` in
ESM C), ``lm_head.dense.bias`` its bias. Also the one rule tying targets to the
precision.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from torch import nn

from biocoreset_viz.errors import ConfigError
from biocoreset_viz.models import ModelFamily, family_of

DEFAULT_TARGET = "lm_head.dense.weight"
DEFAULT_BIAS = "lm_head.dense.bias"
TARGET_PRESETS = {
    DEFAULT_TARGET: "the D x D dense layer inside the LM head (the published choice; the "
    "model family's default target, e.g. cls.predictions.transform.dense.weight for BERT, "
    "sequence_head.0.weight for ESM C)",
    "lm_head": "every LM-head parameter, including the output projection tied to the "
    "token embedding (a tied parameter's gradient is its full gradient)",
    "last_block": "every parameter of the last transformer layer",
    "all": "every parameter on the loss path (the contact head is excluded)",
}
# the closed-form targets of fair-esm models (ModelFamily.closed_form_targets for any family)
CLOSED_FORM_TARGETS = frozenset({DEFAULT_TARGET, DEFAULT_BIAS})
# stands in for the alphabet where only a model's layer names are needed
# (fair-esm's ESM-1b modules carry no alphabet)
_LAYOUT_ONLY = object()


def model_layout(model: nn.Module, alphabet: Any = None) -> ModelFamily:
    """The family adapter of a model, for its layer names (the alphabet may be absent).

    Raises:
        ConfigError: no model family handles the model.
    """
    alphabet = alphabet if alphabet is not None else getattr(model, "alphabet", None)
    return family_of(model, alphabet if alphabet is not None else _LAYOUT_ONLY)


def _parameter_aliases(model: nn.Module) -> dict[str, str]:
    """Every parameter name, tied aliases included, mapped to its canonical name."""
    canonical_by_id = {id(p): name for name, p in model.named_parameters()}
    return {
        name: canonical_by_id[id(p)]
        for name, p in model.named_parameters(remove_duplicate=False)
        if p.requires_grad
    }


def _loss_path(names: Sequence[str], family: ModelFamily) -> list[str]:
    off = family.off_loss_prefixes
    return [n for n in names if not n.startswith(off)]


def _describe_names(names: Sequence[str], blocks: str = "layers") -> str:
    """Compact listing: per-block names collapsed to ``<blocks>.<i>.…`` with the index range."""
    block_name = re.compile(rf"{re.escape(blocks)}\.(\d+)\.(.*)")
    layer_indices: set[int] = set()
    shown: list[str] = []
    for name in names:
        match = block_name.fullmatch(name)
        if match:
            layer_indices.add(int(match.group(1)))
            generic = f"{blocks}.<i>.{match.group(2)}"
            if generic not in shown:
                shown.append(generic)
        elif name not in shown:
            shown.append(name)
    text = ", ".join(shown)
    if layer_indices:
        text += f" (i = {min(layer_indices)}..{max(layer_indices)})"
    return text


def _preset(spec: str, available: list[str], family: ModelFamily) -> list[str] | None:
    """The names a preset stands for in this family, or ``None`` when ``spec`` is no preset."""
    if spec == "lm_head":
        return [n for n in available if n.startswith(family.lm_head_prefix)]
    if spec == "last_block":
        return [n for n in available if n.startswith(family.last_block_prefix)]
    if spec == "all":
        return available
    if spec == DEFAULT_TARGET:
        return [family.default_target]  # raises, naming the layers, for a head without one
    if spec == DEFAULT_BIAS:
        return [f"{family.dense_name}.bias"]
    return None


def resolve_targets(
    model: nn.Module, target: str | Sequence[str], family: ModelFamily | None = None
) -> list[str]:
    """Canonical parameter names selected by a target specification, in model order.

    Args:
        model: the model.
        target: a preset, a parameter name, a list of names or a regular expression.
        family: the model's family adapter (default :func:`model_layout`).

    Raises:
        ConfigError: the specification matches no parameter; the message lists the
            presets and the available names.
        InputError: the default target of a model whose LM head has no dense layer
            (the message names the layers that could be targets).
    """
    family = family if family is not None else model_layout(model)
    aliases = _parameter_aliases(model)
    canonical_order = [name for name, _ in model.named_parameters()]
    available = _loss_path(list(aliases), family)

    def unknown(spec: str) -> ConfigError:
        return ConfigError(
            f"unknown target {spec!r}: matches no parameter. Presets: "
            f"{', '.join(TARGET_PRESETS)}. Parameters: "
            f"{_describe_names(available, family.blocks_prefix)}"
        )

    selected: set[str] = set()
    specs = [target] if isinstance(target, str) else list(target)
    for spec in specs:
        matched = [spec] if spec in aliases else _preset(spec, available, family)
        if matched is None and isinstance(target, str):
            try:
                pattern = re.compile(spec)
            except re.error as error:
                raise unknown(spec) from error
            matched = [n for n in available if pattern.fullmatch(n)]
        matched = [n for n in matched or [] if n in aliases]
        if not matched:
            raise unknown(spec)
        selected.update(aliases[n] for n in matched)
    return [n for n in canonical_order if n in selected]


def check_precision(
    targets: Sequence[str], precision: str, closed_form: frozenset[str] = CLOSED_FORM_TARGETS
) -> None:
    """Refuse bfloat16 autocast for targets without a closed form.

    The fast path autocasts the encoder of the closed-form LM-head gradients; the
    ``torch.func`` per-sample gradients of other targets stay in the model's dtype.
    ``closed_form``: the model's closed-form targets
    (:meth:`~biocoreset_viz.models.ModelFamily.closed_form_targets`).
    """
    if precision != "full" and not set(targets) <= closed_form:
        raise ConfigError(
            f"precision={precision!r} is for the LM-head targets "
            f"({', '.join(sorted(closed_form))}); these targets use torch.func "
            "per-sample gradients: use precision='full'"
        )
