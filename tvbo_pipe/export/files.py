"""What an output file is called: its BIDS entities, or a name BIDS fixes.

Each output :class:`tvbo_pipe.pipeline.Port` carries one of these as its
``file``; :mod:`tvbo_pipe.export.layout` derives its tables from them and
:func:`tvbo_pipe.export.paths.bids_path` spells the names. Pure data: this
module imports neither JAX nor pybids (the Snakefile reads it at DAG time).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Output:
    """One output file, declared by its BIDS entities.

    Attributes:
        suffix: BIDS suffix (``relmat``, ``timeseries``, ``param``...).
        extension: With its leading dot.
        datatype: Folder below the subject (or the dataset) root, or ``None``.
        entities: Entity labels; ``"{atlas}"``, ``"{task}"`` and ``"{model}"``
            are filled from the run (the task from the input's functional
            runs; left out when they have none). Subject outputs get ``sub``
            and ``ses`` from the subject-session.
    """

    suffix: str
    extension: str
    datatype: str | None = None
    entities: Mapping[str, str] = field(default_factory=dict)

    def sidecar(self) -> Output:
        """The JSON sidecar of this file (same entities and suffix)."""
        return replace(self, extension=".json")


@dataclass(frozen=True)
class FixedFile:
    """A dataset-level file whose name BIDS (or tvbo_pipe's ``code/`` folder) fixes.

    Attributes:
        path: Relative to the dataset root, ``/``-separated (``README.md``,
            ``code/config.yaml``).
    """

    path: str


def bids(suffix: str, extension: str, datatype: str | None = None, **entities: str) -> Output:
    """An :class:`Output` (``bids("grid", ".tsv", "model", desc="explore")``)."""
    return Output(suffix, extension, datatype, entities)


def relmat(datatype: str, **entities: str) -> Output:
    """A BEP017 relationship matrix (``*_relmat.dense.tsv``) in folder ``datatype``."""
    return Output("relmat", ".dense.tsv", datatype, entities)


#: Entities of the connectome's files (the atlas of the run).
SC = {"atlas": "{atlas}"}
#: Entities of files derived from the functional runs (their task, the atlas).
FUNC = {"task": "{task}", "atlas": "{atlas}"}
#: Functional connectivity (Pearson correlation).
PEARSON = {**FUNC, "meas": "pearsonCorrelation"}
#: Functional connectivity dynamics.
FCD = {**FUNC, "meas": "fcd"}
