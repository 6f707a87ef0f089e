"""The evaluation package's lazy names: each resolves to where it is defined, torch untouched."""

from __future__ import annotations

import importlib

import pytest

import biocoreset_viz
import biocoreset_viz.evaluation as evaluation


@pytest.mark.parametrize("name", sorted(evaluation._EXPORTS))
def test_every_lazy_name_resolves_to_its_module(name: str) -> None:
    module = importlib.import_module(f"biocoreset_viz.evaluation.{evaluation._EXPORTS[name]}")
    assert getattr(evaluation, name) is getattr(module, name)
    assert name in dir(evaluation)


def test_the_top_level_names_come_from_the_evaluation_modules() -> None:
    for name in ("evaluate", "EvaluationConfig", "demo_experiment", "load_curves",
                 "summarize_curves", "results_table", "StructureProbe", "parse_dot_bracket"):  # fmt: skip
        assert getattr(biocoreset_viz, name) is getattr(evaluation, name)
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        _ = evaluation.nothing
