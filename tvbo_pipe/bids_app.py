"""The BIDS-app command: ``tvbo-pipe BIDS_DIR OUTPUT_DIR participant|group``.

It runs the same Snakemake workflow as ``snakemake --cores N`` in the
repository (the ``Snakefile`` and ``workflow/`` of the source checkout in an
editable install, or the copy shipped inside the package otherwise), with a
configuration assembled from the command line and an optional
``--config-file``. Snakemake's own options can follow and are passed through
unchanged (``--config KEY=VALUE`` included). Options follow fMRIPrep's and
snakebids' names (``--participant-label``, ``--skip-bids-validation``,
``--bids-filter-file``, ``--nprocs``, ``--omp-nthreads``, ``-v``).

Paths that the workflow records (the input dataset, the output folder) are
written relative to the working directory, so that OUTPUT_DIR moved or copied
together with BIDS_DIR (same relative place) reruns nothing.

Example usage::

    tvbo-pipe /data/bids /data/derivatives/tvbo_pipe participant \\
        --participant-label 01 02 --config-file my_config.yaml --nprocs 8
    tvbo-pipe /data/bids /data/derivatives/tvbo_pipe group --cores 8
    tvbo-pipe /data/bids /data/derivatives/tvbo_pipe participant --profile slurm
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import sysconfig
from collections.abc import Sequence
from pathlib import Path

import yaml

from . import __version__

PACKAGE = Path(__file__).resolve().parent

DESCRIPTION = """\
Fit a whole-brain network model to every subject of a BIDS dataset and write
the results as a BIDS derivative dataset (BIDS-app interface of tvbo_pipe).

The participant level runs every stage for the selected participants
(connectome, empirical FC, exploration, global and regional fits, the final
simulation) and writes their files under OUTPUT_DIR/sub-*/; run several
participant-level commands (for example one per node) with the same
OUTPUT_DIR and WORK_DIR. The group level then writes everything that is not
done yet, including the dataset-level files. Both levels run one Snakemake
workflow: a second command reruns only what is missing or out of date.
"""

EPILOG = """\
Snakemake options: any option not listed above is passed to Snakemake, e.g.
  --dry-run / -n        show what would run
  --config KEY=VALUE    override a configuration key (Snakemake's --config)
  --keep-going          let the other subjects finish when one fails
  --forcerun RULE ...   rerun a stage (e.g. after changing tvbo_pipe's code)
  --executor slurm      submit jobs to SLURM (or use --profile slurm)
  --report FILE.html    write Snakemake's HTML report of a finished run
Options after `--` go to Snakemake even if they look like ours.

Settings: --config-file FILE is a tvbo_pipe configuration YAML (config/config.yaml
in the repository is an example; every key, its meaning and default is in the
schema shipped as tvbo_pipe/data/config.schema.yaml). The command line wins over
the file for bids_dir, output_dir, participant_label and session_label. Paths
in the file are relative to the current directory. Without an `experiment`
key, the shipped config/experiment.yaml (reduced Wong-Wang, linear coupling)
is fitted.

--bids-filter-file FILE: JSON of pybids filters per input, as fMRIPrep's:
  {"functional": {"task": "rest"}, "sc_weights": {"acquisition": "hcp"}}
  Keys: functional (alias bold), sc_weights, sc_lengths, dseg; each mapping
  updates the configured filters (inputs.functional.filters, inputs.sc.weights,
  inputs.sc.lengths, inputs.functional.dseg).

Workflow stages can also be run one at a time: tvbo-pipe run STAGE --help
(STAGE: dataset_description, connectome, empirical_fc, explore, fit_global,
fit_regional, simulate_fitted) and tvbo-pipe render --help.
"""


def workflow_dir() -> Path:
    """The folder holding the ``Snakefile``, ``workflow/`` and ``config/``.

    In a source checkout (editable install) that is the repository root; an
    installed wheel carries a copy in ``tvbo_pipe/_workflow`` (see setup.py).
    """
    for root in (PACKAGE.parent, PACKAGE / "_workflow"):
        if (root / "Snakefile").is_file() and (root / "workflow" / "rules").is_dir():
            return root
    raise FileNotFoundError(
        f"tvbo_pipe's workflow (Snakefile, workflow/) is neither next to {PACKAGE} nor in "
        f"{PACKAGE / '_workflow'}; reinstall tvbo_pipe"
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tvbo-pipe",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,  # --config (Snakemake's) is not short for --config-file
    )
    p.add_argument("bids_dir", metavar="BIDS_DIR", help="the input BIDS dataset")
    p.add_argument(
        "output_dir",
        metavar="OUTPUT_DIR",
        help="the BIDS derivative dataset to write (created if missing)",
    )
    p.add_argument(
        "analysis_level",
        choices=["participant", "group"],
        help="participant: every stage for the selected participants; group: everything "
        "else, after the participant level (including the dataset-level files)",
    )
    p.add_argument(
        "--participant-label",
        "--participant_label",
        nargs="+",
        default=None,
        metavar="LABEL",
        help="participants to process, with or without 'sub-' (default: all)",
    )
    p.add_argument(
        "--session-label",
        "--session_label",
        nargs="+",
        default=None,
        metavar="LABEL",
        help="sessions to process, with or without 'ses-' (default: all)",
    )
    p.add_argument(
        "--config-file",
        metavar="FILE",
        default=None,
        help="tvbo_pipe configuration YAML (inputs, stages, fitting; see below)",
    )
    p.add_argument(
        "--bids-filter-file",
        metavar="FILE",
        default=None,
        help="JSON of pybids filters per input (fMRIPrep's format; keys below), updating "
        "the configured ones",
    )
    p.add_argument(
        "--skip-bids-validation",
        "--skip_bids_validation",
        action="store_true",
        help="do not check BIDS_DIR with the BIDS validator (bids-validator-deno) first",
    )
    p.add_argument(
        "--work-dir",
        "-w",
        metavar="WORK_DIR",
        default=None,
        help="Snakemake's working directory: run metadata (which decides what reruns), logs "
        "(WORK_DIR/logs, one per stage and subject), benchmarks (WORK_DIR/benchmarks), fit "
        "checkpoints and the JAX compilation cache; keep it between runs "
        "(default: OUTPUT_DIR/.tvbo_pipe, hidden from BIDS validators)",
    )
    p.add_argument(
        "--nprocs",
        "--nthreads",
        "--n-cpus",
        "--cores",
        "-c",
        dest="cores",
        default="all",
        metavar="N",
        help="CPU cores to use at once, for all jobs together (Snakemake's --cores; default: all)",
    )
    p.add_argument(
        "--omp-nthreads",
        type=int,
        default=None,
        metavar="N",
        help="threads per job (one stage of one subject; default: 1 each, so N cores run "
        "N jobs at once)",
    )
    p.add_argument(
        "--profile",
        default=None,
        metavar="NAME_OR_DIR",
        help="Snakemake profile: 'local' or 'slurm' (shipped in workflow/profiles/), or a "
        "folder holding a config.yaml",
    )
    p.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="show Snakemake's output (-vv: also its debugging output) instead of one "
        "line per finished job",
    )
    p.add_argument("--version", action="version", version=f"tvbo_pipe {__version__}")
    return p


def _absolute(path: str | None) -> str | None:
    return None if path is None else str(Path(path).expanduser().resolve())


#: --bids-filter-file keys -> the configuration's filters they update
FILTER_KEYS = {
    "functional": ("functional", "filters"),
    "bold": ("functional", "filters"),
    "sc_weights": ("sc", "weights"),
    "sc_lengths": ("sc", "lengths"),
    "dseg": ("functional", "dseg"),
}


def apply_bids_filters(cfg: dict, path: str | Path) -> dict:
    """Update ``cfg['inputs']`` with the pybids filters of a ``--bids-filter-file``.

    The file (fMRIPrep's format) maps an input to pybids filters, e.g.
    ``{"functional": {"task": "rest", "run": 1}}``; keys are in
    :data:`FILTER_KEYS`. Each mapping updates the filters configured (or the
    defaults), so an entity not named keeps its configured value.
    """
    from .config import validate_config

    path = Path(path)
    if not path.is_file():
        raise SystemExit(f"error: --bids-filter-file: file not found: {path}")
    try:
        filters = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SystemExit(f"error: --bids-filter-file: {path} is not valid JSON: {exc}") from None
    if not isinstance(filters, dict):
        raise SystemExit(f"error: --bids-filter-file: {path} must hold a JSON object")
    inputs = validate_config(cfg)["inputs"]  # the configured filters, defaults filled in
    for key, value in filters.items():
        if key not in FILTER_KEYS:
            raise SystemExit(
                f"error: --bids-filter-file: {path}: unknown input {key!r}; "
                f"known: {', '.join(FILTER_KEYS)}"
            )
        if not isinstance(value, dict):
            raise SystemExit(
                f"error: --bids-filter-file: {path}: {key!r} must map entities to values"
            )
        section, name = FILTER_KEYS[key]
        inputs[section][name] = {**(inputs[section][name] or {}), **value}
    return {**cfg, "inputs": inputs}


def build_config(args: argparse.Namespace, work: Path, shipped: Path) -> dict:
    """The workflow configuration: the --config-file, then the command line.

    BIDS_DIR and OUTPUT_DIR are written relative to ``work`` (Snakemake's
    working directory), and so are the default log, benchmark, checkpoint and
    cache folders under ``work``: the run's records hold no absolute path, and
    OUTPUT_DIR moved together with BIDS_DIR reruns nothing. Paths inside the
    file are relative to the current directory (made absolute here).
    """
    cfg: dict = {}
    if args.config_file:
        path = Path(args.config_file)
        if not path.is_file():
            raise SystemExit(f"error: --config-file: file not found: {path}")
        cfg = yaml.safe_load(path.read_text()) or {}
        if not isinstance(cfg, dict):
            raise SystemExit(f"error: --config-file: {path} must hold a mapping of keys")
        for key in ("experiment", "log_dir", "benchmark_dir", "work_dir", "jax_cache_dir"):
            if cfg.get(key):
                cfg[key] = _absolute(cfg[key])
    cfg.setdefault("experiment", str(shipped / "config" / "experiment.yaml"))
    cfg.setdefault("log_dir", "logs")
    cfg.setdefault("benchmark_dir", "benchmarks")
    cfg.setdefault("work_dir", "checkpoints")
    cfg.setdefault("jax_cache_dir", "jax_cache")
    cfg["bids_dir"] = os.path.relpath(_absolute(args.bids_dir), work)
    cfg["output_dir"] = os.path.relpath(_absolute(args.output_dir), work)
    if args.participant_label is not None:
        cfg["participant_label"] = list(args.participant_label)
    if args.session_label is not None:
        cfg["session_label"] = list(args.session_label)
    if args.bids_filter_file:
        cfg = apply_bids_filters(cfg, args.bids_filter_file)
    return cfg


def check_snakemake_config(extra: Sequence[str]) -> None:
    """``--config`` is Snakemake's KEY=VALUE; a file there is the old usage."""
    for i, arg in enumerate(extra):
        if arg == "--config" or arg.startswith("--config="):
            values = [arg.partition("=")[2]] if "=" in arg else list(extra[i + 1 : i + 2])
            for value in values:
                if "=" not in value and (
                    value.endswith((".yaml", ".yml", ".json")) or Path(value).is_file()
                ):
                    raise SystemExit(
                        f"error: --config {value}: --config now takes Snakemake's KEY=VALUE "
                        "pairs; give a tvbo_pipe configuration file with --config-file "
                        f"{value}"
                    )


def validate_input(bids_dir: str) -> None:
    """Stop with the BIDS validator's errors for BIDS_DIR, if it has any."""
    from .bids_validation import validator_errors

    try:
        errors = validator_errors(bids_dir)
    except (FileNotFoundError, RuntimeError) as exc:
        raise SystemExit(f"error: BIDS validation of {bids_dir}: {exc}") from None
    if errors:
        shown = "\n  ".join(errors[:20]) + (f"\n  ... {len(errors) - 20} more" * (len(errors) > 20))
        raise SystemExit(
            f"error: {bids_dir} is not a valid BIDS dataset ({len(errors)} validator "
            f"errors):\n  {shown}\nFix them, or pass --skip-bids-validation"
        )


def snakemake_command(args: argparse.Namespace, extra: Sequence[str]) -> tuple[list[str], Path]:
    """The Snakemake command line, and the working directory it runs in."""
    shipped = workflow_dir()
    if not Path(args.bids_dir).is_dir():
        raise SystemExit(f"error: BIDS_DIR {args.bids_dir} is not a folder")
    check_snakemake_config(extra)
    out = Path(_absolute(args.output_dir))
    work = Path(_absolute(args.work_dir)) if args.work_dir else out / ".tvbo_pipe"
    work.mkdir(parents=True, exist_ok=True)
    config = build_config(args, work, shipped)
    # validate here, so that a bad key is reported before Snakemake starts
    from .config import validate_config
    from .errors import ConfigError

    try:
        validate_config(config)
    except ConfigError as exc:
        where = f"{args.config_file}: " if args.config_file else ""
        raise SystemExit(f"error: {where}{exc}") from None
    config_file = work / "config.yaml"
    config_file.write_text(
        "# Written by tvbo-pipe (the --config-file and the command line); rewritten at each "
        "run.\n# Paths are relative to this folder.\n" + yaml.safe_dump(config, sort_keys=False)
    )
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(shipped / "Snakefile"),
        "--directory",
        str(work),
        "--configfile",
        str(config_file),
        "--cores",
        str(args.cores),
        args.analysis_level,  # the target rule, before options that take several values
    ]
    if args.profile:
        profile = Path(args.profile)
        if not profile.is_dir() and (shipped / "workflow" / "profiles" / args.profile).is_dir():
            profile = shipped / "workflow" / "profiles" / args.profile
        cmd += ["--profile", str(profile.resolve() if profile.is_dir() else args.profile)]
    if args.omp_nthreads is not None:
        if args.omp_nthreads < 1:
            raise SystemExit("error: --omp-nthreads must be at least 1")
        from .pipeline import BY_NAME  # the rules, without importing the stages (JAX)

        cmd += ["--set-threads", *(f"{rule}={args.omp_nthreads}" for rule in BY_NAME)]
    if args.verbose >= 2:
        cmd.append("--verbose")
    cmd += [a for a in extra if a != "--"]
    return cmd, work


#: Snakemake options whose output is the point (shown in full, not as progress)
SHOW_ALL = {
    "-n", "--dry-run", "--dryrun", "--report", "--lint", "-S", "--summary", "-D",
    "--detailed-summary", "--list-changes", "--lc", "--dag", "--rulegraph", "--filegraph",
    "-h", "--help", "--list-rules", "-l",
}  # fmt: skip


def run_compact(cmd: Sequence[str], work: Path, env: dict) -> int:
    """Run Snakemake, show one line per finished job (and any error), and keep its
    whole output in WORK/logs/snakemake.log."""
    from .progress import Progress

    log_path = work / "logs" / "snakemake.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    print(f"tvbo-pipe: Snakemake's output in {log_path}", file=sys.stderr)
    progress = Progress()
    with (
        open(log_path, "w") as log,
        subprocess.Popen(
            cmd, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        ) as proc,
    ):
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            shown = progress.feed(line)
            if shown is not None:
                print(shown, file=sys.stderr, flush=True)
    return proc.returncode


def reports(out: Path) -> list[Path]:
    """The HTML reports under OUTPUT_DIR (subject and group), sorted."""
    return sorted(
        p
        for p in out.rglob("*.html")
        if not any(part.startswith(".") for part in p.relative_to(out).parts)
    )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" in argv:
        cut = argv.index("--")
        argv, passthrough = argv[:cut], argv[cut + 1 :]
    else:
        passthrough = []
    args, extra = parser().parse_known_args(argv)
    extra = [*extra, *passthrough]
    if not args.skip_bids_validation and Path(args.bids_dir).is_dir():
        validate_input(args.bids_dir)  # before anything is written
    cmd, work = snakemake_command(args, extra)
    print(f"tvbo-pipe: logs in {work / 'logs'}", file=sys.stderr)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # the rules call the tvbo-pipe console script of this environment
    env["PATH"] = os.pathsep.join([sysconfig.get_path("scripts"), env.get("PATH", "")])
    show_all = bool(SHOW_ALL.intersection(a.partition("=")[0] for a in extra))
    if args.verbose or show_all:
        status = subprocess.call(cmd, cwd=work, env=env)
    else:
        status = run_compact(cmd, work, env)
    found = reports(Path(_absolute(args.output_dir))) if status == 0 and not show_all else []
    if found:
        print("tvbo-pipe: reports:", *(f"  {p}" for p in found), sep="\n", file=sys.stderr)
    return status
