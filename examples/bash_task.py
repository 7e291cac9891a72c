"""Pattern: shell commands as tasks.

``@task.bash`` returns a command line and ``BashOperator`` takes one; either
runs as an async subprocess, and the last line of its stdout is the result.
"""

from asyncflow import BashOperator, dag, task


@dag(schedule=None, tags=["example"])
def bash_task():
    @task.bash
    def greet(name: str) -> str:
        return f"echo 'preparing'; echo 'hello {name}'"

    count_words = BashOperator(task_id="count_words", bash_command="echo one two three | wc -w")

    greet("asyncflow") >> count_words


bash_task()
