"""Generate TVB 2.10 reference simulations (whole runs of TVB's ``Simulator``).

Run from the repository root with the dev environment::

    /work/venv/bin/python tests/reference/make_tvb_sim_references.py [case ...]

For every case of :func:`all_cases` it runs TVB's ``Simulator`` with a
deterministic integrator and writes ``tests/reference/data/tvb_sim_<case>.npz``
(byte-for-byte reproducible: fixed seeds, fixed zip metadata). The test
``test_sim_vs_tvb.py`` rebuilds every case in ``tvbo_pipe`` and compares.

Network
    The first :data:`N_REGIONS` (16) regions of tvb-data's
    ``connectivity_76.zip`` (TVB's default connectome; the subset keeps the
    files small): the 16 x 16 blocks of its ``weights.txt`` (unnormalised,
    0-3, 135 nonzero connections, region 9 without afferents) and
    ``tract_lengths.txt`` (mm, up to 102 mm). Both are stored in every file.

Cases (:func:`all_cases`)
    - ``model_<Model>_nodelay`` / ``model_<Model>_delay``: every model of
      ``tvbo_pipe.models.MODELS`` with HeunDeterministic, TVB's default
      parameters except where a note says otherwise (to get non-trivial
      dynamics), its natural coupling, random initial conditions within TVB's
      ``state_variable_range`` (narrower where noted), speed = inf (TVB:
      1e10 mm/ms, all delays round to 0 steps) or 5 mm/ms; 1 s simulated,
      except LarterBreakspear (200 ms: chaotic) and the Epileptor (500 ms:
      sensitive spike timing); see ``MODEL_SETUPS`` for every choice and
      why. The per-case ``note`` is stored in the file.
    - ``integrator_<Euler|RK4>_Generic2dOscillator``: the other two
      deterministic schemes, with delays.
    - ``coupling_<Coupling>``: every coupling of
      ``tvbo_pipe.sim.coupling.COUPLINGS`` with delays (speeds 3-8 mm/ms).
    - ``monitors_nodelay``: Bold (period 500 ms, FirstOrderVolterra HRF),
      TemporalAverage and SubSample (50 ms) over 30 s at dt = 0.5 ms, no
      delays (the Bold signal starts with the transient from TVB's all-zero
      20 s stock).
    - ``monitors_delay``: the same monitors with delays over 4 s.

Time axes
    TVB starts a run at ``current_step = len(initial_conditions) - 1``. The
    initial history is constant (``x0`` at every one of the ``ic_len``
    time points, ``ic_len`` >= TVB's horizon), so TVB's step ``offset + k``
    corresponds to tvbo_pipe's step ``k`` with ``offset = ic_len - 1``;
    ``ic_len`` is the horizon, rounded up so that ``offset`` is a multiple of
    every monitor's sampling interval (SubSample, TemporalAverage and Bold
    sample at absolute steps that are multiples of their interval). The
    offset is stored (``tvb_step_offset``); TVB's times are stored as TVB
    returns them.

Precision
    TVB 2.10's history (``tvb/simulator/history.py``) declares its buffers
    float32 (``NDArray(..., 'f')``): the ring buffer of coupling variables,
    the weights and the coupling sums made with ``zeros_like`` of the buffer.
    With it, the coupling inputs carry float32 rounding (~1e-7 relative);
    measured against tvbo_pipe in float64 that gives relative state errors of
    1e-9..1e-7 over 1 s (the coupling is a small part of the derivative), and
    7e-5 for the chaotic LarterBreakspear case.
    :func:`tvb_float64_history` switches these descriptors to float64 while
    the references are made, so that TVB computes everything in float64 (the
    same code paths, just no float32 rounding); this is the only change to
    TVB. With it tvbo_pipe agrees with TVB to ~1e-13 (1e-9 for the
    chaotic/sensitive cases). ``simulate_tvb(case, float64_history=False)``
    runs TVB unpatched for comparison.

Raw traces are stored at a subset of the steps (``raw_index``, 0-based
indices into the run's steps: the first 10 steps, then every
``n_steps // 100``-th) to keep the files small; all state variables are
recorded (TVB's model ``variables_of_interest`` is set to all of them).
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import sys
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

DATA_DIR = Path(__file__).resolve().parent / "data"
N_REGIONS = 16
#: TVB speed (mm/ms) standing for "no delays": every delay rounds to 0 steps.
NO_DELAY_SPEED = 1e10
#: Raw steps stored at the start of every run (then every ``n_steps // RAW_SAMPLES``).
RAW_HEAD = 10
RAW_SAMPLES = 100


def _load_dfun_helpers():
    """The helpers of ``make_tvb_dfun_references.py`` (same module name as its tests use)."""
    name = "tvbo_pipe_tests_tvb_references"
    if name not in sys.modules:
        path = Path(__file__).resolve().parent / "make_tvb_dfun_references.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


refs = _load_dfun_helpers()


# --------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Monitor:
    type: str  # Raw, TemporalAverage, SubSample, Bold
    period: float | None = None
    variables: tuple[str, ...] = ()  # empty: all state variables (Raw only)

    @property
    def name(self) -> str:
        return self.type if self.period is None else f"{self.type}_{self.period:g}ms"


@dataclass(frozen=True)
class Case:
    """One reference simulation.

    ``model_params`` / ``coupling_params`` override TVB's defaults (values may
    be per region). ``ic_range`` narrows the range of the random initial
    conditions for some state variables (default: TVB's
    ``state_variable_range``).
    """

    name: str
    model: str
    coupling: str
    coupling_params: Mapping[str, Any] = field(default_factory=dict)
    model_params: Mapping[str, Any] = field(default_factory=dict)
    integrator: str = "Heun"
    dt: float = 0.1
    duration: float = 1000.0
    speed: float = math.inf
    ic_range: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    monitors: tuple[Monitor, ...] = (Monitor("Raw"),)
    note: str = ""


_G2D_OSC = {"a": 2.0}  # TVB's docstring (table 1): "limit cycle if a is 2.0"
_WC_OSC = {  # Wilson & Cowan (1972)-type limit cycle
    "c_ee": 16.0,
    "c_ie": 15.0,
    "c_ei": 12.0,
    "c_ii": 3.0,
    "a_e": 1.3,
    "b_e": 4.0,
    "a_i": 2.0,
    "b_i": 3.7,
    "P": 1.25,
    "tau_e": 8.0,
    "tau_i": 8.0,
}
_JR_IC = {  # 10 % of TVB's ranges: the full ranges (y1, y5 up to 500 mV) overflow the sigmoid
    "y0": (-0.1, 0.1),
    "y1": (-50.0, 50.0),
    "y2": (-5.0, 5.0),
    "y3": (-0.6, 0.6),
    "y4": (-2.0, 2.0),
    "y5": (-50.0, 50.0),
}

#: Per model: natural coupling, overrides, step, initial-condition ranges, note.
MODEL_SETUPS: dict[str, dict[str, Any]] = {
    "ReducedWongWang": dict(
        coupling="Linear",
        coupling_params={"a": 0.05},
        note="TVB defaults; multistable: nodes settle to low or high S (transient of ~1 s).",
    ),
    "ReducedWongWangExcInh": dict(
        coupling="Linear",
        coupling_params={"a": 0.01},
        note="TVB defaults; transient to per-node fixed points.",
    ),
    "Generic2dOscillator": dict(
        coupling="Linear",
        coupling_params={"a": 0.01},
        model_params=_G2D_OSC,
        note="a = 2 (TVB's docstring: limit cycle), other parameters TVB defaults.",
    ),
    "SupHopf": dict(
        coupling="Linear",
        coupling_params={"a": 0.01},
        model_params={"a": 0.2},
        ic_range={"x": (-1.0, 1.0), "y": (-1.0, 1.0)},
        note="a = 0.2 (limit cycle; TVB's default a = -0.5 is a damped focus); initial "
        "conditions in [-1, 1] (Heun at dt = 0.1 is unstable from |x| ~ 5).",
    ),
    "Kuramoto": dict(
        coupling="Kuramoto",
        coupling_params={"a": 0.05},
        note="TVB defaults (omega = 1), Kuramoto coupling a = 0.05, random initial phases; "
        "theta is not wrapped (grows ~1 rad/ms).",
    ),
    "JansenRit": dict(
        coupling="SigmoidalJansenRit",
        coupling_params={},
        ic_range=_JR_IC,
        note="TVB defaults, SigmoidalJansenRit coupling (defaults); initial conditions in "
        "10 % of TVB's ranges.",
    ),
    "WilsonCowan": dict(
        coupling="Linear",
        coupling_params={"a": 0.01},
        model_params=_WC_OSC,
        note="Wilson-Cowan limit-cycle parameters (TVB's defaults settle to a fixed point "
        "within 100 ms).",
    ),
    "MontbrioPazoRoxin": dict(
        coupling="Linear",
        coupling_params={"a": 0.05},
        dt=0.05,
        note="TVB defaults (bistable: nodes settle to the low or the high-activity fixed "
        "point within ~100 ms); dt = 0.05 ms.",
    ),
    "Epileptor": dict(
        coupling="Difference",
        coupling_params={"a": 0.1},
        model_params={"Kvf": 0.1, "Kf": 0.1, "Ks": -0.5},
        dt=0.05,
        duration=500.0,
        note="TVB defaults except the coupling gains (TVB's Kvf = Kf = Ks = 0 would leave the "
        "nodes uncoupled): Kvf = Kf = 0.1, Ks = -0.5 (permittivity coupling), Difference "
        "coupling a = 0.1; dt = 0.05 ms (stiff fast subsystem). 500 ms simulated: the spike "
        "timing of the fast subsystems depends sensitively on the state (even uncoupled, a "
        "relative perturbation of 1e-15 of the initial state grows to ~1e-10 in 500 ms and "
        "~1e-8 in 1 s; without delays TVB and tvbo_pipe then differ by 5e-8 at 1 s).",
    ),
    "LarterBreakspear": dict(
        coupling="Linear",
        coupling_params={"a": 0.01},
        ic_range={"V": (-0.3, 0.3), "W": (0.0, 0.4), "Z": (0.0, 0.2)},
        duration=200.0,
        note="TVB defaults; initial conditions V in [-0.3, 0.3], W in [0, 0.4], Z in [0, 0.2]: "
        "from TVB's full ranges (W < 0, Z > 0.35) some nodes leave the attractor (V, Z "
        "drift linearly without bound). Chaotic: a relative perturbation of 1e-15 of the "
        "initial state grows to ~1e-10 in 200 ms and ~1e-5 (no delays) or ~0.5 (delays) in "
        "1 s, so last-bit differences between TVB's and XLA's arithmetic do too; 200 ms "
        "simulated.",
    ),
}


#: Setup of a model missing from MODEL_SETUPS (a new model gets cases at once).
DEFAULT_SETUP: dict[str, Any] = dict(
    coupling="Linear", coupling_params={"a": 0.01}, note="TVB defaults (DEFAULT_SETUP)."
)


def _model_cases() -> list[Case]:
    from tvbo_pipe.models import MODELS

    cases = []
    for name in MODELS:
        setup = MODEL_SETUPS.get(name, DEFAULT_SETUP)
        for label, speed in (("nodelay", math.inf), ("delay", 5.0)):
            cases.append(Case(name=f"model_{name}_{label}", model=name, speed=speed, **setup))
    return cases


_G2D = dict(model="Generic2dOscillator", model_params=_G2D_OSC)

#: Coupling cases (all with delays).
COUPLING_CASES: dict[str, Case] = {
    c.coupling: c
    for c in (
        Case("coupling_Linear", coupling="Linear", coupling_params={"a": 0.02}, speed=3.0, **_G2D),
        Case(
            "coupling_Scaling", coupling="Scaling", coupling_params={"a": 0.01}, speed=5.0, **_G2D
        ),
        Case(
            "coupling_Difference",
            coupling="Difference",
            coupling_params={"a": 0.05},
            speed=5.0,
            **_G2D,
        ),
        Case(
            "coupling_Kuramoto",
            model="Kuramoto",
            model_params={"omega": tuple(np.round(np.linspace(0.8, 1.2, N_REGIONS), 6))},
            coupling="Kuramoto",
            coupling_params={"a": 0.3},
            speed=5.0,
            note="Per-region natural frequencies omega in [0.8, 1.2]; a = 0.3, where "
            "perturbations do not grow (with a = 0.1 the delayed network is chaotic: errors of "
            "1e-16 grow to 5e-3 in 1 s).",
        ),
        Case(
            "coupling_Sigmoidal",
            coupling="Sigmoidal",
            coupling_params={"sigma": 20.0},
            speed=5.0,
            **_G2D,
        ),
        Case(
            "coupling_SigmoidalJansenRit",
            model="JansenRit",
            coupling="SigmoidalJansenRit",
            coupling_params={"a": 2.0},
            speed=8.0,
            ic_range=_JR_IC,
        ),
        Case(
            "coupling_HyperbolicTangent",
            coupling="HyperbolicTangent",
            coupling_params={"a": 0.02},
            speed=5.0,
            **_G2D,
        ),
        Case(
            "coupling_PreSigmoidal",
            model="WilsonCowan",
            model_params=_WC_OSC,
            coupling="PreSigmoidal",
            coupling_params={"H": 0.02},
            speed=5.0,
            note="Dynamic threshold (TVB's default): the second coupling variable (I) is the "
            "threshold; WilsonCowan has the two coupling variables it needs.",
        ),
    )
}

INTEGRATOR_CASES = [
    Case(f"integrator_{scheme}_Generic2dOscillator", integrator=scheme, speed=5.0,
         coupling="Linear", coupling_params={"a": 0.01}, **_G2D)
    for scheme in ("Euler", "RK4")
]  # fmt: skip

_MONITORS = (
    Monitor("Raw"),
    Monitor("TemporalAverage", 50.0, ("V",)),
    Monitor("SubSample", 50.0, ("V",)),
    Monitor("Bold", 500.0, ("V",)),
)
MONITOR_CASES = [
    Case(
        "monitors_nodelay",
        coupling="Linear",
        coupling_params={"a": 0.01},
        dt=0.5,
        duration=30000.0,
        monitors=_MONITORS,
        note="30 s at dt = 0.5 ms: Bold from its zero stock through the 20 s HRF window.",
        **_G2D,
    ),
    Case(
        "monitors_delay",
        coupling="Linear",
        coupling_params={"a": 0.01},
        dt=0.5,
        duration=4000.0,
        speed=5.0,
        monitors=_MONITORS,
        **_G2D,
    ),
]


def all_cases() -> dict[str, Case]:
    cases = _model_cases() + list(COUPLING_CASES.values()) + INTEGRATOR_CASES + MONITOR_CASES
    return {c.name: c for c in cases}


# --------------------------------------------------------------------------- TVB


@contextlib.contextmanager
def tvb_float64_history():
    """Make TVB's history arrays float64 (they are declared float32 in TVB 2.10).

    Switches the dtype of every float32 ``NDArray`` descriptor of
    ``BaseHistory``, ``DenseHistory`` and ``SparseHistory`` (buffer, weights,
    current/delayed state) to float64 and restores them on exit. Histories
    created inside the block keep float64 arrays.
    """
    from tvb.simulator import history

    changed = []
    for cls in (history.BaseHistory, history.DenseHistory, history.SparseHistory):
        for attr in vars(cls).values():
            if isinstance(attr, history.NDArray) and np.dtype(attr.dtype) == np.float32:
                changed.append((attr, attr.dtype))
                attr.dtype = np.float64
    try:
        yield
    finally:
        for attr, dtype in changed:
            attr.dtype = dtype


def load_connectome() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(weights, lengths, labels, centres)`` of the first N_REGIONS regions of tvb76."""
    import tvb_data.connectivity

    path = Path(tvb_data.connectivity.__file__).parent / "connectivity_76.zip"
    with zipfile.ZipFile(path) as zf:
        w = np.loadtxt(zf.open("weights.txt"))
        lengths = np.loadtxt(zf.open("tract_lengths.txt"))
        centres = zf.read("centres.txt").decode().split("\n")
    rows = [line.split() for line in centres if line.strip()]
    labels = np.array([r[0] for r in rows])
    xyz = np.array([[float(v) for v in r[1:4]] for r in rows])
    n = N_REGIONS
    return w[:n, :n].copy(), lengths[:n, :n].copy(), labels[:n].copy(), xyz[:n].copy()


def initial_state(case: Case) -> np.ndarray:
    """Random ``x0`` ``(n_sv, n)`` within TVB's ranges (or ``case.ic_range``)."""
    model = refs.tvb_model_class(case.model)()
    rng = refs.rng_for(case.name, "sim")
    rows = []
    for sv in model.state_variables:
        lo, hi = case.ic_range.get(sv, model.state_variable_range[sv])
        rows.append(rng.uniform(float(lo), float(hi), N_REGIONS))
    return np.stack(rows)


def model_parameters(case: Case) -> dict[str, np.ndarray]:
    """All of TVB's model parameters (defaults with the case's overrides)."""
    out = {}
    for name, trait in refs.tvb_model_parameters(case.model).items():
        value = case.model_params.get(name, refs._trait_default(trait))
        out[name] = np.asarray(value, dtype=float)
    return out


def coupling_parameters(case: Case) -> dict[str, np.ndarray]:
    out = {}
    for name, trait in refs.tvb_coupling_parameters(case.coupling).items():
        value = case.coupling_params.get(name, refs._trait_default(trait))
        out[name] = np.asarray(value, dtype=float)
    return out


def _tvb_model(case: Case, params: Mapping[str, np.ndarray]):
    from tvb.simulator.models.base import ModelNumbaDfun

    cls = refs.tvb_model_class(case.model)
    column = not issubclass(cls, ModelNumbaDfun)
    model = refs._configured_tvb_model(case.model, params, column=column)
    model.variables_of_interest = tuple(model.state_variables)  # Raw records every variable
    return model


def _tvb_coupling(case: Case, params: Mapping[str, np.ndarray]):
    traits = refs.tvb_coupling_parameters(case.coupling)
    kwargs = {}
    for name, value in params.items():
        if refs._is_bool_trait(traits[name]):
            kwargs[name] = bool(value)
        else:
            kwargs[name] = np.atleast_1d(np.asarray(value, dtype=float))
    return refs.tvb_coupling_class(case.coupling)(**kwargs)


def _tvb_monitor(mon: Monitor, state_variables: list[str]):
    from tvb.simulator import monitors

    if mon.type == "Raw":
        return monitors.Raw()
    voi = np.array([state_variables.index(v) for v in mon.variables])
    cls = getattr(monitors, mon.type)
    return cls(period=mon.period, variables_of_interest=voi)


def raw_index(n_steps: int) -> np.ndarray:
    """0-based step indices of the stored Raw samples."""
    stride = max(1, n_steps // RAW_SAMPLES)
    idx = np.arange(stride - 1, n_steps, stride)
    return np.unique(np.concatenate([np.arange(min(RAW_HEAD, n_steps)), idx, [n_steps - 1]]))


def simulate_tvb(case: Case, *, float64_history: bool = True) -> dict[str, np.ndarray]:
    """Run a case through TVB's Simulator; the arrays stored in its ``.npz``.

    ``float64_history=False`` runs TVB unpatched (float32 history), for
    comparison only: the stored references are made in float64.
    """
    import importlib.metadata

    from tvb.datatypes.connectivity import Connectivity
    from tvb.simulator import integrators, simulator

    weights, lengths, labels, centres = load_connectome()
    x0 = initial_state(case)
    mparams = model_parameters(case)
    cparams = coupling_parameters(case)
    dt = case.dt
    n_steps = round(case.duration / dt)
    tvb_speed = case.speed if math.isfinite(case.speed) else NO_DELAY_SPEED
    horizon = int(np.rint(lengths / tvb_speed / dt).max()) + 1
    isteps = [round(m.period / dt) for m in case.monitors if m.period is not None]
    isteps += [round(4.0 / dt) for m in case.monitors if m.type == "Bold"]  # interim sampling
    period = math.lcm(*isteps) if isteps else 1
    offset = -(-(horizon - 1) // period) * period  # >= horizon - 1, multiple of every interval
    ic_len = offset + 1
    n_sv = x0.shape[0]
    ic = np.broadcast_to(x0[None, :, :, None], (ic_len, n_sv, N_REGIONS, 1)).copy()
    scheme = {
        "Euler": integrators.EulerDeterministic,
        "Heun": integrators.HeunDeterministic,
        "RK4": integrators.RungeKutta4thOrderDeterministic,
    }[case.integrator]
    precision = tvb_float64_history() if float64_history else contextlib.nullcontext()
    with precision:
        conn = Connectivity(
            weights=weights,
            tract_lengths=lengths,
            region_labels=labels,
            centres=centres,
            speed=np.array([tvb_speed]),
        )
        model = _tvb_model(case, mparams)
        sim = simulator.Simulator(
            model=model,
            connectivity=conn,
            coupling=_tvb_coupling(case, cparams),
            integrator=scheme(dt=dt),
            monitors=[_tvb_monitor(m, list(model.state_variables)) for m in case.monitors],
            initial_conditions=ic,
            simulation_length=case.duration,
        )
        sim.configure()
        assert sim.connectivity.horizon == horizon, (sim.connectivity.horizon, horizon)
        assert sim.current_step == offset
        if float64_history:
            assert sim.history.buffer.dtype == np.float64
            assert sim.history.nnz_weights.dtype == np.float64
        with np.errstate(over="ignore"):
            results = sim.run(n_steps=n_steps)
    out: dict[str, Any] = {
        "case": np.array(case.name),
        "note": np.array(case.note),
        "tvb_version": np.array(importlib.metadata.version("tvb-library")),
        "tvb_data_version": np.array(importlib.metadata.version("tvb-data")),
        "numpy_version": np.array(np.__version__),
        "connectome": np.array(f"tvb-data connectivity_76.zip, regions 0-{N_REGIONS - 1}"),
        "model": np.array(case.model),
        "coupling": np.array(case.coupling),
        "integrator": np.array(case.integrator),
        "dt": np.array(dt),
        "duration": np.array(case.duration),
        "n_steps": np.array(n_steps),
        "speed": np.array(case.speed),
        "tvb_speed": np.array(tvb_speed),
        "tvb_horizon": np.array(horizon),
        "tvb_step_offset": np.array(offset),
        "weights": weights,
        "lengths": lengths,
        "labels": labels,
        "state_variables": np.array(list(model.state_variables)),
        "x0": x0,
        "monitors": np.array([m.name for m in case.monitors]),
    }
    for k, v in mparams.items():
        out[f"model_param_{k}"] = v
    for k, v in cparams.items():
        out[f"coupling_param_{k}"] = v
    for mon, (t, x) in zip(case.monitors, results, strict=True):
        x = np.asarray(x, dtype=float)[..., 0]  # (time, var, node)
        t = np.asarray(t, dtype=float)
        if not np.all(np.isfinite(x)):
            raise RuntimeError(f"{case.name}: TVB's {mon.name} output is not finite")
        key = mon.name
        if mon.type == "Raw":
            idx = raw_index(n_steps)
            out["raw_index"] = idx
            t, x = t[idx], x[idx]
        out[f"{key}_type"] = np.array(mon.type)
        out[f"{key}_period"] = np.array(np.nan if mon.period is None else mon.period)
        out[f"{key}_variables"] = np.array(list(mon.variables or model.state_variables))
        out[f"{key}_time"] = t
        out[f"{key}_data"] = x
    return out


def main(argv: list[str]) -> None:
    cases = all_cases()
    names = argv or list(cases)
    for name in names:
        path = DATA_DIR / f"tvb_sim_{name}.npz"
        refs.save_npz(path, simulate_tvb(cases[name]))
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main(sys.argv[1:])
