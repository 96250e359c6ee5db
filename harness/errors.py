"""One error root for the harness; the CLI turns each into one line and exit code 2."""


class HarnessError(Exception):
    """Base class of every error the harness raises on purpose."""


class TableError(HarnessError):
    """The support table is malformed or disagrees with the seed document."""


class InputError(HarnessError):
    """A file or option given to the harness is missing, malformed or of the wrong kind."""


class BackendError(HarnessError):
    """A backend was asked for that does not exist or cannot run."""


class EnvironmentProblem(HarnessError):
    """Something the harness needs (TVM, a GPU) is missing from this machine."""
