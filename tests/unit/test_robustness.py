"""Robustness of a fit: fresh noise seeds and the SC-FC baseline."""

import jax
import numpy as np
import pytest

from tvbo_pipe.fit.losses import fc_corr
from tvbo_pipe.fit.observations import fc
from tvbo_pipe.fit.robustness import fresh_seed_fc, fresh_seeds, sc_fc_correlation


def test_fresh_seeds_are_new_and_counted():
    assert fresh_seeds(5, 3) == [6, 7, 8]
    with pytest.raises(ValueError, match="at least 1"):
        fresh_seeds(5, 0)


def test_fresh_seed_fc_matches_one_simulation_per_seed(small_bold_problem):
    p = small_bold_problem()
    out = fresh_seed_fc(p, p.state, [6, 7, 8])
    assert out["Seeds"] == [6, 7, 8]
    expected = [
        float(fc_corr(fc(p.model(p.state, jax.random.key(s))[p.monitor].data[p.transient :, 0]),
                      p.fc_emp))
        for s in (6, 7, 8)
    ]  # fmt: skip
    np.testing.assert_allclose(out["FCCorrelation"], expected, rtol=1e-10)
    assert out["FCCorrelationMean"] == pytest.approx(np.mean(expected))
    assert out["FCCorrelationStd"] == pytest.approx(np.std(expected))
    assert len(set(np.round(expected, 12))) == 3  # different noise, different FC
    # none of them is the fit's own realisation
    own = float(fc_corr(p.simulated_fc(p.state), p.fc_emp))
    assert all(abs(r - own) > 1e-9 for r in expected)


def test_sc_fc_correlation_is_pearson_of_upper_triangles():
    rng = np.random.default_rng(0)
    w = rng.uniform(size=(6, 6))
    f = rng.uniform(size=(6, 6))
    iu = np.triu_indices(6, 1)
    assert sc_fc_correlation(w, f) == pytest.approx(np.corrcoef(w[iu], f[iu])[0, 1])
    # the diagonal and the lower triangle do not count
    w2 = w.copy()
    w2[np.tril_indices(6)] = 99.0
    assert sc_fc_correlation(w2, f) == pytest.approx(sc_fc_correlation(w, f))
    assert np.isnan(sc_fc_correlation(np.ones((4, 4)), f[:4, :4]))
    with pytest.raises(ValueError, match="square"):
        sc_fc_correlation(w, f[:5, :5])
