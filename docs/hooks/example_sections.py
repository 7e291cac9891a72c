"""A griffe extension: a docstring's ``Example:`` section read as examples (doctest code).

asyncflow's docstrings say ``Example:`` above their ``>>>`` lines, as ruff's
Google convention allows. Griffe's Google parser treats only ``Examples:`` as
code to show, and any other title as a free-text admonition, where ``>>>``
would render as nested quotes. This renames the title before parsing.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_TITLE = re.compile(r"^(\s*)Example:\s*$", re.M)


class ExampleSections(griffe.Extension):
    """Read ``Example:`` as ``Examples:`` in every docstring mkdocstrings loads."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Rename the section of the object's docstring, if it has one."""
        if obj.docstring is not None:
            obj.docstring.value = _TITLE.sub(r"\1Examples:", obj.docstring.value)
