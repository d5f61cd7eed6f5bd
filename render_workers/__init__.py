"""Batch jobs and the ``scenesim`` command line (docs/architecture.md): a job spec stored as ``job.json``,
per-scene seeds, a local pool of persistent worker processes or Ray tasks, retries, resume, status.

    from render_workers import JobSpec, RunOptions, run_job, job_status
    code = run_job(JobSpec(out=Path("data"), recipe="movi-a", scenes=100), RunOptions(workers=2))
"""

from render_workers.job import JobSpec
from render_workers.options import RunOptions
from render_workers.runner import run_job
from render_workers.status import job_status

__all__ = ["JobSpec", "RunOptions", "job_status", "run_job"]
