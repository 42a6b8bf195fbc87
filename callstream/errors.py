"""Errors the CLI reports as one line and a non-zero exit.

Kept in a module of its own so the class is the same object however the CLI was started
(``callstream``, ``python -m callstream`` or ``python -m callstream.cli``, which loads
``callstream.cli`` twice: once as ``__main__``).
"""

from __future__ import annotations


class CliError(Exception):
    """An error the CLI reports as one line and exit status 2."""
