"""The reference pages cannot drift: every public name has its entry, every setting its row."""

from __future__ import annotations

import dataclasses
import importlib
import re
from pathlib import Path
from typing import Any

import pytest
from doc_samples import DOCS

import asyncflow
import sensors
from asyncflow.settings import Settings

_ENTRY = re.compile(r"^::: (?P<path>[\w.]+)$", re.M)
_ROW = re.compile(
    r"^\| `(?P<field>\w+)` \| `(?P<env>ASYNCFLOW_\w+)` \| (?P<default>[^|]+) \|", re.M
)


def documented(page: str) -> list[Any]:
    """The objects a reference page renders with mkdocstrings (``::: dotted.path``)."""
    found = []
    for match in _ENTRY.finditer((DOCS / "reference" / page).read_text()):
        module, _, name = match.group("path").rpartition(".")
        try:
            found.append(getattr(importlib.import_module(module), name))
        except ModuleNotFoundError:  # a path through a package's attribute, e.g. asyncflow.dag.dag
            parent, _, attribute = module.rpartition(".")
            found.append(getattr(getattr(importlib.import_module(parent), attribute), name))
    return found


@pytest.mark.parametrize(("package", "page"), [(asyncflow, "api.md"), (sensors, "sensors.md")])
def test_the_reference_documents_every_public_name(package: Any, page: str) -> None:
    """Each name of the package's __all__ has its entry on the reference page."""
    shown = documented(page)
    missing = [
        name
        for name in package.__all__
        if not any(
            obj is getattr(package, name) or obj is type(getattr(package, name)) for obj in shown
        )
    ]
    assert missing == []


def rows() -> dict[str, tuple[str, str]]:
    """The engine settings table of the configuration page: field -> (variable, default)."""
    text = (DOCS / "reference" / "configuration.md").read_text()
    return {m["field"]: (m["env"], m["default"].strip()) for m in _ROW.finditer(text)}


def test_every_setting_has_a_row() -> None:
    """The configuration page has one row per field of Settings, and no other."""
    assert sorted(rows()) == sorted(f.name for f in dataclasses.fields(Settings))


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(Settings)])
def test_each_row_names_the_settings_variable_and_default(field: str, tmp_path: Path) -> None:
    """Its variable sets that field, and setting it to the documented default changes nothing."""
    env, default = rows()[field]
    home = {"ASYNCFLOW_HOME": str(tmp_path)} if env != "ASYNCFLOW_HOME" else {}
    base = Settings.from_env(home)
    other = {"int": "7", "float": "0.5", "str | None": "memory://"}.get(
        str(Settings.__dataclass_fields__[field].type), str(tmp_path / "elsewhere")
    )
    changed = Settings.from_env({**home, env: other})
    assert getattr(changed, field) != getattr(base, field)
    if default != "unset":
        literal = default.strip("`").replace("<home>", str(tmp_path))
        assert Settings.from_env({**home, env: literal}) == base


def test_the_readme_links_to_docs_pages_inside_the_repository() -> None:
    """Every link of the README is relative and names a file of the repository."""
    readme = DOCS.parent / "README.md"
    links = re.findall(r"\]\(([^)]+)\)", readme.read_text())
    assert any(link.startswith("docs/") for link in links)
    for link in links:
        assert "://" not in link, link
        assert (readme.parent / link.split("#")[0]).is_file(), link
