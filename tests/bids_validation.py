"""Running bids-validator-deno from the tests (skipped where it is not installed)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def validator() -> str | None:
    """The bids-validator-deno executable next to this Python, or on the PATH."""
    exe = Path(sys.executable).parent / "bids-validator-deno"
    return str(exe) if exe.is_file() else shutil.which("bids-validator-deno")


def validate_bids(root: Path, *, config: Path | None = None) -> dict:
    """bids-validator-deno's JSON report (``issues``, ``summary``) of the dataset at ``root``.

    Args:
        root: Dataset folder (its ``.bidsignore``, if any, applies).
        config: A validator ``--config`` file.
    """
    exe = validator()
    if exe is None:
        pytest.skip("bids-validator-deno is not installed (pip install bids-validator-deno)")
    cmd = [exe, str(root), "--format", "json"]
    if config is not None:
        cmd += ["--config", str(config)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    try:
        return json.loads(res.stdout)
    except json.JSONDecodeError:
        pytest.skip(f"bids-validator-deno did not run: {res.stderr[-500:]}")


def errors(report: dict) -> list[dict]:
    """The issues of severity ``error`` of a report."""
    return [i for i in report["issues"]["issues"] if i["severity"] == "error"]
