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


def did_you_mean(word: str, choices, *, quote: bool = True, n: int = 2) -> str:
    """``" (did you mean 'nn.relu'?)"`` for the closest of ``choices`` (difflib), or "" when none is close."""
    import difflib

    word = str(word)
    names = [str(c) for c in choices]
    close = difflib.get_close_matches(word, names, n=n, cutoff=0.6) or difflib.get_close_matches(
        word.lower(), [x.lower() for x in names], n=1, cutoff=0.6)
    if close and close[0] not in names:   # matched case-insensitively: give the real spelling
        close = [x for x in names if x.lower() == close[0]]
    if not close:
        return ""
    shown = [repr(c) if quote else c for c in close]
    return f" (did you mean {' or '.join(shown)}?)"
