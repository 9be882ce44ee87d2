"""Loaders for structural connectomes; each returns a validated :class:`~tvbo_pipe.connectome.Connectome`.

Supported inputs:

- BIDS BEP017 dense relationship matrices (:func:`load_relmat_connectome`),
- TVB connectivity zips (:func:`load_tvb_zip`),
- MRtrix ``tck2connectome`` CSV matrices (:func:`load_mrtrix_csv`),
- normative connectomes shipped with the package (:func:`load_normative`).

Weights are in arbitrary units, tract lengths in mm. Every bad input raises
:class:`~tvbo_pipe.errors.InputError` naming the file and what was expected.
"""

from __future__ import annotations

import bz2
import os
import zipfile
from collections.abc import Sequence
from dataclasses import replace
from importlib import resources
from pathlib import Path

import numpy as np

from ..connectome import Connectome, check_finite, check_square
from ..errors import ConfigError, InputError
from ..experiment import Experiment
from .relmat import parse_entities, parse_matrix_text, read_relmat, read_text

#: Normative connectome names (lower case) -> (canonical name, atlas name); the file
#: is ``tvbo_pipe/data/connectomes/<canonical name>.zip``.
_NORMATIVE = {
    "tvb76": ("tvb76", "TVB76"),
    "default": ("tvb76", "TVB76"),
    "dk68": ("dk68", "DesikanKilliany68"),
    "desikankilliany68": ("dk68", "DesikanKilliany68"),
}
NORMATIVE_NAMES = ("tvb76", "default", "dk68", "DesikanKilliany68")


def default_labels(n: int) -> tuple[str, ...]:
    """Placeholder region labels ``R001``, ``R002``, ... (wider when ``n`` > 999)."""
    width = max(3, len(str(n)))
    return tuple(f"R{k:0{width}d}" for k in range(1, n + 1))


def _check_lengths_file(lengths: np.ndarray, *, path, subject: str | None) -> None:
    """Check a tract-length matrix on its own, so that errors name its file."""
    check_square(lengths, what="SC tract lengths", path=path, subject=subject)
    check_finite(lengths, what="SC tract lengths", path=path, subject=subject)
    if (lengths < 0).any():
        i, j = np.argwhere(lengths < 0)[0]
        raise InputError(
            f"tract lengths must be non-negative (mm); found {lengths[i, j]:g} at row {i}, "
            f"column {j}",
            path=path,
            subject=subject,
        )


def _check_same_shape(weights: np.ndarray, lengths: np.ndarray, wpath, lpath, subject) -> None:
    if weights.shape != lengths.shape:
        raise InputError(
            f"SC weights {wpath} are {weights.shape[0]}x{weights.shape[1]} but tract lengths "
            f"{lpath} are {lengths.shape[0]}x{lengths.shape[1]}; expected both to describe "
            "the same regions (same shape)",
            path=wpath,
            subject=subject,
        )


# --------------------------------------------------------------------------- BEP017


def load_relmat_connectome(
    weights_path: str | os.PathLike,
    lengths_path: str | os.PathLike | None = None,
    *,
    atlas: str | None = None,
    subject: str | None = None,
) -> Connectome:
    """Load a structural connectome from BIDS BEP017 dense relationship matrices.

    Region labels come from the weights' sidecar ``"NodeLabels"`` or node map
    (see :func:`~tvbo_pipe.io.relmat.read_relmat`), else from the lengths', else
    they are ``R001``, ``R002``, ... (``meta["labels_generated"]`` is then
    ``True``).

    Args:
        weights_path: ``*_relmat.dense.tsv`` of connection strengths (rows
            receive, as in TVB).
        lengths_path: Optional ``*_relmat.dense.tsv`` of tract lengths in mm.
        atlas: Parcellation name; defaults to the ``atlas-`` entity of the
            weights file name.
        subject: Subject label for error messages.

    Returns:
        A validated :class:`Connectome`; ``meta`` holds the sidecars.

    Raises:
        InputError: Unreadable or malformed files, non-square, non-finite or
            negative matrices, or weights and lengths of different shapes or
            with different labels (naming both files).
    """
    weights_path = Path(weights_path)
    weights, wlabels, wside = read_relmat(weights_path, subject=subject)
    check_square(weights, what="SC weights", path=weights_path, subject=subject)
    meta: dict = {"weights_sidecar": wside}
    lengths = None
    llabels = None
    if lengths_path is not None:
        lengths_path = Path(lengths_path)
        lengths, llabels, lside = read_relmat(lengths_path, subject=subject)
        _check_lengths_file(lengths, path=lengths_path, subject=subject)
        _check_same_shape(weights, lengths, weights_path, lengths_path, subject)
        if wlabels is not None and llabels is not None and wlabels != llabels:
            k = next(i for i, (a, b) in enumerate(zip(wlabels, llabels, strict=True)) if a != b)
            raise InputError(
                f"SC weights {weights_path} and tract lengths {lengths_path} list different "
                f"region labels (first difference at position {k}: {wlabels[k]!r} vs "
                f"{llabels[k]!r}); expected the same regions in the same order",
                path=weights_path,
                subject=subject,
            )
        meta["lengths_sidecar"] = lside
        meta["lengths_path"] = str(lengths_path)
    labels = wlabels if wlabels is not None else llabels
    meta["labels_generated"] = labels is None
    if labels is None:
        labels = default_labels(weights.shape[0])
    if atlas is None:
        atlas = parse_entities(weights_path.name).get("atlas")
    return Connectome(
        weights=weights,
        lengths=lengths,
        labels=tuple(labels),
        atlas=atlas,
        source=str(weights_path),
        meta=meta,
    ).validate(subject=subject)


# --------------------------------------------------------------------------- TVB zip

_TVB_MEMBERS = {
    "weights": ("weights.txt",),
    "tract_lengths": ("tract_lengths.txt", "tracts.txt"),
    "centres": ("centres.txt", "centers.txt"),
    "info": ("info.txt",),
}


def _tvb_member_map(zf: zipfile.ZipFile, path: Path, subject: str | None) -> dict[str, str]:
    """Map each plain file name (``weights.txt``) to its member (``folder/weights.txt.bz2``)."""
    found: dict[str, str] = {}
    for member in zf.namelist():
        if member.endswith("/") or member.startswith("__MACOSX/"):
            continue
        base = member.rsplit("/", 1)[-1]
        if base.startswith("."):
            continue
        plain = base[:-4] if base.endswith(".bz2") else base
        if plain in found:
            raise InputError(
                f"holds both {found[plain]} and {member}; expected one {plain} "
                "(optionally .bz2-compressed, optionally in a folder)",
                path=path,
                subject=subject,
            )
        found[plain] = member
    return found


def _read_tvb_member(
    zf: zipfile.ZipFile, member: str, path: Path, subject: str | None
) -> tuple[str, str]:
    """Text of a zip member (bz2 decompressed) and a ``zip [member]`` name for errors."""
    where = f"{path} [member {member}]"
    try:
        raw = zf.read(member)
        if member.endswith(".bz2"):
            raw = bz2.decompress(raw)
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as exc:
        raise InputError(
            f"cannot read member {member} ({exc}); expected a TVB connectivity zip",
            path=path,
            subject=subject,
        ) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text, where


def _parse_centres(
    text: str, where: str, subject: str | None
) -> tuple[tuple[str, ...], np.ndarray]:
    """Labels and ``(n, 3)`` centres (mm) from TVB's ``label x y z`` lines."""
    labels: list[str] = []
    xyz: list[list[float]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) < 4:
            raise InputError(
                f"line {lineno} has {len(tokens)} fields; expected 'label x y z' (mm) per region",
                path=where,
                subject=subject,
            )
        try:
            xyz.append([float(t) for t in tokens[1:4]])
        except ValueError:
            raise InputError(
                f"line {lineno}: coordinates {' '.join(tokens[1:4])!r} are not numbers; "
                "expected 'label x y z' (mm) per region",
                path=where,
                subject=subject,
            ) from None
        labels.append(tokens[0])
    if not labels:
        raise InputError(
            "no regions; expected 'label x y z' (mm) per region", path=where, subject=subject
        )
    return tuple(labels), np.array(xyz, dtype=float)


def load_tvb_zip(path: str | os.PathLike, *, subject: str | None = None) -> Connectome:
    """Load a TVB connectivity zip (as in ``tvb_data/connectivity``).

    The zip must hold ``weights.txt``, ``tract_lengths.txt`` (mm) and
    ``centres.txt`` (``label x y z`` per region, mm; extra columns ignored);
    each may be ``.bz2``-compressed and may sit in a folder. Labels are the
    first column of ``centres.txt``. ``info.txt``, if present, is kept in
    ``meta["info"]``; other members (areas, orientations, ...) are ignored.

    Args:
        path: The ``.zip`` file.
        subject: Subject label for error messages.

    Returns:
        A validated :class:`Connectome` with centres.

    Raises:
        InputError: Not a zip, a required member missing, malformed matrices,
            or sizes that disagree between members.
    """
    path = Path(path)
    expected = "a TVB connectivity zip with weights.txt, tract_lengths.txt and centres.txt"
    if not path.is_file():
        raise InputError(f"file not found; expected {expected}", path=path, subject=subject)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(
            f"not a zip file ({exc}); expected {expected}", path=path, subject=subject
        ) from exc
    with zf:
        members = _tvb_member_map(zf, path, subject)
        chosen: dict[str, str] = {}
        for key, names in _TVB_MEMBERS.items():
            hit = next((members[n] for n in names if n in members), None)
            if hit is None and key != "info":
                raise InputError(
                    f"has no {names[0]} (members: {', '.join(sorted(zf.namelist())) or 'none'}); "
                    f"expected {expected}",
                    path=path,
                    subject=subject,
                )
            if hit is not None:
                chosen[key] = hit
        texts = {k: _read_tvb_member(zf, m, path, subject) for k, m in chosen.items()}

    def matrix(key: str) -> tuple[np.ndarray, str]:
        text, where = texts[key]
        what = f"a whitespace-separated square matrix of numbers ({_TVB_MEMBERS[key][0]})"
        m = parse_matrix_text(text, path=where, what=what, delimiter=None, subject=subject)
        return m, where

    weights, wwhere = matrix("weights")
    check_square(weights, what="SC weights", path=wwhere, subject=subject)
    check_finite(weights, what="SC weights", path=wwhere, subject=subject)
    lengths, lwhere = matrix("tract_lengths")
    _check_lengths_file(lengths, path=lwhere, subject=subject)
    _check_same_shape(weights, lengths, wwhere, lwhere, subject)
    labels, centres = _parse_centres(*texts["centres"], subject)
    if len(labels) != weights.shape[0]:
        raise InputError(
            f"centres list {len(labels)} regions but {wwhere} is "
            f"{weights.shape[0]}x{weights.shape[1]}; expected one centre per region",
            path=texts["centres"][1],
            subject=subject,
        )
    meta = {"members": dict(chosen)}
    if "info" in texts:
        meta["info"] = texts["info"][0]
    return Connectome(
        weights=weights,
        lengths=lengths,
        labels=labels,
        centres=centres,
        source=str(path),
        meta=meta,
    ).validate(subject=subject)


# --------------------------------------------------------------------------- MRtrix


def _read_mrtrix_matrix(path: Path, what: str, subject: str | None) -> tuple[np.ndarray, bool]:
    """A ``tck2connectome`` matrix, symmetrised when only its upper triangle is stored."""
    expected = f"an MRtrix tck2connectome {what} matrix (comma- or whitespace-separated, no header)"
    text = read_text(path, what=expected, subject=subject)
    body = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    delimiter = "," if any("," in ln for ln in body) else None
    m = parse_matrix_text(
        text, path=path, what=expected, delimiter=delimiter, comment="#", subject=subject
    )
    check_square(m, what=f"SC {what}", path=path, subject=subject)
    lower = np.tril(m, k=-1)
    upper = np.triu(m, k=1)
    with np.errstate(invalid="ignore"):
        upper_only = not np.any(lower) and np.any(upper)
    if upper_only:
        m = m + upper.T
    return m, bool(upper_only)


def _read_label_file(path: Path, n: int, subject: str | None) -> tuple[str, ...]:
    """Region labels from a one-per-line text file or an index/name lookup table."""
    expected = (
        "a labels file: one label per line, or a lookup table with index and name "
        "columns (e.g. MRtrix/FreeSurfer LUT)"
    )
    text = read_text(path, what=expected, subject=subject)
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise InputError(f"file is empty; expected {expected}", path=path, subject=subject)
    sep = "\t" if "\t" in lines[0] else None
    head = [c.strip().lower() for c in lines[0].split(sep)]
    pairs: list[tuple[int, str]] | None = None
    if "index" in head and ("name" in head or "label" in head):
        i_col = head.index("index")
        n_col = head.index("name") if "name" in head else head.index("label")
        pairs = []
        for lineno, line in enumerate(lines[1:], start=2):
            cells = [c.strip() for c in line.split(sep)]
            try:
                pairs.append((int(cells[i_col]), cells[n_col]))
            except (ValueError, IndexError):
                raise InputError(
                    f"row {lineno}: expected an integer index and a name ({line.strip()!r})",
                    path=path,
                    subject=subject,
                ) from None
    else:
        tokens = [ln.split() for ln in lines]
        if all(len(t) >= 2 and t[0].lstrip("-").isdigit() for t in tokens):
            pairs = [(int(t[0]), t[1]) for t in tokens]
    if pairs is not None:
        pairs = sorted(p for p in pairs if p[0] != 0)  # 0 = background / unknown
        labels = tuple(name for _, name in pairs)
    else:
        labels = tuple(ln.strip() for ln in lines)
    if len(labels) != n:
        raise InputError(
            f"lists {len(labels)} regions but the connectome has {n}; expected one label per "
            "matrix row (index 0 / background excluded)",
            path=path,
            subject=subject,
        )
    return labels


def load_mrtrix_csv(
    weights_csv: str | os.PathLike,
    lengths_csv: str | os.PathLike | None = None,
    *,
    labels: str | os.PathLike | Sequence[str] | None = None,
    subject: str | None = None,
) -> Connectome:
    """Load a connectome written by MRtrix ``tck2connectome``.

    The matrices have no header and are comma- or whitespace-separated
    (``#`` comment lines are skipped). A matrix whose strictly lower triangle
    is all zero while its upper triangle is not is taken as upper-triangular
    storage (``tck2connectome`` without ``-symmetric``) and symmetrised
    (``meta["symmetrised"]`` says which were).

    Args:
        weights_csv: Connection strengths (e.g. streamline counts).
        lengths_csv: Optional mean tract lengths in mm (``tck2connectome
            -scale_length -stat_edge mean``).
        labels: A labels file (one label per line, or a lookup table whose
            rows start with an integer index followed by a name, or a TSV with
            ``index`` and ``name`` columns; index 0 is skipped and rows are
            sorted by index), or a sequence of labels; default ``R001``, ....
        subject: Subject label for error messages.

    Returns:
        A validated :class:`Connectome`.

    Raises:
        InputError: Malformed, non-square, non-finite or negative matrices,
            shape mismatch between weights and lengths, or a labels file of the
            wrong length.
    """
    weights_csv = Path(weights_csv)
    weights, w_sym = _read_mrtrix_matrix(weights_csv, "weights", subject)
    check_finite(weights, what="SC weights", path=weights_csv, subject=subject)
    meta: dict = {"symmetrised": {"weights": w_sym}}
    lengths = None
    if lengths_csv is not None:
        lengths_csv = Path(lengths_csv)
        lengths, l_sym = _read_mrtrix_matrix(lengths_csv, "tract lengths", subject)
        _check_lengths_file(lengths, path=lengths_csv, subject=subject)
        _check_same_shape(weights, lengths, weights_csv, lengths_csv, subject)
        meta["symmetrised"]["lengths"] = l_sym
        meta["lengths_path"] = str(lengths_csv)
    n = weights.shape[0]
    if labels is None:
        names = default_labels(n)
    elif isinstance(labels, (str, os.PathLike)):
        names = _read_label_file(Path(labels), n, subject)
        meta["labels_path"] = str(labels)
    else:
        names = tuple(str(x) for x in labels)
        if len(names) != n:
            raise InputError(
                f"{len(names)} labels given for a {n}x{n} connectome; expected one per row",
                path=weights_csv,
                subject=subject,
            )
    return Connectome(
        weights=weights, lengths=lengths, labels=names, source=str(weights_csv), meta=meta
    ).validate(subject=subject)


# --------------------------------------------------------------------------- normative


def load_normative(atlas: str) -> Connectome:
    """Load a normative connectome shipped with the package.

    Available (names are case-insensitive; see ``tvbo_pipe/data/connectomes/README.md``
    for sources, licence and checksums):

    - ``"tvb76"`` / ``"default"``: TVB's default 76-region connectivity
      (``connectivity_76.zip`` of tvb-data 3.0.0).
    - ``"dk68"`` / ``"DesikanKilliany68"``: 68 cortical Desikan-Killiany regions
      (``connectivity_68.zip`` of tvb-data 3.0.0), labels ``r_<region>`` /
      ``l_<region>``.

    Args:
        atlas: One of the names above.

    Returns:
        A validated :class:`Connectome` with ``source="normative:<name>"``.

    Raises:
        InputError: An unknown name (the message lists the valid ones).
    """
    key = str(atlas).strip().lower()
    if key not in _NORMATIVE:
        raise InputError(
            f"unknown normative connectome {atlas!r}; valid names (case-insensitive): "
            + ", ".join(NORMATIVE_NAMES),
            key="inputs.sc.normative",
        )
    name, atlas_name = _NORMATIVE[key]
    filename = f"{name}.zip"
    resource = resources.files("tvbo_pipe") / "data" / "connectomes" / filename
    with resources.as_file(resource) as real_path:
        conn = load_tvb_zip(real_path)
    meta = dict(conn.meta, normative=name, file=filename)
    return replace(conn, atlas=atlas_name, source=f"normative:{atlas_name}", meta=meta)


def load_experiment_connectome(experiment: Experiment) -> Connectome:
    """The connectome named by the experiment's connectivity section (relmat or normative)."""
    c = experiment.connectivity
    if c.weights:
        return load_relmat_connectome(c.weights, c.lengths)
    if c.normative:
        return load_normative(c.normative)
    raise ConfigError(
        "no connectome: set connectivity.weights or connectivity.normative",
        key="connectivity",
    )


def load_connectome_outputs(
    weights_path: str | os.PathLike, lengths_path: str | os.PathLike | None
) -> Connectome:
    """The connectome stage's relmats as a :class:`Connectome` (zero lengths: no delays)."""
    w, labels, _ = read_relmat(weights_path)
    lengths, _, _ = read_relmat(lengths_path) if lengths_path else (None, None, None)
    if lengths is not None and not lengths.any():
        lengths = None
    return Connectome(w, lengths, tuple(labels), source=str(weights_path)).validate()
