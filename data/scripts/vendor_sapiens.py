"""Vendor the trained Sapiens antibody language models as ``data/sapiens_vh.pt`` and ``sapiens_vl.pt``.

Sapiens 1.0.5 (PyPI, MIT) ships two fairseq RoBERTa masked LMs trained on human
antibody heavy (VH) and light (VL) chains. fairseq does not install here, so the
wheel is read as a zip file, never installed::

    pip download --no-deps sapiens==1.0.5 -d /tmp/sapiens
    python data/scripts/vendor_sapiens.py /tmp/sapiens/sapiens-1.0.5-py3-none-any.whl

For each checkpoint it keeps only the model weights (no optimizer state, no training
arguments beyond the architecture), in float32, in this package's checkpoint format
with the provenance in the metadata, and writes the wheel's MIT licence into
``THIRD_PARTY_LICENSES.md``. The same wheel gives byte-identical files.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import zipfile
from pathlib import Path

from licences import licence_section, update_licences

from biocoreset_viz.models.checkpoints import read_checkpoint, save_model
from biocoreset_viz.models.fairseq_roberta import SAPIENS_MODELS, model_from_fairseq_checkpoint

DATA_DIR = Path(__file__).resolve().parents[1]
WHEEL_NAME = "sapiens-1.0.5-py3-none-any.whl"
MODEL_DIR = "sapiens/models/v1"
CHECKPOINTS = {"sapiens-vh": "checkpoint_vh.pt", "sapiens-vl": "checkpoint_vl.pt"}
LICENCE = "sapiens-1.0.5.dist-info/LICENSE"
# the training arguments worth keeping with the weights (the rest are run paths and flags)
KEPT_ARGS = (
    "arch",
    "task",
    "criterion",
    "max_positions",
    "tokens_per_sample",
    "mask_prob",
    "leave_unmasked_prob",
    "random_token_prob",
    "label_smoothing",
    "max_epoch",
    "data",
)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def vendor(wheel: Path, out_dir: Path) -> None:
    """Write both models and the licence section from the Sapiens wheel."""
    with zipfile.ZipFile(wheel) as archive, tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        (folder / "dict.txt").write_bytes(archive.read(f"{MODEL_DIR}/dict.txt"))
        for name, file_name in CHECKPOINTS.items():
            raw = archive.read(f"{MODEL_DIR}/{file_name}")
            path = folder / file_name
            path.write_bytes(raw)
            # the pinned wheel's pickle holds argparse and optimizer objects: trusted here
            data = read_checkpoint(path, trusted=True)
            model, vocabulary = model_from_fairseq_checkpoint(data, path)
            args = vars(data["args"])
            metadata = {
                "source": f"sapiens 1.0.5 (PyPI, MIT), {MODEL_DIR}/{file_name}",
                "source_sha256": sha256(raw),
                "chain": SAPIENS_MODELS[name][1],
                "training_args": {key: args[key] for key in KEPT_ARGS if key in args},
                "licence": "MIT (Merck Sharp & Dohme Corp.), see THIRD_PARTY_LICENSES.md",
            }
            target = out_dir / SAPIENS_MODELS[name][0]
            save_model(model, vocabulary, target, metadata=metadata)
            print(f"{target.name}: {target.stat().st_size:,} bytes from {file_name}")
        licence = archive.read(LICENCE).decode("utf-8")
    used_in = ", ".join(file for file, _ in SAPIENS_MODELS.values())
    section = licence_section("sapiens", "1.0.5", "MIT", used_in, licence)
    update_licences(out_dir / "THIRD_PARTY_LICENSES.md", {"sapiens": section})
    print(f"wheel sha256 {sha256(wheel.read_bytes())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help=f"the downloaded {WHEEL_NAME}")
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="output folder (default: data/)")
    args = parser.parse_args()
    if args.wheel.name != WHEEL_NAME:
        sys.exit(f"expected {WHEEL_NAME}, got {args.wheel.name}")
    vendor(args.wheel, args.out)


if __name__ == "__main__":
    main()
