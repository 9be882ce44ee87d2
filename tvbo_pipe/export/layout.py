"""Every file the workflow writes, derived from the workflow declaration.

Each output port of :data:`tvbo_pipe.pipeline.STAGES` carries its file
(:mod:`tvbo_pipe.export.files`): BIDS entities, or a name BIDS fixes.
:func:`tables` derives from them :data:`SUBJECT_OUTPUTS` (per
subject-session), :data:`DATASET_FILES` (fixed names) and
:data:`DATASET_ENTITY_OUTPUTS` (dataset-level, by entities);
:func:`tvbo_pipe.export.paths.bids_path` spells every name, entities in the
BIDS order. ``{atlas}``, ``{task}`` (the task of the input's functional runs)
and ``{model}`` are filled from the run. :func:`pattern` gives Snakemake
patterns with the wildcards ``{subdir}`` (``sub-01`` or ``sub-01/ses-1``) and
``{prefix}`` (``sub-01`` or ``sub-01_ses-1``); :func:`subject_path` and
:func:`dataset_path` concrete paths; :func:`enabled_outputs` says which a given
configuration writes. A test compares the demo's output tree against this
declaration, so a file that is not declared cannot appear.

File names carry no timestamps and no random ids; the same inputs give the
same bytes, except for what :data:`VOLATILE_OUTPUTS` and
:data:`VOLATILE_JSON_KEYS` name (run times and the provenance record's
timestamps).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import pipeline
from .files import FixedFile, Output
from .paths import bids_name, bids_path

__all__ = [
    "BIDSIGNORE",
    "DATASET_ENTITY_OUTPUTS",
    "DATASET_FILES",
    "DATASET_FILE_OUTPUTS",
    "DATASET_OUTPUTS",
    "EXPORT_OUTPUTS",
    "SUBJECT_OUTPUTS",
    "VOLATILE_JSON_KEYS",
    "VOLATILE_OUTPUTS",
    "WILDCARD_CONSTRAINTS",
    "FixedFile",
    "Output",
    "Tables",
    "bids_uri",
    "dataset_path",
    "dataset_root",
    "enabled_outputs",
    "expected_files",
    "file_glob",
    "match_output",
    "pattern",
    "subject_path",
    "tables",
    "validator_config",
]


@dataclass(frozen=True)
class Tables:
    """The output tables of a workflow declaration, by output name.

    Attributes:
        subject: Per subject-session outputs, by their entities.
        dataset_files: Dataset-level files whose names BIDS (or tvbo_pipe's
            ``code/`` folder) fixes: the path relative to the root.
        dataset_entities: Dataset-level outputs with BIDS entity names.
    """

    subject: dict[str, Output]
    dataset_files: dict[str, str]
    dataset_entities: dict[str, Output]


def tables(stages: Iterable[pipeline.Stage]) -> Tables:
    """The output tables declared by the output ports of ``stages``, in their order.

    Raises:
        ValueError: An output port without a file, an output declared twice,
            or a fixed file name on a per-subject stage (names the stage and
            the output).
    """
    subject: dict[str, Output] = {}
    dataset_files: dict[str, str] = {}
    dataset_entities: dict[str, Output] = {}
    for stage in stages:
        for port in stage.outputs:
            name, file = port.output, port.file
            where = f"stage {stage.name!r}, output {name!r}"
            if name is None or file is None:
                raise ValueError(f"{where}: an output port needs its output name and file")
            if name in subject or name in dataset_files or name in dataset_entities:
                raise ValueError(f"{where}: declared twice")
            if isinstance(file, FixedFile):
                if stage.per_subject:
                    raise ValueError(f"{where}: a per-subject output needs BIDS entities")
                dataset_files[name] = file.path
            elif stage.per_subject:
                subject[name] = file
            else:
                dataset_entities[name] = file
    return Tables(subject, dataset_files, dataset_entities)


_TABLES = tables(pipeline.STAGES)

#: Per subject-session outputs (from the output ports of the per-subject stages).
SUBJECT_OUTPUTS: dict[str, Output] = _TABLES.subject

#: Dataset-level files whose names BIDS (or tvbo_pipe's code/ folder) fixes.
DATASET_FILES: dict[str, str] = _TABLES.dataset_files

#: Dataset-level outputs with BIDS entity names.
DATASET_ENTITY_OUTPUTS: dict[str, Output] = _TABLES.dataset_entities

#: Every dataset-level output name.
DATASET_OUTPUTS: tuple[str, ...] = (*DATASET_FILES, *DATASET_ENTITY_OUTPUTS)

#: Outputs whose bytes may differ between two runs on the same inputs: they
#: hold run times or the provenance record's timestamps.
#: The reports carry their date, host and run times (About section).
VOLATILE_OUTPUTS = frozenset(
    {"provenance", "group_provenance", "group_table", "group_report", "report"}
)

#: JSON keys holding run times (seconds); the only other content that differs
#: between two runs on the same inputs.
VOLATILE_JSON_KEYS = frozenset({"Seconds"})

#: The dataset-level files of the ``dataset_files`` stage: written at the
#: BIDS-app participant level too, so that its output is a valid dataset.
DATASET_FILE_OUTPUTS: tuple[str, ...] = tuple(
    p.output for p in pipeline.stage("dataset_files").outputs
)

#: The outputs of the export stage (one job per subject-session).
EXPORT_OUTPUTS: tuple[str, ...] = tuple(p.output for p in pipeline.stage("export").outputs)


#: Lines of the derivative's ``.bidsignore``: only the file kinds that no
#: released BIDS version defines (BIDS 1.11.1, the schema of
#: bids-validator-deno 3): BEP017 relationship matrices, region time series,
#: BEP034 model files (``model/`` folders) and tvbo_pipe's figures, HTML
#: reports, group summary and provenance. Everything else (dataset
#: description, README, participants, the ``*_dseg.tsv`` node maps) is
#: checked. Folders are named without a trailing slash: bids-validator-deno
#: then ignores the folder too.
def _kind(name: str) -> str:
    """The ``.bidsignore`` glob of the kind of file output ``name`` is (``*_relmat.json``)."""
    out = SUBJECT_OUTPUTS[name]
    return f"*_{out.suffix}{out.extension}"


BIDSIGNORE = (
    _kind("sc_weights"),
    _kind("sc_weights_json"),
    _kind("sim_bold"),
    _kind("sim_bold_json"),
    "model",
    "figures",
    "prov",
    "group",
    _kind("report"),
)


def validator_config() -> dict[str, Any]:
    """bids-validator-deno ``--config`` that lets it check the files BIDS does not define.

    Run on the derivative without its ``.bidsignore``, the validator then
    walks every file (relmats and their sidecars included): files of the
    kinds in :data:`BIDSIGNORE` get ``NOT_INCLUDED`` only as an issue of
    severity ``ignore``, and every other check (a JSON without its data
    file, an empty file, invalid JSON, a misnamed BIDS file) still reports
    errors.
    """
    return {"ignore": [{"code": "NOT_INCLUDED", "location": pat} for pat in BIDSIGNORE]}


#: Regular expressions for the Snakemake wildcards.
WILDCARD_CONSTRAINTS = {
    "subdir": r"sub-[a-zA-Z0-9]+(/ses-[a-zA-Z0-9]+)?",
    "prefix": r"sub-[a-zA-Z0-9]+(_ses-[a-zA-Z0-9]+)?",
}


def _split(prefix: str) -> dict[str, str | None]:
    """``sub-01_ses-1`` -> ``{"sub": "01", "ses": "1"}``."""
    m = re.fullmatch(r"sub-([a-zA-Z0-9]+)(?:_ses-([a-zA-Z0-9]+))?", prefix)
    if m is None:
        raise ValueError(f"not a subject-session prefix (sub-<label>[_ses-<label>]): {prefix!r}")
    return {"sub": m[1], "ses": m[2]}


def _entities(out: Output, fill: Mapping[str, str | None]) -> dict[str, str | None]:
    """``out``'s entities with ``{atlas}``, ``{task}``, ``{model}`` filled (``None``: left out)."""
    entities: dict[str, str | None] = {}
    for key, value in out.entities.items():
        if value.startswith("{") and value.endswith("}"):
            field_name = value[1:-1]
            if field_name not in fill:
                raise ValueError(f"this output's {key}- needs the {field_name}")
            value = fill[field_name]
        entities[key] = value
    return entities


def pattern(
    name: str,
    root: str | Path,
    *,
    atlas: str,
    task: str | None,
    model: str | None = None,
) -> str:
    """The Snakemake output pattern of ``name`` (wildcards ``{subdir}``, ``{prefix}`` kept).

    Args:
        name: A declared output.
        root: The derivative dataset root.
        atlas: The atlas label.
        task: The task label of the functional runs (:func:`tvbo_pipe.io.bids.dataset_task`);
            ``None``: the runs have no task (the entity is left out).
        model: The model name (dataset-level model files).
    """
    if name in DATASET_FILES or name in DATASET_ENTITY_OUTPUTS:
        return str(dataset_path(name, root, model=model))
    out = SUBJECT_OUTPUTS[name]
    entities = _entities(out, {"atlas": atlas, "task": task})
    folder = Path(root) / "{subdir}"
    if out.datatype:
        folder = folder / out.datatype
    return str(
        folder / ("{prefix}_" + bids_name(suffix=out.suffix, extension=out.extension, **entities))
    )


def subject_path(name: str, root: str | Path, *, prefix: str, atlas: str, task: str | None) -> Path:
    """The concrete path of output ``name`` for one subject-session prefix.

    Args:
        name: A declared per subject-session output.
        root: The derivative dataset root.
        prefix: The subject-session (``sub-01`` or ``sub-01_ses-1``).
        atlas: The atlas label.
        task: The task label of the functional runs
            (:func:`tvbo_pipe.io.bids.dataset_task`); ``None``: the runs have
            no task (the entity is left out).
    """
    out = SUBJECT_OUTPUTS[name]
    entities = {**_split(prefix), **_entities(out, {"atlas": atlas, "task": task})}
    return bids_path(
        root, datatype=out.datatype, suffix=out.suffix, extension=out.extension, **entities
    )


def dataset_path(name: str, root: str | Path, *, model: str | None = None) -> Path:
    """The concrete path of dataset-level output ``name``."""
    if name in DATASET_FILES:
        return Path(root) / DATASET_FILES[name]
    out = DATASET_ENTITY_OUTPUTS[name]
    if "{model}" in out.entities.values() and model is None:
        raise ValueError(f"output {name!r} needs the model name")
    entities = _entities(out, {"model": model})
    return bids_path(
        root, datatype=out.datatype, suffix=out.suffix, extension=out.extension, **entities
    )


def dataset_root(name: str, path: str | os.PathLike, *, prefix: str | None = None) -> Path:
    """The derivative dataset root, given the path of output ``name``.

    Args:
        name: A declared output name.
        path: Where that output is.
        prefix: The subject-session prefix (for subject outputs).
    """
    if name in SUBJECT_OUTPUTS:
        if prefix is None:
            raise ValueError(f"output {name!r} is per subject: give its prefix")
        rel = subject_path(name, "", prefix=prefix, atlas="x", task="x")
    else:
        rel = dataset_path(name, "", model="x")
    parents = Path(os.path.abspath(path)).parents
    depth = len(rel.parts)
    return parents[min(depth, len(parents)) - 1]


def file_glob(name: str, *keep: str) -> str:
    """A glob of the file name of output ``name``, for prose: only the entities
    ``keep`` spelled, and the run's labels as ``<atlas>``, ``<task>``, ``<model>``.

    Example:
        ``file_glob("sim_bold", "desc")`` is ``*_desc-simulated_timeseries.tsv``;
        ``file_glob("model_eq", "desc")`` is ``desc-<model>_eq.xml``.
    """
    if name in DATASET_FILES:
        return Path(DATASET_FILES[name]).name
    out = SUBJECT_OUTPUTS[name] if name in SUBJECT_OUTPUTS else DATASET_ENTITY_OUTPUTS[name]
    unknown = sorted(set(keep) - set(out.entities))
    if unknown:
        raise ValueError(f"output {name!r} has no entities {unknown}")
    kept = {k: v for k, v in out.entities.items() if k in keep}
    text = bids_name(suffix=out.suffix, extension=out.extension, **kept)
    whole = name not in SUBJECT_OUTPUTS and len(kept) == len(out.entities)
    return re.sub(r"\{([a-z_]+)\}", r"<\1>", text if whole else f"*_{text}")


def bids_uri(path: str | os.PathLike, root: str | os.PathLike) -> str:
    """A BIDS URI of a file of this dataset (``bids::sub-01/dwi/...``); a file
    outside ``root`` keeps its path."""
    try:
        rel = Path(os.path.abspath(path)).relative_to(Path(os.path.abspath(root)))
    except ValueError:
        return str(path)
    return f"bids::{rel.as_posix()}"


def enabled_outputs(config: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """The outputs a run with ``config`` (validated, defaults filled) writes.

    Derived from the workflow declaration (:func:`tvbo_pipe.pipeline.enabled_outputs`).

    Returns:
        ``(subject_names, dataset_names)``: names of :data:`SUBJECT_OUTPUTS`
        written for every subject-session and of :data:`DATASET_OUTPUTS`
        written once, JSON sidecars included.
    """
    return pipeline.enabled_outputs(config)


def expected_files(
    config: Mapping[str, Any],
    root: str | Path,
    prefixes: Iterable[str],
    *,
    model: str,
    task: str | None,
) -> dict[Path, str]:
    """Every file a run with ``config`` writes under ``root``, mapped to its output name.

    ``task``: the task label of the functional runs (``None``: they have
    none), as :func:`subject_path`.
    """
    subject, dataset = enabled_outputs(config)
    files = {dataset_path(n, root, model=model): n for n in dataset}
    for prefix in prefixes:
        for n in subject:
            path = subject_path(n, root, prefix=prefix, atlas=config["atlas"], task=task)
            files[path] = n
    return files


def match_output(rel_path: str) -> str | None:
    """The name of the declared output ``rel_path`` (relative to the root) is, or ``None``.

    The atlas, task and model labels may be any; the task entity may be absent.
    """
    label = "[a-zA-Z0-9]+"
    fields = {"subdir": WILDCARD_CONSTRAINTS["subdir"], "prefix": WILDCARD_CONSTRAINTS["prefix"]}
    for name in (*SUBJECT_OUTPUTS, *DATASET_OUTPUTS):
        for task in ("{task}", None):
            if name in SUBJECT_OUTPUTS:
                pat = pattern(name, "", atlas="{atlas}", task=task)
            else:
                pat = str(dataset_path(name, "", model="{model}"))
            parts = re.split(r"(\{[a-z]+\})", pat)
            regex = "".join(
                f"(?:{fields.get(p[1:-1], label)})" if p.startswith("{") else re.escape(p)
                for p in parts
            )
            if re.fullmatch(regex, rel_path):
                return name
    return None
