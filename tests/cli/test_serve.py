"""``biocoreset serve``: bad runs and taken ports are refused in one line."""

from __future__ import annotations

from support.app_runs import write_run

from biocoreset_viz.cli import main
from biocoreset_viz.runs import write_json


def test_serve_command_refuses_a_bad_run_in_one_line(tmp_path, capsys) -> None:
    write_json(tmp_path / "manifest.json", {"model": "x"})
    assert main(["serve", str(tmp_path / "missing")]) == 2
    error = capsys.readouterr().err
    assert error == f"biocoreset serve: error: {tmp_path / 'missing'}: no such run directory\n"
    assert main(["serve", str(tmp_path)]) == 2  # a manifest but no scores
    assert "not a run directory" in capsys.readouterr().err


def test_serve_command_says_when_the_port_is_taken(tmp_path, capsys) -> None:
    import socket

    run_dir = write_run(tmp_path, n=30)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", str(run_dir), "--port", str(port), "--no-umap"]) == 2
    assert f"port {port} on 127.0.0.1 is already in use" in capsys.readouterr().err


def test_serve_command_refuses_a_bad_root(tmp_path, capsys) -> None:
    run_dir = write_run(tmp_path / "runs", n=30)
    assert main(["serve", str(run_dir), "--root", str(tmp_path / "elsewhere")]) == 2
    assert "the root folder does not exist" in capsys.readouterr().err
