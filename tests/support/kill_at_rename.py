"""A test-only driver that SIGKILLs a scoring run at every rename of its run directory.

Every file of a run directory is written to a temporary name and renamed into
place (``os.replace``), so the renames are the moments a kill can leave a
directory half-made. Run as a script (``python kill_at_rename.py PLAN.json``), this
driver imports the package once, then forks one child per scoring attempt:

1. the driver itself scores the pool into ``reference`` with no hook (which also
   warms up what the children inherit: imports, first-call set-ups);
2. for each mode, ``before`` (the temporary file written, the rename not done) and
   ``after`` (the rename done), a chain of children scores into ``run_dir/<mode>``,
   each with a hook on ``os.replace`` that kills it (``SIGKILL``, no cleanup) at
   its first rename into that directory not killed at before (a rename is known by
   its file and by how many times this child renamed that file: the manifest is
   written twice); a child resumes what the previous one left, so the chain stops
   at every rename of a run, stage redone or not, until a child finishes;
3. a last child per mode resumes once more with no hook.

Each child appends ``{"mode", "file", "nth"}`` to its chain's kill log before it
dies; the driver prints a JSON report (the kills, in order, and every child's exit
status). The hook lives here, in the tests: the library has no kill points.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

MODES = ("before", "after")


def _kills(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def _arm(run_dir: Path, mode: str, log: Path) -> None:
    """Kill this process at its first rename into ``run_dir`` not killed at before."""
    real_replace = os.replace
    done = {(kill["file"], kill["nth"]) for kill in _kills(log)}
    renamed: dict[str, int] = {}

    def replace_or_die(source, target, *args, **kwargs):
        path = Path(target).resolve()
        if not str(path).startswith(str(run_dir) + os.sep):
            return real_replace(source, target, *args, **kwargs)
        relative = str(path.relative_to(run_dir))
        renamed[relative] = renamed.get(relative, 0) + 1
        if (relative, renamed[relative]) in done:
            return real_replace(source, target, *args, **kwargs)
        if mode == "after":
            real_replace(source, target, *args, **kwargs)
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"mode": mode, "file": relative, "nth": renamed[relative]}))
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.kill(os.getpid(), signal.SIGKILL)
        return None

    os.replace = replace_or_die


def _score(plan: dict, run_dir: Path) -> None:
    """One scoring attempt, as ``biocoreset score`` runs it (local engine)."""
    import torch

    from biocoreset_viz.influence import FinetuneSettings, InfluenceConfig, score_run
    from biocoreset_viz.sequences import read_sequences

    torch.set_num_threads(1)
    config = InfluenceConfig(
        shard_size=plan["shard_size"], fisher_subset=plan["fisher_subset"], device="cpu"
    )
    score_run(
        read_sequences(plan["fasta"]),
        plan["model"],
        run_dir,
        config,
        finetune_settings=FinetuneSettings(epochs=plan["epochs"]),
        progress=False,
    )


def _child(plan: dict, run_dir: Path, mode: str | None, log: Path) -> int:
    """Fork a child that scores (armed with ``mode``); its exit status (-9: killed)."""
    pid = os.fork()
    if pid == 0:
        status = 0
        try:
            if mode is not None:
                _arm(run_dir, mode, log)
            _score(plan, run_dir)
        except BaseException as error:  # report and fail, never return into the driver
            print(f"child failed: {type(error).__name__}: {error}", file=sys.stderr)
            status = 1
        os._exit(status)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def main(plan_path: str) -> None:
    plan = json.loads(Path(plan_path).read_text())
    _score(plan, Path(plan["reference"]).resolve())  # one thread: safe to fork after it
    report: dict = {}
    for mode in MODES:
        run_dir = Path(plan["run_dir"]).resolve() / mode
        log = run_dir.parent / f"kills-{mode}.jsonl"
        chain: list[int] = []
        while len(chain) < plan.get("max_attempts", 40):
            chain.append(_child(plan, run_dir, mode, log))
            if chain[-1] != -signal.SIGKILL:
                break
        last = _child(plan, run_dir, None, log)
        report[mode] = {"chain": chain, "last": last, "kills": _kills(log)}
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1])
