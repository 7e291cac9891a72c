"""A MkDocs hook: the Sphinx roles of asyncflow's docstrings rendered as code, not as raw text.

The docstrings name other objects the Sphinx way (``:class:`~asyncflow.Engine```),
which reads well in ``help()`` and in editors; Markdown leaves the role's name
in front of the code span. This drops it, keeping the object's path (or only its
last part, after a ``~``) as code.
"""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:class|meth|func|mod|attr|exc|data|obj):<code>(~?)([\w.]+)(\(\))?</code>")


def _shown(match: re.Match[str]) -> str:
    short, path, call = match.groups()
    name = path.rsplit(".", 1)[-1] if short else path
    return f"<code>{name}{call or ''}</code>"


def on_page_content(html: str, **kwargs: Any) -> str:
    """Rewrite every rendered role of the page's HTML."""
    return _ROLE.sub(_shown, html)
