"""The loss inputs: seeded MLM masks that depend on the sequence alone."""

from __future__ import annotations

import torch

from biocoreset_viz.influence import mlm_mask_draws
from biocoreset_viz.models import encode_batch, rna_alphabet


def test_mlm_masks_depend_only_on_id_and_seed():
    alphabet = rna_alphabet()
    alone = encode_batch(alphabet, ["ACGUACGUAC"])
    batched = encode_batch(alphabet, ["ACGUACGUAC", "ACGUACGUACGUACGUACGU"])
    a, _ = mlm_mask_draws(alone, ["x"], alphabet, draws=3, mask_prob=0.15, seed=0)
    b, _ = mlm_mask_draws(batched, ["x", "y"], alphabet, draws=3, mask_prob=0.15, seed=0)
    assert torch.equal(a[0], b[0, :, : a.shape[2]])
    c, _ = mlm_mask_draws(alone, ["x"], alphabet, draws=3, mask_prob=0.15, seed=1)
    assert not torch.equal(a, c)
