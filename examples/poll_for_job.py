"""Poll for an external job: start it, wait in reschedule mode, branch on how it ended.

The pattern asyncflow exists for. ``start_job`` launches a job that runs on its
own (here ``_fake_job.py``, 20 seconds by default) and returns its id; the
``job_finished`` sensor polls its state in reschedule mode, so between polls it
holds no slot and no coroutine, only a row in the store, and a restarted engine
resumes it; it returns the final state as its value; a branch then follows the
success path or the failure path.

Try ``asyncflow dags test poll_for_job --conf '{"outcome": "fail"}'``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from asyncflow import PokeReturnValue, dag, task

FAKE_JOB = Path(__file__).with_name("_fake_job.py")
TERMINAL = {"SUCCEEDED", "FAILED"}


@dag(schedule=None, params={"job_seconds": 20, "outcome": "succeed"}, tags=["sensors"])
def poll_for_job() -> None:
    """Start an external job, poll it until it ends, then report or alert."""

    @task
    def start_job(params: dict[str, Any]) -> str:
        """Launch the job in its own process and return its id (its state file)."""
        state_file = Path(tempfile.mkdtemp(prefix="job-")) / "state.json"
        command = [sys.executable, str(FAKE_JOB), str(state_file)]
        command += [str(params["job_seconds"]), params["outcome"], "--background"]
        # submits the job and returns; the job lives on even if this engine restarts
        subprocess.run(command, check=True, timeout=30)
        return str(state_file)

    @task.sensor(mode="reschedule", poke_interval=2, timeout=600)
    def job_finished(job_id: str) -> PokeReturnValue:
        """Done when the job reports a final state; that state is the sensor's value."""
        path = Path(job_id)
        if not path.exists():
            return PokeReturnValue(False)
        status = json.loads(path.read_text())
        return PokeReturnValue(status["state"] in TERMINAL, xcom_value=status)

    @task.branch
    def on_outcome(status: dict[str, Any]) -> str:
        """Follow the success path or the failure path."""
        return "publish" if status["state"] == "SUCCEEDED" else "alert"

    @task
    def publish(status: dict[str, Any]) -> str:
        return f"published {status['rows']} rows"

    @task
    def alert(status: dict[str, Any]) -> str:
        return f"job failed: {status['error']}"

    status = job_finished(start_job())
    on_outcome(status) >> [publish(status), alert(status)]


poll_for_job()
