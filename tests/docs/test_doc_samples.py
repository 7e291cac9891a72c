"""Every Python sample in docs/ runs as written; the few that cannot say why."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from doc_samples import DOCS, pages, samples

PAGES_WITH_SAMPLES = [p for p in pages() if any(s.fragment is None for s in samples(p))]
RUNNER = Path(__file__).with_name("doc_samples.py")


@pytest.mark.parametrize("page", PAGES_WITH_SAMPLES, ids=lambda p: p.relative_to(DOCS).as_posix())
def test_every_sample_of_the_page_runs(page: Path) -> None:
    """Each sample of the page runs to its end in a fresh folder, in a fresh interpreter."""
    expected = [f"ran {s.where}" for s in samples(page) if s.fragment is None]
    done = subprocess.run(
        [sys.executable, str(RUNNER), page.relative_to(DOCS).as_posix()],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert [line for line in done.stdout.splitlines() if line.startswith("ran ")] == expected


def test_samples_are_run_and_fragments_are_few() -> None:
    """Most samples run; a fragment is rare and says why it cannot run on its own."""
    found = [s for p in pages() for s in samples(p)]
    fragments = [s for s in found if s.fragment is not None]
    assert len(found) >= 20
    assert len(fragments) <= len(found) // 10, [s.where for s in fragments]
