"""The job directory (docs/format.md): ``job.json`` checked on resume, a lock against two runs at
once, ``.partial`` leftovers removed, and which scenes are still missing.

Layout of ``OUT/``: ``job.json`` (the spec), ``scene_NNNNN/`` (complete scenes only),
``job_log.jsonl`` (see ``joblog``), ``blender.log`` (the workers' console output) and
``.scenesim.lock`` (held by the run in progress).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

from render_workers import shard_layout
from render_workers.job import JOB_FILE, JobSpec
from sim.errors import OutputError, writing
from sim.format import PARTIAL_SUFFIX

LOCK_FILE = ".scenesim.lock"
BLENDER_LOG = "blender.log"
_SCENE_DIR = re.compile(r"scene_\d{5}")
_LEFTOVER = re.compile(r"scene_\d{5}(\.replaced)?" + re.escape(PARTIAL_SUFFIX))


def load_job(out: Path) -> JobSpec:
    """The spec stored in ``out/job.json``; ``OutputError`` if there is none or it is unreadable."""
    path = Path(out) / JOB_FILE
    if not path.is_file():
        raise OutputError(f"{out}: no {JOB_FILE}, not a scenesim job directory "
                          "(start one with scenesim render)")
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise OutputError(f"{path}: cannot be read ({e}); fix it or start over with --restart") from None
    return JobSpec.from_dict(data, Path(out))


def check_out(out: Path, *, allow_nonempty: bool = False) -> None:
    """Refuses (``OutputError``) an output path that cannot hold a job: an existing file, or a
    non-empty directory that is not a job directory (no ``job.json``) unless ``allow_nonempty``,
    so a job's files never get mixed into a user's own. A new or empty directory is fine; hidden
    entries (``.DS_Store``, ``.nfs…``, a lock) do not count."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out}: is a file, not a directory; choose a directory path")
    if not out.is_dir() or (out / JOB_FILE).exists() or allow_nonempty:
        return
    others = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    if others:
        raise OutputError(f"--out {out}: not empty and not a scenesim job directory (holds {others[0]}"
                          f"{', …' if len(others) > 1 else ''}); choose a new or empty directory, or pass "
                          "--allow-nonempty to write the job beside those files")


@contextlib.contextmanager
def locked(out: Path) -> Iterator[None]:
    """Holds ``out/.scenesim.lock`` (an advisory ``flock``) for the duration of a run; refuses with
    ``OutputError`` while another process holds it. The lock dies with its process."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(out / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise OutputError(f"--out {out}: cannot be created or written ({e.strerror})") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise OutputError(f"{out}: another scenesim run (pid {other}) is rendering this job; "
                              "wait for it or stop it first") from None
        with writing(out / LOCK_FILE):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def running_pid(out: Path) -> int | None:
    """The pid of the run holding ``out``'s lock, or None when no run is in progress."""
    try:
        fd = os.open(Path(out) / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        return int(text) if text.isdigit() else -1
    finally:
        os.close(fd)
    return None


def prepare(spec: JobSpec, *, restart: bool) -> list[str]:
    """Makes ``spec.out`` the directory of ``spec`` (call it holding the lock): a new directory gets
    ``job.json``; an existing job must have the same spec (``OutputError`` naming the differences
    otherwise) unless ``restart``, which deletes its scenes, logs and spec first. Removes
    ``.partial`` leftovers of killed runs; returns their names."""
    out = Path(spec.out)
    scene_dirs = sorted(p.name for p in out.iterdir() if _SCENE_DIR.fullmatch(p.name))
    job_file = out / JOB_FILE
    if restart:
        for name in scene_dirs:
            shutil.rmtree(out / name)
        shard_layout.clear(out)
        for name in (JOB_FILE, "job_log.jsonl", BLENDER_LOG):
            (out / name).unlink(missing_ok=True)
    elif job_file.exists():
        differences = spec.differences(load_job(out))
        if differences:
            raise OutputError(f"{out} holds a different job ({'; '.join(differences)}); continue it "
                              f"with 'scenesim resume {out}', or pass --restart to delete its scenes and "
                              "start over")
    elif scene_dirs:
        raise OutputError(f"{out}: has scene directories ({scene_dirs[0]}, …) but no {JOB_FILE}; choose "
                          "another --out or pass --restart to delete them")
    if not job_file.exists():
        tmp = job_file.with_name(JOB_FILE + ".tmp")
        with writing(job_file):
            tmp.write_text(spec.to_json())
            os.replace(tmp, job_file)
    return remove_leftovers(out)


def remove_leftovers(out: Path, names: list[str] | None = None) -> list[str]:
    """Deletes the ``.partial`` directories of scenes in ``out`` (of ``names`` only, if given),
    which a killed or interrupted worker leaves behind; returns what it removed."""
    removed = []
    for path in sorted(Path(out).glob("*" + PARTIAL_SUFFIX)):
        base = path.name.removesuffix(PARTIAL_SUFFIX).removesuffix(".replaced")
        if _LEFTOVER.fullmatch(path.name) and (names is None or base in names):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    return removed


def missing(spec: JobSpec) -> list[int]:
    """Indices of the scenes of ``spec`` without a complete directory, ascending."""
    from sim.io import is_complete

    if spec.layout == "shards":
        done = shard_layout.done_scenes(spec.out)
        return [i for i, name in enumerate(spec.scene_names()) if name not in done]
    return [i for i, name in enumerate(spec.scene_names()) if not is_complete(Path(spec.out) / name)]
