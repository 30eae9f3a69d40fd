"""User-facing errors: one line that says what is wrong and what was expected."""


class GanforgeError(Exception):
    """An error caused by the user's input (a path, an option, a file), not by a bug.

    The CLI prints its message on one line and exits with status 2, without a traceback.
    """
