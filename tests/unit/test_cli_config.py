"""The command line's configuration: its store, its DAG folder and the engine's settings."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from asyncflow.cli.common import CliConfig
from asyncflow.settings import Settings, SettingsError


def test_the_store_and_dag_folder_default_under_asyncflow_home() -> None:
    """Without variables the database and the DAG folder are under ASYNCFLOW_HOME."""
    config = CliConfig.from_env({"ASYNCFLOW_HOME": "/srv/af"})
    assert config.database_url == "sqlite:////srv/af/asyncflow.db"
    assert config.dags_folder == Path("/srv/af/dags")
    assert config.settings.task_logs_folder == Path("/srv/af/logs")


def test_variables_then_options_choose_the_store_and_dag_folder() -> None:
    """ASYNCFLOW_DATABASE_URL/ASYNCFLOW_DAGS_FOLDER override the defaults; options win over both."""
    env = {"ASYNCFLOW_DATABASE_URL": "sqlite:///env.db", "ASYNCFLOW_DAGS_FOLDER": "~/env-dags"}
    from_env = CliConfig.from_env(env)
    assert from_env.database_url == "sqlite:///env.db"
    assert from_env.dags_folder == Path("~/env-dags").expanduser()
    chosen = CliConfig.from_env(env, database_url="memory://", dags_folder="opt-dags")
    assert (chosen.database_url, chosen.dags_folder) == ("memory://", Path("opt-dags"))


def test_the_engine_settings_hold_nothing_the_engine_ignores() -> None:
    """Settings has no store or DAG folder: those are the Engine's arguments, chosen by the CLI."""
    fields = {field.name for field in dataclasses.fields(Settings)}
    assert not fields & {"database_url", "dags_folder"}


def test_a_bad_engine_setting_is_reported_by_the_cli_configuration() -> None:
    """A malformed engine variable fails the CLI configuration with the variable named."""
    with pytest.raises(SettingsError, match="ASYNCFLOW_WORKER_THREADS"):
        CliConfig.from_env({"ASYNCFLOW_WORKER_THREADS": "many"})
