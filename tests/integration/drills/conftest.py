"""The drills import the CDC tests' helpers (tests/integration/cdc) and the
generators and drill script in tools/, as plain modules."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
for path in (ROOT / "tests" / "integration" / "cdc", ROOT / "tools"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
