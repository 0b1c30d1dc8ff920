"""kcat -C -J lines and the FileChangeSource."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from cdc.errors import DecodeError, SourceError
from cdc.kcat import parse_kcat_line, to_kcat_line
from cdc.records import RawRecord, SourcePosition
from cdc.sources import BadRecord, ChangeSource, FileChangeSource

LINE = {
    "topic": "psa.public.time_entries",
    "partition": 0,
    "offset": 41,
    "tstype": "create",
    "ts": 1767612191000,
    "broker": 0,
    "headers": ["__debezium.newkey", "x", "h2", None],
    "key": '{"id":"t1"}',
    "payload": '{"op":"c"}',
}


def test_a_kcat_line_becomes_a_raw_record() -> None:
    record = parse_kcat_line(orjson.dumps(LINE), source="file:x.jsonl", line_no=3)
    assert record == RawRecord(
        "psa.public.time_entries",
        0,
        41,
        b'{"id":"t1"}',
        b'{"op":"c"}',
        (("__debezium.newkey", b"x"), ("h2", b"")),
        1767612191000,
    )
    assert record.position == SourcePosition("psa.public.time_entries", 0, 41)


def test_tombstones_and_missing_headers_are_allowed() -> None:
    line = {k: v for k, v in LINE.items() if k != "headers"} | {"payload": None, "tstype": "none"}
    record = parse_kcat_line(orjson.dumps(line), source="f", line_no=1)
    assert record.value is None and record.headers == () and record.timestamp_ms is None


def test_to_kcat_line_round_trips() -> None:
    record = RawRecord("psa.transaction", 2, 9, b'{"id":"1"}', None, (("a", b"b"),), 5)
    line = to_kcat_line(record)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert parse_kcat_line(line, source="f", line_no=1) == record


@pytest.mark.parametrize(
    "line, reason",
    [
        (b'{"topic": "t", ', "malformed_json"),
        (b'{"topic": "t\xff"}', "non_utf8"),
        (b"[1, 2]", "malformed_json"),
        (b'{"topic": "t", "partition": 0}', "missing_field"),
        (b'{"topic": "t", "partition": 0, "offset": "x"}', "malformed_json"),
        (b'{"topic": "t", "partition": 0, "offset": 1, "payload": {"op": "c"}}', "malformed_json"),
    ],
)
def test_bad_lines_name_the_file_and_line(line: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        parse_kcat_line(line, source="file:dump.jsonl", line_no=12)
    assert caught.value.reason == reason
    assert "file:dump.jsonl:12" in caught.value.detail


def write_lines(path: Path, count: int, bad_at: int | None = None) -> None:
    with path.open("wb") as out:
        for i in range(count):
            if i == bad_at:
                out.write(b"{broken\n")
            else:
                out.write(to_kcat_line(RawRecord("psa.public.projects", 0, i, b"{}", b"{}")))
        out.write(b"\n")


def test_file_source_streams_batches_across_files(tmp_path: Path) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write_lines(first, 5)
    write_lines(second, 3)
    source: ChangeSource = FileChangeSource([first, second], batch_size=3)
    batches = list(source.batches())
    assert [len(b) for b in batches] == [3, 3, 2]
    offsets = [r.offset for b in batches for r in b if isinstance(r, RawRecord)]
    assert offsets == [0, 1, 2, 3, 4, 0, 1, 2]
    source.commit(batches[0])
    source.close()


def test_file_source_keeps_bad_lines_as_bad_records(tmp_path: Path) -> None:
    path = tmp_path / "dump.jsonl"
    write_lines(path, 4, bad_at=2)
    items = [item for batch in FileChangeSource([path]).batches() for item in batch]
    assert len(items) == 4
    bad = items[2]
    assert isinstance(bad, BadRecord)
    assert bad.position == SourcePosition(f"file:{path}", 0, 3)
    assert bad.raw == b"{broken" and bad.reason == "malformed_json"
    assert f"{path}:3" in bad.detail


def test_file_source_reads_lazily(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    write_lines(path, 10)
    batches = FileChangeSource([path, tmp_path / "missing.jsonl"], batch_size=4).batches()
    assert len(next(batches)) == 4
    assert len(next(batches)) == 4
    with pytest.raises(SourceError):
        next(batches)
