"""Settings from the environment: defaults, overrides and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from asyncflow.settings import Settings, SettingsError


def test_defaults_follow_asyncflow_home() -> None:
    """Without variables the task logs live under ~/asyncflow."""
    settings = Settings.from_env({})
    assert settings.home == Path("~/asyncflow").expanduser()
    assert settings.task_logs_folder == settings.home / "logs"
    assert settings.xcom_max_bytes == 48 * 1024
    assert settings.max_map_length >= 100_000


def test_variables_and_keywords_override() -> None:
    """Environment variables set values; keyword overrides win over both."""
    env = {"ASYNCFLOW_HOME": "/srv/af", "ASYNCFLOW_XCOM_MAX_BYTES": "1000"}
    settings = Settings.from_env(env, poke_jitter=0.0)
    assert settings.task_logs_folder == Path("/srv/af/logs")
    assert settings.xcom_max_bytes == 1000
    assert settings.poke_jitter == 0.0


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("ASYNCFLOW_XCOM_MAX_BYTES", "lots", "must be a positive whole number, got 'lots'"),
        ("ASYNCFLOW_MAX_MAP_LENGTH", "0", "must be a positive whole number, got '0'"),
        ("ASYNCFLOW_SHUTDOWN_GRACE", "-1", "must be a positive number of seconds, got '-1'"),
        ("ASYNCFLOW_SCHEDULER_POLL", "0", "must be a positive number of seconds, got '0'"),
        ("ASYNCFLOW_POKE_JITTER", "1.5", "must be a number from 0 to 1, got '1.5'"),
    ],
)
def test_bad_values_name_the_variable(name: str, raw: str, message: str) -> None:
    """A variable of the wrong kind raises one line naming it and the value."""
    with pytest.raises(SettingsError) as info:
        Settings.from_env({name: raw})
    assert str(info.value) == f"{name} {message}"


@pytest.mark.anyio
async def test_an_open_engine_raises_the_gc_threshold_and_restores_it() -> None:
    """While a GC-tuning engine is open the collector runs less often; closing restores it."""
    import gc

    from asyncflow import Engine, ProcessSetup

    tuned = ProcessSetup(tune_gc=True)
    before = gc.get_threshold()
    settings = Settings.from_env(gc_threshold=12_345)
    async with Engine("memory://", settings=settings, process=tuned):
        assert gc.get_threshold() == (12_345, 50, 100)
    assert gc.get_threshold() == before
    settings = Settings.from_env({"ASYNCFLOW_GC_THRESHOLD": "0"})
    async with Engine("memory://", settings=settings, process=tuned):
        assert gc.get_threshold() == before


def test_a_negative_gc_threshold_is_refused() -> None:
    """ASYNCFLOW_GC_THRESHOLD must be 0 or more; the error names the variable."""
    with pytest.raises(SettingsError, match="ASYNCFLOW_GC_THRESHOLD must be 0 or more, got '-1'"):
        Settings.from_env({"ASYNCFLOW_GC_THRESHOLD": "-1"})
