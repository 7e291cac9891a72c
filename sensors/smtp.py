"""``SmtpNotifier``: an email as a callback, as Airflow's SMTP provider sends it.

The SMTP server is a connection (``smtp_conn_id``, default ``smtp_default``)::

    ASYNCFLOW_CONN_SMTP_DEFAULT='smtp://alerts:s3cret@mail.example.com:465?from_email=airflow%40example.com'

- host and port: the server (port 465 with SSL, 587 with STARTTLS, 25 without either);
- login and password: SMTP AUTH, when given;
- ``disable_ssl=true``: connect in plain text (then STARTTLS, unless ``disable_tls=true``),
  as Airflow's SMTP connection extras say;
- ``from_email``: the sender when the notifier names none; ``timeout``: seconds (default 30).

Mail goes out with the standard library's ``smtplib`` in one of the engine's
worker threads, so the event loop never waits on the server. The password
never appears in a log line or an error.
"""

from __future__ import annotations

import mimetypes
import smtplib
import ssl
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from asyncflow import AsyncflowError, BaseNotifier
from asyncflow.connections import get_connection

DEFAULT_SUBJECT = (
    "asyncflow: DAG {{ dag.dag_id }}{% if ti is defined %}, task {{ ti.task_id }}{% endif %}"
    ", run {{ run_id }}"
)
DEFAULT_HTML = (
    "<p>DAG <b>{{ dag.dag_id }}</b>{% if ti is defined %}, task <b>{{ ti.task_id }}</b>"
    "{% endif %}, run <code>{{ run_id }}</code>.</p>"
    "{% if exception %}<p>Error: {{ exception | e }}</p>{% endif %}"
)
_KNOWN_EXTRAS = ("disable_ssl", "disable_tls", "from_email", "timeout")
_TRUE = frozenset({"true", "1", "yes", "on"})


class SmtpNotifierError(AsyncflowError):
    """A mail could not be sent (the server, the connection or the message is at fault)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SmtpConfig:
    """What an SMTP connection says, checked."""

    conn_id: str
    host: str
    port: int
    use_ssl: bool
    use_tls: bool
    timeout: float
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    from_email: str | None = None


def smtp_config(conn_id: str) -> SmtpConfig:
    """Read and check the SMTP connection ``conn_id``.

    Raises:
        SmtpNotifierError: one line naming the connection and what is wrong.
    """
    try:
        connection = get_connection(conn_id)
    except AsyncflowError as error:
        raise SmtpNotifierError(f"SmtpNotifier: {error}") from None
    unknown = sorted(set(connection.extra) - set(_KNOWN_EXTRAS))
    if unknown:
        raise SmtpNotifierError(
            f"SmtpNotifier: connection {conn_id!r} has unknown extras {unknown}; "
            f"known: {', '.join(_KNOWN_EXTRAS)}"
        )
    if not connection.host:
        raise SmtpNotifierError(f"SmtpNotifier: connection {conn_id!r} has no host")
    extra = connection.extra
    use_ssl = extra.get("disable_ssl", "").lower() not in _TRUE
    use_tls = not use_ssl and extra.get("disable_tls", "").lower() not in _TRUE
    try:
        timeout = float(extra.get("timeout", "30"))
    except ValueError:
        raise SmtpNotifierError(
            f"SmtpNotifier: connection {conn_id!r}: timeout must be a number of seconds"
        ) from None
    return SmtpConfig(
        conn_id=conn_id,
        host=connection.host,
        port=connection.port or (465 if use_ssl else 587 if use_tls else 25),
        use_ssl=use_ssl,
        use_tls=use_tls,
        timeout=timeout,
        login=connection.login,
        password=connection.password,
        from_email=extra.get("from_email") or None,
    )


class SmtpNotifier(BaseNotifier):
    """Send an email when called back (Airflow's ``SmtpNotifier``, same keywords).

    Args:
        to: Recipient address, or several (a list, or one string separated by
            commas or semicolons).
        from_email: The sender (default: the connection's ``from_email`` extra).
        subject: The subject (a template; by default it names the DAG, task and run).
        html_content: The HTML body (a template; by default it names the DAG,
            task and run and shows the error of a failure callback).
        files: Paths of files to attach.
        cc: Copy recipients, as for ``to``.
        bcc: Blind copy recipients, as for ``to``.
        custom_headers: Extra headers of the message.
        smtp_conn_id: The SMTP connection.
        mime_charset: The body's character set.

    Every field but ``smtp_conn_id`` and ``mime_charset`` is a Jinja2 template
    rendered with the callback's context.

    Example:
        >>> from sensors import SmtpNotifier
        >>> alert = SmtpNotifier(to="oncall@example.com", subject="{{ dag.dag_id }} failed")
        >>> alert
        <SmtpNotifier>
    """

    template_fields = ("from_email", "to", "subject", "html_content", "files", "cc", "bcc",
                       "custom_headers")  # fmt: skip

    def __init__(
        self,
        to: str | Iterable[str],
        from_email: str | None = None,
        subject: str | None = None,
        html_content: str | None = None,
        files: Sequence[str] | None = None,
        cc: str | Iterable[str] | None = None,
        bcc: str | Iterable[str] | None = None,
        custom_headers: Mapping[str, str] | None = None,
        smtp_conn_id: str = "smtp_default",
        mime_charset: str = "utf-8",
    ) -> None:
        super().__init__()
        if not _addresses(to):
            raise SmtpNotifierError("SmtpNotifier needs at least one recipient in to=")
        self.to = to if isinstance(to, str) else list(to)
        self.from_email = from_email
        self.subject = subject if subject is not None else DEFAULT_SUBJECT
        self.html_content = html_content if html_content is not None else DEFAULT_HTML
        self.files = list(files or [])
        self.cc = cc if cc is None or isinstance(cc, str) else list(cc)
        self.bcc = bcc if bcc is None or isinstance(bcc, str) else list(bcc)
        self.custom_headers = dict(custom_headers or {})
        self.smtp_conn_id = smtp_conn_id
        self.mime_charset = mime_charset

    def notify(self, context: Mapping[str, Any]) -> None:
        """Build the message and send it (in a worker thread: this is a plain ``def``).

        Raises:
            SmtpNotifierError: the connection, the server or an attachment failed.
        """
        config = smtp_config(self.smtp_conn_id)
        sender = self.from_email or config.from_email
        if not sender:
            raise SmtpNotifierError(
                f"SmtpNotifier: no sender: give from_email= or the from_email extra of "
                f"connection {config.conn_id!r}"
            )
        message = self.message(sender)
        recipients = [*_addresses(self.to), *_addresses(self.cc), *_addresses(self.bcc)]
        send(config, message, sender, recipients)

    def message(self, sender: str) -> EmailMessage:
        """The email as rendered now (Bcc recipients are not in its headers)."""
        message = EmailMessage()
        message["Subject"] = self.subject
        message["From"] = sender
        message["To"] = ", ".join(_addresses(self.to))
        if self.cc:
            message["Cc"] = ", ".join(_addresses(self.cc))
        for name, value in self.custom_headers.items():
            message[name] = value
        message.set_content(self.html_content, subtype="html", charset=self.mime_charset)
        for path in self.files:
            _attach(message, Path(path))
        return message


def send(config: SmtpConfig, message: EmailMessage, sender: str, recipients: list[str]) -> None:
    """Deliver ``message`` through ``config``'s server (blocking: call it in a thread).

    Raises:
        SmtpNotifierError: naming the server and the error, never the password.
    """
    where = f"connection {config.conn_id!r} ({config.host}:{config.port})"
    try:
        with _connect(config) as smtp:
            if config.use_tls:
                smtp.starttls(context=ssl.create_default_context())
            if config.login:
                smtp.login(config.login, config.password or "")
            smtp.send_message(message, from_addr=sender, to_addrs=recipients)
    except (smtplib.SMTPException, OSError) as error:
        text = f"{type(error).__name__}: {error}"
        if config.password:
            text = text.replace(config.password, "***")
        raise SmtpNotifierError(
            f"SmtpNotifier: sending mail through {where} failed: {text}"
        ) from None


def _connect(config: SmtpConfig) -> smtplib.SMTP:
    if config.use_ssl:
        return smtplib.SMTP_SSL(
            config.host, config.port, timeout=config.timeout, context=ssl.create_default_context()
        )
    return smtplib.SMTP(config.host, config.port, timeout=config.timeout)


def _addresses(value: str | Iterable[str] | None) -> list[str]:
    """Addresses from a list, or from one string split on commas and semicolons (as Airflow)."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    return [
        part.strip() for item in items for part in item.replace(";", ",").split(",") if part.strip()
    ]


def _attach(message: EmailMessage, path: Path) -> None:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise SmtpNotifierError(
            f"SmtpNotifier: cannot attach {str(path)!r}: {error.strerror or error}"
        ) from None
    kind, _ = mimetypes.guess_type(path.name)
    maintype, _, subtype = (kind or "application/octet-stream").partition("/")
    message.add_attachment(data, maintype=maintype, subtype=subtype, filename=path.name)
