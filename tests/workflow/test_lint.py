"""`snakemake --lint` finds nothing (it exits non-zero on any lint)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import REPO

pytestmark = pytest.mark.workflow


def test_snakemake_lint_is_clean(tmp_path):
    where = [f"output_dir={tmp_path}/d", f"log_dir={tmp_path}/l", f"benchmark_dir={tmp_path}/b"]
    cmd = [sys.executable, "-m", "snakemake", "--lint", "--cores", "1", "--config", *where]
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert "Lints for" not in out and "in a good condition" in out
