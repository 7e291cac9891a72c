"""``asyncflow users ...``: the web UI's users, their roles and API tokens."""

from __future__ import annotations

from datetime import UTC, datetime

import anyio
import click

from asyncflow.cli.access import reading_store
from asyncflow.cli.common import BadInput, CliConfig, common_options, config_for
from asyncflow.cli.output import output_option, print_json, print_table
from asyncflow.cli.web_options import require_web_extra

_ROLES = click.Choice(["admin", "op", "viewer"])


@click.group()
@common_options
def users() -> None:
    """Create, list and delete web users; make API tokens."""


@users.command("create")
@click.argument("username")
@click.option("--role", type=_ROLES, default="viewer", show_default=True, help="What it may do.")
@click.password_option(
    "--password", envvar="ASYNCFLOW_USER_PASSWORD", help="[env ASYNCFLOW_USER_PASSWORD]"
)
@common_options
@click.pass_context
def create_user(ctx: click.Context, username: str, role: str, password: str) -> None:
    """Create USERNAME with a password (asked twice unless given) and a role.

    viewer reads; op also triggers runs and wakes sensors; admin also pauses
    DAGs. The password is stored as an argon2 hash.

    \b
    Example:
        $ asyncflow users create alice --role admin
    """  # noqa: D301 - a \b line is click's mark to keep the example unwrapped
    require_web_extra()
    if not username.strip() or len(password) < 8:
        raise BadInput("a user needs a name and a password of at least 8 characters")
    created = anyio.run(_create, config_for(ctx), username, role, password)
    if not created:
        raise BadInput(f"user {username!r} exists already: delete it first to replace it")
    click.echo(f"User {username} created ({role}).")


async def _create(config: CliConfig, username: str, role: str, password: str) -> bool:
    from asyncflow.storage.users import Role, UserRecord
    from asyncflow.web.users import hash_password, users_of

    record = UserRecord(
        username=username,
        password_hash=hash_password(password),
        role=Role(role),
        created_at=datetime.now(UTC),
    )
    async with reading_store(config) as store:
        return await users_of(store).create_user(record)


@users.command("list")
@output_option
@common_options
@click.pass_context
def list_users(ctx: click.Context, output: str) -> None:
    """List the users and their roles (never their passwords)."""
    require_web_extra()
    rows = anyio.run(_list, config_for(ctx))
    if output == "json":
        print_json(
            {"users": [dict(zip(("username", "role", "created"), r, strict=True)) for r in rows]}
        )
    else:
        print_table(rows, header=["username", "role", "created"])


async def _list(config: CliConfig) -> list[list[str]]:
    from asyncflow.web.users import users_of

    async with reading_store(config) as store:
        found = await users_of(store).list_users()
    return [[u.username, str(u.role), u.created_at.isoformat(timespec="seconds")] for u in found]


@users.command("delete")
@click.argument("username")
@common_options
@click.pass_context
def delete_user(ctx: click.Context, username: str) -> None:
    """Delete USERNAME and its API tokens."""
    require_web_extra()
    if not anyio.run(_delete, config_for(ctx), username):
        raise BadInput(f"no user {username!r} (see `asyncflow users list`)")
    click.echo(f"User {username} deleted.")


async def _delete(config: CliConfig, username: str) -> bool:
    from asyncflow.web.users import users_of

    async with reading_store(config) as store:
        return await users_of(store).delete_user(username)


@users.command("token")
@click.argument("username")
@click.option("--name", default="script", show_default=True, help="What the token is for.")
@common_options
@click.pass_context
def make_token(ctx: click.Context, username: str, name: str) -> None:
    """Make an API token for USERNAME and print it (once: only its hash is kept).

    Send it as `Authorization: Bearer <token>`; it acts with the user's role.
    """
    require_web_extra()
    token = anyio.run(_token, config_for(ctx), username, name)
    click.echo(token)


async def _token(config: CliConfig, username: str, name: str) -> str:
    from asyncflow.storage.users import TokenRecord
    from asyncflow.web.users import new_token, token_hash, users_of

    async with reading_store(config) as store:
        kept = users_of(store)
        if await kept.get_user(username) is None:
            raise BadInput(f"no user {username!r} (see `asyncflow users list`)")
        token = new_token()
        await kept.add_token(
            TokenRecord(
                token_hash=token_hash(token), username=username, name=name,
                created_at=datetime.now(UTC),
            )
        )  # fmt: skip
    return token
