"""Install metadata: environment.yml agrees with pyproject.toml; bundled data ships."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from support.imports import modules_loaded_by

ROOT = Path(__file__).resolve().parents[1]


def _normalised(requirements: list[str]) -> dict[str, str]:
    parsed = (Requirement(r) for r in requirements)
    return {r.name.lower().replace("_", "-"): str(r.specifier) for r in parsed}


def _environment_pip_requirements() -> list[str]:
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_sections = [d["pip"] for d in environment["dependencies"] if isinstance(d, dict)]
    assert len(pip_sections) == 1, "environment.yml needs exactly one pip: section"
    return [r for r in pip_sections[0] if not r.startswith("-e")]


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + [
        r for extra in project["optional-dependencies"].values() for r in extra
    ]
    assert _normalised(_environment_pip_requirements()) == _normalised(declared)


def test_environment_yml_pins_python_311():
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in environment["dependencies"]


def test_environment_yml_installs_the_project():
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip_section


def test_every_public_name_resolves():
    import biocoreset_viz

    missing = [
        name for name in biocoreset_viz.__all__ if getattr(biocoreset_viz, name, None) is None
    ]
    assert not missing


def test_importing_the_package_loads_no_heavy_dependency():
    watched = ("torch", "panel", "holoviews", "umap")
    assert modules_loaded_by("biocoreset_viz, biocoreset_viz.cli", watched) == []


def test_every_subpackage_is_listed_for_the_wheel():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(project["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "biocoreset_viz").rglob("__init__.py")
    }
    assert found - listed == set(), "add these packages to [tool.setuptools] packages"
