"""openMINDS provenance of the fits, as JSON-LD (the ``openminds`` package).

Per subject-session one computation ``WorkflowExecution`` whose stages are
a ``DataAnalysis`` each for the connectome and the empirical FC, an
``Optimization`` per fit stage that ran (explore, global fit, regional fit)
and the final ``Simulation``, each informed by the one before. Every
input and output is a ``LocalFile`` with its SHA-256 ``Hash`` and size; the
fitted model is a ``ModelVersion`` (output of the last optimisation, input
of the simulation) whose ``configuration`` holds the fitted values; the
software is a ``SoftwareVersion`` of tvbo_pipe run in an ``Environment``
whose configuration lists Python and the versions of the numerical packages.

Start and end times come from the stage outputs' modification times and the
run times the stages record: they are the only content that changes when the
same inputs are run again. :func:`build_collection` returns an
``openminds.Collection`` (``validate()`` reports no failures);
:func:`write_jsonld` saves it with sorted keys.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from .derivative import CODE_URL

#: Packages whose versions the Environment records.
PACKAGES = ("jax", "jaxlib", "optax", "numpy", "pybids", "nibabel", "snakemake", "openminds")

_CONTENT_TYPES = {
    ".json": "application_json",
    ".jsonld": "application_ldplusjson",
    ".xml": "application_xml",
    ".yaml": "application_yaml",
    ".tsv": "text_tab_separated_values",
    ".png": "image_png",
    ".html": "text_html",
    ".md": "text_markdown",
    ".py": "text_x_python",
}


@dataclass
class Stage:
    """One computation of a subject's fit.

    Attributes:
        kind: ``"analysis"`` (connectome, empirical FC), ``"optimization"``
            or ``"simulation"``.
        name: Stage name (``explore``, ``fit_global``, ``fit_regional``,
            ``simulate_fitted``).
        description: What it did, in a sentence.
        inputs: Files it read.
        outputs: Files it wrote (the first is its main record).
        seconds: Its run time, if recorded.
        configuration: The settings it ran with (JSON-able).
    """

    kind: str
    name: str
    description: str
    inputs: Sequence[Path]
    outputs: Sequence[Path]
    seconds: float | None = None
    configuration: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class SubjectRun:
    """Everything the provenance of one subject-session's fit needs.

    Attributes:
        prefix: ``sub-01`` or ``sub-01_ses-1``.
        model: Model name.
        model_description: One paragraph about the model.
        fitted: The fitted values (parameter path -> value).
        stages: Its stages, in order (optimisations, then the simulation).
        configuration: The workflow configuration it ran with (JSON-able).
    """

    prefix: str
    model: str
    model_description: str
    fitted: Mapping[str, Any]
    stages: Sequence[Stage]
    configuration: Mapping[str, Any] = field(default_factory=dict)


def sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 digest of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _utc(timestamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, tz=dt.UTC).replace(microsecond=0)


def _package_versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


class _Builder:
    """Builds the nodes, sharing one node per file, content type and software."""

    def __init__(self, root: Path, raw_root: Path | None):
        import openminds.latest.computation as omc
        import openminds.latest.controlled_terms as omt
        import openminds.latest.core as om
        from openminds import IRI

        self.om, self.omc, self.omt = om, omc, omt
        self.root = root
        self.raw_root = raw_root
        self.files: dict[str, Any] = {}
        self.run_date = dt.datetime.now(tz=dt.UTC).date()
        self.author = om.Person(preferred_name="tvbo_pipe developers")
        self.contribution = om.Contribution(
            contributors=[self.author], type=omt.ContributionType.development
        )
        self.docs = om.WebResource(iri=IRI(CODE_URL))
        software = om.Software(
            contributions=[self.contribution],
            description="Fits whole-brain network models (virtual brains) to every subject of "
            "a BIDS dataset: JAX simulation, optax fitting, Snakemake workflow, BIDS derivative "
            "export.",
            full_name="tvbo_pipe",
            short_name="tvbo_pipe",
            homepage=IRI(CODE_URL),
        )
        self.software = om.SoftwareVersion(
            accessibility=om.Accessibility.direct_virtual_open_access,
            contributions=[self.contribution],
            description=f"tvbo_pipe {__version__} (release date: the date of this run for a "
            "development version).",
            documentation=self.docs,
            full_name=f"tvbo_pipe {__version__}",
            short_name="tvbo_pipe",
            is_version_of=software,
            release_date=self.run_date,
            scopes=[omt.SoftwareFeature.simulation, omt.SoftwareFeature.modelling],
            version_identifier=__version__,
            version_specification="The installed tvbo_pipe package that ran the workflow.",
            programming_languages=[omt.ProgrammingLanguage.python],
            homepage=IRI(CODE_URL),
        )
        versions = _package_versions()
        self.environment = omc.Environment(
            name=f"Python {versions['python']} on {platform.system()} {platform.machine()}",
            hardware=omc.HardwareSystem(name=platform.machine() or "unknown"),
            software=[self.software],
            configuration=om.Configuration(
                configuration=json.dumps(versions, sort_keys=True),
                format=om.ContentType.application_json,
                lookup_label="package versions",
            ),
            description="Python, operating system and the versions of the numerical packages "
            "the workflow ran with.",
        )
        self.agent = omc.SoftwareAgent(
            name="tvbo_pipe", software=self.software, environment=self.environment
        )

    # -------------------------------------------------------------- files
    def _location(self, path: Path) -> str:
        path = Path(os.path.abspath(path))
        for prefix, base in (("bids::", self.root), ("bids:raw:", self.raw_root)):
            if base is None:
                continue
            try:
                return prefix + path.relative_to(Path(os.path.abspath(base))).as_posix()
            except ValueError:
                continue
        return str(path)

    def file(self, path: Path):
        key = os.path.abspath(path)
        if key not in self.files:
            om, omt = self.om, self.omt
            suffix = "".join(Path(path).suffixes[-1:])
            ctype = _CONTENT_TYPES.get(suffix)
            self.files[key] = om.LocalFile(
                name=Path(path).name,
                path=self._location(Path(path)),
                hash=om.Hash(algorithm="SHA-256", digest=sha256(path)),
                storage_size=om.QuantitativeValue(
                    value=float(os.path.getsize(path)), unit=omt.UnitOfMeasurement.byte
                ),
                format=getattr(om.ContentType, ctype) if ctype else None,
            )
        return self.files[key]

    # -------------------------------------------------------------- one subject
    def model_version(self, run: SubjectRun, release: dt.date):
        om, omt = self.om, self.omt
        model = om.Model(
            abstraction_level=omt.ModelAbstractionLevel.population_modelling_neural_mass,
            contributions=[self.contribution],
            description=run.model_description or run.model,
            full_name=f"{run.model} whole-brain network model",
            short_name=run.model,
            scope=omt.ModelScope.network_whole_brain,
            study_targets=[omt.Organ.brain],
        )
        return om.ModelVersion(
            accessibility=om.Accessibility.direct_virtual_open_access,
            contributions=[self.contribution],
            description=f"{run.model} network model with parameters fitted by tvbo_pipe to the "
            f"empirical FC of {run.prefix}; the configuration holds the fitted values.",
            documentation=self.docs,
            formats=[om.ContentType.application_xml, om.ContentType.application_json],
            full_name=f"{run.model} fitted to {run.prefix}",
            short_name=f"{run.model}-{run.prefix}",
            is_version_of=model,
            release_date=release,
            version_identifier=run.prefix,
            version_specification=f"Fitted values for {run.prefix} (BEP034 parameter file and "
            "JSON record in the subject's model/ folder).",
            configuration=om.Configuration(
                configuration=json.dumps(dict(run.fitted), sort_keys=True),
                format=om.ContentType.application_json,
                lookup_label=f"fitted values {run.prefix}",
            ),
        )

    def workflow(self, run: SubjectRun):
        om, omc, omt = self.om, self.omc, self.omt
        times = []
        for stage in run.stages:
            end = max(os.path.getmtime(p) for p in stage.outputs)
            start = end - (stage.seconds or 0.0)
            times.append((_utc(start), _utc(end)))
        release = times[-1][1].date() if times else self.run_date
        model_version = self.model_version(run, release)
        nodes = []
        previous = None
        for k, (stage, (start, end)) in enumerate(zip(run.stages, times, strict=True)):
            inputs = [self.file(p) for p in stage.inputs] + [self.software]
            outputs = [self.file(p) for p in stage.outputs]
            last_fit = stage.kind == "optimization" and not any(
                s.kind == "optimization" for s in run.stages[k + 1 :]
            )
            if stage.kind == "simulation":
                inputs.insert(0, model_version)
                cls = omc.Simulation
            elif stage.kind == "analysis":
                cls = omc.DataAnalysis
            else:
                cls = omc.Optimization
                if last_fit:
                    outputs.append(model_version)
            usage = (
                [
                    om.QuantitativeValue(
                        value=float(stage.seconds), unit=omt.UnitOfMeasurement.second
                    )
                ]
                if stage.seconds is not None
                else None
            )
            node = cls(
                lookup_label=f"{run.prefix} {stage.name}",
                description=stage.description,
                environment=self.environment,
                inputs=inputs,
                outputs=outputs,
                start_time=start,
                end_time=end,
                status=omt.ActionStatusType.completed,
                performed_by=[self.agent],
                resource_usages=usage,
                was_informed_by=previous,
            )
            nodes.append(node)
            previous = node
        if not nodes:
            raise ValueError(f"{run.prefix}: no stages to record")
        return omc.WorkflowExecution(
            stages=nodes,
            started_by=self.agent,
            configuration=om.Configuration(
                configuration=json.dumps(dict(run.configuration), sort_keys=True, default=str),
                format=om.ContentType.application_json,
                lookup_label=f"workflow configuration {run.prefix}",
            ),
        )


def build_collection(
    runs: Sequence[SubjectRun], *, root: str | Path, raw_root: str | Path | None = None
):
    """An ``openminds.Collection`` with one ``WorkflowExecution`` per run.

    Args:
        runs: The subject-sessions to record.
        root: The derivative dataset root (files in it are named ``bids::...``).
        raw_root: The source dataset (files in it are named ``bids:raw:...``).
    """
    from openminds import Collection

    builder = _Builder(Path(root), Path(raw_root) if raw_root else None)
    collection = Collection()
    collection.nodes = _linked_nodes([builder.workflow(run) for run in runs])
    return collection


def _linked_nodes(roots: Sequence[Any]) -> dict[str, Any]:
    """Every node reachable from ``roots``, by id, each visited once.

    ``Collection.add`` (openMINDS 0.6) walks a node's links again every time
    the node is reached, and a node's ``links`` property lists its links'
    links too (evaluating each twice), so a record whose stages share nodes
    (the agent, the software, a stage's outputs that are the next stage's
    inputs) costs time exponential in its depth (14 s for two subjects). This
    is the same depth-first walk over each node's direct links
    (:func:`_direct_links`) with a visited set: the same nodes, and the same
    blank-node ids (``_:000000``... in first-visit order).
    """
    nodes: dict[str, Any] = {}
    seen: set[int] = set()
    stack = list(reversed(roots))
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.id is None:
            node.id = f"_:{len(nodes):06d}"
        nodes[node.id] = node
        stack.extend(reversed(_direct_links(node)))
    return nodes


def _direct_links(node: Any) -> list[Any]:
    """The linked nodes a node's properties name, looking inside embedded nodes
    (``Node.links`` without the links' own links)."""
    from openminds.base import EmbeddedMetadata, LinkedMetadata

    out = []
    for prop in node.__class__.properties:
        value = getattr(node, prop.name)
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, LinkedMetadata):
                out.append(item)
            elif isinstance(item, EmbeddedMetadata):
                out.extend(_direct_links(item))
    return out


def write_jsonld(collection, path: str | os.PathLike) -> None:
    """Save ``collection`` as one JSON-LD file (sorted keys), atomically.

    Written as ``Collection.save`` writes one file (the ``@vocab`` context and
    a ``@graph`` of the nodes sorted by id, linked nodes by reference), without
    its re-walk of every node's links (see :func:`_linked_nodes`).
    """
    from openminds.base import LinkedNodeEmbedding

    from ..io.relmat import write_json

    vocab = "https://openminds.om-i.org/props/"
    if any(n.type_.startswith("https://openminds.ebrains.eu/") for n in collection.nodes.values()):
        vocab = "https://openminds.ebrains.eu/vocab/"
    graph = [
        node.to_jsonld(
            include_empty_properties=False,
            embed_linked_nodes=LinkedNodeEmbedding.NEVER,
            with_context=False,
        )
        for _, node in sorted(collection.nodes.items())
    ]
    write_json(path, {"@context": {"@vocab": vocab}, "@graph": graph})


def validate_jsonld(path: str | os.PathLike) -> dict:
    """Load a JSON-LD file written by :func:`write_jsonld` and validate it.

    Returns:
        ``{node id: failures}``; empty when every node is valid.
    """
    from openminds import Collection

    c = Collection()
    c.load(str(path))
    return c.validate()


__all__ = [
    "Stage",
    "SubjectRun",
    "build_collection",
    "sha256",
    "validate_jsonld",
    "write_jsonld",
]
