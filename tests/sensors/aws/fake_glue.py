"""A local stand-in for the Glue calls moto cannot script, served on 127.0.0.1.

moto's Glue runs only go STARTING, RUNNING, SUCCEEDED, carry no ``ErrorMessage``
and have no ``batch_stop_job_run``. This fake serves ``StartJobRun``,
``GetJobRun`` and ``BatchStopJobRun`` over Glue's real JSON protocol, so the
sensors' own botocore clients talk to it as to AWS. A job's script lists the
states its runs report, one more per ``GetJobRun``, the last one for ever.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Script:
    """What the runs of one job do."""

    states: tuple[str, ...]
    error_message: str | None = None


@dataclass
class Run:
    """One started run and how far through its script it is."""

    run_id: str
    job_name: str
    script: Script
    request: dict[str, Any] = field(default_factory=dict)  # what StartJobRun was sent
    polls: int = 0
    stopped: bool = False

    def state(self) -> str:
        """The state this poll reports (then the next poll moves on)."""
        if self.stopped:
            return "STOPPED"
        state = self.script.states[min(self.polls, len(self.script.states) - 1)]
        self.polls += 1
        return state


class FakeGlue:
    """Glue's StartJobRun, GetJobRun and BatchStopJobRun, scripted per job."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.scripts: dict[str, Script] = {}
        self.runs: dict[str, Run] = {}
        self.stop_requests: list[str] = []
        self.started = threading.Event()  # set when a run starts
        self.polled = threading.Event()  # set when a run's state is asked for
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The fake's endpoint URL."""
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def script(self, job_name: str, *states: str, error_message: str | None = None) -> None:
        """Make ``job_name`` exist, its runs reporting ``states`` in turn."""
        with self.lock:
            self.scripts[job_name] = Script(states, error_message)

    def start_run(self, job_name: str) -> str:
        """Start a run as a client would; its id."""
        status, answer = self.handle("StartJobRun", {"JobName": job_name})
        assert status == 200, answer
        return str(answer["JobRunId"])

    def reset(self) -> None:
        """Forget every job and run."""
        with self.lock:
            self.scripts.clear()
            self.runs.clear()
            self.stop_requests.clear()
            self.started.clear()
            self.polled.clear()

    def start(self) -> None:
        """Serve on a free port of 127.0.0.1 in a daemon thread."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                target = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
                status, answer = fake.handle(target, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: no access log lines."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def handle(self, target: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """One Glue call: (HTTP status, JSON answer)."""
        with self.lock:
            if target == "StartJobRun":
                return self._start(body)
            if target == "GetJobRun":
                return self._get(body)
            if target == "BatchStopJobRun":
                return self._stop(body)
        return 400, {"__type": "UnknownOperationException", "message": target}

    def _start(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        name = body["JobName"]
        if name not in self.scripts:
            return _not_found(f"Job {name} not found.")
        run = Run(f"jr_{len(self.runs) + 1:04d}", name, self.scripts[name], body)
        self.runs[run.run_id] = run
        self.started.set()
        return 200, {"JobRunId": run.run_id}

    def _get(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        run = self.runs.get(body["RunId"])
        if run is None or run.job_name != body["JobName"]:
            return _not_found(f"Job run {body['RunId']} not found.")
        state = run.state()
        self.polled.set()
        job_run: dict[str, Any] = {
            "Id": run.run_id,
            "JobName": run.job_name,
            "JobRunState": state,
            "Arguments": run.request.get("Arguments", {}),
            "StartedOn": 1_700_000_000.0,
            "LogGroupName": "/aws-glue/jobs",
        }
        if run.script.error_message and state not in ("STARTING", "RUNNING", "SUCCEEDED"):
            job_run["ErrorMessage"] = run.script.error_message
        return 200, {"JobRun": job_run}

    def _stop(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        done = []
        for run_id in body["JobRunIds"]:
            self.stop_requests.append(run_id)
            if run_id in self.runs:
                self.runs[run_id].stopped = True
                done.append({"JobName": body["JobName"], "JobRunId": run_id})
        return 200, {"SuccessfulSubmissions": done, "Errors": []}


def _not_found(message: str) -> tuple[int, dict[str, Any]]:
    return 400, {"__type": "EntityNotFoundException", "message": message}
