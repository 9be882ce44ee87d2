"""Command line: ``python -m tvbo_pipe STAGE ...`` runs one workflow stage.

Each Snakemake rule calls one stage::

    python -m tvbo_pipe connectome --subject sub-01 \\
        --in weights=w.tsv --in lengths=l.tsv \\
        --out sc_weights=... --out sc_lengths=... \\
        --params '{"connectome": {...}}' --log logs/connectome/sub-01.log --threads 1

``--in``/``--out`` may repeat a name to pass a list. Bad input ends with a
one-line ``error:`` message (exit status 1), not a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence


def _pairs(items: Sequence[str] | None, flag: str) -> dict:
    out: dict[str, object] = {}
    for item in items or ():
        name, sep, path = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"error: {flag} expects NAME=PATH, got {item!r}")
        if name in out:
            prev = out[name]
            out[name] = [*prev, path] if isinstance(prev, list) else [prev, path]
        else:
            out[name] = path
    return out


def _limit_threads(threads: int | None) -> None:
    """Give XLA the thread count Snakemake allotted (set before JAX starts)."""
    if threads is None or "jax" in sys.modules:
        return
    flags = os.environ.get("XLA_FLAGS", "")
    if threads == 1 and "multi_thread_eigen" not in flags:
        flags += " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    os.environ["XLA_FLAGS"] = flags.strip()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(threads))


def _setup_logging(log_file: str | None) -> None:
    """tvbo_pipe's INFO messages to the log file; warnings and errors also to stderr."""
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.WARNING)
    console.addFilter(lambda record: not getattr(record, "file_only", False))
    handlers: list[logging.Handler] = [console]
    if log_file:
        os.makedirs(os.path.dirname(log_file) or ".", exist_ok=True)
        handlers.append(logging.FileHandler(log_file, mode="w"))
    for h in handlers:
        h.setFormatter(fmt)
    logging.basicConfig(level=logging.WARNING, handlers=handlers, force=True)
    logging.getLogger("tvbo_pipe").setLevel(logging.INFO)
    logging.captureWarnings(True)


def stage_parser(name: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"python -m tvbo_pipe {name}", description=f"Run the {name} stage."
    )
    p.add_argument(
        "--subject", default=None, help="subject-session prefix, e.g. sub-01 or sub-01_ses-1"
    )
    p.add_argument(
        "--in", dest="inputs", action="append", metavar="NAME=PATH", help="input file (repeatable)"
    )
    p.add_argument(
        "--out",
        dest="outputs",
        action="append",
        metavar="NAME=PATH",
        help="output file (repeatable)",
    )
    p.add_argument("--params", default="{}", help="the stage's configuration as JSON")
    p.add_argument("--log", default=None, help="log file")
    p.add_argument("--threads", type=int, default=None, help="threads this job may use")
    return p


def run_stage(name: str, argv: Sequence[str]) -> int:
    args = stage_parser(name).parse_args(argv)
    _limit_threads(args.threads)
    _setup_logging(args.log)
    from .errors import InputError
    from .stages import STAGES

    try:
        params = json.loads(args.params)
    except json.JSONDecodeError as exc:
        print(f"error: --params is not valid JSON: {exc}", file=sys.stderr)
        return 2
    try:
        STAGES[name](
            _pairs(args.inputs, "--in"), _pairs(args.outputs, "--out"), params, subject=args.subject
        )
    except InputError as exc:
        logging.getLogger("tvbo_pipe").error("%s", exc, extra={"file_only": True})
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "render":
        from .export.render import main as render_main

        return render_main(argv[1:])
    from .stages import STAGES

    if argv and argv[0] in STAGES:
        return run_stage(argv[0], argv[1:])
    names = ", ".join(STAGES)
    print(f"usage: python -m tvbo_pipe STAGE [options]\nstages: {names}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
