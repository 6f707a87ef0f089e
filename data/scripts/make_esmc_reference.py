"""Make the ESM C reference fixture: EvolutionaryScale's own ESMC on random weights.

EvolutionaryScale's ``esm`` package installs a top-level module named ``esm``, as
fair-esm (a dependency of this package) does, so it runs in a separate virtual
environment that this script creates::

    python data/scripts/make_esmc_reference.py            # venv in /tmp/esmc-ref-venv

It installs there ``torch==2.13.0`` (the CPU wheel), ``esm==3.2.1.post1`` with
``--no-deps`` and only the packages its ``esm.models.esmc`` module needs to import
(:data:`MODULE_DEPENDENCIES`), then reruns itself inside that environment
(``--inside``). There it builds a small ESMC (:data:`SIZE`) with the reference
classes, draws every parameter from a seeded generator (layer-norm weights too, so
a misplaced norm shows), tokenises :data:`SEQUENCES` with the reference tokenizer,
runs the reference forward in float32 and writes
``tests/models/fixtures/esmc_reference.pt``: the state dict, the sequences, the
reference tokens, logits and embeddings (the last hidden state, after the final
norm), and the versions used. ``tests/models/test_esmc.py`` compares this package's
ESM C with it. No network access is needed beyond the package registry.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "models" / "fixtures" / "esmc_reference.pt"
DEFAULT_VENV = Path("/tmp/esmc-ref-venv")
ESM_VERSION = "3.2.1.post1"
TORCH_VERSION = "2.13.0"
# what `import esm.models.esmc` and `esm.tokenization` pull in (esm's own list is far longer)
MODULE_DEPENDENCIES = (
    "einops",
    "attrs",
    "transformers<4.48.2",
    "zstd",
    "cloudpathlib",
    "tenacity",
    "pandas",
    "scipy",
    "biotite",
    "brotli",
    "msgpack-numpy",
    "biopython",
    "httpx",
)
SIZE = {"d_model": 64, "n_heads": 4, "n_layers": 2}
SEED = 0
SEQUENCES = (
    "MKTAYIAKQRQISFVKSHFSRQ",
    "MLSDEQ",
    "GSHMXXACBZUO",
    "MKVLAAGIVGLLLAWHJHH",
)


def build_environment(venv: Path) -> Path:
    """Create the reference environment (if absent) and return its Python."""
    python = venv / "bin" / "python"
    if not python.is_file():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, f"torch=={TORCH_VERSION}"], check=True)
    subprocess.run([*pip, "--no-deps", f"esm=={ESM_VERSION}"], check=True)
    subprocess.run([*pip, *MODULE_DEPENDENCIES], check=True)
    return python


def make_fixture(out: Path) -> None:
    """Inside the reference environment: build, run and save (imports EvolutionaryScale's esm)."""
    from importlib.metadata import version

    import torch
    from esm.models.esmc import ESMC
    from esm.tokenization import get_esmc_model_tokenizers

    torch.manual_seed(SEED)
    tokenizer = get_esmc_model_tokenizers()
    model = ESMC(**SIZE, tokenizer=tokenizer, use_flash_attn=False).eval()
    generator = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            noise = torch.randn(parameter.shape, generator=generator)
            if parameter.ndim == 1 and name.endswith("weight"):  # layer-norm scales
                parameter.copy_(1.0 + 0.2 * noise)
            elif parameter.ndim == 1:  # biases
                parameter.copy_(0.1 * noise)
            else:
                parameter.copy_(noise / parameter.shape[-1] ** 0.5)
    tokens = model._tokenize(list(SEQUENCES))  # (B, T), reference tokenizer and padding
    with torch.no_grad():
        output = model(sequence_tokens=tokens)
    fixture = {
        "size": SIZE,
        "seed": SEED,
        "sequences": list(SEQUENCES),
        "tokens": tokens.clone(),
        "logits": output.sequence_logits.float().clone(),
        "embeddings": output.embeddings.float().clone(),
        "state_dict": {key: value.clone() for key, value in model.state_dict().items()},
        "versions": {"esm": version("esm"), "torch": str(torch.__version__)},
        "made_by": "data/scripts/make_esmc_reference.py",
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(fixture, out)
    print(f"{out}: {out.stat().st_size:,} bytes, tokens {tuple(tokens.shape)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="reference environment")
    parser.add_argument("--out", type=Path, default=FIXTURE, help="fixture file")
    parser.add_argument("--inside", action="store_true", help="(run inside the environment)")
    args = parser.parse_args()
    if args.inside:
        make_fixture(args.out)
        return
    python = build_environment(args.venv)
    subprocess.run([str(python), __file__, "--inside", "--out", str(args.out)], check=True)


if __name__ == "__main__":
    main()
