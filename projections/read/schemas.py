"""The ERP invoice's Avro schema, as package data.

`avro/erp_invoice.avsc` is the schema's home in the repository (avro/ is data,
not a package); `projections/read/erp_invoice.avsc` links to it, and
pyproject.toml ships it as package data of `projections`, so that a
non-editable install (a wheel) finds it too. Read it with importlib.resources,
never by a path relative to the source tree.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

ERP_SCHEMA_NAME = "erp_invoice.avsc"
PACKAGE = "projections.read"


def erp_schema_text() -> str:
    """The schema's JSON text, from the installed package."""
    return resources.files(PACKAGE).joinpath(ERP_SCHEMA_NAME).read_text(encoding="utf-8")


def erp_schema() -> dict[str, Any]:
    """The schema, parsed."""
    found: dict[str, Any] = json.loads(erp_schema_text())
    return found


@contextmanager
def erp_schema_file() -> Iterator[Path]:
    """A file path of the schema while the block runs (a temporary copy when
    the package is not on the file system, e.g. zipped)."""
    with resources.as_file(resources.files(PACKAGE).joinpath(ERP_SCHEMA_NAME)) as path:
        yield path
