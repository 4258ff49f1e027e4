"""The wheel maps core/, providers/ and schemas/ into one `imagegate` package, with its entry points."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_holds_one_imagegate_package_with_schemas_and_entry_points(tmp_path: Path) -> None:
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = tmp_path.glob("imagegate-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "imagegate/__init__.py" in names
    assert "imagegate/providers/openai/__init__.py" in names
    assert "imagegate/providers/openai/models.py" in names
    assert "imagegate/providers/openai/batch.py" in names
    assert "imagegate/schemas/config.schema.json" in names
    assert "imagegate/providers/openai/prices.json" in names
    assert not [name for name in names if name.startswith(("core/", "providers/", "schemas/", "tests/"))]
    entry_points = (
        zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    )
    assert "[imagegate]" in entry_points and "placeholder = imagegate.providers.placeholder" in entry_points
    assert "imagegate_launcher.py" in names and "imagegate = imagegate_launcher:main" in entry_points


def test_the_vendored_openapi_copy_holds_the_shared_reference_unchanged() -> None:
    """The vendored subset adds the Responses tool's schemas; what the shared subset has is identical."""
    from .support.helpers import SHARED_REFERENCE, VENDORED_REFERENCE

    if not SHARED_REFERENCE.exists():
        pytest.skip("no shared/ folder beside this clone; the vendored copy is used")
    shared = json.loads(SHARED_REFERENCE.read_text(encoding="utf-8"))
    vendored = json.loads(VENDORED_REFERENCE.read_text(encoding="utf-8"))
    assert {path: vendored["paths"].get(path) for path in shared["paths"]} == shared["paths"]
    schemas = shared["components"]["schemas"]
    assert {name: vendored["components"]["schemas"].get(name) for name in schemas} == schemas
