"""The interface between a job run and where its scenes render: one ``Backend`` per place (the local
pool, Ray), chosen by name with ``--backend`` (``options.BACKENDS``). The runner knows nothing else
about a backend; a backend reports every scene it completes or gives up on to the ``Reporter``."""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from sim.errors import OptionError

if TYPE_CHECKING:
    from render_workers.job import JobSpec
    from render_workers.options import RunOptions
    from render_workers.progress import Reporter
    from render_workers.worker import SceneTask


class Backend(ABC):
    """A place to render scenes. Subclasses set ``name`` (the ``--backend`` value), ``package`` (an
    optional dependency it needs, or None), ``extra`` (the pip extra that installs it),
    ``takes_address`` (whether ``--address`` means anything to it) and ``pins_workers`` (whether
    ``RunOptions.worker_cores`` assigns its workers cores)."""

    name: ClassVar[str]
    package: ClassVar[str | None] = None
    extra: ClassVar[str | None] = None
    takes_address: ClassVar[bool] = False
    pins_workers: ClassVar[bool] = False

    def check(self, options: RunOptions) -> None:
        """Refuses (``OptionError``) what cannot run, before anything is written: here a
        backend whose package is missing."""
        if self.package is not None and importlib.util.find_spec(self.package) is None:
            raise OptionError(f"--backend {self.name}: {self.package} is not installed; "
                                       f"pip install 'scenesim[{self.extra}]'")

    @abstractmethod
    def default_threads(self, options: RunOptions) -> int:
        """Cycles threads per worker when ``options.threads`` is 0 (at least 1)."""

    @abstractmethod
    def run(self, spec: JobSpec, todo: Sequence[int], options: RunOptions, reporter: Reporter,
            task: SceneTask | None = None) -> None:
        """Renders scenes ``todo`` (indices) of ``spec``, running ``task`` per scene (``RenderTask``
        when None), until each is done (``reporter.done``) or failed every attempt
        (``reporter.failed``). On any exit, KeyboardInterrupt included, it leaves no worker running
        and no unfinished scene directory behind."""
