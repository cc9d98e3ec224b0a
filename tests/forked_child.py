"""Forks a child of an interpreter that has imported TensorFlow but run nothing yet (one thread, no TF
runtime): a new process that pays no import. Used by test scripts that start several runs."""

import os
import sys
import traceback


def fork_child(target, *args):
    """Runs `target(*args)` in a forked child and returns its pid; the child exits 0, or 1 with the
    traceback on stderr if `target` raises (a signal that kills it shows in `exit_code`)."""
    pid = os.fork()
    if pid == 0:
        try:
            target(*args)
        except BaseException:
            traceback.print_exc()
            sys.stderr.flush()
            os._exit(1)
        os._exit(0)  # no interpreter shutdown in the child: its parent owns the imported state
    return pid


def exit_code(pid):
    """Waits for the child `pid`: its exit status, or minus the signal that killed it."""
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
