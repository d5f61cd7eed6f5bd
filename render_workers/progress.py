"""What a run reports: every event into the job log, and progress to the user: on a terminal a tqdm
bar of scenes done / total with rate and ETA, showing the frame a scene has reached; otherwise one
plain line per event, and a line per scene in progress every ``frame_interval_s`` seconds."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from tqdm import tqdm

from render_workers.joblog import JobLog
from render_workers.seeds import scene_name


def format_duration(seconds: float) -> str:
    """``1h02m03s``, ``2m03s`` or ``4.5s``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


class Reporter:
    """Collects what a backend observes during one run.

    ``total``: scenes in the job; ``complete``: scenes already complete when the run started.
    ``failures`` maps each scene that failed every attempt to its last error; ``rendered`` counts the
    scenes this run completed. ``stream`` (stderr by default) gets a bar when it is a terminal.
    ``frame_interval_s``: without a bar, the least seconds between two frame-progress lines of a
    scene (0: a line per frame).
    """

    def __init__(self, log: JobLog, total: int, complete: int, stream: TextIO | None = None,
                 on_done: Callable[[str], None] | None = None, *, frame_interval_s: float = 10.0) -> None:
        self.log = log
        self._on_done = on_done
        self.total = total
        self.rendered = 0
        self.failures: dict[str, str] = {}
        self._complete = complete
        self._stream = stream if stream is not None else sys.stderr
        self._start = time.monotonic()
        self._frame_interval_s = frame_interval_s
        self._frame_lines: dict[int, float] = {}  # scene index -> time of its last frame line or start
        self._bar = tqdm(total=total, initial=complete, unit="scene", desc="scenes", file=self._stream,
                         dynamic_ncols=True, smoothing=0.1) if self._stream.isatty() else None

    def started(self, index: int, attempt: int, worker: int, *, node: str | None = None) -> None:
        """Scene ``index``'s ``attempt`` started in process ``worker`` (on Ray ``node``, if given)."""
        where = {"node": node} if node is not None else {}
        self.log.write("scene_start", scene=scene_name(index), index=index, attempt=attempt, worker=worker,
                       **where)

    def done(self, report: dict[str, Any], attempt: int | None) -> None:
        self.rendered += 1
        self._frame_lines.pop(report.get("index"), None)
        self.log.write("scene_done", attempt=attempt, **report)
        if self._on_done is not None:
            self._on_done(report["scene"])
        done = self._complete + self.rendered
        if self._bar is not None:
            self._bar.set_postfix_str("", refresh=False)  # the next scene's frames replace it
            self._bar.update(1)
            return
        rate = self.rendered / max(time.monotonic() - self._start, 1e-9)
        left = self.total - done - len(self.failures)
        took = f" in {format_duration(report['seconds'])}" if "seconds" in report else ""
        eta = f", ETA {format_duration(left / rate)}" if left else ""
        self.message(f"{report['scene']} done{took} [{done}/{self.total}, {rate * 3600:.0f} scenes/h{eta}]")

    def frame(self, index: int, done: int, total: int) -> None:
        """Scene ``index`` has rendered ``done`` of its ``total`` frames (not logged: a job log line
        per frame would dwarf the rest)."""
        text = f"{scene_name(index)} frame {done}/{total}"
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=True)
            return
        now = time.monotonic()
        last = self._frame_lines.setdefault(index, now)  # a scene's first line after the interval
        if now - last >= self._frame_interval_s:
            self._frame_lines[index] = now
            self.message(text)

    def error(self, index: int, attempt: int, error: str, retry: bool) -> None:
        self.log.write("scene_error", scene=scene_name(index), index=index, attempt=attempt, error=error,
                       retry=retry)
        then = "; retrying" if retry else ""
        self.message(f"{scene_name(index)} attempt {attempt} failed: {error}{then}")

    def failed(self, index: int, attempts: int | None, error: str) -> None:
        self.failures[scene_name(index)] = error
        self.log.write("scene_failed", scene=scene_name(index), index=index, attempts=attempts, error=error)
        tries = f" after {attempts} attempts" if attempts else ""
        self.message(f"{scene_name(index)} failed{tries}: {error}")

    def worker_exit(self, worker: int, reason: str) -> None:
        self.log.write("worker_exit", worker=worker, reason=reason)

    def message(self, text: str) -> None:
        """One ``scenesim: …`` line to the user, above the bar if there is one."""
        if self._bar is not None:
            self._bar.write(f"scenesim: {text}", file=self._stream)
        else:
            print(f"scenesim: {text}", file=self._stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
