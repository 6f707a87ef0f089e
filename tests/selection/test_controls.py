"""The one mapping from controls to selector parameters, and that it covers every selector."""

from __future__ import annotations

import subprocess
import sys

import pytest

from biocoreset_viz.errors import ConfigError
from biocoreset_viz.selection import METHODS, make_selector
from biocoreset_viz.selection.controls import (
    CONTROLS,
    DEFAULT_SEED,
    UNCONTROLLED_PARAMETERS,
    SelectorControl,
    accepted_parameters,
    applies_to,
    selector_params,
)


def test_strict_refuses_a_control_of_another_method_naming_its_option() -> None:
    with pytest.raises(ConfigError, match="--strata does not apply to --method topi"):
        selector_params("topi", {"pruning_rate": 0.5, "n_strata": 3}, strict=True)
    with pytest.raises(ConfigError, match="--seed does not apply to --method bottomi"):
        selector_params("bottomi", {"n_select": 4, "random_state": 1}, strict=True)


def test_non_strict_drops_the_controls_of_other_methods_and_unset_ones() -> None:
    values = {"pruning_rate": 0.5, "n_select": None, "n_strata": 3, "strategy": "kcenter"}
    assert selector_params("topi", values) == {"pruning_rate": 0.5}
    assert selector_params("cci", values) == {
        "pruning_rate": 0.5,
        "n_strata": 3,
        "random_state": DEFAULT_SEED,
    }


@pytest.mark.parametrize("method", list(METHODS))
def test_seeded_methods_get_the_default_seed_and_keep_a_given_one(method: str) -> None:
    seeded = "random_state" in accepted_parameters(method)
    assert ("random_state" in selector_params(method, {})) == seeded
    if seeded:
        assert selector_params(method, {})["random_state"] == DEFAULT_SEED == 0
        assert selector_params(method, {"random_state": 7})["random_state"] == 7


def test_unknown_settings_and_methods_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown selection setting 'alpha'"):
        selector_params("cci", {"alpha": 0.5})
    with pytest.raises(ConfigError, match="method must be one of cci, topi"):
        selector_params("best", {})
    with pytest.raises(ConfigError, match="method must be one of"):
        applies_to("hard_cutoff", "best")


def test_every_control_is_a_parameter_of_some_selector() -> None:
    for parameter, control in CONTROLS.items():
        assert isinstance(control, SelectorControl) and control.parameter == parameter
        assert control.option.startswith("--") and control.label
        assert any(applies_to(parameter, method) for method in METHODS), parameter


def test_every_selector_parameter_has_a_control() -> None:
    # fails when a selector gains a parameter that neither the CLI, the dashboard nor
    # the evaluation runner can set: give it a control, or document it as uncontrolled
    for method, cls in METHODS.items():
        missing = set(cls._param_names()) - set(CONTROLS) - UNCONTROLLED_PARAMETERS
        assert not missing, f"{method}: parameters without a control: {sorted(missing)}"
    every_parameter = {p for cls in METHODS.values() for p in cls._param_names()}
    assert UNCONTROLLED_PARAMETERS.issubset(every_parameter)


def test_options_and_labels_are_unique() -> None:
    assert len({c.option for c in CONTROLS.values()}) == len(CONTROLS)
    assert len({c.label for c in CONTROLS.values()}) == len(CONTROLS)


@pytest.mark.parametrize("method", list(METHODS))
def test_the_params_build_the_selector_of_every_method(method: str) -> None:
    values = {
        "pruning_rate": 0.5,
        "hard_cutoff": 0.2,
        "n_strata": 7,
        "strategy": "kcenter",
        "min_seq_id": 0.9,
        "threads": 1,
    }
    params = selector_params(method, values)
    selector = make_selector(method, **params)
    assert type(selector) is METHODS[method]
    assert {k: v for k, v in selector.get_params().items() if k in params} == params


def test_importing_the_controls_loads_no_selector_or_numpy() -> None:
    code = (
        "import sys, biocoreset_viz.selection.controls; "
        "print(sorted(m for m in ('numpy', 'pandas', 'torch', 'biocoreset_viz.selection.base') "
        "if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
