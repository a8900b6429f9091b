"""Two costs the Pulumi SDK puts on every resource a program registers, taken off in the program's process.

A fresh globex `up` declares 270 resources; before the first can register, the program's event loop runs
`declare` to its end, and then registers them one by one. Both of these ran on that loop:

- Debug lines: the SDK sends several per resource to the engine, each a blocking call, and the engine
  shows them only under `pulumi up --debug`: a quarter of the loop's time in a fresh globex preview. They
  are dropped unless MAILBOX_IAC_SDK_DEBUG=1.
- Stack traces: for each resource the SDK walked the whole Python stack (about 16 frames, each looked up
  in linecache and turned into a file URI) to send it with the registration, a third of `declare`'s time.
  The engine keeps one frame of it, the resource's source position (the line that declared it); the
  trace sent now holds that frame alone, so the position is unchanged.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Mapping
from types import FrameType
from typing import Any

import pulumi.log
from pulumi.runtime import resource
from pulumi.runtime.proto import source_pb2

_CONSTRUCTORS = 3  # Resource, CustomResource (or ComponentResource), then the concrete resource's __init__


def apply(env: Mapping[str, str]) -> None:
    if env.get("MAILBOX_IAC_SDK_DEBUG") != "1":
        pulumi.log.debug = _dropped
    resource._get_stack_trace = declaring_frame


def _dropped(*_args: Any, **_kwargs: Any) -> None:
    return None


def declaring_frame() -> source_pb2.StackTrace:
    """The caller of the third `__init__` up the stack, as the SDK's `_get_stack_trace` (pulumi 3.2xx,
    pulumi/runtime/resource.py) finds it, and as the only frame of the trace."""
    frame: FrameType | None = sys._getframe(1)
    seen = 0
    while frame is not None:
        if frame.f_code.co_name == "__init__":
            seen += 1
            if seen == _CONSTRUCTORS:
                break
        frame = frame.f_back
    caller = frame.f_back if frame is not None else None
    if caller is None:
        return source_pb2.StackTrace()
    summary = traceback.FrameSummary(caller.f_code.co_filename, caller.f_lineno, caller.f_code.co_name, line="")
    return source_pb2.StackTrace(frames=[source_pb2.StackFrame(pc=resource._get_source_position_for_frame(summary))])
