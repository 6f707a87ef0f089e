"""Protein and RNA language models: every model family behind one ``load_model``.

``load_model(name_or_path) -> (model, alphabet)`` loads a model offline (never
downloading) and ``family_of(model)`` gives its family adapter, the one interface
the toolkit scores through (:mod:`.family`). Sequences are always tokenised by the
model's own alphabet or tokenizer.

Files, one job each:

* :mod:`.alphabets`: the RNA and protein alphabets, ``encode_batch``.
* :mod:`.vocabulary`: ``Vocabulary``, an alphabet with any token layout.
* :mod:`.batching`: ``token_budget_batches``.
* :mod:`.family`: the ``ModelFamily`` interface, ``family_of``, ``KnownModel``.
* :mod:`.checkpoints`: safe reading, format recognition, this package's own format.
* :mod:`.registry`: ``known_models``, ``model_path``, ``load_model``.
* the families: :mod:`.fair_esm` (ESM-2, ESM-1b, RNA-FM, the demo models),
  :mod:`.huggingface` (``transformers`` masked LMs), :mod:`.esmc` (ESM C),
  :mod:`.fairseq_roberta` (fairseq RoBERTa, the Sapiens antibody models);
  :mod:`.hf_cache` finds files in the Hugging Face cache.
"""

from __future__ import annotations

from biocoreset_viz.models.alphabets import (
    RNA_TOKENS,
    alphabet_for_molecule,
    alphabet_molecule,
    encode_batch,
    protein_alphabet,
    rna_alphabet,
)
from biocoreset_viz.models.batching import token_budget_batches
from biocoreset_viz.models.checkpoints import (
    CHECKPOINT_FORMAT,
    checkpoint_kind,
    checkpoint_metadata,
    save_model,
)
from biocoreset_viz.models.esmc import ESMC, EsmcFamily, esmc_vocabulary
from biocoreset_viz.models.fair_esm import (
    DEMO_MODELS,
    ESM_MODEL_URL,
    ESM_MODELS,
    RNA_FM_MODELS,
    FairEsmFamily,
    build_esm1b,
    build_esm2,
    hub_checkpoint_dir,
)
from biocoreset_viz.models.fairseq_roberta import (
    SAPIENS_MODELS,
    FairseqRoberta,
    FairseqRobertaFamily,
)
from biocoreset_viz.models.family import (
    FAMILIES,
    FamilyLogits,
    KnownModel,
    ModelFamily,
    check_molecule,
    family_of,
    parameter_count,
    register_family,
)
from biocoreset_viz.models.huggingface import HuggingFaceFamily
from biocoreset_viz.models.registry import known_models, load_model, model_catalogue, model_path
from biocoreset_viz.models.vocabulary import Vocabulary

__all__ = [
    "CHECKPOINT_FORMAT",
    "DEMO_MODELS",
    "ESMC",
    "ESM_MODELS",
    "ESM_MODEL_URL",
    "FAMILIES",
    "RNA_FM_MODELS",
    "RNA_TOKENS",
    "SAPIENS_MODELS",
    "EsmcFamily",
    "FairEsmFamily",
    "FairseqRoberta",
    "FairseqRobertaFamily",
    "FamilyLogits",
    "HuggingFaceFamily",
    "KnownModel",
    "ModelFamily",
    "Vocabulary",
    "alphabet_for_molecule",
    "alphabet_molecule",
    "build_esm1b",
    "build_esm2",
    "check_molecule",
    "checkpoint_kind",
    "checkpoint_metadata",
    "encode_batch",
    "esmc_vocabulary",
    "family_of",
    "hub_checkpoint_dir",
    "known_models",
    "load_model",
    "model_catalogue",
    "model_path",
    "parameter_count",
    "protein_alphabet",
    "register_family",
    "rna_alphabet",
    "save_model",
    "token_budget_batches",
]
