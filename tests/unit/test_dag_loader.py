"""Loading a DAG folder: which DAGs are found, and the exact one-line import errors."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from types import FrameType

import pytest

from asyncflow.dag_loader import DagBag, dag_files, load_dags

GOOD = """\
from asyncflow import dag, task

@dag(schedule=None)
def good():
    @task
    def hello():
        return "hi"

    hello()

good()
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """A folder with one good file and one file for each way of failing."""
    write(tmp_path, "good.py", GOOD)
    write(tmp_path, "syntax.py", "from asyncflow import DAG\n\nx = = 1\n")
    write(
        tmp_path,
        "raises.py",
        """\
        import os

        SETTING = os.environ.get("NOPE")
        raise ValueError("bad config")
        """,
    )
    write(tmp_path, "name_error.py", "x = 1\nprint(foo)\n")
    write(
        tmp_path,
        "cycle.py",
        """\
        from asyncflow import DAG, EmptyOperator

        with DAG("cyclic"):
            a = EmptyOperator(task_id="a")
            b = EmptyOperator(task_id="b")
            a >> b >> a
        """,
    )
    return tmp_path


def error_of(bag: DagBag, path: Path) -> str:
    return bag.errors[str(path)]


def test_good_file_loads_alongside_broken_ones(mixed: Path) -> None:
    """The good DAG loads even though four other files fail to import."""
    bag = load_dags(mixed)
    assert list(bag.dags) == ["good"]
    assert bag.dags["good"].fileloc == str(mixed / "good.py")
    assert bag.dags["good"].task_ids == ["hello"]
    assert sorted(Path(f).name for f in bag.errors) == [
        "cycle.py",
        "name_error.py",
        "raises.py",
        "syntax.py",
    ]


def test_syntax_error_names_file_line_and_message(mixed: Path) -> None:
    """A syntax error gives the file, the line the parser stopped at and its message."""
    bag = load_dags(mixed)
    assert (
        error_of(bag, mixed / "syntax.py")
        == 'File "syntax.py", line 3: SyntaxError: invalid syntax'
    )


def test_exception_at_import_names_the_raising_line(mixed: Path) -> None:
    """An exception raised at import gives the line of the DAG file that raised it."""
    bag = load_dags(mixed)
    assert error_of(bag, mixed / "raises.py") == 'File "raises.py", line 4: ValueError: bad config'
    assert error_of(bag, mixed / "name_error.py") == (
        "File \"name_error.py\", line 2: NameError: name 'foo' is not defined"
    )


def test_cycle_is_reported_with_its_tasks(mixed: Path) -> None:
    """A cycle fails the file at the end of its with block, naming the tasks on it."""
    bag = load_dags(mixed)
    assert error_of(bag, mixed / "cycle.py") == (
        "File \"cycle.py\", line 3: CycleError: DAG 'cyclic' has a cycle: a >> b >> a"
    )
    assert "cyclic" not in bag.dags


def test_errors_are_one_line(tmp_path: Path) -> None:
    """A multi-line exception message becomes one line."""
    write(tmp_path, "multi.py", 'raise RuntimeError("first\\n  second")\n')
    bag = load_dags(tmp_path)
    assert error_of(bag, tmp_path / "multi.py") == (
        'File "multi.py", line 1: RuntimeError: first second'
    )


def test_system_exit_in_a_dag_file_is_an_import_error(tmp_path: Path) -> None:
    """A file that calls sys.exit() is reported instead of ending the process."""
    write(tmp_path, "exits.py", "import sys\nsys.exit(3)\n")
    bag = load_dags(tmp_path)
    assert error_of(bag, tmp_path / "exits.py") == 'File "exits.py", line 2: SystemExit: 3'


def test_same_dag_id_in_two_files_keeps_the_first_and_names_both(tmp_path: Path) -> None:
    """The first file in sorted order keeps the id; the second gets an error naming both."""
    write(tmp_path, "a_first.py", 'from asyncflow import DAG\n\nwith DAG("shared"):\n    pass\n')
    write(
        tmp_path,
        "b_second.py",
        'from asyncflow import DAG\n\nDAG("shared")\nDAG("other")\n',
    )
    bag = load_dags(tmp_path)
    assert bag.dags["shared"].fileloc == str(tmp_path / "a_first.py")
    assert bag.dags["other"].fileloc == str(tmp_path / "b_second.py")
    error = error_of(bag, tmp_path / "b_second.py")
    assert error == (
        'File "b_second.py": duplicate DAG id \'shared\', already defined in "a_first.py" '
        '(the DAG from "a_first.py" is kept)'
    )
    assert str(tmp_path / "a_first.py") not in bag.errors


def test_sibling_helper_module_imports(tmp_path: Path) -> None:
    """A DAG file imports a helper module next to it, and the helper's value reaches the DAG."""
    write(tmp_path, "helpers.py", "DEFAULT_RETRIES = 4\n")
    write(
        tmp_path,
        "uses_helper.py",
        """\
        from asyncflow import DAG, EmptyOperator
        from helpers import DEFAULT_RETRIES

        with DAG("uses_helper", default_args={"retries": DEFAULT_RETRIES}) as d:
            EmptyOperator(task_id="t")
        """,
    )
    bag = load_dags(tmp_path)
    assert bag.errors == {}
    assert bag.dags["uses_helper"].get_task("t").retries == 4


def test_package_at_the_folder_root_imports_from_a_subfolder(tmp_path: Path) -> None:
    """A file in a subfolder imports a package from the folder's root, as in Airflow."""
    write(tmp_path, "common/__init__.py", "")
    write(
        tmp_path,
        "common/factory.py",
        """\
        from asyncflow import DAG, EmptyOperator

        def make(dag_id):
            with DAG(dag_id) as built:
                EmptyOperator(task_id="t")
            return built
        """,
    )
    write(tmp_path, "team/made.py", 'from common.factory import make\n\nmake("made")\n')
    bag = load_dags(tmp_path)
    assert bag.errors == {}
    assert list(bag.dags) == ["made"]
    assert bag.dags["made"].fileloc == str(tmp_path / "team" / "made.py")


def test_helpers_are_fresh_for_every_load(tmp_path: Path) -> None:
    """Two folders with a helper of the same name each get their own helper."""
    for n in (1, 2):
        folder = tmp_path / f"f{n}"
        write(folder, "helper.py", f"VALUE = {n}\n")
        write(
            folder,
            "d.py",
            'import helper\nfrom asyncflow import DAG\n\nDAG(f"d{helper.VALUE}")\n',
        )
    assert list(load_dags(tmp_path / "f1").dags) == ["d1"]
    assert list(load_dags(tmp_path / "f2").dags) == ["d2"]
    assert "helper" not in sys.modules


def test_error_in_a_helper_points_at_the_dag_file_line(tmp_path: Path) -> None:
    """When a helper raises while imported, the error gives the importing line of the DAG file."""
    write(tmp_path, "_broken_helper.py", "x = 1\nraise KeyError('missing')\n")
    write(tmp_path, "d.py", "import os\nimport _broken_helper\n")
    bag = load_dags(tmp_path)
    assert error_of(bag, tmp_path / "d.py") == "File \"d.py\", line 2: KeyError: 'missing'"


def test_unassigned_dag_calls_are_found(tmp_path: Path) -> None:
    """An @dag function called at module level without assigning the DAG still counts."""
    write(tmp_path, "unassigned.py", GOOD)
    write(
        tmp_path,
        "assigned.py",
        """\
        from asyncflow import dag, task

        @dag()
        def assigned():
            @task
            def t():
                return 1
            t()

        etl = assigned()
        """,
    )
    assert sorted(load_dags(tmp_path).dags) == ["assigned", "good"]


def test_dags_of_imported_dag_files_belong_to_their_own_file(tmp_path: Path) -> None:
    """A DAG file importing another DAG file does not claim the other file's DAGs."""
    write(tmp_path, "base.py", 'from asyncflow import DAG\n\nshared = DAG("base")\n')
    write(
        tmp_path, "user.py", 'from base import shared\nfrom asyncflow import DAG\n\nDAG("user")\n'
    )
    bag = load_dags(tmp_path)
    assert bag.errors == {}
    assert {d: Path(bag.dags[d].fileloc or "").name for d in bag.dags} == {
        "base": "base.py",
        "user": "user.py",
    }


def test_private_hidden_and_cache_files_are_skipped(tmp_path: Path) -> None:
    """Files and folders starting with _ or . (and __pycache__) are not loaded."""
    boom = "raise RuntimeError('must not be imported')\n"
    write(tmp_path, "_private.py", boom)
    write(tmp_path, ".hidden.py", boom)
    write(tmp_path, "_internal/x.py", boom)
    write(tmp_path, ".git/x.py", boom)
    write(tmp_path, "__pycache__/x.py", boom)
    write(tmp_path, "notes.txt", boom)
    write(tmp_path, "sub/good.py", GOOD)
    bag = load_dags(tmp_path)
    assert bag.errors == {}
    assert list(bag.dags) == ["good"]
    assert dag_files(tmp_path) == [tmp_path / "sub" / "good.py"]


def test_files_are_loaded_in_sorted_order_recursively(tmp_path: Path) -> None:
    """Every .py file under the folder is found, sorted by path."""
    for name in ["b.py", "a/z.py", "a.py", "c/d/e.py"]:
        write(tmp_path, name, "")
    assert [p.relative_to(tmp_path).as_posix() for p in dag_files(tmp_path)] == [
        "a/z.py",
        "a.py",
        "b.py",
        "c/d/e.py",
    ]


def test_sys_path_and_modules_are_left_clean(mixed: Path) -> None:
    """Loading restores sys.path and keeps only the modules of files that imported."""
    path_before = list(sys.path)
    load_dags(mixed)
    assert sys.path == path_before
    loaded = [
        m for m in sys.modules.values() if getattr(m, "__file__", None) == str(mixed / "good.py")
    ]
    failed = [
        m for m in sys.modules.values() if getattr(m, "__file__", None) == str(mixed / "raises.py")
    ]
    assert len(loaded) == 1
    assert failed == []


def test_loading_twice_gives_new_dags(tmp_path: Path) -> None:
    """Each load imports the files again, so an edited file is seen."""
    path = write(tmp_path, "d.py", 'from asyncflow import DAG\n\nDAG("v1")\n')
    assert list(load_dags(tmp_path).dags) == ["v1"]
    path.write_text('from asyncflow import DAG\n\nDAG("v2")\n')
    assert list(load_dags(tmp_path).dags) == ["v2"]


def test_missing_folder_raises(tmp_path: Path) -> None:
    """A folder that does not exist is an error, not an empty bag."""
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_dags(tmp_path / "nope")


def test_a_single_file_can_be_loaded(tmp_path: Path) -> None:
    """Given one .py file instead of a folder, that file is loaded."""
    path = write(tmp_path, "solo.py", GOOD)
    assert list(load_dags(path).dags) == ["good"]


def test_an_installed_profiler_keeps_working(tmp_path: Path) -> None:
    """A profile function set before loading still sees the import and is restored afterwards."""
    write(tmp_path, "good.py", GOOD)
    seen: list[str] = []

    def profiler(frame: FrameType, event: str, arg: object) -> None:
        if event == "call":
            seen.append(frame.f_code.co_name)

    sys.setprofile(profiler)
    try:
        bag = load_dags(tmp_path)
        restored = sys.getprofile()
    finally:
        sys.setprofile(None)
    assert restored is profiler
    assert list(bag.dags) == ["good"]
    assert "good" in seen  # the @dag function ran under the user's profiler too


def names(folder: Path) -> list[str]:
    return [p.relative_to(folder).as_posix() for p in dag_files(folder)]


def test_asyncflowignore_patterns_are_unanchored_regexes_on_relative_paths(tmp_path: Path) -> None:
    """Each line is searched anywhere in the path relative to the DAG folder, as Airflow does."""
    for name in [
        "project_a_dag.py",
        "TESTING_project_a.py",
        "tenant_1.py",
        "tenant_x.py",
        "keep.py",
    ]:
        write(tmp_path, name, "")
    write(tmp_path, "project_a/dag_1.py", "")
    write(tmp_path, "tenant_1/dag_1.py", "")
    write(tmp_path, ".asyncflowignore", "project_a\ntenant_[\\d]\n")
    assert names(tmp_path) == ["keep.py", "tenant_x.py"]


def test_asyncflowignore_skips_comments_blank_lines_and_whitespace(tmp_path: Path) -> None:
    """`#` starts a comment, blank lines are nothing, and surrounding spaces are not pattern."""
    for name in ["a.py", "b.py", "c.py"]:
        write(tmp_path, name, "")
    write(tmp_path, ".asyncflowignore", "# the old ones\n\n   ^a\\.py$   # one file\n   \n")
    assert names(tmp_path) == ["b.py", "c.py"]


def test_an_ignored_folder_is_never_entered(tmp_path: Path) -> None:
    """A matching folder is pruned: even its broken files are neither imported nor reported."""
    write(tmp_path, "vendor/lib/broken.py", "raise RuntimeError('must not be imported')\n")
    write(tmp_path, "good.py", GOOD)
    write(tmp_path, ".asyncflowignore", "^vendor$\n")
    bag = load_dags(tmp_path)
    assert (list(bag.dags), bag.errors) == (["good"], {})


def test_a_nested_ignore_file_applies_to_its_subtree_only(tmp_path: Path) -> None:
    """Patterns of sub/.asyncflowignore apply under sub/; the root's apply everywhere below it."""
    for name in ["old.py", "scratch.py", "sub/old.py", "sub/scratch.py", "sub/deep/old.py"]:
        write(tmp_path, name, "")
    write(tmp_path, ".asyncflowignore", "scratch\n")
    write(tmp_path, "sub/.asyncflowignore", "old\n")
    assert names(tmp_path) == ["old.py"]


def test_nested_patterns_match_paths_relative_to_the_dag_folder(tmp_path: Path) -> None:
    """As in Airflow, a nested file's patterns see the path from the DAG folder's root."""
    write(tmp_path, "team/etl.py", "")
    write(tmp_path, "team/report.py", "")
    write(tmp_path, "team/.asyncflowignore", "^team/etl\n^report\n")
    assert names(tmp_path) == ["team/report.py"]


def test_an_invalid_pattern_is_reported_and_the_others_still_apply(tmp_path: Path) -> None:
    """A line that is not a regular expression is an error naming the line; the rest applies."""
    write(tmp_path, "good.py", GOOD)
    write(tmp_path, "skipped.py", "raise RuntimeError('must not be imported')\n")
    ignore = write(tmp_path, ".asyncflowignore", "skipped\n[unclosed\n")
    bag = load_dags(tmp_path)
    assert list(bag.dags) == ["good"]
    assert bag.errors == {
        str(ignore): 'File ".asyncflowignore", line 2: invalid regular expression '
        "'[unclosed': unterminated character set at position 0; the line is not applied"
    }
