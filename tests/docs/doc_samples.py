"""The Python samples of docs/: found in the Markdown pages, and run each in a fresh folder.

A sample is a fenced ``python`` block. One that cannot run on its own (it needs a
running service, say) is marked by an HTML comment on the line before its fence,
``<!-- fragment: why -->``; every other sample is run. A block holding only
``--8<-- "path"`` lines (pymdownx.snippets) is the included files' text; such a
block sits between ``<!-- fmt: off -->`` and ``<!-- fmt: on -->``, since ruff
formats the Python blocks of Markdown files and would break the snippet line.

Run as a script, ``python doc_samples.py PAGE`` runs every sample of one page, each
in a new temporary folder that is also its ``ASYNCFLOW_HOME``, with a namespace of
its own, and prints ``ran PAGE:LINE`` after each.
"""

from __future__ import annotations

import linecache
import os
import re
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).parents[2]
DOCS = ROOT / "docs"

_FENCE = re.compile(
    r"^(?P<indent> *)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```", re.M | re.S
)
_FRAGMENT = re.compile(r"<!-- fragment: (?P<why>[^>]+?) -->\s*$")
_SNIPPET = re.compile(r'^--8<-- "(?P<path>[^"]+)"$')


@dataclass(frozen=True, slots=True, kw_only=True)
class Sample:
    """One fenced Python block of a page."""

    page: str  # relative to docs/
    line: int  # of the opening fence, 1-based
    code: str
    fragment: str | None  # why it is not run, or None for a sample that runs

    @property
    def where(self) -> str:
        """``page:line``, for messages."""
        return f"{self.page}:{self.line}"


def pages() -> list[Path]:
    """Every Markdown page of docs/, sorted."""
    return sorted(DOCS.rglob("*.md"))


def samples(page: Path) -> list[Sample]:
    """The Python blocks of ``page``, in order."""
    text = page.read_text()
    found = []
    for match in _FENCE.finditer(text):
        if match.group("info").split(" ", 1)[0].strip() != "python":
            continue
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marked = _FRAGMENT.search(before)
        found.append(
            Sample(
                page=page.relative_to(DOCS).as_posix(),
                line=text.count("\n", 0, match.start()) + 1,
                code=_included(textwrap.dedent(match.group("body"))),
                fragment=marked.group("why") if marked else None,
            )
        )
    return found


def _included(code: str) -> str:
    """The code, or the files a block of snippet lines includes (paths from the repo root)."""
    lines = code.strip().splitlines()
    paths = [_SNIPPET.match(line) for line in lines]
    if not lines or not all(paths):
        return code
    return "\n".join((ROOT / p.group("path")).read_text() for p in paths if p is not None)


def run_page(page: Path) -> None:
    """Run every sample of ``page`` that is not a fragment, each in a fresh folder."""
    for sample in samples(page):
        if sample.fragment is not None:
            continue
        with tempfile.TemporaryDirectory(prefix="asyncflow-doc-") as folder:
            os.chdir(folder)
            os.environ["ASYNCFLOW_HOME"] = folder
            name = f"docs/{sample.where}"
            # inspect.getsource finds the sample's functions (isolated Python tasks ship it)
            linecache.cache[name] = (len(sample.code), None, sample.code.splitlines(True), name)
            code = compile(sample.code, name, "exec")
            exec(code, {"__name__": "__main__"})  # the sample is the docs' own code
            os.chdir(ROOT)
        print(f"ran {sample.where}", flush=True)


if __name__ == "__main__":
    run_page(DOCS / sys.argv[1])
