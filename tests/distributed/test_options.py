"""The Ray engine's options, and Ray as an optional extra (a one-line error without it)."""

from __future__ import annotations

import builtins
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from biocoreset_viz.cli import main
from biocoreset_viz.distributed import RayNotInstalledError, RayOptions, require_ray
from biocoreset_viz.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def without_ray(monkeypatch):
    """Make ``import ray`` fail, as on a machine without the extra."""
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    for name in [m for m in sys.modules if m == "ray" or m.startswith("ray.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(builtins, "__import__", fake_import)


def test_missing_ray_says_how_to_install_it(without_ray, pool_files, tmp_path, capsys):
    with pytest.raises(RayNotInstalledError, match=r'pip install "biocoreset_viz\[distributed\]"'):
        require_ray()
    status = main(
        ["score", str(pool_files["single"]), "--model", str(pool_files["model"]),
         "--out", str(tmp_path / "run"), "--engine", "ray", "--quiet"]
    )  # fmt: skip
    assert status == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error
    assert error.startswith("biocoreset score: error: the Ray engine needs Ray Data")


def test_ray_options_are_validated():
    with pytest.raises(ConfigError, match="num_actors"):
        RayOptions(num_actors=0)
    with pytest.raises(ConfigError, match="cpus_per_actor"):
        RayOptions(cpus_per_actor=0)


def test_distributed_extra_is_declared_in_pyproject_and_environment_yml():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    (requirement,) = extras["distributed"]
    assert requirement.startswith("ray[data]>=")
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    assert requirement in pip_section
