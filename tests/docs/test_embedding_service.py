"""The service of docs/embedding.md runs: its lifespan opens the engine, its routes use it."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from doc_samples import DOCS


def load_service() -> ModuleType:
    spec = importlib.util.spec_from_file_location("service", DOCS / "examples" / "service.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.anyio
async def test_the_service_runs_a_report_through_its_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """POST starts a run in the app's engine; GET with ?wait answers its state and result."""
    monkeypatch.chdir(tmp_path)
    service = load_service()
    transport = httpx.ASGITransport(app=service.app)
    async with (
        service.app.router.lifespan_context(service.app),
        httpx.AsyncClient(transport=transport, base_url="http://service") as client,
    ):
        started = await client.post("/reports", json={"rows": [1, 2, 3]})
        assert started.status_code == 202
        run_id = started.json()["run_id"]
        assert run_id.startswith("manual__")
        finished = await client.get(f"/reports/{run_id}", params={"wait": 30})
        assert finished.json() == {"state": "success", "total": 6}
    assert (tmp_path / "service.db").is_file()  # the engine kept its runs where it was told
