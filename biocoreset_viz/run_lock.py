"""One writer per run directory: the writer lock a scoring run holds from start to end.

``RUN_DIR/.lock`` is locked with ``fcntl.flock`` (released by the kernel when its
process ends, a kill included) and records its writer: pid, host, start time and
command. A second writer is refused with one line naming the first
(:class:`RunLock`); a lock left by a writer that died is taken over with a notice
(a ``logging`` warning, printed on stderr when logging is not configured). Readers
ask :func:`run_writer` who is writing, reading the record only.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from biocoreset_viz.errors import RunDirectoryError
from biocoreset_viz.runs import LOCK_NAME, default_file_mode

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunWriter:
    """The process that holds, or last held, a run directory's writer lock."""

    pid: int
    host: str
    started: str
    command: str = ""

    @classmethod
    def this_process(cls) -> RunWriter:
        program = Path(sys.argv[0]).name if sys.argv else ""
        program = "biocoreset" if program == "__main__.py" else program  # python -m biocoreset_viz
        command = " ".join([program, *sys.argv[1:]]) if program else ""
        return cls(
            os.getpid(), socket.gethostname(), time.strftime("%Y-%m-%dT%H:%M:%S%z"), command[:200]
        )

    def describe(self) -> str:
        """``process 123 on host (since 2026-12-01T10:00:00+0000: biocoreset score ...)``."""
        doing = f": {self.command}" if self.command else ""
        return f"process {self.pid} on {self.host} (since {self.started}{doing})"

    def is_alive(self) -> bool | None:
        """Whether the process still runs; ``None`` when it ran on another host."""
        if self.host != socket.gethostname():
            return None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # another user's process
            return True
        return True


def _read_writer(data: bytes) -> RunWriter | None:
    """The writer recorded in a lock file's bytes (``None``: empty, or not a record)."""
    try:
        record = json.loads(data.decode("utf-8"))
        return RunWriter(int(record["pid"]), str(record["host"]), str(record["started"]),
                         str(record.get("command", "")))  # fmt: skip
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def run_writer(run_dir: str | Path) -> RunWriter | None:
    """The writer that holds the lock of ``run_dir`` now, as far as can be told.

    ``None`` when no lock is recorded or its process has ended on this host; a
    writer on another host is returned (its liveness cannot be checked from here).
    Reads the lock file only, so readers never disturb a writer.
    """
    try:
        writer = _read_writer((Path(run_dir) / LOCK_NAME).read_bytes())
    except OSError:
        return None
    if writer is None or writer.is_alive() is False:
        return None
    return writer


class RunLock:
    """The exclusive writer lock of a run directory, held for a whole scoring run.

    ``RUN_DIR/.lock`` is locked with ``fcntl.flock``, which the kernel releases when
    the process ends however it ends (a kill included), and records the writer
    (pid, host, start time, command). A second writer is refused with one line
    naming the first; a lock whose writer died (its record still there, the flock
    gone) is taken over with a notice. Re-entrant within a process, so that the
    pipeline and the engine it calls can both hold it. Use as a context manager.

    Raises (on entering):
        RunDirectoryError: another writer holds the run, or the lock file cannot be
            written.
    """

    _held: ClassVar[dict[Path, list[int]]] = {}  # run directory -> [file descriptor, depth]

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self._key = self.run_dir.resolve()

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the lock (again, when this process holds it already)."""
        if self._key in self._held:
            self._held[self._key][1] += 1
            return
        path = self._key / LOCK_NAME
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, default_file_mode())
        except OSError as error:
            raise RunDirectoryError(
                f"{self.run_dir}: cannot create the writer lock {LOCK_NAME} "
                f"({error.strerror or error})"
            ) from error
        try:
            previous = self._lock(fd)
            mine = RunWriter.this_process()
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(mine.__dict__).encode("utf-8"), 0)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            raise
        if previous is not None:
            logger.warning(
                "%s: taking over the writer lock of %s, which ended without releasing it",
                self.run_dir,
                previous.describe(),
            )
        self._held[self._key] = [fd, 1]

    def _lock(self, fd: int) -> RunWriter | None:
        """Lock ``fd``; the writer recorded by a dead holder (to take over), if any."""
        try:
            import fcntl
        except ImportError:  # not POSIX
            fcntl = None
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return _read_writer(os.pread(fd, 4096, 0))  # the kernel says its holder died
            except BlockingIOError:
                recorded = _read_writer(os.pread(fd, 4096, 0))
                self._refuse(recorded or RunWriter(0, "this host", "now", "another writer"))
            except OSError:  # no locks on this file system (ENOLCK): the record decides
                pass
        recorded = _read_writer(os.pread(fd, 4096, 0))
        if recorded is not None and recorded.is_alive() and recorded.pid != os.getpid():
            self._refuse(recorded)
        return recorded

    def _refuse(self, writer: RunWriter) -> None:
        raise RunDirectoryError(
            f"{self.run_dir} is being written by {writer.describe()}: one writer per run "
            "directory; wait for it to finish, or score into another directory"
        )

    def release(self) -> None:
        """Give the lock back (the last release of this process empties the record)."""
        entry = self._held.get(self._key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] > 0:
            return
        del self._held[self._key]
        try:
            os.ftruncate(entry[0], 0)  # an empty record: released, not died
        finally:
            os.close(entry[0])  # closing drops the flock
