"""`verify` with helper processes: each range after the first is verified
in a forked process with a store of its own, and a helper that fails, dies
or goes silent is not trusted: the parent verifies its range itself."""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from audit_store import Store, fed_store

from psledger.audit import journal_jobs
from psledger.audit.journal import Reopen, Verification, verify
from psledger.bootstrap import bootstrap
from psledger.cli_audit import journal_reopener
from psledger.settings import Settings
from psledger.store.journal import JournalStore


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return fed_store(request, tmp_path).url


def verify_in(url: str, jobs: int, reopen: Reopen | None) -> Verification:
    wiring = bootstrap(Settings(store=url))
    try:
        return verify(JournalStore(wiring.app.recorder), jobs=jobs, reopen=reopen, min_per_job=1)
    finally:
        wiring.close()


def watched(url: str, marks: Path, then: str = "") -> Reopen:
    """journal_reopener, leaving the helper's pid in `marks`, then failing
    the way `then` says."""
    reopen = journal_reopener(Settings(store=url))

    @contextmanager
    def opened() -> Iterator[JournalStore]:
        (marks / str(os.getpid())).touch()
        if then == "raise":
            raise RuntimeError("cannot open the store")
        if then == "die":
            os._exit(9)
        if then == "hang":
            time.sleep(3600)
        with reopen() as store:
            yield store

    return opened


def test_each_range_after_the_first_is_verified_in_a_process_of_its_own(
    url: str, tmp_path: Path
) -> None:
    alone = verify_in(url, 1, None)
    marks = tmp_path / "helpers"
    marks.mkdir()
    # when verified in three ranges
    split = verify_in(url, 3, watched(url, marks))
    # then two other processes each verified one, and the verdict is the same
    pids = {int(p.name) for p in marks.iterdir()}
    assert len(pids) == 2 and os.getpid() not in pids
    assert (split.verified, split.first, split.last, split.ok) == (25, 1, 25, True)
    assert split == alone
    assert multiprocessing.active_children() == []


@pytest.mark.parametrize("then", ["raise", "die", "hang"])
def test_a_helper_that_fails_leaves_its_range_to_the_parent(
    url: str,
    tmp_path: Path,
    then: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(journal_jobs, "SILENCE_S", 1.0)
    marks = tmp_path / "helpers"
    marks.mkdir()
    with caplog.at_level(logging.WARNING):
        split = verify_in(url, 3, watched(url, marks, then))
    assert len(list(marks.iterdir())) == 2
    assert (split.verified, split.first, split.last, split.ok) == (25, 1, 25, True)
    failed = [r for r in caplog.records if "a helper process failed" in r.getMessage()]
    assert len(failed) == 2
    assert multiprocessing.active_children() == []


def test_a_break_in_a_helpers_range_is_named_with_the_count_before_it(url: str) -> None:
    Store(url).flip_one_byte(20)
    split = verify_in(url, 3, journal_reopener(Settings(store=url)))
    assert split.broken is not None and split.broken.position == 20
    assert (split.verified, split.last) == (19, 19)
