"""How a job is run: backend, workers, threads, retries, timeout, recycling. None of it changes a
pixel (Cycles renders bit-identically with any thread count), so it may differ between a run and
its resume."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from render_workers.backend import Backend
from render_workers.local import LocalBackend
from render_workers.ray_backend import RayBackend
from sim.errors import OptionError
from sim.processes import allowed_cores

BACKENDS: dict[str, Backend] = {backend.name: backend for backend in (LocalBackend(), RayBackend())}
"""The backends by ``--backend`` name."""


@dataclass(frozen=True)
class RunOptions:
    """backend: a name of ``BACKENDS``: ``local`` (a pool of worker processes on this machine) or
    ``ray`` (tasks on a Ray cluster).
    workers: local pool processes; with Ray, the most scenes in flight (None: as many as the
    cluster's CPUs allow). threads: Cycles threads per worker or Ray task (0: available cores //
    workers locally, 1 per Ray task); local workers are also pinned to cores (``worker_cores``).
    retries: attempts after the first for a failing scene.
    timeout_s: seconds a scene may take before its worker is killed (None: no limit).
    recycle_after: scenes a worker renders before it is replaced by a fresh process.
    max_memory_mb: resident memory (MiB) past which a local worker is replaced after its scene
    (0: no limit). address: Ray cluster address (``auto`` or the head node's ``HOST:PORT``);
    None starts a local Ray instance.
    """

    backend: str = "local"
    workers: int | None = None
    threads: int = 0
    retries: int = 2
    timeout_s: float | None = None
    recycle_after: int = 200
    max_memory_mb: int = 4096
    address: str | None = None

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise OptionError(f"--backend: got {self.backend!r}, expected one of "
                                       f"{', '.join(BACKENDS)}")
        checks = (("--workers", self.workers, 1, 1024), ("--threads", self.threads, 0, 1024),
                  ("--retries", self.retries, 0, 100), ("--recycle-after", self.recycle_after, 1, 10**9),
                  ("--max-memory", self.max_memory_mb, 0, 10**9))
        for flag, value, lo, hi in checks:
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or not lo <= value <= hi):
                raise OptionError(f"{flag}: got {value!r}, expected an integer in [{lo}, {hi}]")
        timeout = self.timeout_s
        if timeout is not None and not (isinstance(timeout, (int, float)) and 0 < timeout < float("inf")):
            raise OptionError(f"--timeout: got {self.timeout_s!r}, expected seconds > 0")
        if self.address is not None and not self.executor.takes_address:
            takes = ", ".join(name for name, b in BACKENDS.items() if b.takes_address)
            raise OptionError(f"--address: only with --backend {takes}")

    @property
    def executor(self) -> Backend:
        """The backend named by ``backend``."""
        return BACKENDS[self.backend]

    @property
    def local_workers(self) -> int:
        """Processes of the local pool (1 unless set)."""
        return self.workers or 1

    def worker_threads(self) -> int:
        """Cycles threads per worker: ``threads``, else the backend's default (available cores //
        workers per local worker, 1 per Ray task)."""
        return self.threads or self.executor.default_threads(self)

    def worker_cores(self, slot: int) -> frozenset[int] | None:
        """The cores local pool worker ``slot`` (0, 1, …) is pinned to, or None (not pinned).

        With several workers and at most one Cycles thread per core in all, each worker gets its
        own ``worker_threads()`` cores: Blender's idle threads busy-wait on cores that Cycles leaves
        free, so unpinned workers slow each other down (README, Performance). Not pinned (the OS
        shares the cores): a single worker, a backend that does not pin (Ray tasks pin themselves),
        more threads in all than cores, or no affinity masks (macOS)."""
        cores = allowed_cores()
        threads = self.worker_threads()
        if not self.executor.pins_workers or self.local_workers < 2 or cores is None \
                or threads * self.local_workers > len(cores):
            return None
        return frozenset(cores[slot * threads:(slot + 1) * threads])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
