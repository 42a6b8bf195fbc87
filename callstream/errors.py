"""The product's one startup error type, and the CLI's.

:class:`StartupError` is what any service or command raises when it cannot start or go on
for a reason a person can fix: a missing or malformed setting, a broker that does not
answer, a file it cannot use. Every entry point reports it the same way: one line on
stderr and exit status 2. :class:`callstream.settings.SettingsError` and
:class:`callstream.broker.BrokerError` are kinds of it.

Kept in a module of its own so the class is the same object however the CLI was started
(``callstream``, ``python -m callstream`` or ``python -m callstream.cli``, which loads
``callstream.cli`` twice: once as ``__main__``).
"""

from __future__ import annotations


class StartupError(Exception):
    """A service or command cannot start (or go on); the message is one sentence for a
    person, and the CLI prints it as one line with exit status 2."""


class CliError(StartupError):
    """An error the CLI reports as one line and exit status 2 (a bad argument, a file or
    broker the command cannot use)."""
