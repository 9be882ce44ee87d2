"""Input stages: the derivative dataset description, the connectome, the empirical FC.

Every stage has the signature ``stage(inputs, outputs, params, *, subject)``
where ``inputs`` and ``outputs`` map names to paths (or lists of paths) and
``params`` is the configuration the stage uses (exactly what the Snakemake rule
passes as ``params``, so a change there reruns the stage). Each is testable
without Snakemake and is called by ``python -m tvbo_pipe STAGE``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..connectome import Connectome, prepared
from ..container import container_record
from ..errors import InputError
from ..export.derivative import fcd_window_keys
from ..fit.empirical import empirical_observations
from ..io import connectome as ioc
from ..io.functional import load_runs
from ..io.relmat import read_relmat, write_json, write_relmat

log = logging.getLogger(__name__)

Paths = Mapping[str, Any]

CODE_URL = "https://github.com/tvbo-pipe/tvbo_pipe"


def as_list(x) -> list[str]:
    """A stage input given once (a path) or repeated (a list of paths) as a list of str."""
    if x is None:
        return []
    return [str(x)] if isinstance(x, str | Path) else [str(p) for p in x]


def _source_uri(path: str, bids_dir: str | None) -> str:
    """A BIDS URI (``bids:raw:sub-01/...``) for a file of the input dataset."""
    if bids_dir is None:
        return str(path)
    try:
        rel = Path(path).resolve().relative_to(Path(bids_dir).resolve())
    except ValueError:
        return str(path)
    return f"bids:raw:{rel.as_posix()}"


# --------------------------------------------------------------------------- dataset
def dataset_description(inputs: Paths, outputs: Paths, params: Mapping, *, subject=None) -> None:
    """Write the derivative dataset's ``dataset_description.json``.

    ``params``: ``bids_dir`` (the source dataset, recorded in SourceDatasets
    and as the ``raw`` dataset link that ``bids:raw:`` URIs refer to).

    The source dataset's location is written relative to this dataset's root
    (``../..`` for ``<bids>/derivatives/tvbo_pipe``), a relative URI
    reference as in the BIDS specification's ``DatasetLinks`` example
    (``"deriv1": "derivatives/derivative1"``): it names no machine-specific
    path and stays valid when both datasets move together. The source's
    ``DatasetDOI``, when it has one, is recorded as ``SourceDatasets`` ``DOI``.
    Inside the tvbo_pipe container, ``GeneratedBy[0].Container`` names it
    (:mod:`tvbo_pipe.container`).
    """
    bids_dir = params["bids_dir"]
    src_meta: dict = {}
    src_desc = Path(bids_dir) / "dataset_description.json"
    if src_desc.is_file():
        src_meta = json.loads(src_desc.read_text())
    out_root = os.path.dirname(os.path.abspath(outputs["dataset_description"]))
    link = Path(os.path.relpath(os.path.abspath(bids_dir), out_root)).as_posix()
    source = {"URL": link}
    if src_meta.get("DatasetDOI"):
        source["DOI"] = src_meta["DatasetDOI"]
    if src_meta.get("Name"):
        source["Name"] = src_meta["Name"]
    generated_by = {"Name": "tvbo_pipe", "Version": __version__, "CodeURL": CODE_URL}
    if container := container_record():  # inside the Docker/Apptainer image
        generated_by["Container"] = container
    write_json(
        outputs["dataset_description"],
        {
            "Name": "tvbo_pipe: fitted whole-brain network models",
            "BIDSVersion": "1.11.1",
            "DatasetType": "derivative",
            "GeneratedBy": [generated_by],
            "SourceDatasets": [source],
            "DatasetLinks": {"raw": link},
        },
    )


# --------------------------------------------------------------------------- connectome
def load_subject_connectome(inputs: Paths, params: Mapping, *, subject: str) -> Connectome:
    """Load the SC of one subject as configured (``params['inputs_sc']``)."""
    sc = params["inputs_sc"]
    fmt = sc["format"]
    weights = inputs.get("weights") or None
    lengths = inputs.get("lengths") or None
    if fmt == "normative" or weights is None:
        if not sc.get("normative"):
            raise InputError("no SC file and no normative connectome configured", subject=subject)
        return ioc.load_normative(sc["normative"])
    if fmt == "relmat":
        return ioc.load_relmat_connectome(
            weights, lengths, atlas=params.get("atlas"), subject=subject
        )
    if fmt == "tvb_zip":
        return ioc.load_tvb_zip(weights, subject=subject)
    if fmt == "mrtrix_csv":
        labels = sc.get("labels")
        if labels:
            labels = str(Path(params["bids_dir"]) / labels)
        return ioc.load_mrtrix_csv(weights, lengths, labels=labels, subject=subject)
    raise InputError(f"unknown SC format {fmt!r}", key="inputs.sc.format")


def connectome(inputs: Paths, outputs: Paths, params: Mapping, *, subject: str) -> Connectome:
    """Connectome stage: load, check and normalise the SC; write the SC used.

    ``params``: ``inputs_sc`` (the ``inputs.sc`` config), ``connectome``
    (normalise, zero_diagonal, symmetrise), ``atlas``, ``bids_dir``.
    Writes ``sc_weights`` and ``sc_lengths`` BEP017 relmats (lengths in mm;
    zeros when the input has none, which means no conduction delays).
    """
    settings = params["connectome"]
    conn = prepared(
        load_subject_connectome(inputs, params, subject=subject),
        symmetrise=settings["symmetrise"],
        normalise=settings["normalise"],
        zero_diagonal=settings["zero_diagonal"],
        subject=subject,
    )
    lengths = conn.lengths

    sources = [_source_uri(p, params.get("bids_dir")) for p in as_list(inputs.get("weights"))] or [
        f"tvbo_pipe:normative:{params['inputs_sc'].get('normative')}"
    ]
    common = {"Atlas": params["atlas"], "Sources": sources}
    write_relmat(
        outputs["sc_weights"],
        conn.weights,
        conn.labels,
        {
            **common,
            "Description": "Structural connectivity weights used for simulation "
            f"(normalisation: {settings['normalise']}, zero diagonal: {settings['zero_diagonal']}, "
            f"symmetrised: {settings['symmetrise']}). Row i, column j: connection from j to i.",
            "Normalisation": settings["normalise"],
        },
    )
    if lengths is None:
        log.warning("subject %s: no tract lengths; writing zeros (no conduction delays)", subject)
        length_matrix = np.zeros_like(conn.weights)
        desc = "No tract lengths were available: zeros (simulations run without delays)."
    else:
        length_matrix = np.asarray(conn.lengths, dtype=float)
        desc = "Tract lengths between regions."
    write_relmat(
        outputs["sc_lengths"],
        length_matrix,
        conn.labels,
        {**common, "Description": desc, "Units": "mm"},
    )
    log.info(
        "subject %s: connectome %d regions, %d connections, from %s",
        subject,
        conn.n_regions,
        int((conn.weights > 0).sum()),
        conn.source,
    )
    return conn


# --------------------------------------------------------------------------- empirical FC
def empirical_fc(inputs: Paths, outputs: Paths, params: Mapping, *, subject: str) -> np.ndarray:
    """Empirical FC stage: functional runs -> one FC (and FCD) per subject-session.

    ``inputs``: ``functional`` (runs), ``sc_weights`` (the connectome stage's
    output, whose region labels and order the FC follows), ``dseg`` for BOLD.
    ``params``: ``inputs_functional``, ``empirical_fc`` (discard_volumes,
    detrend, combine_runs, fcd, holdout_runs), ``atlas``, ``bids_dir``.

    The runs are read by :func:`~tvbo_pipe.io.functional.load_runs`; what is
    computed from them (FC, FCD, held-out FC and test-retest correlation) is
    :func:`~tvbo_pipe.fit.empirical.empirical_observations`. Writes
    ``empirical_fc``, ``empirical_fcd`` when the FCD is on, and
    ``empirical_fc_heldout`` when runs are held out (its sidecar also holds
    the test-retest correlation).
    """
    settings = params["empirical_fc"]
    sc_path = str(inputs["sc_weights"])
    _, sc_labels, _ = read_relmat(sc_path)
    runs = load_runs(
        as_list(inputs["functional"]),
        params["inputs_functional"]["format"],
        sc_labels=sc_labels,
        sc_path=sc_path,
        dseg=str(inputs["dseg"]) if inputs.get("dseg") else None,
        subject=subject,
    )
    emp = empirical_observations(runs, settings, subject=subject)
    run_info = [
        {"Source": _source_uri(r.path, params.get("bids_dir")), **info}
        for r, info in zip(runs, emp.runs, strict=True)
    ]
    sources = [r["Source"] for r in run_info if not r["HeldOut"]]
    if emp.fc_heldout is not None:
        write_relmat(
            outputs["empirical_fc_heldout"],
            emp.fc_heldout,
            sc_labels,
            {
                "Description": "Empirical FC of the held-out runs (not used for fitting)",
                "Atlas": params["atlas"],
                "Sources": [r["Source"] for r in run_info if r["HeldOut"]],
                "Runs": [r for r in run_info if r["HeldOut"]],
                "TestRetestFCCorrelation": emp.retest,
            },
        )
    write_relmat(
        outputs["empirical_fc"],
        emp.fc,
        sc_labels,
        {
            "Description": "Empirical functional connectivity: Pearson correlation of region "
            "time series" + (", runs combined by the mean of Fisher z" if len(runs) > 1 else ""),
            "Atlas": params["atlas"],
            "Sources": sources,
            "Runs": run_info,
            "TestRetestFCCorrelation": emp.retest,
            "DiscardedVolumes": settings["discard_volumes"],
            "Detrended": settings["detrend"],
        },
    )
    if settings["fcd"]["enabled"]:
        if emp.fcd is None:
            raise InputError(
                "an FCD needs region time series; FC relmat input has none "
                "(set empirical_fc.fcd.enabled: false)",
                subject=subject,
                key="empirical_fc.fcd.enabled",
            )
        meta = fcd_window_keys(emp.window_onsets, emp.window_s, emp.step_s)
        if len(emp.fitted) > 1:  # which run each window is from (index into Runs)
            meta["WindowRuns"] = emp.window_runs
        write_relmat(
            outputs["empirical_fcd"],
            emp.fcd,
            None,
            {
                "Description": "Functional connectivity dynamics: Pearson correlation between the "
                "upper triangles of sliding-window FCs (windows of all runs, in run order); "
                "WindowOnsets in s from the first volume of each run",
                **meta,
                "Sources": sources,
                "Runs": run_info,
            },
        )
    log.info(
        "subject %s: FC from %d run(s) (%d held out), %d regions",
        subject,
        len(emp.fitted),
        len(emp.heldout),
        emp.fc.shape[0],
    )
    return emp.fc
