r"""Load the DAGs of a folder of Python files, each file in isolation.

Every ``*.py`` file under the folder is imported on its own (recursively, in
sorted order; files and folders whose name starts with ``_`` or ``.`` are
skipped). A file that fails to import, for any reason, becomes one line in
:attr:`DagBag.errors` and every other file still loads.

``.asyncflowignore``:
    Airflow's ``.airflowignore`` with its ``regexp`` syntax (Airflow 2's
    default): each line is a regular expression, searched (not anchored) in the
    path of every file and folder relative to the DAG folder, written with
    ``/``. A folder that matches is not entered at all. A file applies to its own
    folder and every folder below it; one in a subfolder adds its patterns for
    that subtree. ``#`` starts a comment (to the end of the line), surrounding
    whitespace and blank lines are ignored, and a pattern that is not a valid
    regular expression is reported in :attr:`DagBag.errors` under the ignore
    file's path while the others still apply. Example::

        # scratch work and a vendored tree
        scratch
        ^vendor/
        (^|/)test_[^/]*\.py$

Which DAGs a file defines:
    Every DAG created while the file's top-level code runs, directly or through
    functions it calls (an ``@dag`` function, a factory in a helper module),
    whether or not it is assigned to a name: ``etl = my_dag()`` and a bare
    ``my_dag()`` both count, as in Airflow 2. DAGs created by the top-level code
    of *another* module the file imports are that module's, not the file's.
    Creation is observed with :func:`asyncflow.dag.recording_created_dags`,
    which notes each DAG with the file whose top-level code created it. A DAG
    bound to a module-level name that no file has claimed is collected too.

How files are isolated:
    A file is imported under a unique, stable module name derived from its
    path, and stays in :data:`sys.modules` under that name after a successful
    import: code that looks its own module up there at run time (dataclasses,
    pickle, ``typing.get_type_hints``, ``inspect.getsource``) keeps working, and
    loading the same file again replaces the entry instead of piling up. While
    the file imports, its own folder and the DAG folder are on :data:`sys.path`,
    so ``import helper`` (a sibling) and ``from common import x`` (a package at
    the folder's root, the Airflow convention) both work. Helper modules from
    the DAG folder are dropped from :data:`sys.modules` after each file, so
    every file gets fresh helpers and an edited helper is seen on the next load.
    A task that imports a helper lazily, at run time, must therefore import it
    at the top of the DAG file instead. Loading changes process-wide state
    (``sys.path``, ``sys.modules``): load from one thread at a time.

Duplicate ``dag_id``:
    The first file in sorted order keeps the DAG; the later file gets an error
    naming both files, and its other DAGs still load. Keeping the first makes
    the outcome deterministic and means a new file cannot knock out a DAG that
    already runs.

Example:
    >>> bag = load_dags(Path("dags"))  # doctest: +SKIP
    >>> sorted(bag.dags), bag.errors
    (['etl', 'report'], {'/srv/dags/broken.py': 'File "broken.py", line 3: NameError: ...'})
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import os
import re
import sys
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType, ModuleType

from asyncflow.dag import DAG, recording_created_dags
from asyncflow.log import get_logger

__all__ = ["IGNORE_FILE", "DagBag", "dag_files", "describe_import_error", "load_dags"]

log = get_logger("asyncflow.dag_loader")

_NOT_NAME = re.compile(r"[^0-9A-Za-z_]")
_COMMENT = re.compile(r"\s*#.*")  # as Airflow strips comments from .airflowignore lines

IGNORE_FILE = ".asyncflowignore"
"""The name of the file listing patterns of DAG-folder paths not to load."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DagBag:
    """The DAGs found in a folder and the files that failed to import.

    Attributes:
        dags: DAG id to DAG, each with ``fileloc`` set to its file's path.
        errors: File path to a one-line error, such as
            ``File "etl.py", line 12: NameError: name 'foo' is not defined``.
    """

    dags: dict[str, DAG] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def load_dags(folder: Path | str) -> DagBag:
    """Import every DAG file under ``folder`` and collect its DAGs and import errors.

    Args:
        folder: A folder of DAG files (or one ``.py`` file).

    Returns:
        The DAGs by id, and the files that failed with their one-line error.

    Raises:
        FileNotFoundError: ``folder`` does not exist.
        NotADirectoryError: ``folder`` is neither a folder nor a ``.py`` file.

    Example:
        >>> bag = load_dags("dags")  # doctest: +SKIP
        >>> bag.dags["etl"].fileloc
        '/srv/dags/etl.py'
    """
    root = Path(folder).expanduser().absolute()
    files, errors = _find_dag_files(root)
    base = root if root.is_dir() else root.parent
    dags: dict[str, DAG] = {}
    for path in files:
        try:
            found = _load_file(path, base)
        except _ImportFailed as failed:
            errors[str(path)] = failed.line
            log.info("dag_file_import_failed", file=str(path), error=failed.line)
            continue
        duplicates = _add_dags(found, path, base, dags)
        if duplicates:
            errors[str(path)] = "; ".join(duplicates)
        log.debug("dag_file_loaded", file=str(path), dags=[d.dag_id for d in found])
    return DagBag(dags=dags, errors=errors)


def dag_files(folder: Path) -> list[Path]:
    """The DAG files under ``folder``, sorted, without those ``.asyncflowignore`` excludes.

    Names starting with ``_`` or ``.`` are skipped too.

    Raises:
        FileNotFoundError: ``folder`` does not exist.
        NotADirectoryError: ``folder`` is neither a folder nor a ``.py`` file.
    """
    return _find_dag_files(folder)[0]


def _find_dag_files(folder: Path) -> tuple[list[Path], dict[str, str]]:
    """The DAG files under ``folder``, and the errors of ignore files (path to one line)."""
    if not folder.exists():
        raise FileNotFoundError(f"DAG folder {folder} does not exist")
    if folder.is_file():
        if folder.suffix != ".py":
            raise NotADirectoryError(f"{folder} is neither a folder nor a .py file")
        return [folder], {}
    found: list[Path] = []
    errors: dict[str, str] = {}
    inherited: dict[str, list[re.Pattern[str]]] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        patterns = inherited.pop(dirpath, [])
        if IGNORE_FILE in filenames:
            ignore_file = Path(dirpath, IGNORE_FILE)
            more, problems = _read_ignore_file(ignore_file, folder)
            patterns = [*patterns, *more]
            if problems:
                errors[str(ignore_file)] = "; ".join(problems)

        dirnames[:] = [d for d in dirnames if _kept(Path(dirpath, d), folder, patterns)]
        for d in dirnames:
            inherited[os.path.join(dirpath, d)] = patterns
        found.extend(
            Path(dirpath, name)
            for name in filenames
            if name.endswith(".py") and _kept(Path(dirpath, name), folder, patterns)
        )
    return sorted(found, key=lambda p: p.relative_to(folder).parts), errors


def _kept(path: Path, folder: Path, patterns: list[re.Pattern[str]]) -> bool:
    """Whether to look at ``path``: not private or hidden, and matched by no ignore pattern."""
    if path.name.startswith(("_", ".")):
        return False
    relative = path.relative_to(folder).as_posix()
    return not any(pattern.search(relative) for pattern in patterns)


def _read_ignore_file(path: Path, base: Path) -> tuple[list[re.Pattern[str]], list[str]]:
    """The patterns of one ignore file, and one message per line that is not a regex."""
    patterns: list[re.Pattern[str]] = []
    problems: list[str] = []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        return [], [f'File "{_shown(path, base)}": cannot be read: {error.strerror}']
    for number, line in enumerate(text.splitlines(), start=1):
        pattern = _COMMENT.sub("", line).strip()
        if not pattern:
            continue
        try:
            patterns.append(re.compile(pattern))
        except re.error as error:
            problems.append(
                f'File "{_shown(path, base)}", line {number}: invalid regular expression '
                f"{pattern!r}: {error}; the line is not applied"
            )
    return patterns, problems


class _SourceLoader(importlib.machinery.SourceFileLoader):
    """Compiles a DAG file as it is now, never from a cached ``.pyc``.

    A ``.pyc`` is trusted while the source's modification time, in whole seconds, and
    its size are unchanged: an edit in the same second that keeps the size (``v1`` to
    ``v2``) would reload the old DAG.
    """

    def get_code(self, fullname: str) -> CodeType:
        """The code of the source file as it reads now."""
        return self.source_to_code(self.get_data(self.path), self.path)


class _ImportFailed(Exception):
    """A DAG file did not import; ``line`` says where and why."""

    def __init__(self, line: str) -> None:
        super().__init__(line)
        self.line = line


def _load_file(path: Path, base: Path) -> list[DAG]:
    """Import one file under its own module name and return the DAGs it defines."""
    name = _module_name(path)
    spec = importlib.util.spec_from_file_location(name, path, loader=_SourceLoader(name, str(path)))
    if spec is None or spec.loader is None:
        raise _ImportFailed(f'File "{_shown(path, base)}": cannot be imported as Python')
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        with _isolated_imports([path.parent, base], keep=name), recording_created_dags() as made:
            spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:
        sys.modules.pop(name, None)
        raise _ImportFailed(describe_import_error(exc, path, base)) from exc
    created = []
    for dag, creator in made:
        if creator == str(path):
            created.append(dag)
        elif dag.fileloc is None:
            dag.fileloc = creator  # another module's own DAG: not this file's to claim
    found = created + [
        value
        for value in list(vars(module).values())
        if isinstance(value, DAG) and value.fileloc is None and value not in created
    ]
    for dag in found:
        dag.fileloc = str(path)
    return found


def _add_dags(found: list[DAG], path: Path, base: Path, dags: dict[str, DAG]) -> list[str]:
    """Add ``found`` to ``dags``, keeping the first of each id; the duplicate messages."""
    problems: list[str] = []
    for dag in found:
        first = dags.get(dag.dag_id)
        if first is None:
            dags[dag.dag_id] = dag
        elif first is not dag:
            where = _shown(Path(first.fileloc or "?"), base)
            problems.append(
                f'File "{_shown(path, base)}": duplicate DAG id {dag.dag_id!r}, already '
                f'defined in "{where}" (the DAG from "{where}" is kept)'
            )
    return problems


def describe_import_error(exc: BaseException, path: Path, base: Path) -> str:
    """One line saying where in the DAG file an import failed, and why.

    The line is the deepest one of the DAG file in the traceback (for a syntax
    error, the line the parser stopped at, in whichever file that is).

    Example:
        >>> describe_import_error(error, Path("/d/etl.py"), Path("/d"))  # doctest: +SKIP
        'File "etl.py", line 12: ZeroDivisionError: division by zero'
    """
    if isinstance(exc, SyntaxError):
        file = Path(exc.filename) if exc.filename else path
        message = exc.msg
        lineno: int | None = exc.lineno
    else:
        file, message = path, _one_line(exc)
        lines = [
            f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(path)
        ]
        lineno = lines[-1] if lines else None
    where = f'File "{_shown(file, base)}"' + (f", line {lineno}" if lineno else "")
    kind = type(exc).__name__
    return f"{where}: {kind}: {message}" if message else f"{where}: {kind}"


@contextmanager
def _isolated_imports(folders: Sequence[Path], *, keep: str) -> Iterator[None]:
    """Put ``folders`` first on ``sys.path`` while a file imports, then forget its helpers.

    A helper is a module first imported now, from one of ``folders``. Modules
    found elsewhere (the standard library, site-packages, even a virtualenv
    inside the DAG folder) stay imported: some cannot be imported twice.
    """
    entries = [str(folder) for folder in dict.fromkeys(folders)]
    before = set(sys.modules)
    sys.path[:0] = entries
    try:
        yield
    finally:
        for entry in entries:
            if entry in sys.path:
                sys.path.remove(entry)
        for name in set(sys.modules) - before - {keep}:
            top = name.partition(".")[0]
            if top not in before and _found_in(sys.modules[name], top, folders):
                del sys.modules[name]


def _found_in(module: ModuleType, top: str, folders: Sequence[Path]) -> bool:
    """Whether ``module`` (of top-level package ``top``) was imported from one of ``folders``."""
    file = getattr(module, "__file__", None)
    places = [file] if file else list(getattr(module, "__path__", []))
    for place in map(Path, places):
        for folder in folders:
            if place.is_relative_to(folder):
                first = place.relative_to(folder).parts[0]
                if first in (top, f"{top}.py"):
                    return True
    return False


def _module_name(path: Path) -> str:
    digest = hashlib.sha1(str(path).encode(), usedforsecurity=False).hexdigest()[:12]
    return f"asyncflow_dag_{_NOT_NAME.sub('_', path.stem)}_{digest}"


def _shown(path: Path, base: Path) -> str:
    return str(path.relative_to(base)) if path.is_relative_to(base) else str(path)


def _one_line(exc: BaseException) -> str:
    return " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
