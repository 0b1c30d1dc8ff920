"""The ERP invoice's Avro schema ships in the wheel, and a non-editable
install reads it through importlib.resources."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from projections.read.schemas import erp_schema, erp_schema_file

ROOT = Path(__file__).resolve().parents[3]
SCHEMA = ROOT / "avro" / "erp_invoice.avsc"
LEFT_OUT = (".git", ".venv", "build", "*.egg-info", "__pycache__", "*_cache", "*.db", ".hypothesis")


def build_wheel(into: Path) -> Path:
    """A wheel of the working tree, built from a copy (pip builds in the
    source tree, which other runs share)."""
    source = into / "src"
    shutil.copytree(ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(*LEFT_OUT))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(into), str(source)],
        check=True,
        cwd=into,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = into.glob("psledger-*.whl")
    return wheel


def test_the_schema_is_read_from_the_package_as_the_repository_holds_it() -> None:
    with erp_schema_file() as path:
        assert path.read_bytes() == SCHEMA.read_bytes()
    assert (erp_schema()["namespace"], erp_schema()["name"]) == ("psledger.erp", "Invoice")


def test_a_wheel_built_from_the_repository_carries_the_schema(tmp_path: Path) -> None:
    # given a wheel built from the repository, unpacked as pip installs it
    wheel = build_wheel(tmp_path / "dist")
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read("projections/read/erp_invoice.avsc") == SCHEMA.read_bytes()
        site = tmp_path / "site"
        archive.extractall(site)
    # when a Python without the editable install (-S: no site packages) loads it
    loaded = subprocess.run(
        [
            sys.executable,
            "-S",
            "-c",
            "import projections.read.schemas as s; print(s.__file__); print(s.erp_schema_text())",
        ],
        env={"PYTHONPATH": str(site)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    # then it reads the schema from the installed package, not the repository
    where, text = loaded.stdout.split("\n", 1)
    assert Path(where).is_relative_to(site)
    assert text.rstrip("\n") == SCHEMA.read_text().rstrip("\n")
