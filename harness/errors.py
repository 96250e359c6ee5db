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


def where_raised(exc: BaseException) -> str:
    """For an exception without a message (a bare ``assert``): what failed, from its traceback:
    the pass and op when a TVM transform raised it (``LegalizeOps of nn.prelu``), the file, line
    and source line where it was raised.  ``""`` when there is no traceback."""
    import os
    import traceback

    frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ is not None else []
    if not frames:
        return ""

    def short(f) -> str:
        parts = f.filename.replace(os.sep, "/").split("/")
        tail = "/".join(parts[parts.index("tvm"):]) if "tvm" in parts else "/".join(parts[-2:])
        return f"{tail}:{f.lineno} {f.name}"

    via = ""
    for f in frames:
        path = f.filename.replace(os.sep, "/")
        if "/relax/transform/legalize_ops/" in path and f.name.startswith("_"):
            via = f"LegalizeOps of {f.name[1:].replace('_', '.', 1)} ({short(f)}), "
    last = frames[-1]
    code = f": {last.line.strip()}" if last.line else ""
    return f"{via}raised at {short(last)}{code}"


def describe(exc: BaseException, text: str | None = None) -> str:
    """``Type: message`` on one line; an exception without a message names where it was raised
    (:func:`where_raised`) instead of repeating its type."""
    text = (str(exc) if text is None else text).strip()
    if not text or text == type(exc).__name__:
        where = where_raised(exc)
        return f"{type(exc).__name__} (no message) {where}".rstrip() if where else f"{type(exc).__name__} (no message)"
    return f"{type(exc).__name__}: {text}"
