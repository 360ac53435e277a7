"""The one error base: every error tfcompat raises on purpose, and what it says about the pair.

An error's message is one line that names what was read or run and why it failed. Its
``no_verdict`` flag tells the two kinds apart, so that nothing downstream has to guess from
the wording:

- ``no_verdict`` True: the machine failed (no network, a full disk, a damaged cache or
  environment, a tool missing, a wheel that cannot be read). It says nothing about the pair:
  a record of it has no verdict, a session ends *aborted* with ``no verdict: …`` and the fix,
  and it never hides an earlier verdict;
- ``no_verdict`` False: the message is an answer (the pair cannot be installed from wheels) or
  a mistake in what was asked (a bad matrix, a bad option, a file that is not a record).

Each subclass sets its usual kind; a raise may say otherwise (``no_verdict=``). The noxfile
maps an error to a session's outcome in one place.
"""

from __future__ import annotations


class TfcompatError(Exception):
    """Base of every error tfcompat raises on purpose (see the module docstring)."""

    no_verdict: bool = False

    def __init__(self, message: str = "", *, no_verdict: bool | None = None):
        super().__init__(message)
        if no_verdict is not None:
            self.no_verdict = no_verdict
