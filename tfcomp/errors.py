"""The one exception type the CLI turns into a one-line message and exit code 2."""


class TfcompError(Exception):
    """A user-facing error: bad input, unknown model, corrupt file."""
