"""SmtpNotifier against a real SMTP server (aiosmtpd) on 127.0.0.1: mails sent, errors, secrets."""

from __future__ import annotations

import email
import email.policy
import os
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import structlog
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from http_server import free_port

from asyncflow import DAG, DagRunState, FailTask, task
from sensors import SmtpNotifier
from sensors.smtp import SmtpNotifierError

PASSWORD = "s3cret-pa55"


class Inbox:
    """What the server received: one parsed message per mail, with its envelope."""

    def __init__(self) -> None:
        self.mails: list[tuple[EmailMessage, list[str]]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.mails.append((parsed, list(envelope.rcpt_tos)))  # type: ignore[arg-type]
        return "250 OK"


def check_password(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    """Accept alerts / PASSWORD only."""
    ok = (
        isinstance(data, LoginPassword)
        and data.login == b"alerts"
        and data.password == (PASSWORD.encode())
    )
    return AuthResult(success=ok, handled=False)  # not handled: the server answers 535


@pytest.fixture
def inbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    """A running SMTP server with login, and smtp_default pointing at it."""
    box = Inbox()
    port = free_port()
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=port,
        authenticator=check_password,
        auth_require_tls=False,
        ready_timeout=10,
    )
    controller.start()
    monkeypatch.setenv(
        "ASYNCFLOW_CONN_SMTP_DEFAULT",
        f"smtp://alerts:{PASSWORD}@127.0.0.1:{port}?disable_ssl=true&disable_tls=true"
        "&from_email=asyncflow%40example.com",
    )
    try:
        yield box
    finally:
        controller.stop()


@task
def load() -> None:
    raise FailTask("table locked")


def failing_dag(notifier: SmtpNotifier) -> DAG:
    with DAG("nightly") as built:
        load.override(on_failure_callback=notifier)()
    return built


def test_a_failure_sends_the_default_mail_to_every_recipient(inbox: Inbox) -> None:
    """A task's failure mails to, cc and bcc with the DAG, task, run and error in it."""
    notifier = SmtpNotifier(to="a@example.com; b@example.com", cc=["c@example.com"],
                            bcc="d@example.com")  # fmt: skip
    result = failing_dag(notifier).test()
    assert result.state is DagRunState.FAILED
    ((mail, recipients),) = inbox.mails
    assert recipients == ["a@example.com", "b@example.com", "c@example.com", "d@example.com"]
    assert mail["From"] == "asyncflow@example.com"
    assert mail["To"] == "a@example.com, b@example.com"
    assert mail["Bcc"] is None
    assert mail["Subject"] == f"asyncflow: DAG nightly, task load, run {result.run_id}"
    body = mail.get_content()
    assert "<b>load</b>" in body
    assert "FailTask: table locked" in body


def test_templated_fields_and_attachments(inbox: Inbox, tmp_path: Path) -> None:
    """Subject, body, sender and headers are templates; files are attached."""
    report = tmp_path / "report.csv"
    report.write_text("rows,3\n")
    notifier = SmtpNotifier(
        to="{{ params.owner }}",
        from_email="{{ dag.dag_id }}@example.com",
        subject="{{ ti.task_id }} failed on {{ ds }}",
        html_content="<p>{{ exception }}</p>",
        files=[str(report)],
        custom_headers={"X-Run": "{{ run_id }}"},
    )
    with DAG("nightly", params={"owner": "owner@example.com"}) as built:
        load.override(on_failure_callback=notifier)()
    result = built.test()
    ((mail, recipients),) = inbox.mails
    assert recipients == ["owner@example.com"]
    assert mail["From"] == "nightly@example.com"
    assert mail["Subject"] == f"load failed on {result.logical_date.date().isoformat()}"
    assert mail["X-Run"] == result.run_id
    (attachment,) = list(mail.iter_attachments())
    assert attachment.get_filename() == "report.csv"
    assert attachment.get_content() == "rows,3\n"


def test_a_failing_callback_is_logged_without_the_password(
    inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unreachable server fails the callback with one logged line, without the password."""
    wrong = "wr0ng-pa55"
    monkeypatch.setenv(
        "ASYNCFLOW_CONN_SMTP_DEFAULT",
        f"smtp://alerts:{wrong}@127.0.0.1:1?disable_ssl=true&disable_tls=true&from_email=x%40y.z",
    )
    notifier = SmtpNotifier(to="a@example.com")
    with structlog.testing.capture_logs() as events:
        result = failing_dag(notifier).test()
    assert result.state is DagRunState.FAILED  # the callback's failure changes nothing
    (failed,) = [e for e in events if e["event"] == "callback_failed"]
    assert failed["error"].startswith(
        "SmtpNotifierError: SmtpNotifier: sending mail through connection 'smtp_default' "
        "(127.0.0.1:1) failed: ConnectionRefusedError"
    )
    assert wrong not in repr(events)
    assert inbox.mails == []


def test_a_wrong_password_is_refused_by_the_server_and_never_shown(
    inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server's refusal is the error, which never shows the password sent."""
    connection = os.environ["ASYNCFLOW_CONN_SMTP_DEFAULT"]
    monkeypatch.setenv("ASYNCFLOW_CONN_SMTP_DEFAULT", connection.replace(PASSWORD, "nope-x1"))
    with pytest.raises(SmtpNotifierError, match="failed: SMTPAuthenticationError") as info:
        SmtpNotifier(to="a@example.com").notify({})
    assert "nope-x1" not in str(info.value)
    assert inbox.mails == []


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("smtp://127.0.0.1:25?colour=red", r"unknown extras \['colour'\]; known: disable_ssl"),
        ("smtp://127.0.0.1:25?timeout=soon", "timeout must be a number of seconds"),
        ("smtp://:25", "has no host"),
        ("smtp://127.0.0.1:25", "no sender: give from_email= or the from_email extra"),
    ],
)
def test_a_bad_connection_says_what_is_wrong(
    monkeypatch: pytest.MonkeyPatch, uri: str, message: str
) -> None:
    """A connection the notifier cannot use fails with one line naming the problem."""
    monkeypatch.setenv("ASYNCFLOW_CONN_SMTP_DEFAULT", uri)
    with pytest.raises(SmtpNotifierError, match=message):
        SmtpNotifier(to="a@example.com").notify({})


def test_a_missing_connection_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the connection's variable the error names ASYNCFLOW_CONN_SMTP_DEFAULT."""
    monkeypatch.delenv("ASYNCFLOW_CONN_SMTP_DEFAULT", raising=False)
    with pytest.raises(SmtpNotifierError, match="set ASYNCFLOW_CONN_SMTP_DEFAULT"):
        SmtpNotifier(to="a@example.com").notify({})


def test_a_notifier_needs_a_recipient() -> None:
    """SmtpNotifier(to="") fails where it is made."""
    with pytest.raises(SmtpNotifierError, match="needs at least one recipient"):
        SmtpNotifier(to=" ; ")


def test_a_missing_attachment_names_the_file(inbox: Inbox, tmp_path: Path) -> None:
    """An attachment that cannot be read fails naming its path."""
    missing = tmp_path / "gone.csv"
    notifier = SmtpNotifier(to="a@example.com", files=[str(missing)])
    with pytest.raises(SmtpNotifierError, match=r"cannot attach '.*gone\.csv'"):
        notifier.notify({})


def test_the_default_subject_suits_a_dag_callback_too() -> None:
    """Without a task in the context (a DAG's callback) the default subject names DAG and run."""
    with DAG("nightly") as built:
        pass
    rendered = SmtpNotifier(to="a@example.com").render({"dag": built, "run_id": "r1"})
    assert rendered.subject == "asyncflow: DAG nightly, run r1"
