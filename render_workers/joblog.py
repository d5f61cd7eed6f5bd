"""The job log ``OUT/job_log.jsonl``: one JSON object per line, appended by the run's driver
process only (workers report to it), so lines never interleave.

Every record has ``event`` and ``time`` (Unix seconds). Events and their other keys:

- ``run_start``: ``pid``, ``backend``, ``workers``, ``threads``, ``retries``, ``timeout_s``,
  ``total`` (scenes in the job), ``todo`` (scenes this run renders), ``removed`` (leftovers deleted),
  ``removed_tmp`` (temporary directories of dead scenesim processes deleted, ``sim.tempdirs``).
- ``scene_start``: ``scene``, ``index``, ``attempt`` (1-based), ``worker`` (pid); on Ray also
  ``node`` (the Ray node id: pids of different machines may be equal).
- ``scene_done``: ``scene``, ``index``, ``attempt``, ``worker``, ``node`` (Ray), ``seconds`` (wall
  time in the worker), ``timings`` (seconds per stage: ``recipe_s`` and ``sim.pipeline.STAGES``),
  ``peak_rss_mb`` (the worker's peak resident memory during the scene, MiB), ``rss_mb`` (after
  it), ``fds`` (file descriptors the worker has open after it; None without ``/proc``),
  ``size_bytes`` (the scene directory).
- ``scene_error``: ``scene``, ``index``, ``attempt``, ``error`` (one line), ``retry`` (bool).
- ``scene_failed``: ``scene``, ``index``, ``attempts``, ``error``: every attempt failed.
- ``worker_exit``: ``worker``, ``reason`` (recycled after N scenes, memory, crash, timeout).
- ``run_end``: ``done``, ``failed``, ``remaining`` (scenes of the job still missing),
  ``seconds``, ``interrupted`` (bool), ``stopped`` (why the run stopped early: the output file
  system is full or read-only; None otherwise). Not written when the log's own file system is full.
"""

from __future__ import annotations

import json
import os
import time
import types
from pathlib import Path
from typing import Any

from sim.errors import writing

LOG_FILE = "job_log.jsonl"


class JobLog:
    """Appends events to ``out/job_log.jsonl``, one line each, written straight to the file (no
    buffer that could fail again at close). A full or read-only file system raises
    ``StorageError``; a line cut short by it (or by a killed driver) is ended with a newline before
    the next run appends, so it costs only itself (``read_log`` skips it). A context manager."""

    def __init__(self, out: Path) -> None:
        self.path = Path(out) / LOG_FILE
        with writing(self.path):
            self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                size = os.fstat(self._fd).st_size
                if size and os.pread(self._fd, 1, size - 1) != b"\n":
                    self._append(b"\n")
            except OSError:
                os.close(self._fd)
                raise

    def _append(self, data: bytes) -> None:
        while data:
            data = data[os.write(self._fd, data):]

    def write(self, event: str, **fields: Any) -> None:
        record = {"event": event, "time": round(time.time(), 3), **fields}
        with writing(self.path):
            self._append((json.dumps(record, allow_nan=False) + "\n").encode())

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> JobLog:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: types.TracebackType | None) -> None:
        self.close()


def read_log(out: Path) -> list[dict[str, Any]]:
    """Every record of ``out/job_log.jsonl`` in order ([] if there is none); a line cut short by a
    killed driver is skipped."""
    path = Path(out) / LOG_FILE
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and "event" in record:
            records.append(record)
    return records
