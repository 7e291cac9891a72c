"""S3KeySensor against a real moto server: exact keys, wildcards, regexes, check_fn, errors."""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel
import pytest
from aws_helpers import LIMIT, MODES, Moto, run

from asyncflow import DAG, DagDefinitionError, DagRunState, Engine, TaskState, task
from asyncflow.testing import watch_pokes
from sensors import S3KeySensor
from sensors.aws.s3 import KeyTarget, plan_targets, regex_prefix

pytestmark = pytest.mark.anyio

FAST = {"poke_interval": 0.05}


async def make_bucket(moto: Moto, name: str = "landing") -> None:
    async with moto.client("s3") as s3:
        await s3.create_bucket(Bucket=name)


@pytest.mark.parametrize("mode", MODES)
async def test_a_key_arriving_mid_wait_ends_the_wait_with_its_metadata(
    moto: Moto, mode: str
) -> None:
    """The sensor waits while the key is missing and succeeds once it is written."""
    with DAG(f"arrives_{mode}") as built:
        sensor = S3KeySensor("s3://landing/in/ready.csv", task_id="ready", mode=mode, **FAST)
    probe = watch_pokes(sensor)
    async with moto.client("s3") as s3, Engine("memory://", dags=[built]) as engine:
        await s3.create_bucket(Bucket="landing")
        with anyio.fail_after(LIMIT):
            started = await engine.trigger(built.dag_id)
            await probe.waiting.wait()
            await s3.put_object(Bucket="landing", Key="in/ready.csv", Body=b"a,b\n")
            result = await engine.wait(started.run_id)
    assert result.state is DagRunState.SUCCESS
    assert probe.results[0] is False
    assert probe.results[-1] is True
    [found] = result.xcom("ready")
    assert set(found) == {"Key", "Size", "LastModified", "ETag"}
    assert (found["Key"], found["Size"]) == ("in/ready.csv", 4)
    assert found["LastModified"].utcoffset().total_seconds() == 0


async def test_every_listed_key_must_exist(moto: Moto) -> None:
    """With two keys, one present is not enough; the XCom lists both in the order given."""
    with DAG("all_keys") as built:
        sensor = S3KeySensor(
            ["in/a.csv", "in/b.csv"], bucket_name="landing", task_id="both", **FAST
        )
    probe = watch_pokes(sensor)
    async with moto.client("s3") as s3, Engine("memory://", dags=[built]) as engine:
        await s3.create_bucket(Bucket="landing")
        await s3.put_object(Bucket="landing", Key="in/a.csv", Body=b"1")
        with anyio.fail_after(LIMIT):
            started = await engine.trigger(built.dag_id)
            await probe.waiting.wait()
            await s3.put_object(Bucket="landing", Key="in/b.csv", Body=b"22")
            result = await engine.wait(started.run_id)
    assert result.state is DagRunState.SUCCESS
    assert [(f["Key"], f["Size"]) for f in result.xcom("both")] == [
        ("in/a.csv", 1),
        ("in/b.csv", 2),
    ]


async def test_a_wildcard_reads_every_page_of_a_large_listing(moto: Moto) -> None:
    """A wildcard over 1,200 keys (two pages) matches on both; check_fn sees all the matches."""
    await make_bucket(moto)
    keys = [f"in/part-{i:04d}.csv" for i in range(1200)] + ["in/part-0001.json", "other/x.csv"]
    moto.seed_objects("landing", keys)
    seen: list[list[dict[str, Any]]] = []

    def check(files: list[dict[str, Any]]) -> bool:
        seen.append(files)
        return True

    with DAG("wildcard_pages") as built:
        S3KeySensor(
            "s3://landing/in/part-*.csv",
            wildcard_match=True,
            check_fn=check,
            metadata_keys=["Key"],
            task_id="parts",
            **FAST,
        )
    result = await run(built)
    assert result.state is DagRunState.SUCCESS
    matched = [f["Key"] for f in result.xcom("parts")]
    assert matched == [f"in/part-{i:04d}.csv" for i in range(1200)]
    assert [len(files) for files in seen] == [1200]


async def test_a_regex_matches_from_the_start_of_the_key(moto: Moto) -> None:
    """use_regex lists under the literal start and keeps the keys re.match accepts."""
    await make_bucket(moto)
    moto.seed_objects(
        "landing",
        ["logs/2024-01/a.gz", "logs/2024-02/b.gz", "logs/2024-03/c.txt", "x/logs/2024-01/d.gz"],
    )
    with DAG("regex") as built:
        S3KeySensor(
            r"logs/2024-0[12]/.*\.gz", bucket_name="landing", use_regex=True, task_id="gz", **FAST
        )
    result = await run(built)
    assert [f["Key"] for f in result.xcom("gz")] == ["logs/2024-01/a.gz", "logs/2024-02/b.gz"]


async def test_check_fn_keeps_the_sensor_waiting_until_it_approves(moto: Moto) -> None:
    """An empty file does not pass a size check; the sensor succeeds once the file has data."""
    with DAG("check_fn") as built:
        sensor = S3KeySensor(
            "s3://landing/in/*.csv",
            wildcard_match=True,
            check_fn=lambda files: all(f["Size"] > 0 for f in files),
            task_id="filled",
            **FAST,
        )
    probe = watch_pokes(sensor)
    async with moto.client("s3") as s3, Engine("memory://", dags=[built]) as engine:
        await s3.create_bucket(Bucket="landing")
        await s3.put_object(Bucket="landing", Key="in/a.csv", Body=b"")
        with anyio.fail_after(LIMIT):
            started = await engine.trigger(built.dag_id)
            await probe.waiting.wait()
            await s3.put_object(Bucket="landing", Key="in/a.csv", Body=b"data")
            result = await engine.wait(started.run_id)
    assert result.state is DagRunState.SUCCESS
    assert result.xcom("filled")[0]["Size"] == 4


async def test_check_fn_taking_kwargs_gets_the_context_and_async_ones_are_awaited(
    moto: Moto,
) -> None:
    """Airflow's form check_fn(files, **context) receives the context; an async check_fn works."""
    await make_bucket(moto)
    moto.seed_objects("landing", ["in/a.csv"])
    contexts: list[str] = []

    def with_context(files: list[dict[str, Any]], **context: Any) -> bool:
        contexts.append(context["ti"].task_id)
        return True

    async def awaited(files: list[dict[str, Any]]) -> bool:
        await anyio.lowlevel.checkpoint()
        return len(files) == 1

    with DAG("check_fn_forms") as built:
        S3KeySensor("s3://landing/in/a.csv", check_fn=with_context, task_id="sync_kwargs", **FAST)
        S3KeySensor("s3://landing/in/a.csv", check_fn=awaited, task_id="async_fn", **FAST)
    result = await run(built)
    assert result.state is DagRunState.SUCCESS
    assert contexts == ["sync_kwargs"]


async def test_metadata_keys_beyond_the_listing_are_read_with_head_object(moto: Moto) -> None:
    """ContentType is not in a listing, so it comes from head_object; '*' gives everything."""
    async with moto.client("s3") as s3:
        await s3.create_bucket(Bucket="landing")
        await s3.put_object(
            Bucket="landing", Key="in/a.json", Body=b"{}", ContentType="application/json"
        )
    with DAG("metadata") as built:
        S3KeySensor(
            "s3://landing/in/*.json",
            wildcard_match=True,
            metadata_keys=["Size", "ContentType"],
            task_id="some",
            **FAST,
        )
        S3KeySensor("s3://landing/in/a.json", metadata_keys=["*"], task_id="all", **FAST)
    result = await run(built)
    assert result.xcom("some") == [{"Size": 2, "ContentType": "application/json"}]
    [everything] = result.xcom("all")
    assert everything["ContentType"] == "application/json"
    assert everything["ContentLength"] == everything["Size"] == 2
    assert "ResponseMetadata" not in everything


async def test_bucket_key_may_come_from_an_upstream_task(moto: Moto) -> None:
    """A task's result as bucket_key is read at poke time, and the dependency is added."""
    await make_bucket(moto)
    moto.seed_objects("landing", ["in/2024-01-01/data.csv"])
    with DAG("key_from_task") as built:

        @task
        def todays_key(ds: str) -> str:
            return "s3://landing/in/2024-01-01/data.csv"

        sensor = S3KeySensor(todays_key(), task_id="landed", **FAST)
    assert sensor.upstream_task_ids == {"todays_key"}
    result = await run(built)
    assert result.xcom("landed")[0]["Key"] == "in/2024-01-01/data.csv"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("soft_fail", "state"), [(False, TaskState.FAILED), (True, TaskState.SKIPPED)]
)
async def test_a_key_that_never_comes_times_out_or_is_skipped(
    moto: Moto, mode: str, soft_fail: bool, state: TaskState
) -> None:
    """After its timeout the sensor fails with SensorTimeout, or is skipped with soft_fail."""
    await make_bucket(moto)
    with DAG(f"never_{mode}_{soft_fail}") as built:
        S3KeySensor(
            "s3://landing/never.csv",
            task_id="never",
            mode=mode,
            timeout=0.2,
            soft_fail=soft_fail,
            **FAST,
        )
    result = await run(built)
    ti = result.ti("never")
    assert ti.state is state
    if not soft_fail:
        assert ti.error is not None
        assert ti.error.startswith("SensorTimeout: sensor 'never' timed out")


@pytest.mark.parametrize("key", ["s3://nope/in/a.csv", "s3://nope/in/*.csv"])
async def test_a_missing_bucket_fails_at_once_with_one_clear_line(moto: Moto, key: str) -> None:
    """A bucket that does not exist fails the task without retries, naming it and the connection."""
    with DAG("no_bucket") as built:
        S3KeySensor(key, wildcard_match="*" in key, task_id="look", retries=2, **FAST)
    result = await run(built)
    ti = result.ti("look")
    assert (ti.state, ti.try_number) == (TaskState.FAILED, 1)
    assert ti.error == "FailTask: S3 bucket 'nope' does not exist (aws_conn_id 'aws_default')"


async def test_refused_credentials_fail_with_one_line_and_no_secret(
    moto: Moto, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With moto checking credentials, an unknown access key fails the task in one line."""
    await make_bucket(moto)
    monkeypatch.setenv(
        "ASYNCFLOW_CONN_AWS_DEFAULT",
        f"aws://AKIAUNKNOWN:sup3r-s3cret@/?region_name=us-east-1&endpoint_url={moto.url}",
    )
    moto.require_auth(True)
    with DAG("bad_credentials") as built:
        S3KeySensor("s3://landing/in/*.csv", wildcard_match=True, task_id="look", retries=2, **FAST)
    result = await run(built)
    ti = result.ti("look")
    assert (ti.state, ti.try_number) == (TaskState.FAILED, 1)
    assert ti.error is not None
    assert ti.error.startswith(
        "FailTask: ListObjectsV2 failed for aws_conn_id 'aws_default': InvalidAccessKeyId"
    )
    assert "\n" not in ti.error
    assert "sup3r-s3cret" not in ti.error


@pytest.mark.parametrize(
    ("conn_id", "uri", "error"),
    [
        (
            "nowhere",
            None,
            "FailTask: connection 'nowhere' is not defined: set ASYNCFLOW_CONN_NOWHERE",
        ),
        (
            "broken",
            "aws://key:pa55w0rd@host:port/",
            "FailTask: connection 'broken' has a URI that does not parse",
        ),
        ("web", "https://example.com", "FailTask: connection 'web' is a https:// connection"),
        ("half", "aws://only-a-key@/", "FailTask: connection 'half' has half a key pair"),
    ],
)
async def test_a_missing_or_malformed_connection_fails_naming_it(
    moto: Moto, monkeypatch: pytest.MonkeyPatch, conn_id: str, uri: str | None, error: str
) -> None:
    """The task fails with one line naming the connection id, never showing its URI."""
    if uri is not None:
        monkeypatch.setenv(f"ASYNCFLOW_CONN_{conn_id.upper()}", uri)
    with DAG(f"connection_{conn_id}") as built:
        S3KeySensor("s3://landing/a.csv", aws_conn_id=conn_id, task_id="look", retries=1, **FAST)
    result = await run(built)
    ti = result.ti("look")
    assert (ti.state, ti.try_number) == (TaskState.FAILED, 1)
    assert ti.error is not None
    assert ti.error.startswith(error), ti.error
    assert "pa55w0rd" not in ti.error


# 200 real requests to moto, ~7 ms of CPU each (client and server): six times the client's
# 32 pooled connections, all sensors asking for the client at once, as 1,000 did in 6 s
async def test_two_hundred_sensors_share_one_s3_client(moto: Moto) -> None:
    """200 S3KeySensors in one run (mapped, as Airflow users write it) make exactly one client."""
    await make_bucket(moto)
    keys = [f"in/{i}.csv" for i in range(200)]
    moto.seed_objects("landing", keys)
    with DAG("thousand") as built:
        S3KeySensor.partial(task_id="s3", bucket_name="landing", metadata_keys=[], **FAST).expand(
            bucket_key=keys
        )
    async with Engine("memory://", dags=[built]) as engine:
        with anyio.fail_after(60):
            result = await engine.run(built.dag_id)
        assert engine.resources.opened == 1
    assert result.state is DagRunState.SUCCESS
    assert all(ti.state is TaskState.SUCCESS for ti in result.task_instances)


# --- definition ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bucket_key": "in/a.csv"}, "is relative: give bucket_name or an s3:// URL"),
        ({"bucket_key": "s3://b/a", "bucket_name": "b"}, "so bucket_name must not be given"),
        ({"bucket_key": []}, "non-empty list of keys"),
        ({"bucket_key": "s3://b/[", "use_regex": True}, "is not a valid regex"),
        ({"bucket_key": "s3://b/a", "use_regex": True, "wildcard_match": True}, "not both"),
        ({"bucket_key": "s3://b/a", "check_fn": 3}, "check_fn must be callable"),
        ({"bucket_key": "s3://b/a", "metadata_keys": "Size"}, "metadata_keys must be a list"),
    ],
)
def test_wrong_arguments_fail_when_the_dag_is_defined(kwargs: dict[str, Any], message: str) -> None:
    """Each mistake is a DagDefinitionError naming the task."""
    with DAG("wrong"), pytest.raises(DagDefinitionError, match="task 'look'") as raised:
        S3KeySensor(task_id="look", **kwargs)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("pattern", "prefix"),
    [
        ("logs/2024-0[12]/.*", "logs/2024-0"),
        ("^data/x", "data/x"),
        ("data/xy?", "data/x"),
        ("data/x*", "data/"),
        ("data/x{2}", "data/"),
        ("data/x+", "data/x"),
        ("a|b", ""),
        ("(?i)data", ""),
        (r"data\.csv", "data"),
    ],
)
def test_a_regex_lists_under_its_literal_start(pattern: str, prefix: str) -> None:
    """The listing prefix of a regex never excludes a key the regex matches."""
    assert regex_prefix(pattern) == prefix


def test_wildcards_list_under_the_part_before_the_first_wildcard() -> None:
    """Keys may be s3:// URLs; a '?' in a URL stays part of the key."""
    [target] = plan_targets("s3://b/in/day=?/part-*.csv", None, wildcard=True, regex=False)
    assert target == KeyTarget("b", "in/day=?/part-*.csv", "wildcard")
    assert target.prefix == "in/day="
    assert target.matches("in/day=1/part-0.csv")
    assert not target.matches("in/day=10/part-0.csv")
