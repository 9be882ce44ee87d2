"""Multi-start and CMA-ES global fits, the FCD loss term and the Laplace approximation."""

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tvbo_pipe.connectome import Connectome
from tvbo_pipe.errors import ConfigError, InputError
from tvbo_pipe.experiment import Experiment
from tvbo_pipe.fit import losses
from tvbo_pipe.fit.cmaes import fit_cmaes
from tvbo_pipe.fit.maps import MappedSpace, build_space, fc_gradient, parse_maps
from tvbo_pipe.fit.methods import multistart_points
from tvbo_pipe.fit.multistart import fit_multistart, make_batched_step, stack_trees
from tvbo_pipe.fit.observations import fcd, upper_triangle
from tvbo_pipe.fit.optimize import FitState, make_optimizer, strong, value_and_grad
from tvbo_pipe.fit.parameters import ParameterSpace, parse_free_parameters
from tvbo_pipe.fit.problem import build_problem
from tvbo_pipe.fit.screening import PASSED, SATURATED, SILENT, make_screen
from tvbo_pipe.fit.uncertainty import laplace


def _space(spec=None):
    spec = spec or {"model.w": [0.0, 2.0], "coupling.a": [0.0, 1.0]}
    state = {"model": {"w": jnp.asarray(0.5)}, "coupling": {"a": jnp.asarray(0.5)}}
    return ParameterSpace.build(parse_free_parameters(spec, key="t"), state, 3)


def _two_basins(values, key):
    """A shallow minimum at w = 0.3 (loss 0.5) and the global one at w = 1.6 (loss 0)."""
    w, a = values["model.w"], values["coupling.a"]
    return (
        1.0
        - 0.5 * jnp.exp(-(((w - 0.3) / 0.2) ** 2))
        - jnp.exp(-(((w - 1.6) / 0.2) ** 2))
        + 4 * (a - 0.25) ** 2
    )


def test_multistart_keeps_the_best_start_and_reports_every_start():
    s = _space()
    starts = [{"model.w": 0.3, "coupling.a": 0.8}, {"model.w": 1.4, "coupling.a": 0.1}]
    ms = fit_multistart(
        _two_basins, s, starts, key=jax.random.key(0), learning_rate=0.1, steps=300,
        tol=1e-9, patience=30,
    )  # fmt: skip
    assert len(ms.runs) == 2 and ms.best == 1
    assert ms.runs[0].loss == pytest.approx(0.5, abs=1e-3)  # stuck in the shallow basin
    assert ms.result.values["model.w"] == pytest.approx(1.6, abs=1e-3)
    assert ms.result.loss < 1e-6
    for run in ms.runs:
        assert len(run.trajectory) == run.steps == len(run.losses)
        assert run.losses[0] > run.loss


def test_multistart_equals_single_fits_and_compiles_once():
    from tvbo_pipe.fit.optimize import fit

    s = _space()
    starts = [{"model.w": 0.3, "coupling.a": 0.8}, {"model.w": 1.4, "coupling.a": 0.1}]
    kw = dict(key=jax.random.key(0), learning_rate=0.05, steps=15, patience=0)
    ms = fit_multistart(_two_basins, s, starts, **kw)
    for start, run in zip(starts, ms.runs, strict=True):
        single = fit(_two_basins, s, start, **kw)
        np.testing.assert_allclose(run.losses, single.losses, rtol=1e-10)
    opt = make_optimizer("adam", 0.05)
    zero = jnp.asarray(0, jnp.int32)
    states = []
    for st in starts:
        u = strong(s.to_unconstrained(st))
        states.append(strong(FitState(u, opt.init(u), zero, zero)))
    step = make_batched_step(_two_basins, s, opt)
    state = stack_trees(states)
    for _ in range(4):
        state, loss, finite, _ = step(state, jax.random.key(0))
    assert loss.shape == (2,) and bool(finite.all())
    assert step._cache_size() == 1


def test_fit_options_are_one_set_shared_by_fit_and_multistart():
    from tvbo_pipe.fit.optimize import fit
    from tvbo_pipe.fit.options import FitOptions

    cfg = {"parameters": {}, "method": "multistart", "optimizer": "adam", "learning_rate": 0.05,
           "steps": 6, "redraw_noise": False, "tol": 1e-4, "patience": 0, "log_every": 0}  # fmt: skip
    opts = FitOptions.from_config(cfg)
    assert opts == FitOptions(learning_rate=0.05, steps=6, tol=1e-4, patience=0, log_every=0)
    assert FitOptions.of(opts, steps=3).steps == 3 and opts.steps == 6
    with pytest.raises(TypeError, match="lerning_rate"):
        FitOptions.of(opts, lerning_rate=0.1)
    s, start = _space(), {"model.w": 0.3, "coupling.a": 0.8}
    single = fit(_two_basins, s, start, key=jax.random.key(0), options=opts)
    ms = fit_multistart(_two_basins, s, [start], key=jax.random.key(0), options=opts)
    by_kw = fit(_two_basins, s, start, key=jax.random.key(0), **opts.to_dict())
    assert single.steps == ms.runs[0].steps == 6
    np.testing.assert_allclose(ms.runs[0].losses, single.losses, rtol=1e-10)
    np.testing.assert_array_equal(by_kw.losses, single.losses)
    with pytest.raises(TypeError, match="unknown fit option"):
        fit_multistart(_two_basins, s, [start], key=jax.random.key(0), lr=0.1)


def test_cmaes_finds_the_minimum_and_compiles_once():
    def quad(v, key):
        return (v["model.w"] - 1.3) ** 2 + 4 * (v["coupling.a"] - 0.25) ** 2

    res = fit_cmaes(
        quad, _space(), {"model.w": 0.5, "coupling.a": 0.8}, key=jax.random.key(0),
        generations=60, sigma=0.5, patience=0,
    )  # fmt: skip
    assert res.values["model.w"] == pytest.approx(1.3, abs=1e-3)
    assert res.values["coupling.a"] == pytest.approx(0.25, abs=1e-3)
    assert res.extra["compiled"] == 1 and res.steps == 61  # the start, then 60 generations
    assert res.extra["evaluations"] == 1 + 60 * res.extra["population"]
    assert res.trajectory[0] == {"model.w": pytest.approx(0.5), "coupling.a": pytest.approx(0.8)}


def test_cmaes_never_returns_worse_than_its_start():
    def spike(v, key):  # a narrow well at the start, higher everywhere around it
        return 1.0 - 0.5 * jnp.exp(-(((v["model.w"] - 0.5) / 1e-4) ** 2))

    res = fit_cmaes(spike, _space({"model.w": [0.0, 2.0]}), {"model.w": 0.5},
                    key=jax.random.key(0), generations=5, patience=0)  # fmt: skip
    assert res.loss == pytest.approx(0.5) and res.values["model.w"] == pytest.approx(0.5)


def test_cmaes_survives_non_finite_losses():
    def nan_left(v, key):
        return jnp.where(v["model.w"] < 0.8, jnp.nan, (v["model.w"] - 1.3) ** 2)

    res = fit_cmaes(
        nan_left, _space({"model.w": [0.0, 2.0]}), {"model.w": 1.0}, key=jax.random.key(0),
        generations=40, patience=0,
    )  # fmt: skip
    assert np.isfinite(res.loss) and res.values["model.w"] == pytest.approx(1.3, abs=1e-2)


def test_multistart_points_rank_then_sobol_without_repeats():
    s = _space()
    start = {"model.w": 0.5, "coupling.a": 0.5}
    ranked = [
        {"model.w": 0.5, "coupling.a": 0.5, "loss": 0.1},  # the start again: skipped
        {"model.w": 1.0, "coupling.a": 0.2, "loss": 0.2},
    ]
    pts = multistart_points(s, start, ranked, 5)
    assert len(pts) == 5
    assert pts[0] == start and pts[1] == {"model.w": 1.0, "coupling.a": 0.2}
    for p in pts[2:]:
        assert 0.0 <= p["model.w"] <= 2.0 and 0.0 <= p["coupling.a"] <= 1.0
    assert len({tuple(p.values()) for p in pts}) == 5


def test_energy_distance():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=300), rng.normal(0.5, 1.0, size=200)
    assert float(losses.energy_distance(a, a)) == pytest.approx(0.0, abs=1e-12)
    d = float(losses.energy_distance(jnp.asarray(a), jnp.asarray(b)))
    # 1-D identity: the energy distance is 2 * integral of (F_a - F_b)^2
    grid = np.linspace(-6, 7, 200001)
    fa = np.searchsorted(np.sort(a), grid, side="right") / a.size
    fb = np.searchsorted(np.sort(b), grid, side="right") / b.size
    assert d == pytest.approx(2 * np.trapezoid((fa - fb) ** 2, grid), rel=1e-3)
    g = jax.grad(lambda x: losses.energy_distance(x, jnp.asarray(b)))(jnp.asarray(a))
    assert np.all(np.isfinite(g)) and np.any(g != 0)
    big = rng.normal(size=5000)
    assert losses.quantile_summary(jnp.asarray(big)).shape == (losses.FCD_QUANTILES,)


def _conn(n=5):
    rng = np.random.default_rng(3)
    w = rng.uniform(0, 1, (n, n))
    w = (w + w.T) / 2
    np.fill_diagonal(w, 0)
    return Connectome(w / w.max(), None, tuple(f"R{k}" for k in range(n)))


def _problem(fcd_weight=0.0, realisations=1, n=5):
    rng = np.random.default_rng(4)
    conn = _conn(n)
    exp = Experiment.from_dict(
        {
            "model": {"name": "ReducedWongWang", "parameters": {"w": 0.5, "I_o": 0.32}},
            "coupling": {"name": "Linear", "parameters": {"a": 0.5}},
            "integration": {"method": "Heun", "dt": 4.0, "duration": 35000.0,
                            "noise": {"sigma": 0.00283}, "seed": 5},
            "monitors": [{"type": "Bold", "period": 1000.0}],
        }
    )  # fmt: skip
    ts = rng.normal(size=(35, n))
    return build_problem(
        exp, conn, np.corrcoef(ts.T), transient_ms=5000.0, realisations=realisations,
        loss_weights={"corr": 1.0, "rmse": 1.0, "fcd": fcd_weight},
        fcd_emp=np.asarray(fcd(jnp.asarray(ts), 20, 5)), fcd_window_ms=20000.0,
        fcd_step_ms=5000.0,
    )  # fmt: skip


def test_fcd_term_of_the_loss():
    p1 = _problem(0.7)
    assert p1.fcd_window == 20 and p1.fcd_step == 5
    bold = p1.bold(p1.state).data[p1.transient :, 0]
    sim_vals = upper_triangle(fcd(bold, 20, 5))
    fc_loss = losses.combined(p1.simulated_fc(p1.state), p1.fc_emp)
    expected = float(fc_loss) + 0.7 * float(losses.fcd_energy(sim_vals, p1.fcd_emp))
    assert float(p1.loss_of_state(p1.state)) == pytest.approx(expected, rel=1e-10)
    space = ParameterSpace.build(
        parse_free_parameters({"coupling.a": [0.0, 1.5]}, key="t"), p1.state, 5
    )
    _, g = value_and_grad(p1.loss_fn(space, fixed_noise=True), "forward")(
        {"coupling.a": jnp.asarray(0.5)}, p1.key
    )
    assert np.isfinite(float(g["coupling.a"])) and float(g["coupling.a"]) != 0.0
    with pytest.raises(ConfigError, match="fcd"):
        build_problem(
            p1.experiment, Connectome(np.ones((5, 5)) - np.eye(5), None, tuple("abcde")),
            np.eye(5), transient_ms=5000.0, loss_weights={"fcd": 1.0},
        )  # fmt: skip


@dataclass
class _FakeProblem:
    """Just what :func:`laplace` reads: ``loss_fn``, ``key`` and ``fc_emp``."""

    fun: object
    key: jax.Array
    fc_emp: jax.Array

    def loss_fn(self, space, *, fixed_noise=False):
        return lambda values, key: self.fun(values)


def test_laplace_standard_errors_of_a_known_quadratic():
    s = _space()

    def loss(v):  # minimum 1 at (1, 0.5); loss Hessian diag(2, 8), off-diagonal 1
        dw, da = v["model.w"] - 1.0, v["coupling.a"] - 0.5
        return 1.0 + dw**2 + 4 * da**2 + dw * da

    m = 10
    lap = laplace(_FakeProblem(loss, jax.random.key(0), jnp.zeros((m, m))), s,
                  {"model.w": 1.0, "coupling.a": 0.5}, realisations=2)  # fmt: skip
    h = 0.5 * m * np.array([[2.0, 1.0], [1.0, 8.0]])  # (m/2) H_L / L at L = 1, gradient 0
    cov = np.linalg.inv(h)
    order = [lap.names.index("model.w"), lap.names.index("coupling.a")]
    np.testing.assert_allclose(lap.hessian[np.ix_(order, order)], h, rtol=1e-10)
    np.testing.assert_allclose(lap.standard_errors[order], np.sqrt(np.diag(cov)), rtol=1e-10)
    assert lap.warnings == [] and lap.approximation == "hessian"
    js = lap.to_json()
    assert set(js["StandardErrors"]) == {"model.w", "coupling.a"}
    assert js["Approximation"] == "hessian" and js["LeftOutDirections"] == []


def test_laplace_pseudo_inverse_when_only_a_sum_is_identifiable():
    def ridge(v):  # exactly flat along w - a: the Hessian has a zero eigenvalue
        return 1.0 + (v["model.w"] + v["coupling.a"] - 1.0) ** 2

    m = 6
    lap = laplace(_FakeProblem(ridge, jax.random.key(0), jnp.zeros((m, m))), _space(),
                  {"model.w": 0.5, "coupling.a": 0.5}, realisations=1)  # fmt: skip
    # H = (m/2) * 2 [[1, 1], [1, 1]]: eigenvalue 2m along (1, 1)/sqrt 2, 0 along (1, -1)/sqrt 2
    np.testing.assert_allclose(lap.hessian, m * np.ones((2, 2)), rtol=1e-10)
    assert lap.approximation == "pseudo-inverse"
    np.testing.assert_allclose(lap.covariance, np.ones((2, 2)) / (4 * m), rtol=1e-8)
    np.testing.assert_allclose(lap.standard_errors, [0.5 / np.sqrt(m)] * 2, rtol=1e-8)
    (direction,) = lap.left_out
    assert direction["Vector"] == {
        "coupling.a": pytest.approx(2**-0.5),
        "model.w": pytest.approx(-(2**-0.5)),
    }
    assert abs(direction["Curvature"]) < 1e-8 and direction["Kind"] == "flat"
    assert any("not identifiable along +0.707 coupling.a -0.707 model.w" in w for w in lap.warnings)
    assert any("not identifiable separately (correlation 1.000)" in w for w in lap.warnings)
    js = lap.to_json()
    assert js["Approximation"] == "pseudo-inverse"
    assert all(v is not None for v in js["StandardErrors"].values())


def test_laplace_pseudo_inverse_at_a_saddle():
    def saddle(v):  # a minimum in w, a maximum in a: the Hessian has a negative eigenvalue
        dw, da = v["model.w"] - 1.0, v["coupling.a"] - 0.5
        return 1.0 + dw**2 - 0.5 * da**2

    m = 8
    lap = laplace(_FakeProblem(saddle, jax.random.key(0), jnp.zeros((m, m))), _space(),
                  {"model.w": 1.0, "coupling.a": 0.5}, realisations=1)  # fmt: skip
    assert lap.approximation == "pseudo-inverse"
    (direction,) = lap.left_out
    assert direction["Vector"] == {"coupling.a": pytest.approx(1.0), "model.w": pytest.approx(0.0)}
    assert (
        direction["Curvature"] == pytest.approx(-0.5 * m) and direction["Kind"] == "not a minimum"
    )
    w = lap.names.index("model.w")
    assert lap.standard_errors[w] == pytest.approx(1 / np.sqrt(m))  # 1 / sqrt((m/2) * 2)
    js = lap.to_json()
    assert js["StandardErrors"]["coupling.a"] is None  # only in the left-out direction
    assert any("not positive definite" in x and "not a minimum along +1.000 coupling.a" in x
               for x in lap.warnings)  # fmt: skip


def test_laplace_warns_about_unidentifiable_parameters():
    def ridge(v):  # only w + a matters (plus a tiny w term)
        return 1.0 + (v["model.w"] + v["coupling.a"] - 1.0) ** 2 + 1e-4 * (v["model.w"] - 0.5) ** 2

    lap = laplace(_FakeProblem(ridge, jax.random.key(0), jnp.zeros((4, 4))), _space(),
                  {"model.w": 0.5, "coupling.a": 0.5}, realisations=1)  # fmt: skip
    assert any("not identifiable" in w for w in lap.warnings)
    assert abs(lap.correlation[0, 1]) > 0.95


def test_fc_gradient_follows_a_spatial_axis():
    x = np.linspace(0, 1, 40)  # regions along an axis; FC falls off with distance
    fc_ = np.exp(-(((x[:, None] - x[None, :]) / 0.3) ** 2))
    g = fc_gradient(fc_)
    assert g.shape == (40,) and 0 < np.abs(g).max() <= 1.0
    g = g * np.sign(g[-1] - g[0])
    # it runs along the axis: from one end (-) to the other (+)
    assert g[0] < -0.9 and g[-1] > 0.9 and np.corrcoef(g, x)[0, 1] > 0.98
    np.testing.assert_allclose(fc_gradient(fc_[::-1, ::-1]), g[::-1], atol=1e-8)


def test_mapped_space_ties_a_regional_parameter_to_maps(tmp_path):
    labels = ("A", "B", "C", "D")
    tsv = tmp_path / "myelin.tsv"
    tsv.write_text("label\tvalue\nD\t4\nB\t2\nA\t1\nC\t3\n")
    spec = {"model.w": {"low": 0.0, "high": 1.5, "maps": [str(tsv)]}, "model.I_o": [0.0, 0.6]}
    free = parse_free_parameters(spec, key="fit_regional.parameters", regional=True)
    state = {"model": {"w": jnp.asarray(0.5), "I_o": jnp.asarray(0.3)}, "coupling": {}}
    sp = build_space(free, parse_maps(spec, key="k"), state, labels, np.eye(4))
    assert isinstance(sp, MappedSpace)
    assert set(sp.paths) == {"model.w", "model.w@myelin", "model.I_o"}
    start = sp.current(state)
    assert float(start["model.w"]) == 0.5 and float(start["model.w@myelin"]) == 0.0
    values = {**start, "model.w@myelin": jnp.asarray(0.1)}
    z = (np.arange(1, 5) - 2.5) / np.std(np.arange(1, 5))
    np.testing.assert_allclose(sp.expand(values)["model.w"], 0.5 + 0.1 * z, rtol=1e-12)
    big = {**start, "model.w@myelin": jnp.asarray(5.0)}
    w_big = np.asarray(sp.expand(big)["model.w"])
    assert w_big.min() == 0.0 and w_big.max() == 1.5  # clipped into the bounds
    new = sp.apply(state, values)
    assert new["model"]["w"].shape == (4,) and new["model"]["I_o"].shape == (4,)
    # the unconstrained round trip keeps every free value
    back = sp.to_values(sp.to_unconstrained(values))
    for p in sp.paths:
        np.testing.assert_allclose(back[p], values[p], rtol=1e-9, atol=1e-12)
    bad = tmp_path / "short.tsv"
    bad.write_text("label\tvalue\nA\t1\n")
    with pytest.raises(InputError, match="lacks regions"):
        build_space(free, {"model.w": [str(bad)]}, state, labels, np.eye(4))


def test_screen_rejects_silent_and_saturated_regimes():
    p = _problem()
    conn = _conn()
    spec = {"coupling.a": [0.0, 10.0], "model.w": [0.0, 2.0], "model.I_o": [0.0, 1.0]}
    sp = ParameterSpace.build(parse_free_parameters(spec, key="t"), p.state, 5)
    screen = make_screen(p.experiment, conn, sp, duration_ms=2000.0)
    pts = {"coupling.a": np.array([0.5, 5.0, 0.0]), "model.w": np.array([0.5, 1.5, 0.0]),
           "model.I_o": np.array([0.32, 0.8, 0.0])}  # fmt: skip
    codes = screen(pts)
    np.testing.assert_array_equal(codes, [PASSED, SATURATED, SILENT])
    # multistart: Sobol starts that fail the screen are skipped
    s = _space()

    def only_high_w(points):
        return np.where(points["model.w"] > 1.0, PASSED, SILENT)

    pts = multistart_points(s, {"model.w": 0.5, "coupling.a": 0.5}, [], 4, screen=only_high_w)
    assert pts[0] == {"model.w": 0.5, "coupling.a": 0.5}
    assert all(q["model.w"] > 1.0 for q in pts[1:])
