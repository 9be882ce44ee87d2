"""The settings of the optax fit loop, shared by single and multi-start fits.

:func:`~tvbo_pipe.fit.optimize.fit` and
:func:`~tvbo_pipe.fit.multistart.fit_multistart` run the same optimiser step
with the same stopping rule; their settings are one :class:`FitOptions`,
read from a fit stage's config section by :meth:`FitOptions.from_config`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace


@dataclass(frozen=True)
class FitOptions:
    """How an optax fit steps and when it stops.

    Attributes:
        optimizer: Name in :data:`~tvbo_pipe.fit.optimize.OPTIMIZERS`.
        learning_rate: Step size in unconstrained units (a bounded parameter's
            unconstrained value is the logit of its position in its range).
        steps: Maximum number of optimiser steps.
        redraw_noise: Draw a new noise realisation every step (else the
            problem's one realisation is kept fixed).
        tol: Relative improvement of the best loss below which a step does not
            count as progress (dimensionless).
        patience: Stop after this many steps without progress; 0 never stops early.
        log_every: A progress line every this many steps (0: none).
        grad_mode: ``auto``, ``forward`` or ``reverse`` (see
            :func:`~tvbo_pipe.fit.optimize.resolve_grad_mode`).
    """

    optimizer: str = "adam"
    learning_rate: float = 0.01
    steps: int = 100
    redraw_noise: bool = False
    tol: float = 1e-5
    patience: int = 20
    log_every: int = 10
    grad_mode: str = "auto"

    @classmethod
    def from_config(cls, cfg: Mapping) -> FitOptions:
        """The options of a fit stage's config section (``fit_global``, ``fit_regional``).

        Keys other than the options (``parameters``, ``method``, ...) are
        ignored; a missing option keeps its default.
        """
        return cls(**{f.name: cfg[f.name] for f in fields(cls) if f.name in cfg})

    @classmethod
    def of(cls, options: FitOptions | None = None, **overrides) -> FitOptions:
        """``options`` (default: the defaults) with ``overrides`` replacing fields.

        Raises:
            TypeError: An override is not a field of :class:`FitOptions`.
        """
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise TypeError(
                f"unknown fit option(s) {', '.join(unknown)}; valid: {', '.join(sorted(names))}"
            )
        return replace(options if options is not None else cls(), **overrides)

    def to_dict(self) -> dict:
        """The options as plain keyword arguments."""
        return asdict(self)
