"""Processes the tests start, made to end with the test process that started them."""

from __future__ import annotations

import ctypes
import functools
import signal

PR_SET_PDEATHSIG = 1


def die_with_parent(signum: int = signal.SIGTERM) -> None:  # pragma: no cover - in the child
    """Ask Linux to send `signum` to this child when the process that started it dies, even
    killed (a stress round cut short, a CI timeout): a server in a session of its own, or one
    that daemonizes, is out of reach of its test's process group and would otherwise outlive
    it. Called in the child before exec (``preexec_fn``), after any change of user: Linux clears
    the setting when the credentials change."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signum)
    except (OSError, AttributeError):  # not Linux: the fixture's teardown still stops it
        pass


#: for a PostgreSQL server: SIGQUIT is its immediate shutdown (SIGTERM would wait for every
#: client to disconnect)
quit_with_parent = functools.partial(die_with_parent, signal.SIGQUIT)
