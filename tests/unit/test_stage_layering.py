"""Stages only read, call the core and write: what that layering promises.

The stage runner imports no JAX before it has set the XLA options; every
stage name resolves to a function of the stage signature; the fit loop keeps
its state through a checkpoint object (no files of its own) and resumes from
it; the core computes the empirical observations from runs held in memory;
the simulator reads no connectome file itself; the provenance names the fit
method the configuration chose.
"""

from __future__ import annotations

import inspect
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tvbo_pipe import stages
from tvbo_pipe.connectome import Connectome, prepared
from tvbo_pipe.errors import ConfigError, InputError
from tvbo_pipe.experiment import Experiment
from tvbo_pipe.export.provenance import stage_text
from tvbo_pipe.fit import observations as obs
from tvbo_pipe.fit.empirical import FunctionalRun, detrend_linear, empirical_observations
from tvbo_pipe.fit.optimize import fit
from tvbo_pipe.fit.parameters import ParameterSpace, parse_free_parameters
from tvbo_pipe.io.checkpoint import NpzCheckpoint
from tvbo_pipe.io.connectome import load_experiment_connectome
from tvbo_pipe.sim.simulator import build_simulator


@pytest.mark.parametrize("module", ["tvbo_pipe.cli", "tvbo_pipe.stages"])
def test_importing_the_stage_runner_imports_no_jax(module):
    code = (
        f"import sys, {module}, tvbo_pipe.stages as s; "
        "s.STAGES['fit_global']; "
        "print(sorted(m for m in sys.modules if m == 'jax' or m.startswith('jax.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("name", sorted(stages.STAGES))
def test_every_stage_resolves_to_a_stage_function(name):
    fn = stages.resolve(name)
    params = inspect.signature(fn).parameters
    assert list(params)[:3] == ["inputs", "outputs", "params"]
    assert params["subject"].kind is inspect.Parameter.KEYWORD_ONLY
    assert getattr(stages, fn.__name__) is fn  # also an attribute of the package


class MemoryCheckpoint:
    """A checkpoint held in memory that fails (like a killed job) after ``fail_after`` saves."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.arrays = None
        self.saves = 0
        self.fail_after = fail_after
        self.cleared = False

    def save(self, arrays):
        self.arrays = dict(arrays)
        self.saves += 1
        if self.fail_after is not None and self.saves >= self.fail_after:
            raise KeyboardInterrupt  # the job is killed right after this save

    def load(self):
        return self.arrays

    def clear(self):
        self.arrays, self.cleared = None, True


def _quadratic_fit(checkpoint):
    state = {"model": {"w": jnp.asarray(0.5)}, "coupling": {}, "network": {}}
    space = ParameterSpace.build(parse_free_parameters({"model.w": [0.0, 2.0]}, key="k"), state, 1)
    return fit(
        lambda v, key: (v["model.w"] - 1.3) ** 2,
        space,
        {"model.w": 0.5},
        key=jax.random.key(0),
        learning_rate=0.05,
        steps=12,
        patience=0,
        checkpoint=checkpoint,
        checkpoint_every=4,
        log_every=0,
    )


@pytest.mark.slow
def test_fit_resumes_from_a_checkpoint_object_to_the_same_result():
    ckpt = MemoryCheckpoint(fail_after=2)
    with pytest.raises(KeyboardInterrupt):
        _quadratic_fit(ckpt)
    assert len(ckpt.arrays["losses"]) == 8  # two saves, every 4 steps
    ckpt.fail_after = None
    resumed = _quadratic_fit(ckpt)
    fresh = _quadratic_fit(None)
    assert resumed.steps == fresh.steps == 12
    assert float(resumed.values["model.w"]) == float(fresh.values["model.w"])
    np.testing.assert_array_equal(resumed.losses, fresh.losses)
    assert ckpt.cleared and ckpt.arrays is None


def test_checkpoint_for_other_settings_is_ignored():
    ckpt = MemoryCheckpoint(fail_after=1)
    with pytest.raises(KeyboardInterrupt):
        _quadratic_fit(ckpt)
    ckpt.arrays["hash"] = np.asarray("someone-else")
    ckpt.fail_after = None
    assert _quadratic_fit(ckpt).steps == 12
    assert ckpt.saves == 4  # 1 before the kill, then 3 from step 0


def test_npz_checkpoint_round_trip_and_unreadable_file(tmp_path, caplog):
    ckpt = NpzCheckpoint(tmp_path / "sub" / "fit.ckpt.npz")
    assert ckpt.load() is None
    ckpt.save({"a": np.arange(3.0), "hash": np.asarray("abc")})
    data = ckpt.load()
    np.testing.assert_array_equal(data["a"], [0.0, 1.0, 2.0])
    assert str(data["hash"]) == "abc"
    ckpt.path.write_bytes(b"not a zip")
    assert ckpt.load() is None and "could not read checkpoint" in caplog.text
    ckpt.clear()
    assert not ckpt.path.exists()


SETTINGS = {
    "discard_volumes": 2,
    "detrend": True,
    "fcd": {"enabled": True, "window_s": 8.0, "step_s": 4.0},
}


def test_empirical_observations_of_runs_in_memory():
    rng = np.random.default_rng(3)
    runs = [
        FunctionalRun(f"run-{k}.tsv", data=rng.standard_normal((40, 5)), tr=2.0, run_label=str(k))
        for k in (1, 2, 3)
    ]
    emp = empirical_observations(runs, {**SETTINGS, "holdout_runs": ["3"]}, subject="sub-01")
    with jax.enable_x64(True):
        per_run = [np.corrcoef(detrend_linear(r.data[2:]).T) for r in runs]
        want = np.asarray(obs.fisher_z_mean(np.stack(per_run[:2])))
    np.testing.assert_allclose(emp.fc, want, atol=1e-12)
    np.testing.assert_allclose(emp.fc_heldout, per_run[2], atol=1e-12)
    assert emp.fitted == [0, 1] and emp.heldout == [2]
    assert [r["HeldOut"] for r in emp.runs] == [False, False, True]
    n_win = len(obs.sliding_windows(38, 4, 2))  # 8 s / 2 s windows every 4 s
    assert emp.fcd.shape == (2 * n_win, 2 * n_win)
    assert emp.window_onsets[0] == 4.0  # the 2 discarded volumes count
    assert emp.window_runs == [0] * n_win + [1] * n_win
    assert emp.window_s == 8.0 and emp.step_s == 4.0


def test_holding_out_every_run_is_an_error():
    runs = [FunctionalRun("a.tsv", fc=np.eye(3), run_label="1")]
    with pytest.raises(InputError, match="both must be at least one"):
        empirical_observations(runs, {**SETTINGS, "holdout_runs": [1]}, subject="sub-01")


def test_the_simulator_reads_no_connectome_file():
    exp = Experiment.from_dict(
        {"model": {"name": "SupHopf"}, "connectivity": {"normative": "tvb76"}}
    )
    with pytest.raises(ConfigError, match="load_experiment_connectome"):
        build_simulator(exp)
    _, conn = build_simulator(exp, load_experiment_connectome(exp))
    assert conn.n_regions == 76


@pytest.mark.parametrize(
    ("method", "words"),
    [
        ("adam", "Gradient-based fit (optax) of the global parameters."),
        ("multistart", "Gradient-based fits (optax) from several starts"),
        ("cmaes", "Derivative-free fit (CMA-ES, evosax) of the global parameters."),
    ],
)
def test_provenance_names_the_configured_fit_method(method, words):
    assert stage_text("fit_global", {"method": method}).startswith(words)
    assert "regional" in stage_text("fit_regional", {"method": method})


def test_prepared_connectome_symmetrises_then_normalises():
    w = np.array([[0.0, 4.0, 0.0], [0.0, 0.0, 2.0], [1.0, 0.0, 0.0]])
    lengths = np.array([[0.0, 10.0, 30.0], [20.0, 0.0, 5.0], [30.0, 15.0, 0.0]])
    conn = Connectome(w, lengths, ("a", "b", "c"), source="w.tsv")
    out = prepared(conn, symmetrise=True, normalise="max", zero_diagonal=True)
    np.testing.assert_array_equal(out.weights, (w + w.T) / 2 / 2.0)
    np.testing.assert_array_equal(out.lengths, (lengths + lengths.T) / 2)
    same = prepared(conn, symmetrise=False, normalise="none", zero_diagonal=True)
    np.testing.assert_array_equal(same.weights, w)
    empty = Connectome(np.eye(3), None, ("a", "b", "c"), source="w.tsv")
    with pytest.raises(InputError, match="no connections"):
        prepared(empty, symmetrise=False, normalise="max", zero_diagonal=True, subject="sub-01")


def test_the_bold_period_follows_the_runs_tr_unless_configured(caplog):
    from tvbo_pipe.fit.empirical import bold_period_ms

    sidecar = {"Runs": [{"RepetitionTime": 0.72}, {"RepetitionTime": 0.72}]}
    assert bold_period_ms("auto", sidecar, subject="sub-01") == pytest.approx(720.0)
    assert bold_period_ms(None, sidecar, subject="sub-01") == pytest.approx(720.0)
    assert bold_period_ms(2000, sidecar, subject="sub-01") == 2000.0
    assert bold_period_ms("auto", {"Runs": [{}]}, subject="sub-01") is None  # an FC matrix
    mixed = {"Runs": [{"RepetitionTime": 2.0}, {"RepetitionTime": 0.72}]}
    with caplog.at_level("WARNING"):
        assert bold_period_ms("auto", mixed, subject="sub-07") == pytest.approx(720.0)
    assert "sub-07" in caplog.text and "different TRs" in caplog.text
