"""The learning-curve file and its summary: reading it without torch, mean ± sd over seeds."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from biocoreset_viz.errors import RunDirectoryError
from biocoreset_viz.evaluation.curves import (
    CURVE_COLUMNS,
    curves_frame,
    find_curves,
    load_curves,
    summarize_curves,
)


def curves() -> pd.DataFrame:
    # random's two seeds stop at different steps: they must still average together
    return pd.DataFrame(
        {
            "subset": ["cci"] * 4 + ["random"] * 4,
            "seed": [0, 1, 0, 1, 0, 1, 0, 1],
            "step": [0, 0, 10, 10, 0, 0, 9, 11],
            "tokens_seen": [0, 0, 100, 100, 0, 0, 90, 110],
            "task": "structure",
            "metric": "f1",
            "value": [0.1, 0.1, 0.2, 0.4, 0.1, 0.1, 0.3, 0.5],
        }
    )


def test_mean_and_sample_sd_over_seeds():
    summary = summarize_curves(curves()).set_index(["subset", "checkpoint"])
    np.testing.assert_allclose(summary.loc[("cci", 1), "mean"], 0.3)
    np.testing.assert_allclose(summary.loc[("cci", 1), "sd"], np.std([0.2, 0.4], ddof=1))
    assert summary.loc[("cci", 0), "sd"] == 0.0


def test_seeds_that_stop_at_different_steps_are_matched_by_checkpoint():
    summary = summarize_curves(curves()).set_index(["subset", "checkpoint"])
    row = summary.loc[("random", 1)]
    assert (row["n_seeds"], row["step"], row["tokens_seen"]) == (2, 10.0, 100.0)
    np.testing.assert_allclose(row["mean"], 0.4)


def test_one_seed_has_zero_sd():
    summary = summarize_curves(curves().query("seed == 0"))
    assert (summary["sd"] == 0).all() and (summary["n_seeds"] == 1).all()


def test_missing_column():
    with pytest.raises(ValueError, match=r"lack columns \['seed'\]"):
        summarize_curves(curves().drop(columns="seed"))


def test_curves_are_read_from_a_run_or_an_evaluation_directory(tmp_path) -> None:
    evaluation = tmp_path / "run" / "evaluation"
    evaluation.mkdir(parents=True)
    curves().to_parquet(evaluation / "curves.parquet")
    for folder in (tmp_path / "run", evaluation):
        assert find_curves(folder) == evaluation / "curves.parquet"
        loaded = load_curves(folder)
        pd.testing.assert_frame_equal(loaded, curves_frame(curves().to_dict("records")))
        assert list(loaded.columns) == list(CURVE_COLUMNS)
        assert loaded["seed"].dtype == np.int64 and loaded["value"].dtype == np.float64
    assert find_curves(tmp_path) is None
    with pytest.raises(RunDirectoryError, match="no evaluation/curves.parquet"):
        load_curves(tmp_path)


def test_reading_curves_loads_no_torch() -> None:
    """The dashboard reads curves: the module and the package's lazy names pull no torch."""
    code = (
        "import sys\n"
        "from biocoreset_viz.evaluation.curves import load_curves\n"
        "from biocoreset_viz.evaluation import summarize_curves, results_table\n"
        "import biocoreset_viz.evaluation.results\n"
        "print(sorted(m for m in ('torch', 'esm', 'sklearn') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
