"""Derive the antibody demo table ``data/antibody_demo.csv.gz`` from the installed ``anarci``.

ANARCI (BSD-3-Clause) ships the IMGT germline genes of eight species in
``anarci/germlines.py`` as one dictionary literal,
``all_germlines[segment][chain][species][allele] = IMGT-gapped sequence``. Run from
the repository root with the pinned version installed (``--no-deps``: only the
file is read, never imported, so HMMER and biopython are not needed)::

    pip install --no-deps anarci==2026.2.13.2
    python data/scripts/derive_antibody_data.py

It keeps every immunoglobulin V gene (chains H, K and L; the T-cell receptor
chains A, B, G and D are left out), removes the IMGT alignment gaps (``-``), and
writes one row per allele in the file's order with the labels ``gene``,
``allele``, ``chain`` (heavy, kappa, lambda) and ``species``; then the anarci
licence into ``THIRD_PARTY_LICENSES.md``. The output is byte-identical from run to run.
"""

from __future__ import annotations

import argparse
import ast
from importlib.metadata import distribution
from pathlib import Path

import pandas as pd
from derive_demo_data import write_csv_gz
from licences import licence_section, update_licences

DATA_DIR = Path(__file__).resolve().parents[1]
PINNED = "2026.2.13.2"
GERMLINES = "anarci/germlines.py"
LICENCE = f"anarci-{PINNED}.dist-info/licenses/LICENCE"
OUTPUT = "antibody_demo.csv.gz"
CHAINS = {"H": "heavy", "K": "kappa", "L": "lambda"}
RESIDUES = set("ACDEFGHIKLMNPQRSTVWY")


def anarci_file(relpath: str) -> Path:
    installed = distribution("anarci")
    if installed.version != PINNED:
        raise SystemExit(f"anarci {installed.version} is installed; this script needs {PINNED}")
    path = Path(installed.locate_file(relpath))
    if not path.is_file():
        raise SystemExit(f"{relpath} is missing from the installed anarci")
    return path


def read_germlines() -> dict:
    """``all_germlines`` from germlines.py, parsed as a literal (the module is never run)."""
    tree = ast.parse(anarci_file(GERMLINES).read_text())
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and statement.targets[0].id == "all_germlines":
            return ast.literal_eval(statement.value)
    raise SystemExit(f"{GERMLINES} has no all_germlines")


def derive_antibody(germlines: dict) -> pd.DataFrame:
    """One row per immunoglobulin V allele: id, sequence, gene, allele, chain, species."""
    rows = []
    for chain, chain_name in CHAINS.items():
        for species, alleles in germlines["V"][chain].items():
            for allele, gapped in alleles.items():
                sequence = gapped.replace("-", "")
                if not set(sequence) <= RESIDUES:
                    raise SystemExit(f"{allele} ({species}): unexpected letters in {sequence!r}")
                rows.append(
                    {
                        "id": f"{allele}_{species}",
                        "sequence": sequence,
                        "gene": allele.split("*", 1)[0],
                        "allele": allele,
                        "chain": chain_name,
                        "species": species,
                    }
                )
    frame = pd.DataFrame(rows)
    if frame["id"].duplicated().any():
        raise SystemExit("allele ids are not unique")
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="output folder (default: data/)")
    args = parser.parse_args()
    frame = derive_antibody(read_germlines())
    path = args.out / OUTPUT
    write_csv_gz(frame, path)
    print(f"{path.name}: {len(frame):,} rows, {path.stat().st_size:,} bytes")
    print(frame.groupby(["chain", "species"]).size().to_string())
    print(
        f"distinct sequences: {frame['sequence'].nunique():,}; lengths {frame['sequence'].str.len().min()}-{frame['sequence'].str.len().max()}"
    )
    section = licence_section(
        "anarci", PINNED, "BSD-3-Clause", OUTPUT, anarci_file(LICENCE).read_text()
    )
    update_licences(args.out / "THIRD_PARTY_LICENSES.md", {"anarci": section})


if __name__ == "__main__":
    main()
