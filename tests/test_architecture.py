"""The package's import rules and size limits (docs/architecture.md), checked on its source.

Each rule is read from the abstract syntax tree of every module, so it holds for
code paths no other test runs; the dashboard's "no torch" rule is also checked by
importing it in a fresh interpreter.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from support.imports import modules_loaded_by

PACKAGE = Path(__file__).resolve().parents[1] / "biocoreset_viz"
# Notebook and dashboard libraries: the faces' business, never the core's at import time.
FACE_LIBRARIES = ("panel", "param", "holoviews", "bokeh", "datashader", "ipywidgets", "IPython")
TORCH_SIDE = ("torch", "esm", "transformers")
MAX_MODULE_LINES = 800
MAX_FUNCTION_LINES = 120


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, *, module_level_only: bool) -> list[str]:
    """Absolute names a module imports, at its top level only or anywhere in it."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if module_level_only else list(ast.walk(tree))
    if module_level_only:  # imports under a top-level `if TYPE_CHECKING:` do not run
        nodes = [n for n in nodes if not isinstance(n, ast.If)]
    found = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(node.module)
            found += [f"{node.module}.{alias.name}" for alias in node.names]
    return found


def _starts(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _violations(paths: list[Path], banned: tuple[str, ...], *, module_level_only: bool) -> list:
    return [
        (_name(path), name)
        for path in paths
        for name in _imports(path, module_level_only=module_level_only)
        if _starts(name, banned)
    ]


def _in(*subpackages: str) -> list[Path]:
    return [p for p in _modules() if p.relative_to(PACKAGE).parts[0] in subpackages]


def _outside(*subpackages: str) -> list[Path]:
    inside = set(_in(*subpackages))
    return [p for p in _modules() if p not in inside]


def test_the_core_imports_no_notebook_or_dashboard_library_at_import_time():
    core = _outside("app", "cli")
    assert _violations(core, FACE_LIBRARIES, module_level_only=True) == []


def test_selection_works_on_scores_alone():
    banned = TORCH_SIDE + tuple(
        f"biocoreset_viz.{m}" for m in ("influence", "models", "forward", "train", "distributed")
    )
    assert _violations(_in("selection"), banned, module_level_only=False) == []


def test_plots_are_pure_functions_of_tables():
    plots = [p for p in _modules() if _name(p) == "biocoreset_viz.plots"]
    banned = ("biocoreset_viz.app", "biocoreset_viz.selection", *TORCH_SIDE)
    assert plots and _violations(plots, banned, module_level_only=False) == []


def test_the_dashboard_imports_no_torch_side_module():
    banned = TORCH_SIDE + tuple(
        f"biocoreset_viz.{m}" for m in ("influence", "models", "forward", "train", "distributed")
    )
    assert _violations(_in("app"), banned, module_level_only=False) == []


def test_the_library_never_calls_its_faces():
    library = [p for p in _outside("app", "cli") if p.name != "__main__.py"]
    faces = ("biocoreset_viz.app", "biocoreset_viz.cli")
    assert _violations(library, faces, module_level_only=False) == []
    assert _violations(_in("app"), ("biocoreset_viz.cli",), module_level_only=False) == []


def test_importing_the_dashboard_loads_no_torch():
    imports = "biocoreset_viz.app.dashboard, biocoreset_viz.app.server"
    assert modules_loaded_by(imports, ("torch", "esm", "transformers")) == []


@pytest.mark.parametrize("path", _modules(), ids=_name)
def test_every_module_says_its_job_and_stays_small(path: Path):
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    if text.strip():
        assert ast.get_docstring(tree), f"{_name(path)} has no opening docstring"
    assert len(text.splitlines()) <= MAX_MODULE_LINES
    long_functions = [
        (node.name, node.end_lineno - node.lineno + 1)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long_functions == []
