"""The structural connectome: weights, tract lengths and region labels.

The core type does no file I/O (loaders live in :mod:`tvbo_pipe.io.connectome`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .errors import InputError

NORMALISATIONS = ("none", "max", "log1p")


@dataclass(frozen=True, eq=False)
class Connectome:
    """A structural connectome of ``n`` regions.

    Attributes:
        weights: ``(n, n)`` connection strengths, ``weights[i, j]`` is the
            connection from region ``j`` to region ``i`` (TVB's convention:
            rows receive). Non-negative and finite.
        lengths: ``(n, n)`` tract lengths in mm, or ``None`` when unknown (no
            delays can then be simulated).
        labels: Region labels, length ``n``.
        centres: ``(n, 3)`` region centres in mm, or ``None``.
        atlas: Name of the parcellation (e.g. ``"AAL2"``), if known.
        source: Where it came from (file path or normative name), for errors
            and provenance.
    """

    weights: np.ndarray
    lengths: np.ndarray | None
    labels: tuple[str, ...]
    centres: np.ndarray | None = None
    atlas: str | None = None
    source: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def n_regions(self) -> int:
        return int(self.weights.shape[0])

    def validate(self, *, subject: str | None = None) -> Connectome:
        """Check shapes, finiteness and signs; raise :class:`InputError` naming the source."""
        check_square(self.weights, what="SC weights", path=self.source, subject=subject)
        check_finite(self.weights, what="SC weights", path=self.source, subject=subject)
        if (self.weights < 0).any():
            i, j = np.argwhere(self.weights < 0)[0]
            raise InputError(
                f"SC weights must be non-negative; found {self.weights[i, j]:g} at row {i}, "
                f"column {j} ({int((self.weights < 0).sum())} negative entries in all)",
                path=self.source,
                subject=subject,
            )
        n = self.n_regions
        if self.lengths is not None:
            check_square(self.lengths, what="SC tract lengths", path=self.source, subject=subject)
            check_finite(self.lengths, what="SC tract lengths", path=self.source, subject=subject)
            if self.lengths.shape != self.weights.shape:
                raise InputError(
                    f"tract lengths are {self.lengths.shape[0]}x{self.lengths.shape[1]} but weights "
                    f"are {n}x{n}; both must describe the same regions",
                    path=self.source,
                    subject=subject,
                )
            if (self.lengths < 0).any():
                raise InputError(
                    "tract lengths must be non-negative (mm)", path=self.source, subject=subject
                )
        if len(self.labels) != n:
            raise InputError(
                f"{len(self.labels)} region labels for a {n}x{n} connectome",
                path=self.source,
                subject=subject,
            )
        if len(set(self.labels)) != n:
            dup = sorted({x for x in self.labels if self.labels.count(x) > 1})
            raise InputError(
                f"region labels must be unique; repeated: {', '.join(dup)}",
                path=self.source,
                subject=subject,
            )
        return self

    def normalised(self, method: str = "max", *, zero_diagonal: bool = True) -> Connectome:
        """Return a copy with normalised weights.

        Args:
            method: ``"max"`` divides by the largest weight (TVB's
                ``scale_weights(mode="tract")`` and tvboptim's ``W / max W``),
                ``"log1p"`` takes ``log(1 + w)`` and then divides by its
                maximum, ``"none"`` keeps the weights.
            zero_diagonal: Set self-connections to zero first.
        """
        if method not in NORMALISATIONS:
            raise InputError(
                f"unknown normalisation {method!r}; valid: {', '.join(NORMALISATIONS)}",
                key="connectome.normalise",
            )
        w = np.array(self.weights, dtype=float)
        if zero_diagonal:
            np.fill_diagonal(w, 0.0)
        if method == "log1p":
            w = np.log1p(w)
        if method in ("max", "log1p"):
            wmax = w.max()
            if wmax > 0:
                w = w / wmax
        return replace(self, weights=w)

    def symmetrised(self) -> Connectome:
        """Return a copy with weights (and lengths) replaced by ``(m + m.T) / 2``."""
        lengths = None if self.lengths is None else 0.5 * (self.lengths + self.lengths.T)
        return replace(self, weights=0.5 * (self.weights + self.weights.T), lengths=lengths)


def prepared(
    conn: Connectome,
    *,
    symmetrise: bool,
    normalise: str,
    zero_diagonal: bool,
    subject: str | None = None,
) -> Connectome:
    """The connectome as simulated: checked, optionally symmetrised, then normalised
    (:meth:`Connectome.normalised`). Raises :class:`InputError` when no connection is left.
    """
    conn = conn.validate(subject=subject)
    if symmetrise:
        conn = conn.symmetrised()
    conn = conn.normalised(normalise, zero_diagonal=zero_diagonal)
    if conn.weights.max() <= 0:
        raise InputError(
            "SC has no connections (all weights are zero)", path=conn.source, subject=subject
        )
    return conn


def check_square(a: np.ndarray, *, what: str, path=None, subject=None) -> None:
    """Raise :class:`InputError` unless ``a`` is a non-empty square 2-D matrix."""
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] == 0:
        raise InputError(
            f"{what} must be a non-empty square matrix; got shape {a.shape}",
            path=path,
            subject=subject,
        )


def check_finite(a: np.ndarray, *, what: str, path=None, subject=None) -> None:
    """Raise :class:`InputError` if ``a`` holds NaN or Inf, naming the first bad entry."""
    bad = ~np.isfinite(a)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise InputError(
            f"{what} contain {int(bad.sum())} NaN/Inf values (first at index {idx}); "
            "all entries must be finite",
            path=path,
            subject=subject,
        )
