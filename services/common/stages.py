"""Stage marks: where an order's time goes on its way through the processes.

Off unless TICKETING_STAGE_TRACE names a folder (bench/stage_trace.py sets it). Then each
process keeps one line per mark, `<stage>\\t<key>\\t<unix time>`, and appends them to
`<folder>/<pid>.log` when its buffer fills and when it exits; the benchmark joins every
process's lines by order and prints how long each stage took. Off, a mark costs a call and
one global read. The times are the wall clock's: the processes share one machine.

The marks (key: the Idempotency-Key `k`, the order id `o`, a batch `b`):

    gateway   g_in k, g_call k, g_ret k, g_out k     (HotOrders, OrderPlacer)
    payments  p_item k, p_done k                     (PlaceOrders, each order of the call)
              p_order "k=o"                          (which order a key names)
              p_hold o, p_held o, p_pay o, p_paid o, p_save o, p_saved o   (the saga)
    sandbox   s_in o, s_created o, s_out o           (HotCreates; its key is o.<request>)
    any       b_take b, b_done b                     (a group-commit batch: queue#n#size)
"""

from __future__ import annotations

import atexit
import os
import time
from pathlib import Path

BUFFER_LINES = 10_000

_lines: list[str] | None = None
_path: Path | None = None


def configure(folder: Path | None) -> None:
    """Start keeping marks for this process in `folder` (None: keep none)."""
    global _lines, _path  # noqa: PLW0603 (one trace per process)
    if folder is None:
        _lines = _path = None
        return
    folder.mkdir(parents=True, exist_ok=True)
    _path = folder / f"{os.getpid()}.log"
    _lines = []
    atexit.unregister(flush)  # once, however often this is called
    atexit.register(flush)


def enabled() -> bool:
    """Whether this process keeps marks."""
    return _lines is not None


def mark(stage: str, key: object) -> None:
    """Note that `key` (an order, a request, a batch) reached `stage` now."""
    if _lines is None:
        return
    text = str(key).replace("\t", " ").replace("\n", " ")
    _lines.append(f"{stage}\t{text}\t{time.time():.6f}\n")
    if len(_lines) >= BUFFER_LINES:
        flush()


def flush() -> None:
    """Append the marks kept so far to this process's file."""
    if not _lines or _path is None:
        return
    lines = _lines[:]
    del _lines[:]
    with _path.open("a", encoding="utf-8") as file:
        file.writelines(lines)
