import math

import pytest
from conftest import REPO

from tvbo_pipe.errors import ConfigError
from tvbo_pipe.experiment import Experiment


def test_shipped_experiment_is_the_tutorial():
    exp = Experiment.load(REPO / "config" / "experiment.yaml")
    assert exp.model.name == "ReducedWongWang"
    assert exp.model.parameters == {"w": 0.5, "I_o": 0.32}
    assert exp.coupling.parameters == {"a": 0.5}
    assert exp.integration.method == "Heun" and exp.integration.dt == 4.0
    assert exp.integration.duration == 120000.0
    assert exp.integration.noise.sigma == 0.00283
    assert math.isinf(exp.connectivity.conduction_speed)
    assert [m.type for m in exp.monitors] == ["Raw", "Bold"] and exp.monitors[1].period == 1000.0


def test_load_dump_load_roundtrip(tmp_path):
    exp = Experiment.load(REPO / "config" / "experiment.yaml")
    path = tmp_path / "e.yaml"
    exp.dump(path)
    again = Experiment.load(path)
    assert again == exp
    assert Experiment.from_dict(again.to_dict()) == exp
    regional = exp.with_parameters(model={"I_o": [0.3, 0.31, 0.32]})
    assert Experiment.from_dict(regional.to_dict()) == regional


@pytest.mark.parametrize(
    ("data", "key", "listed"),
    [
        ({"model": {"name": "Hopf"}}, "model.name", "ReducedWongWang"),
        (
            {"model": {"name": "ReducedWongWang", "parameters": {"W": 1}}},
            "model.parameters.W",
            "I_o",
        ),
        ({"coupling": {"name": "Cubic"}}, "coupling.name", "Sigmoidal"),
        ({"coupling": {"name": "Linear", "parameters": {"c": 1}}}, "coupling.parameters.c", "a, b"),
        ({"integration": {"method": "Midpoint"}}, "integration.method", "Euler, Heun, RK4"),
        (
            {"integration": {"noise": {"sigma": 1, "convention": "x"}}},
            "integration.noise.convention",
            "sigma, tvb",
        ),
        ({"monitors": [{"type": "EEG", "period": 1}]}, "monitors[0].type", "Bold"),
        ({"monitors": [{"type": "Bold"}]}, "monitors[0].period", "period"),
        ({"modle": {}}, "modle", "model"),
        ({"integration": {"step": 1}}, "integration.step", "dt"),
    ],
)
def test_bad_experiment_names_key_and_lists_choices(data, key, listed):
    with pytest.raises(ConfigError) as exc:
        Experiment.from_dict(data)
    assert exc.value.key == key
    assert listed in str(exc.value)
