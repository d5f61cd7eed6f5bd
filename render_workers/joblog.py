"""The job log ``OUT/job_log.jsonl``: one JSON object per line, appended by the run's driver
process only (workers report to it), so lines never interleave.

Every record has ``event`` and ``time`` (Unix seconds). Events and their other keys:

- ``run_start``: ``pid``, ``backend``, ``workers``, ``threads``, ``retries``, ``timeout_s``,
  ``total`` (scenes in the job), ``todo`` (scenes this run renders), ``removed`` (leftovers deleted).
- ``scene_start``: ``scene``, ``index``, ``attempt`` (1-based), ``worker`` (pid).
- ``scene_done``: ``scene``, ``index``, ``attempt`` (None on Ray, which retries on its own),
  ``worker``, ``seconds`` (wall time in the worker), ``timings`` (seconds per stage: ``recipe_s``
  and ``sim.pipeline.STAGES``), ``peak_rss_mb`` (the worker's peak resident memory during the scene,
  MiB), ``rss_mb`` (after it), ``size_bytes`` (the scene directory).
- ``scene_error``: ``scene``, ``index``, ``attempt``, ``error`` (one line), ``retry`` (bool).
- ``scene_failed``: ``scene``, ``index``, ``attempts``, ``error``: every attempt failed.
- ``worker_exit``: ``worker``, ``reason`` (recycled after N scenes, memory, crash, timeout).
- ``run_end``: ``done``, ``failed``, ``remaining`` (scenes of the job still missing),
  ``seconds``, ``interrupted`` (bool).
"""

from __future__ import annotations

import json
import time
import types
from pathlib import Path
from typing import Any

LOG_FILE = "job_log.jsonl"


class JobLog:
    """Appends events to ``out/job_log.jsonl``, one flushed line each (a context manager)."""

    def __init__(self, out: Path) -> None:
        self.path = Path(out) / LOG_FILE
        self._file = self.path.open("a", encoding="utf-8")

    def write(self, event: str, **fields: Any) -> None:
        record = {"event": event, "time": round(time.time(), 3), **fields}
        self._file.write(json.dumps(record, allow_nan=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()

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
