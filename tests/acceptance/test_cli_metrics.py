"""`asyncflow run --metrics-port` in a subprocess: Prometheus metrics scraped over HTTP."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
from cli_helpers import Served, assert_one_line_error, asyncflow, wait_until, write
from prometheus_client.parser import text_string_to_metric_families

# a daily DAG whose latest interval is due at once, with a sensor of each mode on one file
SENSORS = """\
from datetime import UTC, datetime, timedelta
from pathlib import Path

from asyncflow import dag, task

FLAG = Path({flag!r})


@dag(schedule="@daily", start_date=datetime.now(UTC) - timedelta(days=3), catchup=False)
def landed():
    @task.sensor(poke_interval=0.2, mode="poke")
    def poked():
        return FLAG.exists()

    @task.sensor(poke_interval=0.2, mode="reschedule")
    def rescheduled():
        return FLAG.exists()

    poked()
    rescheduled()


landed()
"""


def metrics_url(served: Served) -> str:
    """The URL `asyncflow run` printed for its metrics."""
    for line in served.out.read_text().splitlines():
        if line.startswith("metrics "):
            return line.split()[1]
    raise AssertionError(f"no metrics line in {served.out.read_text()!r}")


def scrape(url: str) -> dict[str, float]:
    """The samples served at ``url``, keyed ``name{label=value}``."""
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200, response.text
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            found[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return found


def test_run_serves_metrics_that_follow_its_sensors(tmp_path: Path) -> None:
    """While both sensors wait the scrape says so; once the file lands the run is counted."""
    home = tmp_path / "home"
    flag = tmp_path / "landed.flag"
    write(home / "dags", "landed.py", SENSORS.format(flag=str(flag)))
    served = Served(home, "run", "--metrics-port", "0")
    try:
        url = metrics_url(served)
        assert url.startswith("http://127.0.0.1:")
        assert url.endswith("/metrics")

        def both_waiting() -> dict[str, float] | None:
            now = scrape(url)
            poke = now["asyncflow_sensors_waiting{mode=poke}"]
            reschedule = now["asyncflow_sensors_waiting{mode=reschedule}"]
            # a poke-mode sensor waits from its try's start: wait for its first poke too
            poked = min(now[f"asyncflow_pokes_total{{mode={m}}}"] for m in ("poke", "reschedule"))
            return now if (poke, reschedule) == (1, 1) and poked >= 1 else None

        waiting = wait_until("both sensors waiting", both_waiting)
        assert waiting["asyncflow_dag_runs{state=running}"] == 1
        assert waiting["asyncflow_event_loop_behind_seconds"] >= 0
        flag.touch()

        def succeeded() -> dict[str, float] | None:
            now = scrape(url)
            return now if now["asyncflow_dag_runs_finished_total{state=success}"] == 1 else None

        done = wait_until("the run counted as a success", succeeded)
        assert done["asyncflow_sensors_waiting{mode=poke}"] == 0
        assert done["asyncflow_pokes_total{mode=poke}"] >= 2
        assert done["asyncflow_pokes_total{mode=reschedule}"] >= 2
        assert done["asyncflow_store_commit_batch_size_count"] >= 1
    finally:
        assert served.stop() == 0, served.err.read_text()


def test_a_metrics_port_in_use_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """`run --metrics-port` on a port something listens on says so, before owning the store."""
    home = tmp_path / "home"
    (home / "dags").mkdir(parents=True)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = asyncflow(home, "run", "--metrics-port", str(port))
    assert_one_line_error(
        done, f"--metrics-port {port}: cannot listen on 127.0.0.1:{port}", "choose another port"
    )
    assert not (home / "asyncflow.db").exists()


def test_bad_metrics_options_are_one_line_and_exit_2(tmp_path: Path) -> None:
    """A port out of range, a host without a port or not of this machine: refused, with why."""
    home = tmp_path / "home"
    (home / "dags").mkdir(parents=True)
    out_of_range = asyncflow(home, "run", "--metrics-port", "70000")
    assert_one_line_error(out_of_range, "--metrics-port", "70000 is not in the range")
    no_port = asyncflow(home, "run", "--metrics-host", "0.0.0.0")
    assert_one_line_error(no_port, "--metrics-host needs --metrics-port")
    elsewhere = asyncflow(home, "run", "--metrics-port", "0", "--metrics-host", "192.0.2.1")
    assert_one_line_error(elsewhere, "cannot listen on 192.0.2.1:0", "choose another port or host")
