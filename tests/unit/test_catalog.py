"""The JAX-free registry names (tvbo_pipe.catalog) match the registries."""

from __future__ import annotations

import pytest

from tvbo_pipe import catalog
from tvbo_pipe.errors import ConfigError
from tvbo_pipe.experiment import Experiment


def test_catalog_file_matches_the_registries():
    assert catalog.names() == catalog.build(), (
        "tvbo_pipe/data/registry_names.json is out of date: run python -m tvbo_pipe.catalog"
    )


def test_validation_uses_the_catalog_names():
    model = next(iter(catalog.names()["models"]))
    with pytest.raises(ConfigError, match="no parameter or variable 'nope'"):
        Experiment.from_dict({"model": {"name": model, "parameters": {"nope": 1.0}}})
    with pytest.raises(ConfigError, match="unknown model"):
        Experiment.from_dict({"model": {"name": "NoSuchModel"}})
