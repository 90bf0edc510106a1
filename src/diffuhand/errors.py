"""The one exception type the command line turns into a one-line message and a non-zero exit, and the warning
type it prints as one line."""


def one_line(text: object) -> str:
    """``text`` with its line breaks and tabs (e.g. a wrapped third-party message) turned into single spaces."""
    return " ".join(str(text).split())


class DiffuhandError(Exception):
    """A problem with the user's input or files, worded for the user (it names the file and the reason).

    The message is kept on one line whatever it quotes (torch's and others' messages span several)."""

    def __init__(self, message: object = "") -> None:
        super().__init__(one_line(message))


class DiffuhandWarning(UserWarning):
    """Something the user should know that does not stop the work: a fallback, an ignored option, lost data."""
