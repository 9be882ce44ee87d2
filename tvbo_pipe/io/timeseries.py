"""Loaders for functional data: region time series and precomputed FC.

Three inputs are supported:

- a region time-series TSV with a header row of region labels
  (:func:`load_timeseries_tsv`),
- a preprocessed 4-D BOLD NIfTI plus an atlas segmentation on the same grid,
  averaged within each region (:func:`parcellate_bold`),
- a precomputed FC matrix as a BEP017 relationship matrix (:func:`load_fc_relmat`).

Time series are ``(n_volumes, n_regions)``, the repetition time is in seconds.
Every bad input raises :class:`~tvbo_pipe.errors.InputError` naming the file
and what was expected.
"""

from __future__ import annotations

import gzip
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..connectome import check_finite, check_square
from ..errors import InputError
from .relmat import (
    MISSING,
    read_index_name_table,
    read_json,
    read_relmat,
    read_text,
    relmat_sidecar_path,
)

MIN_VOLUMES = 3
#: A repetition time above this (s) is taken for a value in milliseconds.
MAX_PLAUSIBLE_TR_S = 100.0


@dataclass(frozen=True, eq=False)
class RegionTimeSeries:
    """Region-averaged functional time series of one run.

    Attributes:
        data: ``(n_volumes, n_regions)`` signal, float64.
        labels: Region labels, length ``n_regions``.
        tr: Repetition time (sampling interval) in s.
        source: The file it was read from, for errors and provenance.
    """

    data: np.ndarray
    labels: tuple[str, ...]
    tr: float
    source: str = ""

    def __post_init__(self) -> None:
        if self.data.ndim != 2 or self.data.shape[1] != len(self.labels):
            raise ValueError(
                f"time series of shape {self.data.shape} with {len(self.labels)} labels "
                f"({self.source})"
            )

    @property
    def n_volumes(self) -> int:
        return int(self.data.shape[0])

    @property
    def n_regions(self) -> int:
        return int(self.data.shape[1])

    @property
    def duration(self) -> float:
        """Length of the run in s (``n_volumes * tr``)."""
        return self.n_volumes * self.tr


# --------------------------------------------------------------------------- helpers


def _check_tr(value, *, where: str, path, subject: str | None) -> float:
    """A positive, finite repetition time in s, else :class:`InputError`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(
            f"{where} is {value!r}; expected a number of seconds", path=path, subject=subject
        )
    tr = float(value)
    if not math.isfinite(tr) or tr <= 0:
        raise InputError(
            f"{where} is {value!r}; expected a positive number of seconds",
            path=path,
            subject=subject,
        )
    if tr > MAX_PLAUSIBLE_TR_S:
        raise InputError(
            f"{where} is {value!r}, which looks like milliseconds; expected seconds "
            "(BIDS RepetitionTime is in s)",
            path=path,
            subject=subject,
        )
    return tr


def _tr_from_sidecar(sidecar: Path, subject: str | None) -> float | None:
    """RepetitionTime (s), or 1 / SamplingFrequency (Hz), from a JSON sidecar; None if absent."""
    if not sidecar.is_file():
        return None
    meta = read_json(sidecar, subject=subject)
    if "RepetitionTime" in meta:
        return _check_tr(
            meta["RepetitionTime"], where='"RepetitionTime"', path=sidecar, subject=subject
        )
    if "SamplingFrequency" in meta:
        fs = meta["SamplingFrequency"]
        if isinstance(fs, bool) or not isinstance(fs, (int, float)) or not fs > 0:
            raise InputError(
                f'"SamplingFrequency" is {fs!r}; expected a positive number of Hz',
                path=sidecar,
                subject=subject,
            )
        return _check_tr(
            1.0 / float(fs), where='1 / "SamplingFrequency"', path=sidecar, subject=subject
        )
    return None


def _resolve_tr(
    tr: float | None, sidecar: Path, data_path: Path, subject: str | None
) -> float | None:
    """Explicit ``tr`` (warns if the sidecar disagrees) or the sidecar's; None if neither."""
    from_sidecar = _tr_from_sidecar(sidecar, subject)
    if tr is None:
        return from_sidecar
    tr = _check_tr(tr, where="tr argument", path=data_path, subject=subject)
    if from_sidecar is not None and not math.isclose(tr, from_sidecar, rel_tol=1e-6):
        warnings.warn(
            f"{data_path}: using tr={tr:g} s given explicitly, although {sidecar} says "
            f"{from_sidecar:g} s",
            stacklevel=3,
        )
    return tr


def _nifti_sidecar(path: Path) -> Path:
    """``x_bold.nii.gz`` -> ``x_bold.json``."""
    name = path.name
    for suffix in (".nii.gz", ".nii"):
        if name.endswith(suffix):
            return path.with_name(name[: -len(suffix)] + ".json")
    return path.with_name(path.stem + ".json")


def _check_volumes(n: int, *, path, subject: str | None) -> None:
    if n < MIN_VOLUMES:
        raise InputError(
            f"has {n} volume(s); expected at least {MIN_VOLUMES} time points to compute "
            "functional connectivity",
            path=path,
            subject=subject,
        )


def _check_finite_series(
    data: np.ndarray, labels, *, path, subject: str | None, line_numbers: list[int] | None
) -> None:
    bad = ~np.isfinite(data)
    if bad.any():
        t, r = (int(i) for i in np.argwhere(bad)[0])
        where = f"volume {t + 1}" + ("" if line_numbers is None else f" (line {line_numbers[t]})")
        raise InputError(
            f"region {labels[r]!r} is {data[t, r]} at {where}; expected finite values "
            f"({int(bad.sum())} NaN/Inf values in all)",
            path=path,
            subject=subject,
        )


def _check_unique(labels, *, path, subject: str | None) -> None:
    if len(set(labels)) != len(labels):
        dup = sorted({x for x in labels if labels.count(x) > 1})
        raise InputError(
            f"region labels must be unique; repeated: {', '.join(dup)}", path=path, subject=subject
        )


# --------------------------------------------------------------------------- TSV


def load_timeseries_tsv(
    path: str | os.PathLike, *, tr: float | None = None, subject: str | None = None
) -> RegionTimeSeries:
    """Load region time series from a TSV whose header row holds the region labels.

    One row per volume, one tab-separated column per region (``.tsv`` or
    ``.tsv.gz``). The repetition time comes from ``tr`` when given (a warning
    is issued if the sidecar disagrees), else from the JSON sidecar next to the
    file (same name, ``.json``): its ``RepetitionTime`` (s) or, failing that,
    ``1 / SamplingFrequency`` (Hz).

    Args:
        path: The time-series TSV.
        tr: Repetition time in s, overriding the sidecar.
        subject: Subject label for error messages.

    Returns:
        The :class:`RegionTimeSeries`.

    Raises:
        InputError: Missing/empty file, no header row, ragged or non-numeric
            rows, NaN/Inf or ``n/a`` values (naming the region and line), fewer
            than 3 volumes, repeated labels, or no repetition time.
    """
    path = Path(path)
    what = "a tab-separated table with a header row of region labels and one row per volume"
    if path.name.endswith(".gz") and path.is_file():
        try:
            text = gzip.decompress(path.read_bytes()).decode("utf-8-sig")
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            raise InputError(
                f"cannot decompress ({exc}); expected {what}", path=path, subject=subject
            ) from exc
    else:
        text = read_text(path, what=what, subject=subject)
    lines = [(k, ln) for k, ln in enumerate(text.splitlines(), start=1) if ln.strip()]
    if not lines:
        raise InputError(f"file is empty; expected {what}", path=path, subject=subject)
    header_line, header = lines[0]
    labels = tuple(c.strip() for c in header.split("\t"))

    def is_number(cell: str) -> bool:
        try:
            float(cell)
        except ValueError:
            return cell.lower() == MISSING
        return True

    if all(is_number(c) for c in labels):
        raise InputError(
            f"line {header_line} holds numbers; expected {what} (the first row must name "
            "the regions)",
            path=path,
            subject=subject,
        )
    if any(not c for c in labels):
        raise InputError(
            f"the header has an empty region label (column {labels.index('') + 1}); "
            f"expected {what}",
            path=path,
            subject=subject,
        )
    _check_unique(labels, path=path, subject=subject)
    rows: list[list[float]] = []
    for lineno, line in lines[1:]:
        cells = line.split("\t")
        if len(cells) != len(labels):
            raise InputError(
                f"line {lineno} has {len(cells)} tab-separated values but the header lists "
                f"{len(labels)} region labels; expected one value per region on every row",
                path=path,
                subject=subject,
            )
        row = []
        for label, cell in zip(labels, cells, strict=True):
            cell = cell.strip()
            if cell.lower() == MISSING:
                row.append(math.nan)
                continue
            try:
                row.append(float(cell))
            except ValueError:
                raise InputError(
                    f"line {lineno}, region {label!r}: {cell!r} is not a number; expected {what}",
                    path=path,
                    subject=subject,
                ) from None
        rows.append(row)
    data = np.array(rows, dtype=float).reshape(len(rows), len(labels))
    _check_volumes(data.shape[0], path=path, subject=subject)
    line_numbers = [lineno for lineno, _ in lines[1:]]
    _check_finite_series(data, labels, path=path, subject=subject, line_numbers=line_numbers)
    sidecar = relmat_sidecar_path(path)
    tr_s = _resolve_tr(tr, sidecar, path, subject)
    if tr_s is None:
        raise InputError(
            f'no repetition time: looked for "RepetitionTime" (s) or "SamplingFrequency" '
            f"(Hz) in the sidecar {sidecar}"
            + ("" if sidecar.is_file() else " (which does not exist)")
            + "; expected it there or an explicit tr= (s)",
            path=path,
            subject=subject,
        )
    return RegionTimeSeries(data=data, labels=labels, tr=tr_s, source=str(path))


# --------------------------------------------------------------------------- BOLD NIfTI


def _load_nifti(path: Path, what: str, subject: str | None):
    import nibabel as nib

    if not path.is_file():
        raise InputError(f"file not found; expected {what}", path=path, subject=subject)
    try:
        return nib.load(path)
    except Exception as exc:  # nibabel raises several types for unreadable files
        raise InputError(
            f"cannot read as NIfTI ({exc}); expected {what}", path=path, subject=subject
        ) from exc


def _tr_from_header(img) -> float | None:
    """Repetition time in s from the NIfTI ``pixdim[4]`` and ``xyzt_units``; None if unset."""
    zooms = img.header.get_zooms()
    if len(zooms) < 4 or not float(zooms[3]) > 0:
        return None
    t_unit = img.header.get_xyzt_units()[1]
    scale = {"msec": 1e-3, "usec": 1e-6}.get(t_unit, 1.0)  # "sec" or "unknown": s
    return float(zooms[3]) * scale


def parcellate_bold(
    bold_path: str | os.PathLike,
    dseg_path: str | os.PathLike,
    dseg_tsv_path: str | os.PathLike | None = None,
    *,
    subject: str | None = None,
) -> RegionTimeSeries:
    """Average a preprocessed 4-D BOLD image within the regions of an atlas segmentation.

    The segmentation (``*_dseg.nii.gz``) must be on the BOLD grid: same
    spatial shape and affine (within 1e-3 mm). Its voxels hold integer region
    indices; 0 is background and ignored. The region time series is the plain
    mean over the region's voxels, per volume.

    Labels and columns: with ``dseg_tsv_path`` (a BIDS ``*_dseg.tsv`` with
    ``index`` and ``name`` columns), columns follow the TSV's row order and are
    named by ``name``; a region listed in the TSV but with no voxels in the
    image triggers a :func:`warnings.warn` naming it and the file, and its
    column is **dropped** (so the number of columns may be smaller than the
    number of TSV rows). A nonzero index in the image that the TSV does not
    list is an error. Without a TSV, columns are the image's nonzero indices in
    increasing order, named ``label-<k>``.

    The repetition time is ``RepetitionTime`` (s) from the BOLD's JSON sidecar
    (``x_bold.nii.gz`` -> ``x_bold.json``), else the NIfTI header's fourth
    zoom, converted from ms or µs when ``xyzt_units`` says so.

    Args:
        bold_path: 4-D BOLD NIfTI.
        dseg_path: 3-D atlas segmentation NIfTI on the same grid.
        dseg_tsv_path: Optional ``*_dseg.tsv`` naming the regions.
        subject: Subject label for error messages.

    Returns:
        The :class:`RegionTimeSeries` (``source`` is the BOLD path).

    Raises:
        InputError: Unreadable images, wrong dimensionality, grid mismatch
            (naming both files), non-integer or negative labels, an empty
            segmentation, image labels missing from the TSV, NaN/Inf region
            means, fewer than 3 volumes, or no repetition time.
    """
    bold_path = Path(bold_path)
    dseg_path = Path(dseg_path)
    bold = _load_nifti(bold_path, "a 4-D BOLD NIfTI image", subject)
    dseg = _load_nifti(dseg_path, "a 3-D atlas segmentation NIfTI (_dseg.nii.gz)", subject)
    if len(bold.shape) != 4:
        raise InputError(
            f"has shape {bold.shape}; expected a 4-D BOLD image (x, y, z, time)",
            path=bold_path,
            subject=subject,
        )
    dshape = tuple(dseg.shape)
    if len(dshape) == 4 and dshape[3] == 1:
        dshape = dshape[:3]
    if len(dshape) != 3:
        raise InputError(
            f"has shape {dseg.shape}; expected a 3-D segmentation of integer region labels",
            path=dseg_path,
            subject=subject,
        )
    if dshape != tuple(bold.shape[:3]) or not np.allclose(
        dseg.affine, bold.affine, rtol=0.0, atol=1e-3
    ):
        raise InputError(
            f"segmentation {dseg_path} (grid {dshape}) and BOLD {bold_path} (grid "
            f"{tuple(bold.shape[:3])}) are not on the same voxel grid (same shape and affine "
            f"expected; affines:\n{np.round(dseg.affine, 4)}\nvs\n{np.round(bold.affine, 4)}); "
            "resample the segmentation to the BOLD space first",
            path=dseg_path,
            subject=subject,
        )
    n_vol = int(bold.shape[3])
    _check_volumes(n_vol, path=bold_path, subject=subject)

    seg = np.asanyarray(dseg.dataobj).reshape(dshape)
    if not np.issubdtype(seg.dtype, np.integer):
        seg_f = np.asarray(seg, dtype=float)
        frac = ~np.isfinite(seg_f) | (seg_f != np.round(seg_f))
        if frac.any():
            v = seg_f[frac].flat[0]
            raise InputError(
                f"holds non-integer value {v:g} ({int(frac.sum())} voxels); expected integer "
                "region labels (a hard segmentation, not a probabilistic atlas)",
                path=dseg_path,
                subject=subject,
            )
    seg = np.asarray(seg).astype(np.int64)
    if (seg < 0).any():
        raise InputError(
            f"holds negative label {int(seg.min())}; expected labels >= 0 (0 = background)",
            path=dseg_path,
            subject=subject,
        )
    inside = seg > 0
    present = np.unique(seg[inside])
    if present.size == 0:
        raise InputError(
            "has no nonzero voxels; expected integer region labels (0 = background)",
            path=dseg_path,
            subject=subject,
        )

    if dseg_tsv_path is not None:
        dseg_tsv_path = Path(dseg_tsv_path)
        pairs = read_index_name_table(
            dseg_tsv_path, what="a BIDS _dseg.tsv with 'index' and 'name' columns", subject=subject
        )
        if any(idx is None for idx, _ in pairs):
            raise InputError(
                "has no 'index' column; expected a BIDS _dseg.tsv with 'index' and 'name' columns",
                path=dseg_tsv_path,
                subject=subject,
            )
        pairs = [(int(idx), name) for idx, name in pairs if idx != 0]
        indices = [idx for idx, _ in pairs]
        for what_list, values in (("index", indices), ("name", [n for _, n in pairs])):
            if len(set(values)) != len(values):
                dup = sorted({str(x) for x in values if values.count(x) > 1})
                raise InputError(
                    f"repeats {what_list} {', '.join(dup)}; expected one row per region",
                    path=dseg_tsv_path,
                    subject=subject,
                )
        unlisted = sorted(set(present.tolist()) - set(indices))
        if unlisted:
            raise InputError(
                f"the segmentation {dseg_path} holds label(s) {unlisted[:10]} that "
                f"{dseg_tsv_path.name} does not list; expected a row (index, name) for every "
                "nonzero label",
                path=dseg_tsv_path,
                subject=subject,
            )
        present_set = set(present.tolist())
        keep: list[tuple[int, str]] = []
        for idx, name in pairs:
            if idx in present_set:
                keep.append((idx, name))
            else:
                warnings.warn(
                    f"{dseg_tsv_path}: region {name!r} (index {idx}) has no voxels in "
                    f"{dseg_path}; its column is dropped from the time series",
                    stacklevel=2,
                )
        columns = np.array([idx for idx, _ in keep], dtype=np.int64)
        labels = tuple(name for _, name in keep)
    else:
        columns = present
        labels = tuple(f"label-{int(k)}" for k in present)

    # Mean over each region's voxels: sort voxels by label, sum contiguous runs.
    lab_in = seg[inside]
    order = np.argsort(lab_in, kind="stable")
    sorted_labs = lab_in[order]
    starts = np.flatnonzero(np.r_[True, sorted_labs[1:] != sorted_labs[:-1]])
    counts = np.diff(np.r_[starts, sorted_labs.size])
    data = np.asanyarray(bold.dataobj)
    voxels = data[inside][order]  # (n_voxels_inside, n_vol)
    sums = np.add.reduceat(voxels, starts, axis=0, dtype=np.float64)
    means = sums / counts[:, None]
    row_of = {int(k): i for i, k in enumerate(sorted_labs[starts])}
    ts = np.ascontiguousarray(means[[row_of[int(k)] for k in columns]].T)
    _check_finite_series(ts, labels, path=bold_path, subject=subject, line_numbers=None)

    tr = _tr_from_sidecar(_nifti_sidecar(bold_path), subject)
    if tr is None:
        tr_h = _tr_from_header(bold)
        if tr_h is None:
            raise InputError(
                f'no repetition time: looked for "RepetitionTime" (s) in {_nifti_sidecar(bold_path)}'
                " and for a positive fourth zoom (pixdim[4]) in the NIfTI header; expected one",
                path=bold_path,
                subject=subject,
            )
        tr = _check_tr(tr_h, where="NIfTI header pixdim[4]", path=bold_path, subject=subject)
    return RegionTimeSeries(data=ts, labels=labels, tr=tr, source=str(bold_path))


# --------------------------------------------------------------------------- FC relmat


def load_fc_relmat(
    path: str | os.PathLike, *, subject: str | None = None
) -> tuple[np.ndarray, tuple[str, ...] | None]:
    """Load a precomputed functional connectivity matrix (BEP017 relmat).

    The matrix must be square, finite, symmetric (within 1e-6), with values in
    ``[-1, 1]`` (Pearson correlations, not Fisher-z) and a diagonal that is
    all 1 or all 0 (within 1e-6).

    Args:
        path: ``*_relmat.dense.tsv`` (labels from its sidecar or node map).
        subject: Subject label for error messages.

    Returns:
        ``(fc, labels)``: the ``(n, n)`` float64 matrix and its region labels,
        or ``None`` when the file has none.

    Raises:
        InputError: Any of the checks above fails, or the file is malformed.
    """
    path = Path(path)
    fc, labels, _ = read_relmat(path, subject=subject)
    check_square(fc, what="FC", path=path, subject=subject)
    check_finite(fc, what="FC values", path=path, subject=subject)
    asym = np.abs(fc - fc.T)
    if asym.max() > 1e-6:
        i, j = np.unravel_index(int(np.argmax(asym)), asym.shape)
        raise InputError(
            f"FC is not symmetric: entry ({i}, {j}) is {fc[i, j]:g} but ({j}, {i}) is "
            f"{fc[j, i]:g}; expected a symmetric correlation matrix (tolerance 1e-6)",
            path=path,
            subject=subject,
        )
    out = np.abs(fc) > 1.0 + 1e-6
    if out.any():
        i, j = np.argwhere(out)[0]
        raise InputError(
            f"FC value {fc[i, j]:g} at ({i}, {j}) is outside [-1, 1]; expected Pearson "
            "correlations (not Fisher-z transformed or covariances)",
            path=path,
            subject=subject,
        )
    diag = np.diag(fc)
    if not (np.allclose(diag, 1.0, rtol=0, atol=1e-6) or np.allclose(diag, 0.0, rtol=0, atol=1e-6)):
        k = int(np.argmax(np.minimum(np.abs(diag - 1.0), np.abs(diag))))
        raise InputError(
            f"FC diagonal entry {k} is {diag[k]:g}; expected a diagonal of all 1 (or all 0)",
            path=path,
            subject=subject,
        )
    if labels is not None:
        _check_unique(list(labels), path=path, subject=subject)
    return fc, labels
