"""A killed engine process is replaced and every waiting sensor finishes on time."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

WORKER = Path(__file__).with_name("restart_worker.py")


def rows(db: Path) -> dict[tuple[str, int], sqlite3.Row]:
    """Task instance rows by (task_id, map_index), read with the plain sqlite3 module."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        conn.row_factory = sqlite3.Row
        found = conn.execute("SELECT * FROM task_instance").fetchall()
    return {(r["task_id"], r["map_index"]): r for r in found}


def wait_until_all_parked(db: Path, process: subprocess.Popen[bytes], log: Path) -> dict:
    """Poll the store until all 101 sensors are up_for_reschedule (bounded to 60 s)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        if db.exists():
            try:
                found = rows(db)
            except sqlite3.OperationalError:
                found = {}
            parked = [r for r in found.values() if r["state"] == "up_for_reschedule"]
            if len(parked) == 101:
                return found
        time.sleep(0.1)
    raise AssertionError("the sensors never all parked")


def seconds(text: str) -> float:
    """A stored ISO timestamp as epoch seconds."""
    return datetime.fromisoformat(text).timestamp()


@pytest.mark.slow
def test_sigkilled_engine_is_resumed_by_a_new_process(tmp_path: Path) -> None:
    """After SIGKILL, a new process finishes all 100 sensors, none poked early, timeouts kept."""
    db, flag, log = tmp_path / "af.db", tmp_path / "flag", tmp_path / "pokes.log"
    args = [sys.executable, str(WORKER), str(db), str(flag), str(log)]
    output = tmp_path / "first.out"
    with output.open("wb") as out:
        first = subprocess.Popen([*args, "start"], stdout=out, stderr=subprocess.STDOUT)
        try:
            before = wait_until_all_parked(db, first, output)
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
    flag.touch()
    restarted_at = time.time()
    done = subprocess.run([*args, "resume"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "failed"  # the expiring sensor fails the run, as it should

    after = rows(db)
    sensors = [k for k in after if k[0] == "wait_for_flag"]
    assert len(sensors) == 100
    assert all(after[k]["state"] == "success" for k in sensors)
    pokes: dict[tuple[str, int], list[float]] = {}
    for line in log.read_text().splitlines():
        task_id, index, at = line.split()
        pokes.setdefault((task_id, int(index)), []).append(float(at))
    for key in sensors:
        due = seconds(before[key]["next_poke_at"])
        late_pokes = [t for t in pokes[key] if t >= restarted_at]
        assert late_pokes, key
        assert min(late_pokes) >= due - 0.01, (key, min(late_pokes), due)
        assert after[key]["first_poke_at"] == before[key]["first_poke_at"]

    expiring = after[("expiring", -1)]
    assert expiring["state"] == "failed"
    assert expiring["error"].startswith("SensorTimeout")
    assert expiring["first_poke_at"] == before[("expiring", -1)]["first_poke_at"]
    waited = seconds(expiring["end_date"]) - seconds(expiring["first_poke_at"])
    assert 2.0 <= waited < 2.0 + 5.0  # counted from the first poke before the kill
