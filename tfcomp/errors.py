"""The one exception type the CLI turns into a one-line message and exit code 2, and the same handling for the
measurement programs run with `python -m`."""
from __future__ import annotations

import os
import sys
from typing import Callable, NoReturn


class TfcompError(Exception):
    """A user-facing error: bad input, unknown model, corrupt file."""


def run_program(main: Callable[[], int | None]) -> NoReturn:
    """Exits with a program's status; a TfcompError prints one line naming the program and exits 2."""
    program = os.path.splitext(os.path.basename(sys.argv[0]))[0]
    try:
        status = main()
    except TfcompError as error:
        print(f"{program}: error: {error}", file=sys.stderr)
        sys.exit(2)
    sys.exit(status or 0)
