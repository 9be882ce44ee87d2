"""The names in the model and coupling registries, readable without JAX.

The Snakefile validates the experiment when it builds the DAG (every
``snakemake`` call, every cluster job): that needs the model, state-variable
and coupling-parameter names, not the JAX functions. Importing
:mod:`tvbo_pipe.models` or :mod:`tvbo_pipe.sim.coupling` imports JAX (about
2 s), so the names are kept in ``data/registry_names.json``, written from the
registries by :func:`build` (``python -m tvbo_pipe.catalog``) and checked
against them by ``tests/unit/test_catalog.py``.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

#: Where the names are kept, inside the package.
CATALOG_FILE = "data/registry_names.json"


def build() -> dict[str, Any]:
    """The names, from the live registries (imports JAX).

    Returns:
        ``{"models": {name: {"parameters": [...], "state_variables": [...]}},
        "couplings": {name: {"parameters": [...]}}}``.
    """
    from .models import MODELS
    from .sim.coupling import COUPLINGS

    return {
        "models": {
            name: {
                "parameters": list(m.parameter_names),
                "state_variables": list(m.state_variable_names),
            }
            for name, m in MODELS.items()
        },
        "couplings": {
            name: {"parameters": [p.name for p in c.parameters]} for name, c in COUPLINGS.items()
        },
    }


@cache
def names() -> dict[str, Any]:
    """The names as :func:`build` gives them, read from the package (no JAX)."""
    text = resources.files("tvbo_pipe").joinpath(CATALOG_FILE).read_text()
    return json.loads(text)


def write(path: str | Path | None = None) -> Path:
    """Write :func:`build`'s names as JSON (default: the package's catalog file)."""
    target = Path(path) if path else Path(__file__).parent / CATALOG_FILE
    target.write_text(json.dumps(build(), indent=1) + "\n")
    return target


if __name__ == "__main__":
    print(write())
