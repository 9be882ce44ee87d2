"""The monitor kinds: what each monitor type is, without JAX.

One entry per kind in :data:`MONITOR_KINDS`; the experiment's validation
(:mod:`tvbo_pipe.experiment`, imported when the Snakefile is parsed) reads
the names and metadata here, and :mod:`tvbo_pipe.sim.monitors` holds how the
simulator computes each kind (its ``MONITOR_RULES`` has the same keys). Callers
ask a kind (``kind.bold``, ``kind.periodic``) instead of comparing type names.

Adding a monitor: one :class:`MonitorKind` here and one rule in
:mod:`tvbo_pipe.sim.monitors`; the registry tests then cover it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: TVB's interim sampling of the Bold monitor, ms (``_stock_sample_rate = 0.25 /ms``).
BOLD_INTERIM_PERIOD = 4.0
#: TVB's HRF kernel length, ms.
BOLD_HRF_LENGTH = 20000.0
#: HRF kernels of a BOLD monitor: TVB's default linear kernel, the nonlinear balloon model.
HRF_KERNELS = ("FirstOrderVolterra", "BalloonWindkessel")


@dataclass(frozen=True)
class MonitorKind:
    """One monitor type.

    Attributes:
        name: The type name used in experiment files (``monitors[k].type``).
        description: One line: what it records.
        periodic: Whether it needs ``period`` (ms); otherwise it samples every step.
        averages: Whether a sample is a mean over its period (else the state at
            the sample time), unless ``replace_temporal_averaging`` is set.
        bold: A BOLD signal: the monitored variables through a haemodynamic
            response (``hrf``, one of :data:`HRF_KERNELS`), with a pre-history
            ("stock") of :attr:`stock_length` interim samples carried in the state.
        time_offset: Where a sample sits in its period, as a fraction of the
            period before the period's end (TVB puts a mean at the middle: 0.5).
    """

    name: str
    description: str
    periodic: bool
    averages: bool = False
    bold: bool = False
    time_offset: float = 0.0

    @property
    def stock_length(self) -> int:
        """Interim (4 ms) samples of pre-history a BOLD monitor carries (0 for others)."""
        return math.ceil(BOLD_HRF_LENGTH / BOLD_INTERIM_PERIOD) if self.bold else 0

    @property
    def hrf_kernels(self) -> tuple[str, ...]:
        """The valid ``hrf`` values (empty when the kind has no HRF)."""
        return HRF_KERNELS if self.bold else ()


#: name -> kind, in the order the documentation lists them.
MONITOR_KINDS: dict[str, MonitorKind] = {
    k.name: k
    for k in (
        MonitorKind("Raw", "Every integration step.", periodic=False),
        MonitorKind("SubSample", "The state at the end of every period.", periodic=True),
        MonitorKind(
            "TemporalAverage",
            "The mean state over every period, time-stamped at the period's middle.",
            periodic=True,
            averages=True,
            time_offset=0.5,
        ),
        MonitorKind(
            "Bold",
            "TVB's BOLD monitor: 4 ms means through an HRF, sampled every period.",
            periodic=True,
            averages=True,
            bold=True,
        ),
    )
}


def get_monitor_kind(name: str) -> MonitorKind:
    """The kind called ``name``.

    Raises:
        KeyError: Unknown name (the message lists the valid ones).
    """
    try:
        return MONITOR_KINDS[name]
    except KeyError:
        raise KeyError(f"unknown monitor {name!r}; valid: {', '.join(MONITOR_KINDS)}") from None


__all__ = [
    "BOLD_HRF_LENGTH",
    "BOLD_INTERIM_PERIOD",
    "HRF_KERNELS",
    "MONITOR_KINDS",
    "MonitorKind",
    "get_monitor_kind",
]
