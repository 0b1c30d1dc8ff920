"""Ranges of the journal verified in forked processes beside the parent's
own first range (see `verify` in psledger/audit/journal.py).

Each helper opens its own store (`reopen`), walks its range and sends back
the number of events of each page as it goes, then its run. A helper that
fails or dies is not trusted for anything: the parent walks its range
itself. Helpers still running when the parent stops are killed.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from multiprocessing.connection import Connection
from typing import Any, cast

from psledger.audit.journal_digest import Digest
from psledger.audit.journal_walk import Run, Verification, digest_for, walk_range
from psledger.store.journal import JournalStore

Reopen = Callable[[], AbstractContextManager[JournalStore]]
Progress = Callable[[int], None]

log = logging.getLogger(__name__)

_DIED = "the process ended without a result"
SILENCE_S = 60.0  # a helper this long without a page is given up (and killed)


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def _helper(
    conn: Connection, reopen: Reopen, span: tuple[int, int], digest: Digest | None, page: int
) -> None:
    """In the forked process: walk one range, report pages, send the run."""
    try:
        with reopen() as store:
            run = walk_range(store, span, digest, page, lambda n: conn.send(("page", n)))
        conn.send(("done", (run.result, run.origin, run.cursor, run.previous)))
    except BaseException as exc:  # sent to the parent, which walks the range itself
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


class Helpers:
    """One forked process per range after the first, as a context manager."""

    def __init__(
        self,
        store: JournalStore,
        reopen: Reopen | None,
        ranges: Sequence[tuple[int, int]],
        digest: Digest | None,
        page: int,
    ) -> None:
        self.store, self.reopen, self.ranges = store, reopen, ranges
        self.digest, self.page = digest, page
        self.silence = SILENCE_S
        self.running: list[tuple[Any, Connection]] = []
        self.held: dict[int, tuple[str, Any]] = {}  # a final message read while relaying
        self.delivered: set[int] = set()  # the pipes whose helper sent its run

    def __enter__(self) -> Helpers:
        if self.reopen is None or len(self.ranges) < 2:
            return self
        context = multiprocessing.get_context("fork")
        for index, span in enumerate(self.ranges[1:], 1):
            receive, send = context.Pipe(duplex=False)
            digest = digest_for(self.ranges, index, self.digest)
            process = context.Process(
                target=_helper,
                args=(send, self.reopen, span, digest, self.page),
                name=f"psledger-verify-{span[0]}",
                daemon=True,
            )
            process.start()
            send.close()
            self.running.append((process, receive))
        return self

    def __exit__(self, *exc: object) -> None:
        """A helper that sent its run is given a moment to close its store;
        any other is killed (read-only work: nothing to save)."""
        for process, receive in self.running:
            if id(receive) in self.delivered:
                process.join(timeout=5)
            if process.is_alive():
                process.kill()
            process.join()
            receive.close()

    def relay(self, progress: Progress | None) -> Progress:
        """The parent's own progress callback: it also passes on the pages
        the helpers have verified meanwhile (and keeps their pipes drained)."""

        def report(count: int) -> None:
            if progress is not None:
                progress(count)
            for _, receive in self.running:
                while id(receive) not in self.held and receive.poll():
                    try:
                        kind, value = receive.recv()
                    except (EOFError, OSError):
                        kind, value = "failed", _DIED
                    if kind != "page":  # kept for results()
                        self.held[id(receive)] = (kind, value)
                    elif progress is not None:
                        progress(value)

        return report

    def results(self, progress: Progress | None) -> Iterator[Run]:
        """The helpers' runs in position order, up to the first that broke."""
        for index, (_, receive) in enumerate(self.running, 1):
            run = self._receive(receive, progress)
            if run is None:
                span = self.ranges[index]
                run = walk_range(
                    self.store,
                    span,
                    digest_for(self.ranges, index, self.digest),
                    self.page,
                    progress,
                )
            yield run
            if run.result.broken is not None:
                return

    def _receive(self, receive: Connection, progress: Progress | None) -> Run | None:
        """The helper's run, passing on its pages; None when it failed, died
        or went silent (a page takes milliseconds: a helper stuck after the
        fork, say on a lock another thread held, must not hang the parent)."""
        held: tuple[str, Any] | None = self.held.pop(id(receive), None)
        try:
            while held is None or held[0] == "page":
                if held is not None and progress is not None:
                    progress(held[1])
                if not receive.poll(self.silence):
                    held = ("failed", f"no word from it for {self.silence:.0f} s")
                    break
                held = receive.recv()
        except (EOFError, OSError):
            held = ("failed", _DIED)
        kind, value = held
        if kind == "done":
            self.delivered.add(id(receive))
        else:
            log.warning(
                "audit verify: a helper process failed (%s); verifying its range here", value
            )
            return None
        result, origin, cursor, previous = cast(tuple[Verification, int, int, bytes], value)
        run = Run(result, origin)
        run.cursor, run.previous = cursor, previous
        return run
