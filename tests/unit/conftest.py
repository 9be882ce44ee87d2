"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from tvbo_pipe.connectome import Connectome
from tvbo_pipe.experiment import Experiment
from tvbo_pipe.fit.problem import FitProblem, build_problem


def _small_bold_problem(realisations: int = 1, n: int = 5) -> FitProblem:
    rng = np.random.default_rng(3)
    w = rng.uniform(0, 1, (n, n))
    w = (w + w.T) / 2
    np.fill_diagonal(w, 0)
    conn = Connectome(w / w.max(), None, tuple(f"R{k}" for k in range(n)))
    exp = Experiment.from_dict(
        {
            "model": {"name": "ReducedWongWang", "parameters": {"w": 0.5, "I_o": 0.32}},
            "coupling": {"name": "Linear", "parameters": {"a": 0.5}},
            "integration": {"method": "Heun", "dt": 4.0, "duration": 40000.0,
                            "noise": {"sigma": 0.00283}, "seed": 5},
            "monitors": [{"type": "Bold", "period": 1000.0}],
        }
    )  # fmt: skip
    fc_emp = np.corrcoef(rng.normal(size=(n, 50)))
    return build_problem(exp, conn, fc_emp, transient_ms=5000.0, realisations=realisations)


@pytest.fixture
def small_bold_problem() -> Callable[..., FitProblem]:
    """Factory ``(realisations=1, n=5) -> FitProblem``: a noisy Reduced Wong-Wang
    network of ``n`` random regions, 40 s at dt 4 ms, a 1 s Bold monitor, 5 s
    transient, against a random empirical FC (same seeds every call)."""
    return _small_bold_problem
