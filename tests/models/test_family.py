"""The model-family layer: every family's adapter against the family's own forward pass.

For a tiny random model of each family in float64: hidden state -> dense -> rest of
the head equals the model's own logits, the hidden state equals the model's own
last hidden state, the branch-free logits run under ``torch.func.vmap`` and give the
same per-sample gradients as plain autograd, the closed form ``delta^T h`` equals
autograd for the default target, and batching does not change a sequence's outputs.
"""

from __future__ import annotations

import pytest
import torch
from support.models import FAMILY_PARAMS, tiny_family_model
from torch import nn

from biocoreset_viz.errors import ConfigError, InputError
from biocoreset_viz.models import (
    FamilyLogits,
    ModelFamily,
    check_molecule,
    family_of,
    parameter_count,
)

PROTEINS = ["MKTAYIAKQRQISF", "MLSDEQ", "MKVLAAGIVGLW"]
RNAS = ["ACGUACGGAUNC", "GGCA", "AUGCUUAGC"]
# fair-esm's own ESM-2 forward runs its attention softmax in float32 even in float64
OWN_FORWARD_TOLERANCE = {"esm2": 1e-5}
EXPECTED = {
    # kind: (family name, default target, lm_head prefix, last block prefix, max residues)
    "esm2": ("fair-esm", "lm_head.dense.weight", "lm_head.", "layers.1.", 1022),
    "esm1b": ("fair-esm", "lm_head.dense.weight", "lm_head.", "layers.1.", 62),
    "fairseq-roberta": ("fairseq-roberta", "lm_head.dense.weight", "lm_head.", "layers.1.", 62),
    "esmc": ("esmc", "sequence_head.0.weight", "sequence_head.", "transformer.blocks.1.", 2046),
    "hf-esm": ("huggingface", "lm_head.dense.weight", "lm_head.", "esm.encoder.layer.1.", 1022),
    "hf-bert": (
        "huggingface",
        "cls.predictions.transform.dense.weight",
        "cls.",
        "bert.encoder.layer.1.",
        126,
    ),
    "hf-roberta": (
        "huggingface",
        "lm_head.dense.weight",
        "lm_head.",
        "roberta.encoder.layer.1.",
        126,
    ),
}


@pytest.fixture(params=FAMILY_PARAMS)
def family(request, tmp_path) -> ModelFamily:
    model, alphabet = tiny_family_model(request.param, tmp_path / "tokenizer")
    model = model.double().eval()
    model.alphabet = alphabet
    adapter = family_of(model)
    adapter.kind = request.param
    return adapter


def sequences_of(family: ModelFamily) -> list[str]:
    return PROTEINS if family.molecule == "protein" else RNAS


def real_positions(family: ModelFamily, tokens: torch.Tensor) -> torch.Tensor:
    return tokens.ne(family.padding_idx)  # (B, T)


def test_family_says_its_name_targets_and_limits(family):
    name, target, head, block, max_residues = EXPECTED[family.kind]
    parameters = dict(family.model.named_parameters())
    assert family.name == name
    assert family.default_target == target == f"{family.dense_name}.weight"
    assert parameters[target] is family.dense.weight
    width = family.hidden_states(family.encode(["M"])).shape[-1]
    assert isinstance(family.dense, nn.Linear)
    assert family.dense.in_features == family.dense.out_features == width
    assert family.lm_head_prefix == head and any(n.startswith(head) for n in parameters)
    assert family.last_block_prefix == block and any(n.startswith(block) for n in parameters)
    for prefix in family.off_loss_prefixes:
        assert any(n.startswith(prefix) for n in parameters)
    assert family.max_residues == max_residues
    assert parameter_count(family.model) > 0


def test_hidden_dense_rest_of_head_equals_the_models_own_logits(family):
    tokens = family.encode(sequences_of(family))
    real = real_positions(family, tokens)
    with torch.no_grad():
        split = family.head_after_dense(family.dense(family.hidden_states(tokens)))
        own = family.own_logits(tokens)
        logits = family.logits(tokens)
    tolerance = OWN_FORWARD_TOLERANCE.get(family.kind, 1e-10)
    assert split.shape == own.shape
    assert torch.allclose(split[real], own[real], rtol=0, atol=tolerance)
    assert torch.equal(logits, split)


def test_hidden_state_equals_the_models_own_last_hidden_state(family):
    tokens = family.encode(sequences_of(family))
    real = real_positions(family, tokens)
    with torch.no_grad():
        ours = family.hidden_states(tokens)
        own = family.own_hidden_states(tokens)
    tolerance = OWN_FORWARD_TOLERANCE.get(family.kind, 1e-10)
    assert torch.allclose(ours[real], own[real], rtol=0, atol=tolerance)


def test_a_sequences_outputs_do_not_depend_on_its_batch(family):
    sequences = sequences_of(family)
    batch = family.encode(sequences)
    with torch.no_grad():
        together = family.logits(batch)
        for row, sequence in enumerate(sequences):
            alone = family.logits(family.encode([sequence]))[0]
            width = alone.shape[0]
            assert torch.allclose(together[row, :width], alone, rtol=0, atol=1e-10)


def test_encode_adds_bos_eos_padding_with_the_models_own_ids(family):
    sequences = sequences_of(family)
    tokens = family.encode(sequences, max_length=5)
    alphabet = family.alphabet
    assert tokens.shape == (len(sequences), 7)
    for row, sequence in zip(tokens.tolist(), sequences, strict=True):
        kept = sequence[:5]
        assert row[0] == family.cls_idx
        assert [alphabet.get_tok(t) for t in row[1 : len(kept) + 1]] == list(kept)
        assert row[len(kept) + 1] == family.eos_idx
        assert all(t == family.padding_idx for t in row[len(kept) + 2 :])
    residues = family.residue_token_ids()
    expected = 20 if family.molecule == "protein" else 4
    assert len(residues) == expected
    assert {alphabet.get_tok(int(t)) for t in residues} <= set(alphabet.standard_toks)
    mask = family.residue_mask(tokens)
    assert mask.sum(1).tolist() == [min(len(s), 5) for s in sequences]


def _loss(logits: torch.Tensor, tokens: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Sum of token cross-entropies at the real positions (unmasked MLM loss)."""
    losses = torch.nn.functional.cross_entropy(logits.transpose(1, 2), tokens, reduction="none")
    return (losses * real).sum()


def test_vmap_per_sample_gradients_equal_plain_autograd(family):
    tokens = family.encode(sequences_of(family))
    real = real_positions(family, tokens).double()
    target = next(
        n for n, _ in family.model.named_parameters() if n.startswith(family.last_block_prefix)
    )
    wrapper = FamilyLogits(family)
    frozen = {f"model.{n}": p.detach() for n, p in family.model.named_parameters()}
    chosen = {f"model.{target}": frozen.pop(f"model.{target}")}

    def loss_of_one(params, row_tokens, row_real):
        logits = torch.func.functional_call(wrapper, {**frozen, **params}, (row_tokens[None],))
        return _loss(logits, row_tokens[None], row_real[None])

    per_sample = torch.func.vmap(torch.func.grad(loss_of_one), in_dims=(None, 0, 0))
    gradients = per_sample(chosen, tokens, real)[f"model.{target}"]  # (B, *shape)
    parameter = dict(family.model.named_parameters())[target]
    for row in range(len(tokens)):
        family.model.zero_grad()
        _loss(
            family.logits(tokens[row : row + 1]), tokens[row : row + 1], real[row : row + 1]
        ).backward()
        expected = parameter.grad
        error = (gradients[row] - expected).norm() / expected.norm()
        assert error <= 1e-6, (row, float(error))


def test_closed_form_dense_gradient_equals_autograd(family):
    tokens = family.encode(sequences_of(family))
    real = real_positions(family, tokens).double()
    with torch.no_grad():
        hidden = family.hidden_states(tokens)  # (B, T, D)
    z = family.dense(hidden).detach().requires_grad_(True)
    (delta,) = torch.autograd.grad(_loss(family.head_after_dense(z), tokens, real), z)
    closed_form = delta.transpose(1, 2) @ hidden  # (B, D, D)
    weight = family.dense.weight
    for row in range(len(tokens)):
        family.model.zero_grad()
        _loss(
            family.logits(tokens[row : row + 1]), tokens[row : row + 1], real[row : row + 1]
        ).backward()
        error = (closed_form[row] - weight.grad).norm() / weight.grad.norm()
        assert error <= 1e-6, (row, float(error))


def test_the_molecule_is_checked(family):
    other = "rna" if family.molecule == "protein" else "protein"
    check_molecule(family, family.molecule)
    with pytest.raises(InputError) as raised:
        check_molecule(family, other, source="input.fasta")
    message = str(raised.value)
    assert message.startswith("input.fasta: ")
    assert f"the model is a {family.molecule} model but the input is {other}" in message


def test_a_module_of_no_family_is_refused():
    with pytest.raises(ConfigError, match="no model family handles Linear; families: .*fair-esm"):
        family_of(nn.Linear(2, 2), alphabet=object())


def test_a_model_without_an_alphabet_is_refused(tmp_path):
    model, _ = tiny_family_model("esmc", tmp_path)
    with pytest.raises(ConfigError, match="carries no alphabet"):
        family_of(model)
