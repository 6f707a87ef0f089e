"""The settings of a score: what defines it, how it runs, and the config that joins them.

* :class:`ScoreSettings`: everything that changes the scores beyond rounding (targets,
  loss, masks, damping, max length, seed, Fisher subset, dtype, precision). A score's
  identity in the run directory is ``ScoreSettings.to_dict()``.
* :class:`RuntimeOptions`: how the work runs (device, token budget, shard size,
  packing, compilation); only rounding changes with them (the shard size changes the
  run directory's layout, which is recorded apart).
* :class:`InfluenceConfig`: the two in one flat, backward-compatible object
  (``InfluenceConfig(fisher_subset=0.1, device="cpu")``), with ``.score_settings``
  and ``.runtime`` views.
* :class:`FinetuneSettings`: the optional MLM fine-tune on the Fisher subset.

Torch-free, so the settings and their help can be read without loading a model.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from biocoreset_viz.errors import ConfigError
from biocoreset_viz.settings import DocumentedSettings, check_device, help_metadata

if TYPE_CHECKING:
    from biocoreset_viz.influence.encoder import ForwardOptions

DTYPE_NAMES = ("bfloat16", "float32", "float64")


@dataclass(frozen=True)
class ScoreSettings(DocumentedSettings):
    """What a score is: the settings that change self-influence beyond rounding."""

    target: str | list[str] = field(
        default="lm_head.dense.weight",
        metadata=help_metadata(
            "target parameters theta_T: 'lm_head.dense.weight' (default), 'lm_head', "
            "'last_block', 'all', a parameter name, a list of names, or a regular "
            "expression matched against full parameter names"
        ),
    )
    loss: Literal["reconstruction", "mlm"] = field(
        default="reconstruction",
        metadata=help_metadata(
            "'reconstruction': unmasked cross-entropy of the logits against the input "
            "tokens, averaged over the sequence's non-padding tokens (BOS and EOS "
            "included); 'mlm': BERT-style masking averaged over mlm_draws seeded draws"
        ),
    )
    mlm_draws: int = field(
        default=4, metadata=help_metadata("mask draws m per sequence for loss='mlm'")
    )
    mask_prob: float = field(
        default=0.15, metadata=help_metadata("fraction of residues masked per draw (loss='mlm')")
    )
    reference_padding: bool = field(
        default=False,
        metadata=help_metadata(
            "reproduce the published code's loss: pad every sequence to reference_window "
            "tokens and average the cross-entropy over the whole window, padding "
            "included (scores then depend on padding; for comparison runs only)"
        ),
    )
    reference_window: int = field(
        default=1024, metadata=help_metadata("window length of reference_padding, in tokens")
    )
    damping: float = field(
        default=1e-8,
        metadata=help_metadata(
            "damping lambda added to the Fisher (absolute, or a factor, see damping_mode)"
        ),
    )
    damping_mode: Literal["absolute", "relative"] = field(
        default="absolute",
        metadata=help_metadata(
            "'absolute': lambda = damping; 'relative': lambda = damping * mean(F)"
        ),
    )
    max_length: int | None = field(
        default=None,
        metadata=help_metadata(
            "longest sequence scored, in residues; None = the model's limit (1,022 "
            "residues for ESM-2 and for RNA-FM's 1,024 positions)"
        ),
    )
    truncation: Literal["head", "error"] = field(
        default="head",
        metadata=help_metadata(
            "longer sequences: 'head' keeps the first max_length residues (flagged "
            "'truncated' and counted in the manifest); 'error' stops with the record named"
        ),
    )
    seed: int = field(
        default=0,
        metadata=help_metadata("seed of the Fisher subset, the fine-tune and the MLM masks"),
    )
    fisher_subset: int | float = field(
        default=0.1,
        metadata=help_metadata(
            "Fisher subset S: a fraction of the pool (float in (0, 1]) or a count (int >= 1)"
        ),
    )
    dtype: Literal["float32", "float64", "bfloat16"] = field(
        default="float32", metadata=help_metadata("dtype of the model while scoring")
    )
    precision: Literal["full", "bf16"] = field(
        default="full",
        metadata=help_metadata(
            "'full': every step in dtype; 'bf16' (GPU fast path for the LM-head targets, "
            "needs dtype='float32'): "
            "the encoder's matrix products under bfloat16 autocast with float32 weights, "
            "layer norms and residual stream, while the LM head, the loss, the per-sample "
            "gradients, the Fisher and the scores stay float32/float64 (scores agree with "
            "'full' to about 1e-3 relative; they are recorded as a different run)"
        ),
    )
    # last, so that positional arguments keep their places
    reduction: Literal["mean", "sum"] = field(
        default="mean",
        metadata=help_metadata(
            "the per-sequence loss over its counted tokens: 'mean' (the paper; a short "
            "sequence's few tokens weigh as much as a long one's many) or 'sum' (every "
            "token weighs the same, so long sequences get larger losses and gradients)"
        ),
    )

    def __post_init__(self) -> None:
        self._check_target()
        if self.loss not in ("reconstruction", "mlm"):
            raise ConfigError(f"loss must be 'reconstruction' or 'mlm', got {self.loss!r}")
        if not isinstance(self.mlm_draws, int) or self.mlm_draws < 1:
            raise ConfigError(f"mlm_draws must be an integer >= 1, got {self.mlm_draws!r}")
        if not 0 < self.mask_prob < 1:
            raise ConfigError(f"mask_prob must be in (0, 1), got {self.mask_prob!r}")
        if self.reference_padding and self.loss != "reconstruction":
            raise ConfigError("reference_padding applies to loss='reconstruction' only")
        if not isinstance(self.reference_window, int) or self.reference_window < 3:
            raise ConfigError(
                f"reference_window must be an integer >= 3, got {self.reference_window!r}"
            )
        if not (math.isfinite(self.damping) and self.damping >= 0):
            raise ConfigError(f"damping must be finite and >= 0, got {self.damping!r}")
        if self.damping_mode not in ("absolute", "relative"):
            raise ConfigError(
                f"damping_mode must be 'absolute' or 'relative', got {self.damping_mode!r}"
            )
        if self.max_length is not None and (
            not isinstance(self.max_length, int) or self.max_length < 1
        ):
            raise ConfigError(
                f"max_length must be None or an integer >= 1, got {self.max_length!r}"
            )
        if self.truncation not in ("head", "error"):
            raise ConfigError(f"truncation must be 'head' or 'error', got {self.truncation!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ConfigError(f"seed must be an integer, got {self.seed!r}")
        self._check_fisher_subset()
        if self.dtype not in DTYPE_NAMES:
            raise ConfigError(f"dtype must be one of {list(DTYPE_NAMES)}, got {self.dtype!r}")
        if self.precision not in ("full", "bf16"):
            raise ConfigError(f"precision must be 'full' or 'bf16', got {self.precision!r}")
        if self.reduction not in ("mean", "sum"):
            raise ConfigError(f"reduction must be 'mean' or 'sum', got {self.reduction!r}")
        if self.reduction == "sum" and self.reference_padding:
            raise ConfigError(
                "reference_padding averages over the whole padded window (the published "
                "loss); reduction='sum' sums a sequence's own tokens: use one or the other"
            )
        if self.precision == "bf16" and self.dtype != "float32":
            raise ConfigError(
                "precision='bf16' autocasts a float32 model: use dtype='float32' "
                f"(got dtype={self.dtype!r}; dtype='bfloat16' casts the whole model instead)"
            )

    def _check_target(self) -> None:
        if isinstance(self.target, (list, tuple)):
            if not self.target or not all(isinstance(t, str) and t for t in self.target):
                raise ConfigError("target: a list of target names must be non-empty strings")
            object.__setattr__(self, "target", list(self.target))  # frozen: normalised once
        elif not isinstance(self.target, str) or not self.target:
            raise ConfigError(f"target must be a non-empty string or list, got {self.target!r}")

    def _check_fisher_subset(self) -> None:
        subset = self.fisher_subset
        valid_fraction = isinstance(subset, float) and 0 < subset <= 1
        valid_count = isinstance(subset, int) and not isinstance(subset, bool) and subset >= 1
        if not (valid_fraction or valid_count):
            raise ConfigError(
                f"fisher_subset must be a fraction in (0, 1] or a count >= 1, got {subset!r}"
            )


@dataclass(frozen=True)
class RuntimeOptions(DocumentedSettings):
    """How a score is computed: options that change rounding, speed and layout only."""

    device: str = field(
        default="auto",
        metadata=help_metadata("'auto' (CUDA when available), 'cpu', 'cuda', 'cuda:1' ..."),
    )
    max_tokens: int = field(
        default=8192, metadata=help_metadata("token budget per batch, padding included")
    )
    shard_size: int = field(
        default=4096,
        metadata=help_metadata(
            "sequences per Parquet shard: the unit of work redone after a crash"
        ),
    )
    packing: bool = field(
        default=False,
        metadata=help_metadata(
            "padding-free packing (GPU fast path): each batch runs as one row of "
            "concatenated sequences, attention per sequence through nested tensors (the "
            "variable-length flash kernel on CUDA in bf16); the whole forward of the "
            "LM-head targets, the embedding pass of others; equal to the padded forward "
            "up to rounding; not with reference_padding"
        ),
    )
    compile: bool = field(
        default=False,
        metadata=help_metadata(
            "torch.compile the encoder (dynamic shapes; as packing, the whole forward of "
            "the LM-head targets, the embedding pass of others); off by default: "
            "compiling costs tens of seconds and measured no gain on an H100"
        ),
    )

    def __post_init__(self) -> None:
        if not isinstance(self.max_tokens, int) or self.max_tokens < 1:
            raise ConfigError(f"max_tokens must be an integer >= 1, got {self.max_tokens!r}")
        check_device(self.device)
        if not isinstance(self.shard_size, int) or self.shard_size < 1:
            raise ConfigError(f"shard_size must be an integer >= 1, got {self.shard_size!r}")
        for flag in ("packing", "compile"):
            if not isinstance(getattr(self, flag), bool):
                raise ConfigError(f"{flag} must be True or False, got {getattr(self, flag)!r}")


def check_compatible(settings: ScoreSettings, runtime: RuntimeOptions) -> None:
    """Refuse runtime options that cannot compute these settings' scores."""
    if runtime.packing and settings.reference_padding:
        raise ConfigError(
            "packing removes padding, which reference_padding counts in the loss: "
            "use one or the other"
        )


def _field_of(part: type, name: str) -> Any:
    """A field with the default and help text of ``part``'s field (each defined once)."""
    original = part.__dataclass_fields__[name]
    return field(default=original.default, metadata=original.metadata)


@dataclass
class InfluenceConfig(DocumentedSettings):
    """How self-influence is computed: the score settings and runtime options in one.

    Every keyword of :class:`ScoreSettings` and :class:`RuntimeOptions` is a field
    (in the order of earlier versions, so positional use and saved configs keep
    working), validated on creation by those two classes. ``.score_settings`` and
    ``.runtime`` are the two parts; ``InfluenceConfig.help()`` documents each field.
    """

    target: str | list[str] = _field_of(ScoreSettings, "target")
    loss: Literal["reconstruction", "mlm"] = _field_of(ScoreSettings, "loss")
    mlm_draws: int = _field_of(ScoreSettings, "mlm_draws")
    mask_prob: float = _field_of(ScoreSettings, "mask_prob")
    reference_padding: bool = _field_of(ScoreSettings, "reference_padding")
    reference_window: int = _field_of(ScoreSettings, "reference_window")
    damping: float = _field_of(ScoreSettings, "damping")
    damping_mode: Literal["absolute", "relative"] = _field_of(ScoreSettings, "damping_mode")
    max_length: int | None = _field_of(ScoreSettings, "max_length")
    truncation: Literal["head", "error"] = _field_of(ScoreSettings, "truncation")
    max_tokens: int = _field_of(RuntimeOptions, "max_tokens")
    dtype: Literal["float32", "float64", "bfloat16"] = _field_of(ScoreSettings, "dtype")
    device: str = _field_of(RuntimeOptions, "device")
    seed: int = _field_of(ScoreSettings, "seed")
    fisher_subset: int | float = _field_of(ScoreSettings, "fisher_subset")
    shard_size: int = _field_of(RuntimeOptions, "shard_size")
    precision: Literal["full", "bf16"] = _field_of(ScoreSettings, "precision")
    packing: bool = _field_of(RuntimeOptions, "packing")
    compile: bool = _field_of(RuntimeOptions, "compile")
    reduction: Literal["mean", "sum"] = _field_of(ScoreSettings, "reduction")

    def __post_init__(self) -> None:
        settings = self.score_settings  # validates the score's fields
        self.target = settings.target
        check_compatible(settings, self.runtime)

    @property
    def score_settings(self) -> ScoreSettings:
        """The fields that define the score (its identity)."""
        return ScoreSettings(**_values(self, ScoreSettings))

    @property
    def runtime(self) -> RuntimeOptions:
        """The fields that say how the score runs."""
        return RuntimeOptions(**_values(self, RuntimeOptions))

    @classmethod
    def from_parts(cls, settings: ScoreSettings, runtime: RuntimeOptions) -> InfluenceConfig:
        """The config of a score's settings and runtime options."""
        return cls(**settings.to_dict(), **runtime.to_dict())

    def score_key(self) -> dict[str, Any]:
        """The identity of a score as run directories made before :class:`ScoreSettings`
        recorded it: the score settings and the shard size, ``precision`` left out when
        ``"full"`` (see :func:`biocoreset_viz.influence.identity.legacy_score_key`)."""
        from biocoreset_viz.influence.identity import legacy_score_key

        return legacy_score_key(self.score_settings, self.shard_size)

    def forward_options(self) -> ForwardOptions:
        """How the encoder runs: precision, packing, compilation."""
        from biocoreset_viz.influence.encoder import ForwardOptions

        return ForwardOptions(self.precision, self.packing, self.compile)


def _values(config: InfluenceConfig, part: type) -> dict[str, Any]:
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(part)}


def split_config(
    config: InfluenceConfig | ScoreSettings | None, runtime: RuntimeOptions | None = None
) -> tuple[ScoreSettings, RuntimeOptions]:
    """``(settings, runtime)`` of an :class:`InfluenceConfig`, or of settings and options.

    Raises:
        ConfigError: an InfluenceConfig with a separate ``runtime`` (it has its own), or
            runtime options that cannot compute the settings' scores.
    """
    if isinstance(config, InfluenceConfig):
        if runtime is not None:
            raise ConfigError("an InfluenceConfig carries its runtime options: pass runtime=None")
        return config.score_settings, config.runtime
    settings = config if config is not None else ScoreSettings()
    runtime = runtime if runtime is not None else RuntimeOptions()
    check_compatible(settings, runtime)
    return settings, runtime


def as_score_settings(config: InfluenceConfig | ScoreSettings | None) -> ScoreSettings:
    """The score settings of a config (default :class:`ScoreSettings`)."""
    if isinstance(config, InfluenceConfig):
        return config.score_settings
    return config if config is not None else ScoreSettings()


@dataclass
class FinetuneSettings(DocumentedSettings):
    """The optional MLM fine-tune on the Fisher subset (design §2)."""

    epochs: int = field(
        default=1, metadata=help_metadata("passes over the Fisher subset; 0 skips it")
    )
    learning_rate: float = field(default=1e-4, metadata=help_metadata("peak AdamW learning rate"))

    def __post_init__(self) -> None:
        if not isinstance(self.epochs, int) or isinstance(self.epochs, bool) or self.epochs < 0:
            raise ConfigError(f"finetune epochs must be an integer >= 0, got {self.epochs!r}")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ConfigError(f"finetune learning_rate must be > 0, got {self.learning_rate!r}")
