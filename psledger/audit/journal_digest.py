"""A digest of the tamper-evident journal, as the auditor keeps it: the
chain's head (position and chain hash) and when it was taken; written as
POSITION:HASH or the JSON of `psledger audit digest --format json`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from domain.errors import InputError

_COMPACT = re.compile(r"^\s*(\d+):([0-9a-fA-F]{64})\s*$")


@dataclass(frozen=True)
class Digest:
    position: int
    chain_hash: bytes
    taken_at: datetime | None = None

    @property
    def compact(self) -> str:
        return f"{self.position}:{self.chain_hash.hex()}"

    def to_dict(self) -> dict[str, Any]:
        taken = self.taken_at.isoformat().replace("+00:00", "Z") if self.taken_at else None
        return {
            "position": self.position,
            "chain_hash": self.chain_hash.hex(),
            "taken_at": taken,
            "digest": self.compact,
        }

    @classmethod
    def parse(cls, text: str) -> Digest:
        """`POSITION:HASH`, the JSON `audit digest --format json` prints, or a
        file holding either."""
        candidate = text.strip()
        if not _COMPACT.match(candidate) and not candidate.startswith("{"):
            path = Path(candidate)
            try:
                candidate = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise InputError(
                    f"digest {text!r} is neither POSITION:HASH, JSON, nor a readable file"
                ) from exc
        match = _COMPACT.match(candidate)
        if match:
            return cls(int(match[1]), bytes.fromhex(match[2]))
        try:
            doc = orjson.loads(candidate)
            position = int(doc["position"])
            digest_hash = bytes.fromhex(str(doc["chain_hash"]))
            taken = doc.get("taken_at")
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise InputError(
                f"digest is not POSITION:HASH or the JSON of `audit digest`: {exc}"
            ) from None
        if len(digest_hash) != 32 or position < 0:
            raise InputError("digest: chain_hash must be 64 hex digits, position >= 0")
        when = datetime.fromisoformat(taken.replace("Z", "+00:00")) if taken else None
        return cls(position, digest_hash, when)
