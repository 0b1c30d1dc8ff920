"""The ChangeSource port and the file adapter.

A source yields batches of ``RawRecord`` (or ``BadRecord`` for input that
cannot even become one: nothing is dropped). ``commit(batch)`` is called only
once the batch's events are durable.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cdc.errors import DecodeError, SourceError
from cdc.kcat import parse_kcat_line
from cdc.records import RawRecord, SourcePosition


@dataclass(frozen=True, slots=True)
class BadRecord:
    """Input that could not become a RawRecord, kept with its bytes for quarantine."""

    position: SourcePosition
    raw: bytes
    reason: str
    detail: str


Item = RawRecord | BadRecord
Batch = Sequence[Item]


class ChangeSource(Protocol):
    """A stream of raw change records in batches."""

    def batches(self) -> Iterator[list[Item]]: ...

    def commit(self, batch: Batch) -> None: ...

    def close(self) -> None: ...


class FileChangeSource:
    """Reads ``kcat -C -J`` JSONL files lazily, ``batch_size`` lines at a time."""

    def __init__(self, paths: Iterable[str | Path], batch_size: int = 500) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        self.paths = [Path(p) for p in paths]
        self.batch_size = batch_size

    def batches(self) -> Iterator[list[Item]]:
        batch: list[Item] = []
        for path in self.paths:
            for item in self._read(path):
                batch.append(item)
                if len(batch) >= self.batch_size:
                    yield batch
                    batch = []
        if batch:
            yield batch

    def _read(self, path: Path) -> Iterator[Item]:
        source = f"file:{path}"
        try:
            handle = path.open("rb")
        except OSError as exc:
            raise SourceError(f"cannot open change file {path}: {exc}") from exc
        with handle:
            for line_no, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    yield parse_kcat_line(line, source=source, line_no=line_no)
                except DecodeError as exc:
                    position = SourcePosition(source, 0, line_no)
                    yield BadRecord(position, line.rstrip(b"\r\n"), exc.reason, exc.detail)

    def commit(self, batch: Batch) -> None:
        """Files keep no offsets: replays are absorbed by dedup."""

    def close(self) -> None:
        """Nothing to release: each file is closed once read."""
