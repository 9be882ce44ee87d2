"""Input stages: the derivative dataset description, the connectome, the empirical FC.

Every stage has the signature ``stage(inputs, outputs, params, *, subject)``
where ``inputs`` and ``outputs`` map names to paths (or lists of paths) and
``params`` is the configuration the stage uses (exactly what the Snakemake rule
passes as ``params``, so a change there reruns the stage). Each is testable
without Snakemake and is called by ``python -m tvbo_pipe STAGE``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..connectome import Connectome
from ..errors import InputError

log = logging.getLogger(__name__)

Paths = Mapping[str, Any]

CODE_URL = "https://github.com/tvbo-pipe/tvbo_pipe"


def _as_list(x) -> list[str]:
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
    from ..io.relmat import write_json

    bids_dir = params["bids_dir"]
    src_meta: dict = {}
    src_desc = Path(bids_dir) / "dataset_description.json"
    if src_desc.is_file():
        import json

        src_meta = json.loads(src_desc.read_text())
    out_root = os.path.dirname(os.path.abspath(outputs["dataset_description"]))
    link = Path(os.path.relpath(os.path.abspath(bids_dir), out_root)).as_posix()
    source = {"URL": link}
    if src_meta.get("DatasetDOI"):
        source["DOI"] = src_meta["DatasetDOI"]
    if src_meta.get("Name"):
        source["Name"] = src_meta["Name"]
    from ..container import container_record

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
    from ..io import connectome as ioc

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
    from ..io.relmat import write_relmat

    settings = params["connectome"]
    conn = load_subject_connectome(inputs, params, subject=subject).validate(subject=subject)
    lengths = conn.lengths
    if settings["symmetrise"]:
        w = 0.5 * (conn.weights + conn.weights.T)
        lengths = None if lengths is None else 0.5 * (lengths + lengths.T)
        conn = replace(conn, weights=w, lengths=lengths)
    conn = conn.normalised(settings["normalise"], zero_diagonal=settings["zero_diagonal"])
    if conn.weights.max() <= 0:
        raise InputError(
            "SC has no connections (all weights are zero)", path=conn.source, subject=subject
        )

    sources = [_source_uri(p, params.get("bids_dir")) for p in _as_list(inputs.get("weights"))] or [
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
def detrend_linear(x: np.ndarray) -> np.ndarray:
    """Remove the least-squares line from each column of ``x`` ``(n_time, n)``."""
    t = np.arange(x.shape[0], dtype=float)
    design = np.stack([np.ones_like(t), t - t.mean()], axis=1)
    coef, *_ = np.linalg.lstsq(design, x, rcond=None)
    return x - design @ coef


def _load_runs(inputs: Paths, params: Mapping, *, subject: str):
    from ..io import timeseries as iot

    fmt = params["inputs_functional"]["format"]
    runs = _as_list(inputs["functional"])
    if fmt == "timeseries":
        return "timeseries", [iot.load_timeseries_tsv(p, subject=subject) for p in runs]
    if fmt == "bold":
        dseg = str(inputs["dseg"])
        dseg_tsv = dseg.replace(".nii.gz", ".tsv").replace(".nii", ".tsv")
        dseg_tsv = dseg_tsv if Path(dseg_tsv).is_file() else None
        return "timeseries", [iot.parcellate_bold(p, dseg, dseg_tsv, subject=subject) for p in runs]
    if fmt == "fc_relmat":
        return "fc", [(p, *iot.load_fc_relmat(p, subject=subject)) for p in runs]
    raise InputError(f"unknown functional format {fmt!r}", key="inputs.functional.format")


def _reorder(
    labels: Sequence[str], target: Sequence[str], *, path: str, sc_path: str, subject: str
):
    """Index array putting ``labels`` into the order of ``target``; error if the sets differ."""
    if len(labels) != len(target):
        raise InputError(
            f"functional data has {len(labels)} regions but the SC ({sc_path}) has "
            f"{len(target)}; both must use the same parcellation",
            path=path,
            subject=subject,
        )
    if tuple(labels) == tuple(target):
        return None
    missing = [lab for lab in target if lab not in labels]
    if missing:
        raise InputError(
            f"region labels differ from the SC's ({sc_path}): SC regions "
            f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''} are not in the "
            "functional data",
            path=path,
            subject=subject,
        )
    pos = {lab: k for k, lab in enumerate(labels)}
    return np.array([pos[lab] for lab in target])


def empirical_fc(inputs: Paths, outputs: Paths, params: Mapping, *, subject: str) -> np.ndarray:
    """Empirical FC stage: functional runs -> one FC (and FCD) per subject-session.

    ``inputs``: ``functional`` (runs), ``sc_weights`` (the connectome stage's
    output, whose region labels and order the FC follows), ``dseg`` for BOLD.
    ``params``: ``inputs_functional``, ``empirical_fc`` (discard_volumes,
    detrend, combine_runs, fcd), ``atlas``, ``bids_dir``.

    Per run: drop ``discard_volumes``, remove a linear trend (``detrend``),
    Pearson FC. Runs are combined with :func:`~tvbo_pipe.fit.observations.fisher_z_mean`.
    The FCD uses sliding windows in every run (``window_s``, ``step_s``
    rounded to volumes); the windows of all runs are correlated with each
    other, so with one run it is the usual FCD.

    Runs listed in ``holdout_runs`` (``run-`` labels) are left out of the FC
    and FCD used for fitting and combined into ``empirical_fc_heldout``,
    whose sidecar also holds the test-retest correlation between the two FCs
    (the ceiling for an out-of-sample fit).
    """
    import jax

    from ..fit import losses
    from ..fit import observations as obs
    from ..io.relmat import parse_entities, read_relmat, write_relmat

    settings = params["empirical_fc"]
    sc_path = str(inputs["sc_weights"])
    _, sc_labels, _ = read_relmat(sc_path)
    kind, runs = _load_runs(inputs, params, subject=subject)
    paths = _as_list(inputs["functional"])
    fcs, window_vectors, run_info = [], [], []  # window_vectors: one list per run
    window_onsets: list[list[float]] = []  # s from the run's first volume, one list per run
    with jax.enable_x64(True):
        for path, run in zip(paths, runs, strict=True):
            if kind == "fc":
                _, fc_run, labels = run
                labels = labels or sc_labels
                order = _reorder(labels, sc_labels, path=path, sc_path=sc_path, subject=subject)
                if order is not None:
                    fc_run = fc_run[np.ix_(order, order)]
                fcs.append(np.asarray(fc_run, dtype=float))
                run_info.append({"Source": _source_uri(path, params.get("bids_dir"))})
                window_vectors.append([])
                window_onsets.append([])
                continue
            order = _reorder(run.labels, sc_labels, path=path, sc_path=sc_path, subject=subject)
            data = run.data if order is None else run.data[:, order]
            data = np.asarray(data, dtype=float)[settings["discard_volumes"] :]
            if data.shape[0] < 3:
                raise InputError(
                    f"only {data.shape[0]} volumes left after discarding "
                    f"{settings['discard_volumes']}; need at least 3",
                    path=path,
                    subject=subject,
                )
            if settings["detrend"]:
                data = detrend_linear(data)
            fcs.append(np.asarray(obs.fc(data)))
            info = {
                "Source": _source_uri(path, params.get("bids_dir")),
                "RepetitionTime": run.tr,
                "NumberOfVolumes": int(data.shape[0]),
            }
            window_vectors.append([])
            window_onsets.append([])
            if settings["fcd"]["enabled"]:
                window = round(settings["fcd"]["window_s"] / run.tr)
                step = max(1, round(settings["fcd"]["step_s"] / run.tr))
                try:
                    starts = obs.sliding_windows(data.shape[0], window, step)
                except ValueError as exc:
                    raise InputError(
                        str(exc), path=path, subject=subject, key="empirical_fc.fcd"
                    ) from None
                for s in starts:
                    window_vectors[-1].append(
                        np.asarray(obs.upper_triangle(obs.fc(data[s : s + window])))
                    )
                    window_onsets[-1].append((settings["discard_volumes"] + s) * run.tr)
                info.update(
                    {
                        "FCDWindowVolumes": window,
                        "FCDStepVolumes": step,
                        "FCDWindows": len(starts),
                        "FCDWindowLength": window * run.tr,
                        "FCDWindowStep": step * run.tr,
                    }
                )
            run_info.append(info)
        held = _heldout_runs(
            paths, settings.get("holdout_runs", []), subject=subject, parse=parse_entities
        )
        for k, info in enumerate(run_info):
            info["HeldOut"] = k in held
        train = [k for k in range(len(fcs)) if k not in held]

        def combine(idx):
            return (
                np.asarray(obs.fisher_z_mean(np.stack([fcs[k] for k in idx])))
                if len(idx) > 1
                else fcs[idx[0]]
            )

        fc_all = combine(train)
        vectors = [v for k in train for v in window_vectors[k]]
        fcd_matrix = np.asarray(obs.fc(np.stack(vectors).T)) if vectors else None
        fc_held = combine(sorted(held)) if held else None
        retest = float(losses.fc_corr(fc_all, fc_held)) if held else None

    sources = [r["Source"] for r in run_info if not r["HeldOut"]]
    if fc_held is not None:
        write_relmat(
            outputs["empirical_fc_heldout"],
            fc_held,
            sc_labels,
            {
                "Description": "Empirical FC of the held-out runs (not used for fitting)",
                "Atlas": params["atlas"],
                "Sources": [r["Source"] for r in run_info if r["HeldOut"]],
                "Runs": [r for r in run_info if r["HeldOut"]],
                "TestRetestFCCorrelation": retest,
            },
        )
    write_relmat(
        outputs["empirical_fc"],
        fc_all,
        sc_labels,
        {
            "Description": "Empirical functional connectivity: Pearson correlation of region "
            "time series" + (", runs combined by the mean of Fisher z" if len(fcs) > 1 else ""),
            "Atlas": params["atlas"],
            "Sources": sources,
            "Runs": run_info,
            "TestRetestFCCorrelation": retest,
            "DiscardedVolumes": settings["discard_volumes"],
            "Detrended": settings["detrend"],
        },
    )
    if settings["fcd"]["enabled"]:
        if fcd_matrix is None:
            raise InputError(
                "an FCD needs region time series; FC relmat input has none "
                "(set empirical_fc.fcd.enabled: false)",
                subject=subject,
                key="empirical_fc.fcd.enabled",
            )
        from ..export.derivative import fcd_window_keys

        first = next(run_info[k] for k in train if "FCDWindowLength" in run_info[k])
        meta = fcd_window_keys(
            [t for k in train for t in window_onsets[k]],
            first["FCDWindowLength"],
            first["FCDWindowStep"],
        )
        if len(train) > 1:  # which run each window is from (index into Runs)
            meta["WindowRuns"] = [k for k in train for _ in window_onsets[k]]
        write_relmat(
            outputs["empirical_fcd"],
            fcd_matrix,
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
        len(train),
        len(held),
        fc_all.shape[0],
    )
    return fc_all


def _same_run(a: str, b: str) -> bool:
    return a == b or (a.isdigit() and b.isdigit() and int(a) == int(b))


def _heldout_runs(paths: Sequence[str], holdout: Sequence, *, subject: str, parse) -> set[int]:
    """Indices of the runs whose ``run-`` label is in ``holdout``."""
    if not holdout:
        return set()
    labels = [parse(Path(p).name).get("run") for p in paths]
    held = {
        k for k, lab in enumerate(labels) if lab and any(_same_run(lab, str(h)) for h in holdout)
    }
    if not held or len(held) == len(paths):
        raise InputError(
            f"holding out runs {list(holdout)} leaves {len(paths) - len(held)} run(s) to fit and "
            f"{len(held)} to test (runs here: {', '.join(str(x) for x in labels)}); both must be at least one",
            subject=subject,
            key="empirical_fc.holdout_runs",
        )
    return held
