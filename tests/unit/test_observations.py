import jax
import numpy as np
import pytest
from scipy import stats

from tvbo_pipe.fit import observations as obs


def test_fc_matches_numpy_corrcoef():
    x = np.random.default_rng(0).normal(size=(50, 6))
    np.testing.assert_allclose(obs.fc(x), np.corrcoef(x.T), rtol=1e-12, atol=1e-14)


def test_fc_constant_region_is_uncorrelated_not_nan():
    x = np.random.default_rng(1).normal(size=(30, 3))
    x[:, 1] = 5.0
    c = np.asarray(obs.fc(x))
    assert np.isfinite(c).all() and c[0, 1] == 0 and c[1, 1] == 1


def test_upper_triangle_excludes_diagonal():
    m = np.arange(16.0).reshape(4, 4)
    np.testing.assert_array_equal(obs.upper_triangle(m), [1, 2, 3, 6, 7, 11])


def test_fisher_z_mean():
    a = np.array([[1.0, 0.2], [0.2, 1.0]])
    b = np.array([[1.0, 0.6], [0.6, 1.0]])
    out = np.asarray(obs.fisher_z_mean(np.stack([a, b])))
    assert out[0, 1] == pytest.approx(np.tanh((np.arctanh(0.2) + np.arctanh(0.6)) / 2), rel=1e-12)
    assert out[0, 0] == 1.0


def test_fcd_properties_and_definition():
    x = np.random.default_rng(2).normal(size=(40, 5))
    d = np.asarray(obs.fcd(x, window=10, step=5))
    assert d.shape == (7, 7)
    np.testing.assert_allclose(d, d.T, atol=1e-14)
    np.testing.assert_allclose(np.diag(d), 1.0)
    iu = np.triu_indices(5, 1)
    v0 = np.corrcoef(x[0:10].T)[iu]
    v3 = np.corrcoef(x[15:25].T)[iu]
    assert d[0, 3] == pytest.approx(np.corrcoef(v0, v3)[0, 1], rel=1e-10)


def test_sliding_windows_errors():
    with pytest.raises(ValueError, match="longer than"):
        obs.sliding_windows(10, 20, 1)


def test_ks_distance_matches_scipy():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=200), rng.normal(0.3, 1.2, size=150)
    assert float(obs.ks_distance(a, b)) == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-12)


def test_fc_is_differentiable():
    x = np.random.default_rng(4).normal(size=(20, 3))
    g = jax.grad(lambda s: obs.fc(x * s)[0, 1] + obs.fc(x + s)[0, 2])(1.0)
    assert np.isfinite(g)
