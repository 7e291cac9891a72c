"""What the benchmarks share: memory readings, the floor's subprocess, tables and results."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    """The process's resident set size now (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


def floor_in_subprocess(script: str, args: argparse.Namespace, names: Sequence[str]) -> Any:
    """Run ``script --floor`` with the named options in a fresh interpreter; its JSON."""
    argv = [sys.executable, script, "--floor"]
    for name in names:
        argv += [f"--{name}", str(getattr(args, name))]
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def print_side_by_side(
    rows: Sequence[tuple[str, str]],
    flow: dict[str, Any],
    floor: dict[str, Any],
    cell: Callable[[str, Any], str],
) -> None:
    """One line per metric: its label, asyncflow's figure and the floor's."""
    lines = [("metric", "asyncflow", "floor")]
    lines += [(label, cell(key, flow[key]), cell(key, floor[key])) for label, key in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(3)]
    for line in lines:
        cells = zip(line, widths, strict=True)
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(cells)))


def write_results(
    name: str, args: argparse.Namespace, load_before: float, figures: dict[str, Any]
) -> Path:
    """Write ``benchmarks/results/<name>.json``: the machine, the options, the figures."""
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{name}.json"
    info: dict[str, Any] = {"python": platform.python_version(), "machine": platform.machine()}
    info |= {"cpus": os.cpu_count(), "argv": sys.argv[1:]}
    info |= {"config": {k: str(v) for k, v in vars(args).items() if k != "floor"}}
    info |= {"loadavg_1min": [load_before, os.getloadavg()[0]]}
    out.write_text(json.dumps(info | figures, indent=2))
    return out
