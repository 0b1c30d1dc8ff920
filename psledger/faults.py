"""Fault injection for drills: crash the process at a named point.

`PSLEDGER_FAULT=<point>:<n>` SIGKILLs the process the n-th time it reaches
`<point>` (counting from 1); unset, `reached` costs one dict lookup. The
points:

    store_commit      a batch is decided, its transaction not yet committed
    store_committed   a batch is durable in the store, its offsets not committed
    offsets_committed a batch's offsets are committed at the source
    contract_billed   one contract of a billing run is committed
    helper_contract_billed  the same, in a helper process of `bill --jobs`
    outbox_acked      a relay batch is acknowledged by the broker, not yet marked sent
    outbox_marked     a relay batch is marked sent
    view_page_committed  one view's page of rows and its position are committed

Drills (tests/integration/drills/) use it to kill at exactly the moment
they mean to, instead of racing a timer.
"""

from __future__ import annotations

import os
import signal

_counts: dict[str, int] = {}


def reached(point: str) -> None:
    """Kill this process here if PSLEDGER_FAULT names this point and count."""
    wanted = os.environ.get("PSLEDGER_FAULT")
    if not wanted:
        return
    name, _, nth = wanted.partition(":")
    if name != point:
        return
    _counts[point] = _counts.get(point, 0) + 1
    if _counts[point] == int(nth or "1"):
        os.kill(os.getpid(), signal.SIGKILL)
