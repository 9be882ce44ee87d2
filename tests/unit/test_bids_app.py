"""The BIDS-app command line: options parsed and mapped onto the Snakemake
command and the configuration (no workflow runs here), the progress lines, the
input validation."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import make_tiny_bids

from tvbo_pipe import bids_app
from tvbo_pipe.bids_validation import validator_errors
from tvbo_pipe.progress import Progress


def command(tmp_path: Path, *argv: str) -> tuple[list[str], dict]:
    """The Snakemake command for ``tvbo-pipe BIDS OUT participant ARGV`` and the
    configuration it writes."""
    import yaml

    bids = tmp_path / "bids"
    if not bids.exists():
        make_tiny_bids(bids)
    args, extra = bids_app.parser().parse_known_args(
        [str(bids), str(tmp_path / "out"), "participant", *argv]
    )
    cmd, work = bids_app.snakemake_command(args, extra)
    return cmd, yaml.safe_load((work / "config.yaml").read_text())


def test_verbose_is_ours_not_snakemakes(tmp_path):
    cmd, _ = command(tmp_path, "-v")
    assert "-v" not in cmd and "--verbose" not in cmd
    cmd, _ = command(tmp_path, "-vv")
    assert "--verbose" in cmd  # -vv: Snakemake's debugging output too


def test_nprocs_and_omp_nthreads(tmp_path):
    cmd, _ = command(tmp_path, "--nprocs", "6", "--omp-nthreads", "3")
    assert cmd[cmd.index("--cores") + 1] == "6"
    i = cmd.index("--set-threads")
    assert "fit_global=3" in cmd[i + 1 :] and "connectome=3" in cmd[i + 1 :]
    for alias in ("--nthreads", "--cores", "-c"):
        cmd, _ = command(tmp_path, alias, "4")
        assert cmd[cmd.index("--cores") + 1] == "4"
    with pytest.raises(SystemExit, match="omp-nthreads"):
        command(tmp_path, "--omp-nthreads", "0")


def test_config_is_snakemakes_and_config_file_ours(tmp_path):
    (tmp_path / "mine.yaml").write_text("connectome: {normalise: log1p}\n")
    cmd, cfg = command(tmp_path, "--config-file", str(tmp_path / "mine.yaml"))
    assert cfg["connectome"]["normalise"] == "log1p"
    cmd, _ = command(tmp_path, "--config", "explore={n: 2}")
    assert cmd[-2:] == ["--config", "explore={n: 2}"]
    # the old usage: a file given to --config
    with pytest.raises(SystemExit, match="--config-file"):
        command(tmp_path, "--config", str(tmp_path / "mine.yaml"))
    with pytest.raises(SystemExit, match="--config-file"):
        command(tmp_path, "--config=other.yml")


def test_paths_are_written_relative_to_the_work_dir(tmp_path):
    _, cfg = command(tmp_path)
    assert cfg["bids_dir"] == "../../bids" and cfg["output_dir"] == ".."
    assert cfg["log_dir"] == "logs" and cfg["jax_cache_dir"] == "jax_cache"


def test_bids_filter_file_updates_the_input_filters(tmp_path):
    filters = tmp_path / "filters.json"
    filters.write_text(
        json.dumps({"bold": {"task": "other", "run": 2}, "sc_weights": {"acquisition": "x"}})
    )
    _, cfg = command(tmp_path, "--bids-filter-file", str(filters))
    fn = cfg["inputs"]["functional"]["filters"]
    assert fn["task"] == "other" and fn["run"] == 2 and fn["suffix"] == "timeseries"
    weights = cfg["inputs"]["sc"]["weights"]
    assert weights["acquisition"] == "x" and weights["meas"] == "streamlineCount"
    filters.write_text(json.dumps({"t1w": {"suffix": "T1w"}}))
    with pytest.raises(SystemExit, match=r"filters.json: unknown input 't1w'"):
        command(tmp_path, "--bids-filter-file", str(filters))
    filters.write_text("{not json")
    with pytest.raises(SystemExit, match="not valid JSON"):
        command(tmp_path, "--bids-filter-file", str(filters))


def test_progress_lines_name_subject_rule_and_count():
    lines = """\
SNAKEMAKE
=========
  Date: 2026-12-02 16:18:34
  Snakemake version: 9.27.1

Building DAG of jobs...
[Wed Dec  2 17:00:00 2026]
rule fit_global:
    input: a, b
    output: c
    log: l
    jobid: 7
    reason: Missing output files: c
    wildcards: subdir=sub-01, prefix=sub-01
    resources: tmpdir=/tmp
Finished jobid: 7 (Rule: fit_global)
3 of 8 steps (38%) done
localrule dataset_description:
    output: d
    jobid: 2
Finished jobid: 2 (Rule: dataset_description)
4 of 8 steps (50%) done
error: subject sub-02: file x.tsv: not a number
Error in rule connectome:
    jobid: 3
    log: sub-02_connectome.log (check log file(s) for error details)

Job stats:
""".splitlines()
    p = Progress()
    shown = [s for s in map(p.feed, lines) if s is not None]
    assert shown == [
        "sub-01: fit_global done (3/8)",
        "dataset: dataset_description done (4/8)",
        "error: subject sub-02: file x.tsv: not a number",
        "Error in rule connectome:",
        "    jobid: 3",
        "    log: sub-02_connectome.log (check log file(s) for error details)",
        "",
    ]


def test_reports_found_under_the_output_not_the_work_dir(tmp_path):
    out = tmp_path / ".hidden_parent" / "out"  # only folders inside OUT are skipped
    report = out / "sub-01" / "sub-01_desc-fit_report.html"
    hidden = out / ".tvbo_pipe" / "report.html"
    for p in (report, hidden):
        p.parent.mkdir(parents=True)
        p.write_text("<html></html>")
    assert bids_app.reports(out) == [report]


needs_validator = pytest.mark.skipif(
    shutil.which("bids-validator-deno") is None, reason="bids-validator-deno not installed"
)


@needs_validator
def test_validator_passes_the_demo_and_tiny_datasets(tmp_path):
    demo = Path(__file__).resolve().parents[2] / "resources" / "demo"
    assert validator_errors(demo) == []
    assert validator_errors(make_tiny_bids(tmp_path / "bids")) == []


@needs_validator
def test_invalid_input_stops_the_run_naming_the_errors(tmp_path):
    bids = make_tiny_bids(tmp_path / "bids")
    (bids / "sub-01" / "anat").mkdir()
    (bids / "sub-01" / "anat" / "sub-01_T1w_broken.nii.gz").write_bytes(b"")
    errors = validator_errors(bids)
    assert any("sub-01_T1w_broken.nii.gz" in e for e in errors), errors
    with pytest.raises(SystemExit, match=r"sub-01_T1w_broken\.nii\.gz") as exc:
        bids_app.main([str(bids), str(tmp_path / "out"), "participant", "-n"])
    assert "--skip-bids-validation" in str(exc.value)
    assert not (tmp_path / "out").exists()  # stopped before writing anything
