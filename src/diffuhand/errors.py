"""The one exception type the command line turns into a one-line message and a non-zero exit."""


class DiffuhandError(Exception):
    """A problem with the user's input or files, worded for the user (it names the file and the reason)."""
