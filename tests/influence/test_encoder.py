"""The GPU fast path of the scoring engine, tested through its CPU fallbacks.

* packing: scores equal the padded engine's (float64, 1e-10 relative);
* bf16 autocast: scores rank like the full-precision ones (Spearman >= 0.99 on
  sequences of equal length, so the ranking reflects content, not length) with
  relative errors within bfloat16's (median <= 2e-3, max <= 1e-2; observed about
  3e-4 and 1.5e-3: the Fisher and the gradients carry correlated errors that
  largely cancel in g^2 / F);
* torch.compile: the same scores as eager (slow: compiling takes a minute on CPU);
* the same on a CUDA GPU when one is present.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from support.influence import fit_and_score, rna_pool

from biocoreset_viz.errors import ConfigError
from biocoreset_viz.influence import ForwardOptions, InfluenceConfig, fit_fisher
from biocoreset_viz.models import build_esm2, rna_alphabet

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.parametrize(
    ("loss", "target"),
    [
        ("reconstruction", "lm_head.dense.weight"),
        ("mlm", "lm_head.dense.weight"),  # masked inputs: token dropout per packed sequence
        ("reconstruction", "last_block"),  # torch.func path: packing for the embeddings only
    ],
)
def test_packing_gives_the_padded_engines_scores(tmp_path, loss, target):
    model = build_esm2(2, 32, 4, rna_alphabet(), seed=1).double()
    sequences = rna_pool(16, 3, 50, seed=2)
    base = InfluenceConfig(
        target=target, loss=loss, mlm_draws=2, dtype="float64", fisher_subset=8, device="cpu"
    )
    packed = InfluenceConfig(**{**base.to_dict(), "packing": True})
    fisher, padded_table = fit_and_score(model, sequences, base, tmp_path / "padded")
    packed_fisher, packed_table = fit_and_score(model, sequences, packed, tmp_path / "packed")
    for name, values in fisher.values.items():
        np.testing.assert_allclose(packed_fisher.values[name], values, rtol=1e-10)
    np.testing.assert_allclose(packed_table.scores, padded_table.scores, rtol=1e-10)
    np.testing.assert_allclose(packed_table.frame["loss"], padded_table.frame["loss"], rtol=1e-10)
    np.testing.assert_array_equal(packed_table.embeddings, padded_table.embeddings)


def bf16_agreement(full, fast) -> tuple[float, np.ndarray]:
    rank = spearmanr(full.scores, fast.scores).statistic
    relative = np.abs(fast.scores - full.scores) / full.scores
    return rank, relative


@pytest.mark.parametrize("packing", [False, True], ids=["padded", "packed"])
def test_bf16_scores_rank_like_full_precision(tmp_path, packing):
    model = build_esm2(2, 64, 4, rna_alphabet(), seed=0)
    sequences = rna_pool(32, 40, 40, seed=3)  # equal lengths: the ranking is the content's
    full = InfluenceConfig(fisher_subset=16, device="cpu")
    fast = InfluenceConfig(**{**full.to_dict(), "precision": "bf16", "packing": packing})
    fisher, full_table = fit_and_score(model, sequences, full, tmp_path / "full")
    fast_fisher, fast_table = fit_and_score(model, sequences, fast, tmp_path / "bf16")
    assert full_table.scores.std() / full_table.scores.mean() > 0.05  # a ranking to keep
    rank, relative = bf16_agreement(full_table, fast_table)
    assert rank >= 0.99
    assert np.median(relative) <= 2e-3 and relative.max() <= 1e-2
    assert relative.max() > 0  # bfloat16 really ran
    name = "lm_head.dense.weight"
    fisher_error = (fast_fisher.values[name] - fisher.values[name]).norm() / fisher.values[
        name
    ].norm()
    assert fisher_error <= 2e-2
    assert fast_fisher.values[name].dtype == torch.float64
    np.testing.assert_allclose(
        fast_table.embeddings.astype(np.float32),
        full_table.embeddings.astype(np.float32),
        atol=2e-2,
        rtol=2e-2,
    )


def test_bf16_is_refused_for_torch_func_targets():
    model = build_esm2(1, 16, 2, rna_alphabet(), seed=0)
    config = InfluenceConfig(target="last_block", precision="bf16", device="cpu")
    with pytest.raises(ConfigError, match="use precision='full'"):
        fit_fisher(model, rna_pool(4, 5, 10), config, alphabet=rna_alphabet(), progress=False)


def test_default_options_are_the_exact_path():
    assert InfluenceConfig().forward_options() == ForwardOptions("full", False, False)


@pytest.mark.slow
def test_compiled_encoder_gives_the_eager_scores(tmp_path):
    model = build_esm2(2, 32, 4, rna_alphabet(), seed=0)
    sequences = rna_pool(16, 10, 40, seed=5)
    eager = InfluenceConfig(fisher_subset=16, device="cpu")
    compiled = InfluenceConfig(**{**eager.to_dict(), "compile": True})
    _, eager_table = fit_and_score(model, sequences, eager, tmp_path / "eager")
    _, compiled_table = fit_and_score(model, sequences, compiled, tmp_path / "compiled")
    np.testing.assert_allclose(compiled_table.scores, eager_table.scores, rtol=1e-4)


# ------------------------------------------------------------------------- on a GPU


@CUDA
@pytest.mark.parametrize("packing", [False, True], ids=["padded", "packed"])
def test_cuda_bf16_scores_rank_like_cpu_full_precision(tmp_path, packing):
    model = build_esm2(2, 64, 4, rna_alphabet(), seed=0)
    sequences = rna_pool(48, 50, 50, seed=3)
    full = InfluenceConfig(fisher_subset=24, device="cpu")
    fast = InfluenceConfig(
        **{**full.to_dict(), "device": "cuda", "precision": "bf16", "packing": packing}
    )
    _, full_table = fit_and_score(model, sequences, full, tmp_path / "cpu")
    _, fast_table = fit_and_score(model, sequences, fast, tmp_path / "cuda")
    rank, relative = bf16_agreement(full_table, fast_table)
    assert rank >= 0.99
    assert np.median(relative) <= 2e-3 and relative.max() <= 1e-2


@CUDA
def test_cuda_full_precision_scores_equal_cpu(tmp_path):
    torch.backends.cuda.matmul.allow_tf32 = False
    model = build_esm2(2, 64, 4, rna_alphabet(), seed=0)
    sequences = rna_pool(32, 10, 120, seed=6)
    cpu = InfluenceConfig(fisher_subset=16, device="cpu")
    gpu = InfluenceConfig(**{**cpu.to_dict(), "device": "cuda"})
    _, cpu_table = fit_and_score(model, sequences, cpu, tmp_path / "cpu")
    _, gpu_table = fit_and_score(model, sequences, gpu, tmp_path / "cuda")
    np.testing.assert_allclose(gpu_table.scores, cpu_table.scores, rtol=1e-4)
