"""The one exception type users see: a single line naming what is wrong and where."""


class GnrcnnError(Exception):
    """An error caused by the user's input (a file, a config, a checkpoint), not by a bug.

    The command line prints ``error: <message>`` and exits non-zero without a traceback.
    """
