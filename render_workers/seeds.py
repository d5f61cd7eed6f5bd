"""Per-scene seeds derived from the job seed: scene k's seed depends only on (job seed, k)."""

from __future__ import annotations

import numpy as np


def scene_seed(job_seed: int, index: int) -> int:
    """The recipe seed of scene ``index`` of a job seeded ``job_seed``: a 63-bit integer from numpy's
    ``SeedSequence(job_seed, spawn_key=(index,))``, identical on any machine and worker count."""
    state = np.random.SeedSequence(job_seed, spawn_key=(index,)).generate_state(2, np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1])) & (2**63 - 1)


def scene_name(index: int) -> str:
    """Directory name of scene ``index`` in a job: ``scene_NNNNN``."""
    return f"scene_{index:05d}"
