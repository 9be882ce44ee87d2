"""The package root: every public name resolves, and importing it starts no JAX."""

import subprocess
import sys

import pytest

import tvbo_pipe


@pytest.mark.parametrize("name", tvbo_pipe.__all__)
def test_public_names_resolve(name):
    assert getattr(tvbo_pipe, name) is not None


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = tvbo_pipe.nope


def test_import_does_not_import_jax():
    code = "import sys, tvbo_pipe; print('jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
