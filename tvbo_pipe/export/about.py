"""The About section of a report: how, where and when it was made, and what the
logs warned about.

- :func:`software_versions`: versions of Python and the packages the run used;
- :func:`run_info`: command, date (UTC), host, run time;
- :func:`subject_logs` / :func:`log_warnings`: a subject's stage logs in the
  workflow's ``log_dir`` and their WARNING / ERROR lines.
"""

from __future__ import annotations

import datetime as _dt
import platform
import re
import shlex
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

#: Packages whose versions the About section lists (missing ones are left out).
PACKAGES = ("tvbo_pipe", "jax", "jaxlib", "optax", "numpy", "scipy", "snakemake", "pybids",
            "matplotlib", "jinja2")  # fmt: skip

_LEVEL = re.compile(r"\b(WARNING|ERROR|CRITICAL)\b")


def software_versions(packages: Sequence[str] = PACKAGES) -> dict[str, str]:
    """``{name: version}`` of Python and of each installed package of ``packages``."""
    out = {"python": platform.python_version()}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def run_info(seconds: float | None, argv: Sequence[str] | None = None) -> dict[str, str]:
    """Command (this stage's; the value of ``--params``, the configuration, left
    out), date (UTC, ISO 8601), host and run time (s) of the fit."""
    argv = list(sys.argv if argv is None else argv)
    argv = ["<configuration>" if k and argv[k - 1] == "--params" else a for k, a in enumerate(argv)]
    return {
        "command": " ".join(shlex.quote(a) for a in argv),
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "host": platform.node() or "unknown",
        "run_time": "n/a" if seconds is None else f"{seconds:.1f} s",
    }


def subject_logs(log_dir: str | Path | None, prefix: str) -> list[Path]:
    """The logs of one subject-session's stages (``<log_dir>/<subdir>/<prefix>_*.log``)."""
    if not log_dir:
        return []
    folder = Path(log_dir) / prefix.replace("_ses-", "/ses-")
    return sorted(folder.glob(f"{prefix}_*.log"))


def log_warnings(paths: Sequence[str | Path], *, limit: int = 50) -> list[tuple[str, str]]:
    """``(log file name, line)`` of every WARNING / ERROR / CRITICAL line (at most ``limit``)."""
    found: list[tuple[str, str]] = []
    for path in paths:
        path = Path(path)
        if not path.is_file():
            continue
        for line in path.read_text(errors="replace").splitlines():
            if _LEVEL.search(line):
                found.append((path.name, line.strip()))
                if len(found) >= limit:
                    return found
    return found


__all__ = ["log_warnings", "run_info", "software_versions", "subject_logs"]
