"""Container recipes and the conda env name the package of pyproject.toml, at
its version; inside a container the derivative records it."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml

from tvbo_pipe import __version__, stages
from tvbo_pipe.container import container_record

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
VERSION = PYPROJECT["project"]["version"]
EXTRAS = PYPROJECT["project"]["optional-dependencies"]


def installs(text: str) -> list[tuple[str, str]]:
    """The (source, extras) of each ``pip install "SRC[EXTRAS]"`` in a recipe."""
    return re.findall(r'pip install "?(/tmp/tvbo_pipe)(?:\[([\w,]+)\])?"?', text)


@pytest.mark.parametrize("recipe", ["Dockerfile", "Apptainer.def"])
def test_recipes_install_this_package_with_known_extras(recipe):
    text = (REPO / recipe).read_text()
    assert "python:3.11-slim" in text
    found = installs(text)
    assert len(found) == 1, found
    extras = [e for e in found[0][1].split(",") if e]
    assert set(extras) <= set(EXTRAS), extras
    # the build context (the repository) is what gets installed
    copy = r"^COPY \. /tmp/tvbo_pipe$" if recipe == "Dockerfile" else r"^\s+\. /tmp/tvbo_pipe$"
    assert re.search(copy, text, re.M)
    # the version they announce is pyproject's
    for tag in re.findall(r"TVBO_PIPE_CONTAINER=(\S+)", text):
        assert VERSION in tag and container_record(tag) is not None
    assert f"image.version{'=' if recipe == 'Dockerfile' else ' '}" in text
    assert all(v == VERSION for v in re.findall(r"image\.version[= ]\"?([\w.]+)", text))


def test_entrypoints_are_the_bids_app():
    assert 'ENTRYPOINT ["tvbo-pipe"]' in (REPO / "Dockerfile").read_text()
    assert 'exec tvbo-pipe "$@"' in (REPO / "Apptainer.def").read_text()
    assert PYPROJECT["project"]["scripts"]["tvbo-pipe"] == "tvbo_pipe.cli:main"


def test_conda_env_and_workflow_container_match_the_version():
    env = yaml.safe_load((REPO / "workflow" / "envs" / "tvbo_pipe.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    source = PYPROJECT["project"]["urls"]["Source"]
    assert pip == [f"tvbo_pipe @ git+{source}@v{VERSION}"]
    assert "python=3.11" in env["dependencies"]
    assert VERSION == __version__
    docker_tag = re.search(
        r"TVBO_PIPE_CONTAINER=docker://(\S+)", (REPO / "Dockerfile").read_text()
    ).group(1)
    snakefile = (REPO / "Snakefile").read_text()
    container = re.search(r'^container: f"docker://(\S+)"$', snakefile, re.M).group(1)
    assert container.replace("{__version__}", VERSION) == docker_tag


def test_container_record():
    assert container_record("") is None
    assert container_record("docker://ghcr.io/x/y:1.0") == {
        "Type": "docker",
        "Tag": "ghcr.io/x/y:1.0",
        "URI": "docker://ghcr.io/x/y:1.0",
    }
    with pytest.raises(ValueError, match=r"TVBO_PIPE_CONTAINER='y:1\.0'"):
        container_record("y:1.0")


def test_dataset_description_names_the_container(tmp_path, tiny_bids, monkeypatch):
    path = tmp_path / "deriv" / "dataset_description.json"
    params = {"bids_dir": str(tiny_bids)}
    monkeypatch.delenv("TVBO_PIPE_CONTAINER", raising=False)
    stages.dataset_description({}, {"dataset_description": path}, params)
    assert "Container" not in json.loads(path.read_text())["GeneratedBy"][0]
    monkeypatch.setenv("TVBO_PIPE_CONTAINER", "docker://ghcr.io/x/tvbo_pipe:0.1.0")
    stages.dataset_description({}, {"dataset_description": path}, params)
    assert json.loads(path.read_text())["GeneratedBy"][0]["Container"]["Type"] == "docker"


def test_relative_bids_dir_is_linked_from_the_derivative_root(tmp_path, tiny_bids, monkeypatch):
    monkeypatch.chdir(tiny_bids.parent)
    path = tmp_path / "results" / "deriv" / "dataset_description.json"
    out = {"dataset_description": str(path.relative_to(tiny_bids.parent))}
    stages.dataset_description({}, out, {"bids_dir": tiny_bids.name})
    meta = json.loads(path.read_text())
    assert meta["DatasetLinks"]["raw"] == "../../bids"
    assert (path.parent / meta["DatasetLinks"]["raw"]).resolve() == tiny_bids.resolve()
