import pytest
import yaml

from tvbo_pipe.config import config_schema, load_config, resolve, validate_config
from tvbo_pipe.errors import ConfigError


def _walk(schema, path=""):
    for key, sub in resolve(schema).get("properties", {}).items():
        sub = resolve(sub)
        yield f"{path}{key}", sub
        yield from _walk(sub, f"{path}{key}.")


def test_every_key_has_description_and_default():
    for key, sub in _walk(config_schema()):
        assert sub.get("description"), key
        assert "default" in sub, key


def test_defaults_fill_an_empty_config():
    cfg = validate_config({})
    assert cfg["connectome"]["normalise"] == "max"
    assert cfg["inputs"]["sc"]["weights"]["meas"] == "streamlineCount"
    assert cfg["empirical_fc"]["fcd"]["window_s"] == 60.0


def test_null_is_replaced_by_default_where_null_is_not_allowed():
    cfg = validate_config({"connectome": None, "empirical_fc": {"fcd": None}})
    assert cfg["connectome"]["zero_diagonal"] is True
    assert cfg["empirical_fc"]["fcd"]["enabled"] is True
    # null stays where the schema allows it
    assert validate_config({"inputs": {"sc": {"lengths": None}}})["inputs"]["sc"]["lengths"] is None


@pytest.mark.parametrize(
    ("cfg", "key", "expected"),
    [
        ({"bogus": 1}, "bogus", "valid keys here"),
        ({"connectome": {"normalise": "sum"}}, "connectome.normalise", "valid: max, none, log1p"),
        (
            {"empirical_fc": {"discard_volumes": "two"}},
            "empirical_fc.discard_volumes",
            "expected integer",
        ),
        ({"inputs": {"sc": {"weigths": {}}}}, "inputs.sc.weigths", "valid keys here"),
        ({"participant_label": "01"}, "participant_label", "expected array"),
    ],
)
def test_bad_config_names_the_key(cfg, key, expected):
    with pytest.raises(ConfigError) as exc:
        validate_config(cfg)
    assert exc.value.key == key
    assert key in str(exc.value)
    assert expected in str(exc.value)


def test_load_config_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"connectome": {"normalize": "max"}}))
    with pytest.raises(ConfigError, match=r"bad.yaml.*connectome.normalize"):
        load_config(bad)


def test_shipped_config_is_valid():
    from conftest import REPO

    cfg = load_config(REPO / "config" / "config.yaml")
    assert cfg["bids_dir"] == "resources/demo"
