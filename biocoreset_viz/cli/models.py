"""``biocoreset models``: the model names the toolkit knows and whether their weights are here."""

from __future__ import annotations

import argparse

from biocoreset_viz.cli import add_command

COLUMNS = ("name", "family", "molecule", "default target", "weights")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers,
        "models",
        run,
        summary="the models the toolkit knows and whether their weights are here",
        description="List every model name that `biocoreset score --model` accepts, with "
        "its family, molecule, default target parameter and whether its weights are on "
        "this machine (nothing is downloaded). Paths of checkpoint files, folders written "
        "by save_pretrained and cached Hugging Face names are accepted too.",
    )
    parser.add_argument(
        "--where",
        action="store_true",
        help="also say where each model's weights are, or where they must be put",
    )
    parser.add_argument(
        "--present", action="store_true", help="list only the models whose weights are here"
    )


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def run(args: argparse.Namespace) -> int:
    from biocoreset_viz.errors import ModelNotFoundError
    from biocoreset_viz.models import model_catalogue

    rows: list[tuple[str, ...]] = [COLUMNS]
    locations: list[str] = []
    for known in model_catalogue().values():
        try:
            where = str(known.locate())
            present = True
        except ModelNotFoundError as error:
            where, present = str(error), False
        if args.present and not present:
            continue
        rows.append(
            (
                known.name,
                known.family,
                known.molecule,
                known.default_target,
                "present" if present else "absent",
            )
        )
        locations.append(f"{known.name}: {where}")
    for line in _table(rows):
        print(line)
    if args.where:
        print()
        for line in locations:
            print(line)
    return 0
