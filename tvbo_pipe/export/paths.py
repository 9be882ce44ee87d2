"""BIDS file names and paths built from entities.

:func:`bids_path` is the one place where an output's file name is spelled:
entities in the order the BIDS specification fixes, then the suffix and the
extension. The derivative layout (:mod:`tvbo_pipe.export.layout`) declares
every output by its entities and calls it.

Why not pybids' ``bids.layout.writing.build_path``: its path patterns come
from pybids' ``bids.json`` configuration, which has no pattern for BEP017
relationship matrices (``meas``, ``relmat``, ``.dense.tsv``), BEP034 model
files or the ``atlas`` entity, so every output would need a hand-written
pattern string again; and importing pybids costs about 0.3 s at DAG time.
A table of the entity order is all a name needs.
"""

from __future__ import annotations

import re
from pathlib import Path

#: BIDS entities in the order they appear in a file name (BIDS 1.10
#: specification, appendix "Entity table", with ``atlas``), then the BEP017
#: entities ``meas`` and ``stat`` before ``desc``, which comes last.
ENTITY_ORDER: tuple[str, ...] = (
    "sub",
    "ses",
    "sample",
    "task",
    "tracksys",
    "acq",
    "nuc",
    "voi",
    "ce",
    "trc",
    "stain",
    "rec",
    "dir",
    "run",
    "mod",
    "echo",
    "flip",
    "inv",
    "mt",
    "part",
    "proc",
    "hemi",
    "space",
    "atlas",
    "roi",
    "split",
    "recording",
    "chunk",
    "seg",
    "res",
    "den",
    "label",
    "meas",
    "stat",
    "desc",
)

# a label, or a Snakemake wildcard / format field such as {atlas}
_LABEL = re.compile(r"[a-zA-Z0-9]+|\{[a-z_]+\}")
_SUFFIX = re.compile(r"[a-zA-Z0-9]+")
_EXTENSION = re.compile(r"(\.[a-zA-Z0-9]+)+")


def bids_name(*, suffix: str, extension: str, **entities: str | None) -> str:
    """A BIDS file name: ``key-value`` pairs in :data:`ENTITY_ORDER`, suffix, extension.

    Args:
        suffix: The file's suffix (``relmat``, ``timeseries``, ``param``).
        extension: With its leading dot (``.dense.tsv``, ``.json``).
        **entities: Entity labels by key; ``None`` leaves the entity out.
            A label may be a format field (``"{atlas}"``) to fill in later.

    Raises:
        ValueError: An unknown entity, or a label, suffix or extension that
            BIDS does not allow (labels are alphanumeric).
    """
    unknown = sorted(set(entities) - set(ENTITY_ORDER))
    if unknown:
        raise ValueError(f"unknown BIDS entities {unknown}; known: {', '.join(ENTITY_ORDER)}")
    parts = []
    for key in ENTITY_ORDER:
        value = entities.get(key)
        if value is None:
            continue
        if not _LABEL.fullmatch(str(value)):
            raise ValueError(f"BIDS label of {key}- must be alphanumeric, got {value!r}")
        parts.append(f"{key}-{value}")
    if not _SUFFIX.fullmatch(suffix):
        raise ValueError(f"BIDS suffix must be alphanumeric, got {suffix!r}")
    if not _EXTENSION.fullmatch(extension):
        raise ValueError(f"BIDS extension must be like .tsv or .dense.tsv, got {extension!r}")
    return "_".join([*parts, suffix]) + extension


def bids_path(
    root: str | Path,
    *,
    datatype: str | None = None,
    suffix: str,
    extension: str,
    **entities: str | None,
) -> Path:
    """The path of a BIDS file under ``root``.

    ``root/sub-<sub>/ses-<ses>/<datatype>/<name>``: the ``sub-`` and ``ses-``
    folders when those entities are given, the datatype folder (``dwi``,
    ``func``, ``model``, ``figures``...) when given, and the name from
    :func:`bids_name`.

    Example:
        ``bids_path("out", datatype="dwi", suffix="relmat", extension=".json",
        sub="01", atlas="DK", meas="weight")`` is
        ``out/sub-01/dwi/sub-01_atlas-DK_meas-weight_relmat.json``.
    """
    folder = Path(root)
    for key in ("sub", "ses"):
        if entities.get(key) is not None:
            folder = folder / f"{key}-{entities[key]}"
    if datatype:
        folder = folder / datatype
    return folder / bids_name(suffix=suffix, extension=extension, **entities)
