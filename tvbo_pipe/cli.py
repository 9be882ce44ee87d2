"""Command line: ``tvbo-pipe run STAGE ...`` runs one workflow stage.

Each Snakemake rule calls one stage through the ``tvbo-pipe`` console script
(``python -m tvbo_pipe run STAGE`` and ``python -m tvbo_pipe STAGE`` are the
same)::

    tvbo-pipe run connectome --subject sub-01 \\
        --in weights=w.tsv --in lengths=l.tsv \\
        --out sc_weights=... --out sc_lengths=... \\
        --params '{"connectome": {...}}' --log logs/connectome/sub-01.log --threads 1

``--in``/``--out`` may repeat a name to pass a list. Bad input ends with a
one-line ``error:`` message (exit status 1), not a traceback.

Before JAX starts, the stage runner (never the library) sets the process-wide
JAX/XLA options of a workflow job: the threads Snakemake gave the job
(``--threads``), no GPU memory preallocation (several jobs can share one GPU),
and JAX's persistent compilation cache (``--jax-cache``), shared by all jobs so
that later subjects load the compiled simulation instead of compiling it again.
At the end it logs the job's compilation count and time and the cache hits.

``tvbo-pipe BIDS_DIR OUTPUT_DIR participant|group ...`` (no stage name) is the
BIDS-app command, see :mod:`tvbo_pipe.bids_app`.
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
    """Give XLA the thread count Snakemake allotted (set before JAX starts).

    One thread (every rule's default): XLA's CPU operations run
    single-threaded (``--xla_cpu_multi_thread_eigen=false``), so ``--cores N``
    runs N jobs on N cores. More threads: XLA sizes its thread pool by the CPUs
    the process may run on (its affinity, which SLURM sets to the job's
    allocation); BLAS/OpenMP libraries get ``threads``, and JAX sees
    ``threads`` CPU devices (``JAX_NUM_CPU_DEVICES``), so batches of
    simulations (exploration, multi-start) run one shard per core
    (:mod:`tvbo_pipe.sim.sharding`).
    """
    if threads is None or threads < 1 or "jax" in sys.modules:
        return
    flags = os.environ.get("XLA_FLAGS", "")
    if threads == 1 and "multi_thread_eigen" not in flags:
        flags += " --xla_cpu_multi_thread_eigen=false"
    os.environ["XLA_FLAGS"] = flags.strip()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(threads))
    if threads > 1:
        os.environ.setdefault("JAX_NUM_CPU_DEVICES", str(threads))


def _jax_environment() -> None:
    """JAX options read when JAX is imported (set before it is)."""
    # several jobs may share one GPU: allocate as needed, not 75 % up front
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    # Arrays that a jitted function closes over (the subject's SC, empirical FC,
    # warmed-up state, values fitted by earlier stages) become arguments of the
    # compiled program instead of constants inside it: the program, and so its
    # persistent-cache key, is the same for every subject of the same size
    # (JAX's coming default; unknown to JAX versions without the options).
    os.environ.setdefault("JAX_USE_SIMPLIFIED_JAXPR_CONSTANTS", "true")
    os.environ.setdefault("JAX_EMBEDDED_CONSTANTS_MAX_BYTES", "0")


def _configure_jax(cache_dir: str | None) -> _CompileStats:
    """Turn on the persistent compilation cache (before the first compilation) and
    count this process's compilations."""
    import jax
    import jax.monitoring

    if cache_dir:
        cache = os.path.abspath(cache_dir)
        os.makedirs(cache, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", cache)
        # cache every compiled function, also the quick ones and the small ones
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    stats = _CompileStats()
    jax.monitoring.register_event_listener(stats.on_event)
    jax.monitoring.register_event_duration_secs_listener(stats.on_duration)
    return stats


# jax.monitoring duration events -> the phase they time
_COMPILE_PHASES = {
    "/jax/core/compile/jaxpr_trace_duration": "trace",
    "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower",
    "/jax/core/compile/backend_compile_duration": "compile",
}


class _CompileStats:
    """Compilations of this process, from ``jax.monitoring`` events."""

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(_COMPILE_PHASES.values(), 0.0)
        self.compilations = 0
        self.cache_hits = 0
        self.cache_misses = 0
        self.by_function: dict[str, float] = {}

    def on_event(self, event: str, **_) -> None:
        if event == "/jax/compilation_cache/cache_hits":
            self.cache_hits += 1
        elif event == "/jax/compilation_cache/cache_misses":
            self.cache_misses += 1

    def on_duration(self, event: str, seconds: float, **kwargs) -> None:
        name = _COMPILE_PHASES.get(event)
        if name:
            self.seconds[name] += seconds
            self.compilations += name == "compile"
            fun = str(kwargs.get("fun_name", "?"))
            self.by_function[fun] = self.by_function.get(fun, 0.0) + seconds

    def summary(self) -> str:
        import jax

        s = self.seconds
        top = sorted(self.by_function.items(), key=lambda kv: -kv[1])[:3]
        slowest = ", ".join(f"{fun} {t:.2f} s" for fun, t in top) or "-"
        return (
            f"jax on {jax.default_backend()}: {self.compilations} compilations, "
            f"trace {s['trace']:.2f} s, lower {s['lower']:.2f} s, "
            f"compile (or load from cache) {s['compile']:.2f} s; persistent cache "
            f"{self.cache_hits} hits, {self.cache_misses} misses; slowest: {slowest}"
        )


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
    p = argparse.ArgumentParser(prog=f"tvbo-pipe run {name}", description=f"Run the {name} stage.")
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
    p.add_argument(
        "--jax-cache",
        default=None,
        metavar="DIR",
        help="JAX's persistent compilation cache, shared by the jobs (default: none)",
    )
    p.add_argument(
        "--work-dir",
        default=None,
        metavar="DIR",
        help="folder for fit checkpoints (sets the stage's params['work_dir'])",
    )
    p.add_argument(
        "--log-dir",
        default=None,
        metavar="DIR",
        help="the workflow's log folder, linked from the reports (sets params['log_dir'])",
    )
    return p


# stages that simulate (and so compile) with JAX
JAX_STAGES = ("explore", "fit_global", "fit_regional", "simulate_fitted")


def run_stage(name: str, argv: Sequence[str]) -> int:
    args = stage_parser(name).parse_args(argv)
    _limit_threads(args.threads)
    _jax_environment()
    _setup_logging(args.log)
    from .errors import InputError
    from .stages import resolve

    try:
        params = json.loads(args.params)
    except json.JSONDecodeError as exc:
        print(f"error: --params is not valid JSON: {exc}", file=sys.stderr)
        return 2
    if args.work_dir:
        params["work_dir"] = args.work_dir
    if args.log_dir:
        params["log_dir"] = args.log_dir
    stats = _configure_jax(args.jax_cache) if name in JAX_STAGES else None
    log = logging.getLogger("tvbo_pipe")
    stage = resolve(name)  # imports JAX (if the stage does): after the options above
    try:
        stage(
            _pairs(args.inputs, "--in"), _pairs(args.outputs, "--out"), params, subject=args.subject
        )
    except InputError as exc:
        log.error("%s", exc, extra={"file_only": True})
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if stats is not None:
            log.info("subject %s: %s", args.subject, stats.summary())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "render":
        from .export.render import main as render_main

        return render_main(argv[1:])
    from .stages import STAGES

    if argv[:1] == ["run"] and len(argv) > 1 and argv[1] in STAGES:
        return run_stage(argv[1], argv[2:])
    if argv and argv[0] in STAGES:
        return run_stage(argv[0], argv[1:])
    from .bids_app import main as bids_app_main

    return bids_app_main(argv)


if __name__ == "__main__":
    sys.exit(main())
