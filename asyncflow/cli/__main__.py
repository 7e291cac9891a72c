"""``python -m asyncflow.cli``: the same as the ``asyncflow`` command."""

from asyncflow.cli import main

if __name__ == "__main__":
    main()
