"""Input discovery in a BIDS dataset with pybids.

Which files are the SC weights, the tract lengths and the functional runs is
set by pybids filters in the configuration (``inputs``), so any raw or
derivative dataset works, including entities pybids does not know by default
(``meas``, ``stat``, ``seg``).

Units of work are subject-sessions: one FC per subject and session, runs
combined (see :func:`tvbo_pipe.fit.observations.fisher_z_mean`). A subject
without sessions is one unit. An SC is looked up in the session first, then at
the subject level (no ``ses-`` entity). The region maps that ``fit_regional``
reads (:mod:`tvbo_pipe.io.region_maps`) are found here too, so that the
workflow tracks them as inputs.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import ConfigError, InputError
from .region_maps import map_files, parse_maps, resolve_region_maps

log = logging.getLogger(__name__)

#: Entities of BEP017 and other derivative specs that pybids's built-in
#: configurations do not define.
EXTRA_ENTITIES = {
    "name": "tvbo_pipe",
    "entities": [
        {"name": name, "pattern": rf"[_/\\]+{name}-([a-zA-Z0-9]+)"}
        for name in ("meas", "stat", "seg")
    ],
}


@dataclass(frozen=True)
class Unit:
    """The inputs of one subject (and session).

    Attributes:
        subject: Subject label without ``sub-``.
        session: Session label without ``ses-``, or ``None``.
        sc_weights: Path of the SC weights file (or TVB zip), ``None`` when a
            normative connectome is used.
        sc_lengths: Path of the tract lengths file, or ``None``.
        functional: Paths of the functional runs, sorted.
        dseg: For BOLD NIfTI input, the atlas segmentation.
        task: The ``task-`` label of the functional runs (their outputs carry
            it), or ``None`` when their names have none.
        region_maps: The files of the region maps ``fit_regional`` reads
            (maps given as pybids filters, found for this subject-session, or
            their fallback; TSV paths), one per map in the config's order (the
            stage maps them back without indexing the dataset again); empty
            when that stage is off or has no maps.
    """

    subject: str
    session: str | None
    sc_weights: str | None
    sc_lengths: str | None
    functional: tuple[str, ...]
    dseg: str | None = None
    task: str | None = None
    region_maps: tuple[str, ...] = ()

    @property
    def prefix(self) -> str:
        """File name prefix: ``sub-01`` or ``sub-01_ses-1``."""
        return f"sub-{self.subject}" + (f"_ses-{self.session}" if self.session else "")

    @property
    def subdir(self) -> str:
        """Folder: ``sub-01`` or ``sub-01/ses-1``."""
        return f"sub-{self.subject}" + (f"/ses-{self.session}" if self.session else "")


_TASK = re.compile(r"(?:^|_)task-([a-zA-Z0-9]+)(?=_)")


def run_task(paths: Sequence[str], *, subject: str) -> str | None:
    """The task label shared by the functional runs ``paths`` (``None``: none has one).

    Raises:
        InputError: The runs are of different tasks (or some have none): the
            runs of one subject-session are combined into one FC, so the
            filters must select one task.
    """
    tasks = {m[1] if (m := _TASK.search(Path(p).name)) else None for p in paths}
    if len(tasks) > 1:
        found = ", ".join(sorted(t or "(none)" for t in tasks))
        raise InputError(
            f"the functional runs are of several tasks ({found}); they are combined into one "
            "FC: select one task with inputs.functional.filters (e.g. task: rest)",
            subject=subject,
            key="inputs.functional.filters",
        )
    return tasks.pop() if tasks else None


def dataset_task(units: Sequence[Unit]) -> str | None:
    """The task label of every unit's functional runs: the ``task-`` of the outputs.

    Raises:
        InputError: Subjects differ in their task (the output names of one run
            carry one task label).
    """
    tasks = {u.task for u in units}
    if len(tasks) > 1:
        by_task = {t: [u.prefix for u in units if u.task == t] for t in tasks}
        found = "; ".join(
            f"{t or '(none)'}: {', '.join(p)}"
            for t, p in sorted(by_task.items(), key=lambda kv: str(kv[0]))
        )
        raise InputError(
            f"subjects' functional runs are of different tasks ({found}); select one task "
            "with inputs.functional.filters",
            key="inputs.functional.filters",
        )
    return tasks.pop() if tasks else None


def _strip(label: str, prefix: str) -> str:
    return label[len(prefix) :] if label.startswith(prefix) else label


def open_layout(bids_dir: str | Path):
    """Index ``bids_dir`` with pybids (no validation, no metadata indexing)."""
    from bids import BIDSLayout, BIDSLayoutIndexer

    root = Path(bids_dir)
    if not root.is_dir():
        raise ConfigError(f"BIDS dataset folder {root} does not exist", key="bids_dir")
    if not (root / "dataset_description.json").is_file():
        raise InputError(
            "not a BIDS dataset: dataset_description.json is missing", path=root, key="bids_dir"
        )
    return BIDSLayout(
        str(root),
        validate=False,
        config=["bids", "derivatives", EXTRA_ENTITIES],
        indexer=BIDSLayoutIndexer(index_metadata=False),
    )


def _query(layout, filters: dict, subject: str, session: str | None, *, key: str) -> list[str]:
    from bids.layout import Query

    q = dict(filters)
    q["subject"] = subject
    q["session"] = session if session is not None else Query.NONE
    try:
        return sorted(layout.get(return_type="filename", **q))
    except (ValueError, KeyError) as exc:  # unknown entity or bad value
        raise ConfigError(f"bad pybids filters {filters}: {exc}", key=key) from None


def _one(paths: list[str], *, what: str, subject: str, key: str) -> str | None:
    if len(paths) > 1:
        raise InputError(
            f"{len(paths)} files match the {what} filters ({', '.join(Path(p).name for p in paths)}); "
            "expected one: make the filters more specific",
            subject=subject,
            key=key,
        )
    return paths[0] if paths else None


def _find_sc(layout, cfg: dict, subject: str, session: str | None, *, key: str):
    """Session-level file first, then subject-level."""
    filters = cfg["inputs"]["sc"][key]
    if filters is None:
        return None
    for ses in [session, None] if session is not None else [None]:
        hit = _one(
            _query(layout, filters, subject, ses, key=f"inputs.sc.{key}"),
            what=f"SC {key}",
            subject=subject,
            key=f"inputs.sc.{key}",
        )
        if hit:
            return hit
    return None


def discover(cfg: dict) -> list[Unit]:
    """Find every subject-session's input files.

    Args:
        cfg: A validated configuration (:func:`tvbo_pipe.config.validate_config`).

    Returns:
        One :class:`Unit` per subject and session, sorted.

    Raises:
        InputError, ConfigError: missing dataset, no subjects, unknown
            participant labels, missing or ambiguous inputs (as configured).
    """
    layout = open_layout(cfg["bids_dir"])
    available = sorted(layout.get_subjects())
    if not available:
        raise InputError(
            "the dataset holds no subjects (no sub-* folders with files)",
            path=cfg["bids_dir"],
            key="bids_dir",
        )
    wanted = [_strip(s, "sub-") for s in cfg["participant_label"]]
    unknown = sorted(set(wanted) - set(available))
    if unknown:
        raise ConfigError(
            f"subject(s) {', '.join(unknown)} not in {cfg['bids_dir']}; available: "
            f"{', '.join(available)}",
            key="participant_label",
        )
    sessions_wanted = {_strip(s, "ses-") for s in cfg["session_label"]}
    sc_cfg, fn_cfg = cfg["inputs"]["sc"], cfg["inputs"]["functional"]
    if sc_cfg["format"] == "normative" and not sc_cfg["normative"]:
        raise ConfigError(
            "format normative needs the name of a normative connectome",
            key="inputs.sc.normative",
        )

    units = []
    for subject in wanted or available:
        sessions = sorted(layout.get_sessions(subject=subject)) or [None]
        if sessions_wanted and sessions != [None]:
            sessions = [s for s in sessions if s in sessions_wanted]
        for session in sessions:
            unit = _discover_unit(layout, cfg, subject, session)
            if unit is not None:
                units.append(_spelled_under(unit, layout.root, str(cfg["bids_dir"])))
    if not units:
        raise InputError(
            "no subject has the inputs the configuration asks for "
            f"(functional filters {fn_cfg['filters']})",
            path=cfg["bids_dir"],
            key="inputs",
        )
    return units


def _spelled_under(unit: Unit, root: str, bids_dir: str) -> Unit:
    """``unit`` with its paths (absolute, as pybids returns them) spelled under
    ``bids_dir`` as the configuration gives it: relative when bids_dir is, so that
    a run moved or copied together with its inputs has the same input paths
    (Snakemake reruns a job whose input paths change)."""

    def spell(path: str | None) -> str | None:
        if path is None or not os.path.isabs(path):  # pybids gives absolute paths
            return path
        rel = os.path.relpath(path, root)
        return path if rel.startswith("..") else os.path.join(bids_dir, rel)

    return replace(
        unit,
        sc_weights=spell(unit.sc_weights),
        sc_lengths=spell(unit.sc_lengths),
        functional=tuple(spell(p) for p in unit.functional),
        dseg=spell(unit.dseg),
        region_maps=tuple(spell(p) for p in unit.region_maps),
    )


def _discover_unit(layout, cfg: dict, subject: str, session: str | None) -> Unit | None:
    sc_cfg, fn_cfg = cfg["inputs"]["sc"], cfg["inputs"]["functional"]
    label = f"sub-{subject}" + (f" ses-{session}" if session else "")

    functional = _query(
        layout, fn_cfg["filters"], subject, session, key="inputs.functional.filters"
    )
    if not functional:
        msg = f"no functional data matching {fn_cfg['filters']}"
        if cfg["missing_functional"] == "fail":
            raise InputError(msg, subject=label, key="inputs.functional.filters")
        warnings.warn(f"subject {label}: {msg}; skipped (missing_functional: skip)", stacklevel=2)
        return None

    weights = lengths = None
    if sc_cfg["format"] != "normative":
        weights = _find_sc(layout, cfg, subject, session, key="weights")
        if weights is not None and sc_cfg["format"] != "tvb_zip":
            lengths = _find_sc(layout, cfg, subject, session, key="lengths")
        if weights is None:
            msg = f"no structural connectome matching {sc_cfg['weights']}"
            policy = cfg["missing_structural"]
            if policy == "fail" or (policy == "normative" and not sc_cfg["normative"]):
                hint = " (missing_structural: normative needs inputs.sc.normative)" * (
                    policy == "normative"
                )
                raise InputError(msg + hint, subject=label, key="inputs.sc.weights")
            if policy == "skip":
                warnings.warn(f"subject {label}: {msg}; skipped", stacklevel=2)
                return None
            log.info("subject %s: %s; using normative %s", label, msg, sc_cfg["normative"])

    dseg = None
    if fn_cfg["format"] == "bold":
        for ses in [session, None] if session else [None]:
            dseg = _one(
                _query(layout, fn_cfg["dseg"], subject, ses, key="inputs.functional.dseg"),
                what="atlas dseg",
                subject=label,
                key="inputs.functional.dseg",
            )
            if dseg:
                break
        if dseg is None:
            raise InputError(
                f"BOLD input needs an atlas segmentation matching {fn_cfg['dseg']}",
                subject=label,
                key="inputs.functional.dseg",
            )
    task = run_task(functional, subject=label)
    maps = _region_map_files(layout, cfg, subject, session)
    return Unit(subject, session, weights, lengths, tuple(functional), dseg, task, maps)


def _region_map_files(layout, cfg: dict, subject: str, session: str | None) -> tuple[str, ...]:
    """The files of the region maps ``fit_regional`` reads for one subject-session.

    Raises:
        InputError: A map filter matches no file and declares no fallback, or
            matches several (names the subject and the filter).
    """
    stage = cfg.get("fit_regional") or {}
    if not stage.get("enabled"):
        return ()
    key = "fit_regional.parameters"
    maps_of = parse_maps(stage.get("parameters"), key=key)
    if not maps_of:
        return ()
    prefix = f"sub-{subject}" + (f"_ses-{session}" if session else "")
    resolved = resolve_region_maps(
        maps_of, bids_dir=cfg["bids_dir"], subject=prefix, key=key, layout=layout
    )
    return map_files(resolved)
