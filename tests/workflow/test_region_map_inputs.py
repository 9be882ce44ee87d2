"""Region maps given as pybids filters are Snakemake inputs of fit_regional:
editing a subject's map reruns that subject's regional fit (dry runs only)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import REPO, make_tiny_bids, tiny_config

pytestmark = pytest.mark.workflow

MYELIN = {"desc": "myelin", "suffix": "map", "extension": ".tsv"}


def _snakemake(root: Path, *args: str) -> str:
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
    cmd += ["--directory", str(root), "--configfile", str(root / "config.yaml"), "--cores", "1"]
    res = subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout + res.stderr


def _planned(root: Path) -> dict[str, int]:
    """Jobs per rule of a dry run ({} when nothing is to be done)."""
    text = _snakemake(root, "--dry-run")
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:", 1)[1].splitlines()[3:]
    rows = [re.fullmatch(r"(\w+)\s+(\d+)", line.strip()) for line in table]
    counts = {}
    for m in rows:
        if not m or m[1] == "total":
            break
        counts[m[1]] = int(m[2])
    return counts


@pytest.fixture
def up_to_date(tmp_path):
    """A regional fit with myelin maps, every output present and up to date
    (written as placeholders and marked with ``--touch``: nothing is fitted)."""
    bids = make_tiny_bids(tmp_path / "bids", n_regions=4)
    for sub in ("01", "02"):
        path = bids / f"sub-{sub}" / "anat" / f"sub-{sub}_desc-myelin_map.tsv"
        path.parent.mkdir(parents=True)
        path.write_text("label\tvalue\n" + "".join(f"R{k}\t{k}\n" for k in range(4)))
    cfg = tiny_config(bids, tmp_path)
    cfg["fit_regional"] = {
        "enabled": True,
        "steps": 3,
        "parameters": {"model.w": {"low": 0.0, "high": 1.5, "maps": [MYELIN]}},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    summary = _snakemake(tmp_path, "--summary").splitlines()
    files = [line.split("\t", 1)[0] for line in summary if line.startswith(str(tmp_path))]
    assert any("desc-regional_trajectory" in f for f in files), summary[-5:]
    for f in files:
        Path(f).parent.mkdir(parents=True, exist_ok=True)
        Path(f).write_text("placeholder\n")
    _snakemake(tmp_path, "--touch")
    assert _planned(tmp_path) == {}
    return tmp_path, bids


def test_editing_a_map_reruns_that_subjects_regional_fit(up_to_date):
    root, bids = up_to_date
    later = time.time() + 10
    os.utime(bids / "sub-01" / "anat" / "sub-01_desc-myelin_map.tsv", (later, later))
    assert _planned(root) == {"fit_regional": 1, "all": 1}
    os.utime(bids / "sub-02" / "anat" / "sub-02_desc-myelin_map.tsv", (later, later))
    assert _planned(root) == {"fit_regional": 2, "all": 1}
