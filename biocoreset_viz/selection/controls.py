"""The one mapping from the controls users move to the selectors' parameters.

The command line (``biocoreset select --hard-cutoff``), the dashboard (the β
slider) and the evaluation runner all name the same few settings; this table
says, once, which selector parameter each control sets, how users see it named
("β (hard cutoff)", ``--hard-cutoff``), and so which methods it applies to
(read from the selector's own signature, never listed twice).

This module imports no selector at import time, so the command line can build
its options from :data:`CONTROLS` without loading numpy (``--help`` stays instant).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from biocoreset_viz.errors import ConfigError

# The seed every seeded method uses when none is given (the CLI's and the dashboard's default).
DEFAULT_SEED = 0
# Selector parameters that no control sets: where the MMseqs2 program lives is a
# property of the machine, not a selection setting (give it to the selector directly).
UNCONTROLLED_PARAMETERS = frozenset({"executable"})


@dataclass(frozen=True)
class SelectorControl:
    """A selection setting as users meet it.

    Attributes:
        parameter: the selector's constructor parameter (``hard_cutoff``).
        label: its name in the dashboard and in messages (``β (hard cutoff)``).
        option: its command-line option (``--hard-cutoff``).
    """

    parameter: str
    label: str
    option: str


CONTROLS: dict[str, SelectorControl] = {
    control.parameter: control
    for control in (
        SelectorControl("pruning_rate", "α (pruning rate)", "--pruning-rate"),
        SelectorControl("n_select", "coreset size", "--n-select"),
        SelectorControl("hard_cutoff", "β (hard cutoff)", "--hard-cutoff"),
        SelectorControl("n_strata", "k (strata)", "--strata"),
        SelectorControl("strata", "strata kind", "--strata-kind"),
        SelectorControl("random_state", "seed", "--seed"),
        SelectorControl("strategy", "diversity strategy", "--strategy"),
        SelectorControl("n_clusters", "clusters", "--n-clusters"),
        SelectorControl("min_seq_id", "minimum sequence identity", "--min-seq-id"),
        SelectorControl("coverage", "alignment coverage", "--coverage"),
        SelectorControl("threads", "MMseqs2 threads", "--threads"),
    )
}


def accepted_parameters(method: str) -> list[str]:
    """The parameters the selector of ``method`` takes (from its signature).

    Raises:
        ConfigError: an unknown method.
    """
    from biocoreset_viz.selection.methods import METHODS

    if method not in METHODS:
        raise ConfigError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    return METHODS[method]._param_names()


def applies_to(parameter: str, method: str) -> bool:
    """Whether the control setting ``parameter`` means anything for ``method``."""
    return parameter in accepted_parameters(method)


def selector_params(
    method: str, values: Mapping[str, Any], *, strict: bool = False
) -> dict[str, Any]:
    """The selector parameters of ``method`` among control ``values`` (keyed by parameter).

    ``None`` values are unset controls and are left out. Seeded methods get
    :data:`DEFAULT_SEED` when no seed is given.

    Args:
        method: a selection method (``cci``, ``topi`` ...).
        values: control values keyed by selector parameter name.
        strict: refuse a set control that does not apply to ``method`` (the command
            line, where the user typed it); otherwise leave it out (the dashboard and
            the evaluation runner, which hold every control at once).

    Raises:
        ConfigError: an unknown method or parameter, or (``strict``) a control that
            does not apply to ``method``, named as the user set it.
    """
    accepted = accepted_parameters(method)
    params: dict[str, Any] = {}
    for parameter, value in values.items():
        if parameter not in CONTROLS:
            raise ConfigError(f"unknown selection setting {parameter!r}")
        if value is None:
            continue
        if parameter not in accepted:
            if strict:
                raise ConfigError(
                    f"{CONTROLS[parameter].option} does not apply to --method {method}"
                )
            continue
        params[parameter] = value
    if "random_state" in accepted:
        params.setdefault("random_state", DEFAULT_SEED)
    return params


# A selector parameter named in a message, with its value when one follows ("n_strata=0"):
# names with an underscore anywhere; plain words ("strata", "coverage") only when a
# value follows or when they open the message, where they cannot be ordinary words.
_NAMES = "|".join(sorted(CONTROLS, key=len, reverse=True))
_WORDS = "|".join(sorted((c for c in CONTROLS if "_" in c), key=len, reverse=True))
_NAMED = re.compile(rf"\b({_NAMES})(=)|^({_NAMES})\b()|\b({_WORDS})\b()")


def in_control_terms(message: str, *, style: str = "label") -> str:
    """A selector's message with each parameter named as users see it.

    ``"pruning_rate=0.05 (n=380) is larger than the 360 sequences that survive
    hard_cutoff=0.1"`` becomes ``"α (pruning rate) 0.05 (n=380) is larger than the
    360 sequences that survive β (hard cutoff) 0.1"`` (``style="label"``, the
    dashboard) or ``"--pruning-rate 0.05 ..."`` (``style="option"``, the command line).

    Raises:
        ConfigError: an unknown style.
    """
    if style not in ("label", "option"):
        raise ConfigError(f"style must be 'label' or 'option', got {style!r}")

    def named(match: re.Match[str]) -> str:
        parameter = next(group for group in match.groups()[::2] if group)
        control = CONTROLS[parameter]
        name = control.label if style == "label" else control.option
        return name + (" " if match.group(2) else "")

    return _NAMED.sub(named, message)
