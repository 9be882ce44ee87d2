"""The BIDS-app command: ``tvbo-pipe BIDS_DIR OUTPUT_DIR participant|group``.

It runs the same Snakemake workflow as ``snakemake --cores N`` in the
repository (the ``Snakefile`` and ``workflow/`` of the source checkout in an
editable install, or the copy shipped inside the package otherwise), with a
configuration assembled from the command line and an optional ``--config``
file. Snakemake's own options can follow and are passed through unchanged.

Example usage::

    tvbo-pipe /data/bids /data/derivatives/tvbo_pipe participant \\
        --participant-label 01 02 --config my_config.yaml --cores 8
    tvbo-pipe /data/bids /data/derivatives/tvbo_pipe group --cores 8
    tvbo-pipe /data/bids /data/derivatives/tvbo_pipe participant --profile slurm
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
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
  --keep-going          let the other subjects finish when one fails
  --forcerun RULE ...   rerun a stage (e.g. after changing tvbo_pipe's code)
  --executor slurm      submit jobs to SLURM (or use --profile slurm)
  --report FILE.html    write Snakemake's HTML report of a finished run
Options after `--` go to Snakemake even if they look like ours.

Settings: --config FILE is a tvbo_pipe configuration YAML (config/config.yaml
in the repository is an example; every key, its meaning and default is in the
schema shipped as tvbo_pipe/data/config.schema.yaml). The command line wins over
the file for bids_dir, output_dir, participant_label and session_label. Paths
in the file are relative to the current directory. Without an `experiment`
key, the shipped config/experiment.yaml (reduced Wong-Wang, linear coupling)
is fitted.

Workflow stages can also be run one at a time: python -m tvbo_pipe STAGE --help
(STAGE: dataset_description, connectome, empirical_fc, explore, fit_global,
fit_regional, simulate_fitted) and python -m tvbo_pipe render --help.
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
        "--config",
        metavar="FILE",
        default=None,
        help="tvbo_pipe configuration YAML (inputs, stages, fitting; see below)",
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
        "--cores",
        "-c",
        default="all",
        metavar="N",
        help="CPU cores to use at once; each job (one stage of one subject) takes one "
        "(default: all)",
    )
    p.add_argument(
        "--profile",
        default=None,
        metavar="NAME_OR_DIR",
        help="Snakemake profile: 'local' or 'slurm' (shipped in workflow/profiles/), or a "
        "folder holding a config.yaml",
    )
    p.add_argument("--version", action="version", version=f"tvbo_pipe {__version__}")
    return p


def _absolute(path: str | None) -> str | None:
    return None if path is None else str(Path(path).expanduser().resolve())


def build_config(args: argparse.Namespace, work: Path, shipped: Path) -> dict:
    """The workflow configuration: the --config file, then the command line."""
    cfg: dict = {}
    if args.config:
        path = Path(args.config)
        if not path.is_file():
            raise SystemExit(f"error: --config: file not found: {path}")
        cfg = yaml.safe_load(path.read_text()) or {}
        if not isinstance(cfg, dict):
            raise SystemExit(f"error: --config: {path} must hold a mapping of keys")
        for key in ("experiment", "log_dir", "benchmark_dir", "work_dir", "jax_cache_dir"):
            if cfg.get(key):
                cfg[key] = _absolute(cfg[key])
    cfg.setdefault("experiment", str(shipped / "config" / "experiment.yaml"))
    cfg.setdefault("log_dir", str(work / "logs"))
    cfg.setdefault("benchmark_dir", str(work / "benchmarks"))
    cfg.setdefault("work_dir", str(work / "checkpoints"))
    cfg.setdefault("jax_cache_dir", str(work / "jax_cache"))
    cfg["bids_dir"] = _absolute(args.bids_dir)
    cfg["output_dir"] = _absolute(args.output_dir)
    if args.participant_label is not None:
        cfg["participant_label"] = list(args.participant_label)
    if args.session_label is not None:
        cfg["session_label"] = list(args.session_label)
    return cfg


def snakemake_command(args: argparse.Namespace, extra: Sequence[str]) -> tuple[list[str], Path]:
    """The Snakemake command line, and the working directory it runs in."""
    shipped = workflow_dir()
    if not Path(args.bids_dir).is_dir():
        raise SystemExit(f"error: BIDS_DIR {args.bids_dir} is not a folder")
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
        where = f"{args.config}: " if args.config else ""
        raise SystemExit(f"error: {where}{exc}") from None
    config_file = work / "config.yaml"
    config_file.write_text(
        "# Written by tvbo-pipe (the --config file and the command line); rewritten at each run.\n"
        + yaml.safe_dump(config, sort_keys=False)
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
    cmd += [a for a in extra if a != "--"]
    return cmd, work


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" in argv:
        cut = argv.index("--")
        argv, passthrough = argv[:cut], argv[cut + 1 :]
    else:
        passthrough = []
    args, extra = parser().parse_known_args(argv)
    cmd, work = snakemake_command(args, [*extra, *passthrough])
    print(f"tvbo-pipe: logs in {work / 'logs'}", file=sys.stderr)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.call(cmd, cwd=work, env=env)
