"""Exceptions that the command line turns into exit codes.

Every error caused by the user's input derives from :class:`InputError` and carries a
single-line message that names the file, and where it applies the row and column, so
that ``deepshadows`` can print it and exit with status 2 instead of a traceback.
"""


class InputError(ValueError):
    """Bad input (file, argument, catalog row): the command line exits with status 2.

    Parameters
    ----------
    message : str
        What is wrong, in one line.
    path : str or path-like, optional
        The file concerned; prefixed to the message.
    row : int, optional
        1-based line number in the file (the header is line 1).
    column : str, optional
        The column concerned.
    """

    def __init__(self, message, *, path=None, row=None, column=None):
        self.path = None if path is None else str(path)
        self.row = row
        self.column = column
        self.reason = str(message).replace("\n", " ")
        where = []
        if self.path is not None:
            where.append(self.path)
        if row is not None:
            where.append(f"line {row}")
        if column is not None:
            where.append(f"column '{column}'")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {self.reason}" if prefix else self.reason)


class MissingDataError(InputError):
    """A data file that cannot be shipped with the project is not where it should be."""


class PartialFailure(RuntimeError):
    """Some objects of a batch failed; the rest were written.  Exit status 3.

    Parameters
    ----------
    message : str
        A one-line summary (how many failed and where they are listed).
    failed : int
        Number of objects that failed.
    """

    def __init__(self, message, *, failed=0):
        super().__init__(message)
        self.failed = failed
