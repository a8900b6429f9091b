"""Every process of a run ends with the run: nothing keeps working for a run that is gone.

- `exit_with_parent`: a provider plugin exits when the engine that started it dies (the engine starts
  plugins in process groups of their own, so a SIGKILL of the run's group does not reach them).
- `end_children_on_sigterm`: `mailbox-iac` asked to stop (a cancelled CI job, `systemctl stop`, `kill`)
  passes SIGTERM to the engine it started, then exits; the engine's plugins follow the engine.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType


def exit_with_parent(poll_seconds: float = 0.2) -> None:
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_seconds)
        os._exit(1)  # no cleanup to wait for: the engine that would use the result is gone

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def children() -> list[int]:
    """This process's child processes (Linux: /proc/self/task/*/children)."""
    found: list[int] = []
    for task in Path("/proc/self/task").glob("*/children"):
        with contextlib.suppress(OSError):
            found += [int(pid) for pid in task.read_text().split()]
    return found


def end_children_on_sigterm() -> None:
    def stop(signum: int, _frame: FrameType | None) -> None:
        for pid in children():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        print(f"mailbox-iac: stopped by signal {signum}; the next `up` resumes where this run stopped", file=sys.stderr)
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
