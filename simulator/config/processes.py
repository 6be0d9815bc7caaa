"""Worker processes that die with their parent.

:func:`start_worker` is the initializer of every local worker process (see
:mod:`simulator.experiments.executors`). It lives in the bottom layer, which imports
little, so that a new worker runs it within moments of starting rather than after the
simulator's heavy imports: until it has run, a worker could outlive a parent killed by
SIGKILL.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

__all__ = ["PR_SET_PDEATHSIG", "start_worker"]

PR_SET_PDEATHSIG = 1
"""``prctl`` option from ``<linux/prctl.h>``: the signal a process gets when its parent dies."""


def start_worker(parent_pid: int) -> None:
    """Make this worker process die with its parent and leave Ctrl-C to the parent.

    On Linux the kernel sends the worker SIGKILL when its parent dies
    (``prctl(PR_SET_PDEATHSIG, SIGKILL)``); a parent that died before this call (the
    worker has been adopted) ends the worker at once. SIGINT is ignored: the parent
    stops its workers itself, so a Ctrl-C prints no traceback from each of them.

    Parameters
    ----------
    parent_pid : int
        Process id of the command that started the worker.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(1)
