"""A stand-in for an external job (think AWS Glue or a batch API), for poll_for_job.py.

It runs for a while in its own process and reports its state in a JSON file, the
way a job API reports it over HTTP: STARTING, RUNNING, then SUCCEEDED or FAILED.

Usage: python _fake_job.py STATE_FILE SECONDS succeed|fail [--background]

With ``--background`` it starts itself in a new session and returns at once,
as a job API returns once the job is submitted.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path


def report(state_file: Path, state: str, **extra: object) -> None:
    """Write the job's state atomically (readers never see half a file)."""
    partial = state_file.with_suffix(".tmp")
    partial.write_text(json.dumps({"state": state, **extra}))
    partial.replace(state_file)


def main(state_file: Path, seconds: float, outcome: str) -> None:
    """Pretend to work for ``seconds``, then succeed or fail."""
    report(state_file, "STARTING")
    time.sleep(min(1.0, seconds / 10))
    report(state_file, "RUNNING")
    time.sleep(seconds)
    if outcome == "succeed":
        report(state_file, "SUCCEEDED", rows=1234)
    else:
        report(state_file, "FAILED", error="out of memory on executor 3")


if __name__ == "__main__":
    if sys.argv[4:] == ["--background"]:
        subprocess.Popen([sys.executable, __file__, *sys.argv[1:4]], start_new_session=True)
    else:
        main(Path(sys.argv[1]), float(sys.argv[2]), sys.argv[3])
