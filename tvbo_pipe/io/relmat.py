"""BIDS (BEP017) relationship matrices and the package's deterministic file writers.

A BEP017 relationship matrix is a headerless, tab-separated dense matrix
(``*_relmat.dense.tsv``) with a JSON sidecar (``*_relmat.json``). Region labels
are read from the sidecar's ``"NodeLabels"`` or from a ``*_nodeindices.tsv``
node map next to it.

Everything this package writes goes through :func:`write_text_atomic`, so that
a crash never leaves a half-written file behind and the same input always gives
the same bytes: numbers are written with Python's shortest round-trip ``repr``,
JSON with sorted keys and two-space indentation, lines end in ``"\\n"``.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError

RELMAT_SUFFIX = "_relmat.dense.tsv"
NODEINDICES_SUFFIX = "_nodeindices.tsv"
MISSING = "n/a"  # BIDS spelling of a missing value

_ENTITY = re.compile(r"(?:^|_)([a-zA-Z0-9]+)-([a-zA-Z0-9+]+)")


# --------------------------------------------------------------------------- writing


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8, newlines untranslated) to ``path`` atomically.

    The text goes to a temporary file in the same folder which then replaces
    ``path`` with :func:`os.replace`, so readers see either the old or the new
    file, never a partial one. Missing parent folders are created. The file
    gets the usual permissions (``0o666`` less the umask).

    Args:
        path: Destination file.
        text: Full file contents.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    data = text.encode("utf-8")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _json_default(obj: Any) -> Any:
    """Make NumPy scalars and arrays, paths and tuples JSON-serialisable."""
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON: {obj!r}")


def dumps_json(obj: Any) -> str:
    """The package's canonical JSON text: sorted keys, indent 2, trailing newline."""
    return json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n"


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as canonical JSON (see :func:`dumps_json`), atomically.

    Args:
        path: Destination ``.json`` file.
        obj: JSON-serialisable object; NumPy scalars/arrays are converted.
    """
    write_text_atomic(path, dumps_json(obj))


def format_number(x: Any) -> str:
    """Shortest text that reads back as exactly the same float64 (``repr(float(x))``)."""
    return repr(float(x))


def _format_cell(x: Any) -> str:
    if x is None:
        return MISSING
    if isinstance(x, (bool, np.bool_)):
        return "true" if x else "false"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        return MISSING if math.isnan(x) else format_number(x)
    text = str(x)
    if any(c in text for c in "\t\n\r"):
        raise ValueError(f"TSV cell {text!r} contains a tab or line break")
    return text


def write_tsv_table(
    path: str | os.PathLike, header: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """Write a BIDS-style TSV table with a header row, atomically and deterministically.

    Cells are formatted as: ``None`` and float NaN as ``n/a`` (BIDS's missing
    value), floats with the shortest round-trip ``repr``, integers as integers,
    booleans as ``true``/``false``, anything else with ``str``.

    Args:
        path: Destination ``.tsv`` file.
        header: Column names.
        rows: One sequence of cells per row, each as long as ``header``.

    Raises:
        ValueError: A row of the wrong length, or a cell holding a tab or line break.
    """
    header = [_format_cell(h) for h in header]
    lines = ["\t".join(header)]
    for k, row in enumerate(rows):
        cells = [_format_cell(c) for c in row]
        if len(cells) != len(header):
            raise ValueError(
                f"TSV row {k} has {len(cells)} cells but the header has {len(header)}: {path}"
            )
        lines.append("\t".join(cells))
    write_text_atomic(path, "\n".join(lines) + "\n")


def relmat_sidecar_path(path: str | os.PathLike) -> Path:
    """The JSON sidecar of a relationship matrix (``x_relmat.dense.tsv`` -> ``x_relmat.json``)."""
    path = Path(path)
    name = path.name
    for suffix in (".dense.tsv", ".tsv.gz", ".tsv", ".csv", ".txt"):
        if name.endswith(suffix):
            return path.with_name(name[: -len(suffix)] + ".json")
    return path.with_name(name + ".json")


def write_relmat(
    path: str | os.PathLike,
    matrix: np.ndarray,
    labels: Sequence[str] | None,
    sidecar: Mapping[str, Any] | None = None,
) -> None:
    """Write a BEP017 dense relationship matrix and its JSON sidecar.

    The TSV is headerless, tab-separated, one matrix row per line, each number
    written as ``repr(float(x))`` so that :func:`read_relmat` gives back exactly
    the same float64 values and the same input always gives the same bytes.
    The sidecar (``*_relmat.json`` next to ``*_relmat.dense.tsv``) holds the
    keys of ``sidecar`` plus ``"NodeLabels"`` (none when ``labels`` is
    ``None``: a matrix whose axes are not regions, such as an FCD's time
    windows). Both files are written atomically.

    Args:
        path: Destination, conventionally ``..._relmat.dense.tsv``.
        matrix: 2-D array ``(n, n)``.
        labels: ``n`` region labels, or ``None``.
        sidecar: Extra sidecar metadata (e.g. ``{"RelationshipMeasure": ...}``);
            its ``"NodeLabels"``, if any, is replaced by ``labels``.

    Raises:
        ValueError: ``matrix`` is not 2-D or ``labels`` does not match its size.
    """
    m = np.asarray(matrix, dtype=float)
    if m.ndim != 2:
        raise ValueError(f"relmat must be 2-D, got shape {m.shape}: {path}")
    meta = dict(sidecar or {})
    meta.pop("NodeLabels", None)
    if labels is not None:
        labels = [str(x) for x in labels]
        if len(labels) != m.shape[0]:
            raise ValueError(f"{len(labels)} labels for a {m.shape[0]}x{m.shape[1]} matrix: {path}")
        meta["NodeLabels"] = labels
    text = "".join("\t".join(format_number(x) for x in row) + "\n" for row in m)
    write_text_atomic(path, text)
    write_json(relmat_sidecar_path(path), meta)


# --------------------------------------------------------------------------- reading


def read_text(path: str | os.PathLike, *, what: str, subject: str | None = None) -> str:
    """Read a UTF-8 text file (BOM allowed), with an :class:`InputError` naming it on failure.

    Args:
        path: File to read.
        what: What the file should be, for the error message.
        subject: Subject label for the error message.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"file not found; expected {what}", path=path, subject=subject)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(
            f"cannot read ({exc}); expected {what}", path=path, subject=subject
        ) from exc
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"not UTF-8 text (byte {exc.start}); expected {what}", path=path, subject=subject
        ) from exc


def read_json(path: str | os.PathLike, *, subject: str | None = None) -> dict:
    """Read a JSON object (a BIDS sidecar), with an :class:`InputError` naming the file on failure."""
    text = read_text(path, what="a JSON object", subject=subject)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}; "
            "expected a JSON object",
            path=path,
            subject=subject,
        ) from exc
    if not isinstance(obj, dict):
        raise InputError(
            f"expected a JSON object ({{...}}), got a {type(obj).__name__}",
            path=path,
            subject=subject,
        )
    return obj


def _parse_number(cell: str) -> float:
    """A float from a text cell; BIDS's ``n/a`` reads as NaN. Raises ValueError."""
    cell = cell.strip()
    if cell.lower() == MISSING:
        return math.nan
    return float(cell)


def parse_matrix_text(
    text: str,
    *,
    path: str | os.PathLike,
    what: str,
    delimiter: str | None,
    comment: str | None = None,
    subject: str | None = None,
) -> np.ndarray:
    """Parse a headerless numeric matrix from text, with errors naming the line and column.

    Args:
        text: File contents.
        path: Where the text came from, for errors.
        what: What the file should hold, for errors (e.g. ``"a tab-separated matrix"``).
        delimiter: Cell separator; ``None`` splits on any whitespace.
        comment: Lines starting with this (after leading blanks) are skipped.
        subject: Subject label for errors.

    Returns:
        ``(n_rows, n_columns)`` float64 array. ``n/a`` cells become NaN.

    Raises:
        InputError: Empty file, a non-numeric cell (naming its 1-based line and
            column), a blank line between rows, or rows of different lengths.
    """
    lines = text.splitlines()
    rows: list[list[float]] = []
    lines_used: list[int] = []
    pending_blank: int | None = None
    for lineno, line in enumerate(lines, start=1):
        if comment is not None and line.lstrip().startswith(comment):
            continue
        if not line.strip():
            pending_blank = pending_blank or lineno
            continue
        if pending_blank is not None and rows:
            raise InputError(
                f"line {pending_blank} is blank but more rows follow it; expected {what} "
                "with one matrix row per line and no blank lines",
                path=path,
                subject=subject,
            )
        pending_blank = None
        cells = line.split(delimiter)
        if delimiter is not None and len(cells) > 1 and not cells[-1].strip():
            cells = cells[:-1]  # tolerate one trailing separator (e.g. "1,2,3,")
        values = []
        for col, cell in enumerate(cells, start=1):
            try:
                values.append(_parse_number(cell))
            except ValueError:
                hint = ""
                parts = cell.split()
                if delimiter == "\t" and len(parts) > 1 and all(map(_is_number, parts)):
                    hint = " (cells must be separated by tabs, not spaces)"
                elif not rows and all(not _is_number(c) for c in cells):
                    hint = " (this looks like a header row, but the file must not have one)"
                raise InputError(
                    f"line {lineno}, column {col}: {cell.strip()!r} is not a number{hint}; "
                    f"expected {what}",
                    path=path,
                    subject=subject,
                ) from None
        if rows and len(values) != len(rows[0]):
            raise InputError(
                f"line {lineno} has {len(values)} values but line {lines_used[0]} has "
                f"{len(rows[0])}; expected {what} with the same number of values on every row",
                path=path,
                subject=subject,
            )
        rows.append(values)
        lines_used.append(lineno)
    if not rows:
        raise InputError(f"file is empty; expected {what}", path=path, subject=subject)
    return np.array(rows, dtype=float)


def _is_number(cell: str) -> bool:
    try:
        _parse_number(cell)
    except ValueError:
        return False
    return True


def parse_entities(name: str) -> dict[str, str]:
    """BIDS ``key-value`` entities of a file name (``sub``, ``ses``, ``atlas``, ...)."""
    stem = name.split(".", 1)[0]
    return {k: v for k, v in _ENTITY.findall(stem)}


def _nodeindices_candidates(path: Path) -> list[Path]:
    """Node maps named after the relmat at ``path`` that exist, most specific first."""
    name = path.name
    if not name.endswith(RELMAT_SUFFIX):
        return []
    head = name[: -len(RELMAT_SUFFIX)]
    names = [head + NODEINDICES_SUFFIX]  # keeps meas- (as in the BEP017 draft)
    m = re.search(r"(?:^|_)meas-", head)
    if m is not None:  # replace the "_meas-..._relmat.dense.tsv" tail
        prefix = head[: m.start()]
        names.append(prefix + NODEINDICES_SUFFIX if prefix else NODEINDICES_SUFFIX[1:])
    return [path.with_name(n) for n in dict.fromkeys(names) if path.with_name(n).is_file()]


def find_nodeindices(path: str | os.PathLike, *, subject: str | None = None) -> Path | None:
    """Locate the ``*_nodeindices.tsv`` node map of a relationship matrix.

    Looked for, in order: the relmat name with ``_relmat.dense.tsv`` replaced
    by ``_nodeindices.tsv``; the same with the ``_meas-<label>`` entity
    removed; else the only ``*_nodeindices.tsv`` in the same folder whose
    ``sub-``, ``ses-`` and ``atlas-`` entities equal the relmat's.

    Returns:
        The path, or ``None`` when there is none.

    Raises:
        InputError: Several node maps in the folder match equally well.
    """
    path = Path(path)
    direct = _nodeindices_candidates(path)
    if direct:
        return direct[0]
    want = parse_entities(path.name)
    keys = ("sub", "ses", "atlas")
    found = sorted(
        p
        for p in path.parent.glob("*" + NODEINDICES_SUFFIX)
        if all(parse_entities(p.name).get(k) == want.get(k) for k in keys)
    )
    if len(found) > 1:
        raise InputError(
            "several node maps could hold its region labels ("
            + ", ".join(p.name for p in found)
            + "); expected one *_nodeindices.tsv sharing its sub-/ses-/atlas- entities, "
            'or "NodeLabels" in its JSON sidecar',
            path=path,
            subject=subject,
        )
    return found[0] if found else None


def read_table(
    path: str | os.PathLike, *, what: str, subject: str | None = None
) -> tuple[list[str], list[list[str]]]:
    """Read a tab-separated table with a header row.

    Returns:
        The header cells and the data rows (cells stripped, blank lines skipped).

    Raises:
        InputError: Empty file or a row whose length differs from the header's.
    """
    text = read_text(path, what=what, subject=subject)
    lines = [(k, ln) for k, ln in enumerate(text.splitlines(), start=1) if ln.strip()]
    if not lines:
        raise InputError(f"file is empty; expected {what}", path=path, subject=subject)
    header = [c.strip() for c in lines[0][1].split("\t")]
    rows = []
    for lineno, line in lines[1:]:
        cells = [c.strip() for c in line.split("\t")]
        if len(cells) != len(header):
            raise InputError(
                f"line {lineno} has {len(cells)} tab-separated cells but the header has "
                f"{len(header)}; expected {what}",
                path=path,
                subject=subject,
            )
        rows.append(cells)
    return header, rows


def read_index_name_table(
    path: str | os.PathLike, *, what: str, subject: str | None = None
) -> list[tuple[int | None, str]]:
    """Read ``(index, name)`` pairs from a BIDS ``index``/``name`` TSV (dseg.tsv, nodeindices.tsv).

    The name column is ``name`` (or ``label``), the index column ``index`` (or
    ``node_index``); the index column may be absent, giving ``None`` indices.
    Rows keep the file's order unless a ``matrix_index`` column is present, in
    which case they are sorted by it.

    Raises:
        InputError: No name column, or an index that is not an integer.
    """
    header, rows = read_table(path, what=what, subject=subject)
    low = [h.lower() for h in header]
    name_col = next((low.index(c) for c in ("name", "label") if c in low), None)
    if name_col is None:
        raise InputError(
            f"no 'name' column (columns: {', '.join(header)}); expected {what}",
            path=path,
            subject=subject,
        )
    idx_col = next((low.index(c) for c in ("index", "node_index") if c in low), None)
    order_col = low.index("matrix_index") if "matrix_index" in low else None

    def as_int(cell: str, col: int, lineno: int) -> int:
        try:
            return int(cell)
        except ValueError:
            raise InputError(
                f"row {lineno}: {header[col]} {cell!r} is not an integer; expected {what}",
                path=path,
                subject=subject,
            ) from None

    out = []
    keys = []
    for k, row in enumerate(rows, start=1):
        idx = None if idx_col is None else as_int(row[idx_col], idx_col, k)
        out.append((idx, row[name_col]))
        keys.append(k if order_col is None else as_int(row[order_col], order_col, k))
    return [pair for _, pair in sorted(zip(keys, out, strict=True), key=lambda t: t[0])]


def read_relmat(
    path: str | os.PathLike, *, subject: str | None = None
) -> tuple[np.ndarray, tuple[str, ...] | None, dict]:
    """Read a BEP017 dense relationship matrix, its sidecar and its region labels.

    Labels come from, in order: the sidecar's ``"NodeLabels"``; a
    ``*_nodeindices.tsv`` node map (``index`` and ``name`` columns, see
    :func:`find_nodeindices`); else ``None``.

    Args:
        path: A headerless tab-separated ``*_relmat.dense.tsv``.
        subject: Subject label for error messages.

    Returns:
        ``(matrix, labels, sidecar)``: the float64 matrix, the labels (or
        ``None``) and the sidecar contents (``{}`` when there is no sidecar).

    Raises:
        InputError: Missing or empty file, ragged rows, a non-numeric cell, a
            malformed sidecar, or labels whose number does not match a square
            matrix.
    """
    path = Path(path)
    what = "a headerless tab-separated matrix of numbers (BEP017 *_relmat.dense.tsv)"
    text = read_text(path, what=what, subject=subject)
    matrix = parse_matrix_text(text, path=path, what=what, delimiter="\t", subject=subject)

    sidecar: dict = {}
    side = relmat_sidecar_path(path)
    if side.is_file():
        sidecar = read_json(side, subject=subject)

    labels: tuple[str, ...] | None = None
    label_source: Path | None = None
    if "NodeLabels" in sidecar:
        raw = sidecar["NodeLabels"]
        if not isinstance(raw, list) or not all(isinstance(x, (str, int)) for x in raw):
            raise InputError(
                '"NodeLabels" must be a list of region-label strings',
                path=side,
                subject=subject,
            )
        labels = tuple(str(x) for x in raw)
        label_source = side
    else:
        node_map = find_nodeindices(path, subject=subject)
        if node_map is not None:
            pairs = read_index_name_table(
                node_map,
                what="a BEP017 node map (*_nodeindices.tsv) with 'index' and 'name' columns",
                subject=subject,
            )
            labels = tuple(name for _, name in pairs)
            label_source = node_map

    n_rows, n_cols = matrix.shape
    if labels is not None and n_rows == n_cols and len(labels) != n_rows:
        raise InputError(
            f"lists {len(labels)} region labels but the matrix {path.name} is "
            f"{n_rows}x{n_cols}; expected one label per row",
            path=label_source,
            subject=subject,
        )
    return matrix, labels, sidecar
