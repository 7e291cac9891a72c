"""Imports point one way: the contracts of pyproject.toml hold; asyncflow never loads sensors."""

from __future__ import annotations

import ast
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
# Every contract of [tool.importlinter] by id: naming them makes lint-imports fail when
# one is deleted, not only when one is broken.
CONTRACTS = ("layers", "acyclic", "asyncflow-without-sensors", "sensors-public-names")


def test_the_import_contracts_are_kept() -> None:
    """lint-imports finds every contract of pyproject.toml and none is broken."""
    ids = [arg for contract in CONTRACTS for arg in ("--contract", contract)]
    done = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", *ids],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in done.stdout


def test_importing_asyncflow_and_its_cli_loads_no_sensor_module() -> None:
    """asyncflow, its command line, testing helpers and engine load nothing of sensors."""
    code = (
        "import sys, asyncflow, asyncflow.cli, asyncflow.testing, asyncflow.xcom_objects\n"
        "asyncflow.xcom_objects.open_objects('memory://', 1024)\n"
        "print(sorted(m for m in sys.modules if m.partition('.')[0] == 'sensors'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.strip() == "[]"


def test_asyncflow_imports_no_module_by_name_at_run_time() -> None:
    """No import_module() or __import__() in asyncflow: every import is one lint-imports sees."""
    found = []
    for path in sorted((ROOT / "asyncflow").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                called = ast.unparse(node.func)
                if called.endswith(("import_module", "__import__")):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {called}")
    assert found == []


def test_the_s3_object_store_is_found_through_its_entry_point() -> None:
    """ASYNCFLOW_XCOM_OBJECT_STORE=s3:// reaches sensors' S3 store by the entry point only."""
    (s3,) = entry_points(group="asyncflow.xcom_object_stores", name="s3")
    assert s3.value == "sensors.aws.object_store:from_url"
