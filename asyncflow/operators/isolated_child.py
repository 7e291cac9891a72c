"""The child side of an isolated Python task: run one function from its source, in JSON.

``python isolated_child.py REQUEST RESULT`` reads ``REQUEST`` (JSON: the
function's ``source``, its ``name``, ``args`` and ``kwargs``), defines the
function in a fresh namespace, calls it and writes ``{"return_value": ...}`` to
``RESULT``. It uses the standard library only, since the interpreter running
it (a virtualenv, another Python) need not have asyncflow installed.

An exception in the function ends the child with its traceback on stderr (the
last line, ``ValueError: ...``, is what the task's error shows) and exit code 1;
a return value that is not JSON ends it with exit code 3 and one line saying so.
"""

import __future__

import json
import sys
from pathlib import Path
from typing import Any

NOT_JSON_EXIT = 3


def main(request_path: str, result_path: str) -> int:
    """Run the requested function; return the process's exit code."""
    request = json.loads(Path(request_path).read_text(encoding="utf-8"))
    name = request["name"]
    namespace: dict[str, Any] = {"__name__": "__asyncflow_isolated__"}
    # annotations stay unevaluated: the names they use live in the DAG file, not here
    flags = __future__.annotations.compiler_flag
    exec(compile(request["source"], f"<task function {name}>", "exec", flags=flags), namespace)
    result = namespace[name](*request["args"], **request["kwargs"])
    try:
        text = json.dumps({"return_value": result})
    except (TypeError, ValueError) as error:
        print(
            f"NotJsonError: the return value of {name}() cannot cross back as JSON: {error}",
            file=sys.stderr,
        )
        return NOT_JSON_EXIT
    Path(result_path).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
