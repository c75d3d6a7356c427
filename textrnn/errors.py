"""Errors meant for the user: one line each, with the exit code the CLI returns.

Exit codes: 2 for bad input, options or model directories (the user can fix it); 1 for an
internal error (a bug: please report it with the output of --debug); 130 when interrupted.
"""


class TextrnnError(Exception):
    exit_code = 2


class DataError(TextrnnError):
    """A data file that cannot be used; the message names the file, row and column."""


class BundleError(TextrnnError):
    """A model directory that is missing, damaged or unsafe."""


class UsageError(TextrnnError):
    """Options that contradict each other or the data."""


class TextrnnWarning(UserWarning):
    """A problem textrnn worked around: rows skipped, spans widened, figures not drawn."""
