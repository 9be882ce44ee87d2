"""Per-region maps found per subject in the BIDS input by a pybids filter."""

import jax.numpy as jnp
import numpy as np
import pytest
from conftest import make_tiny_bids

from tvbo_pipe.errors import ConfigError, InputError
from tvbo_pipe.fit.maps import build_space, parse_maps
from tvbo_pipe.fit.parameters import parse_free_parameters
from tvbo_pipe.io.region_maps import MapSource, resolve_region_maps, split_prefix

LABELS = ("R0", "R1", "R2", "R3")
MYELIN = {"desc": "myelin", "suffix": "map", "extension": ".tsv"}


def _write_map(path, values):
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = "".join(f"{lab}\t{v}\n" for lab, v in zip(LABELS, values, strict=True))
    path.write_text("label\tvalue\n" + rows)
    return path


@pytest.fixture
def bids(tmp_path):
    root = make_tiny_bids(tmp_path / "bids", subjects=("01", "02", "03"), n_regions=4)
    _write_map(root / "sub-01" / "anat" / "sub-01_desc-myelin_map.tsv", [1, 2, 3, 4])
    _write_map(root / "sub-02" / "anat" / "sub-02_desc-myelin_map.tsv", [4, 1, 1, 1])
    return root


def _space(maps_of):
    spec = {"model.w": {"low": 0.0, "high": 1.5, "maps": [MYELIN]}}
    free = parse_free_parameters(spec, key="fit_regional.parameters", regional=True)
    state = {"model": {"w": jnp.asarray(0.5)}, "coupling": {}}
    return build_space(free, maps_of, state, LABELS, np.eye(4))


def test_each_subject_gets_its_own_map(bids):
    spec = {"model.w": {"low": 0.0, "high": 1.5, "maps": [MYELIN, "fc_gradient"]}}
    maps_of = parse_maps(spec, key="fit_regional.parameters")
    one = resolve_region_maps(maps_of, bids_dir=bids, subject="sub-01")
    two = resolve_region_maps(maps_of, bids_dir=bids, subject="sub-02")
    assert one["model.w"][0].file.endswith("sub-01/anat/sub-01_desc-myelin_map.tsv")
    assert two["model.w"][0].file.endswith("sub-02/anat/sub-02_desc-myelin_map.tsv")
    assert one["model.w"][1] == MapSource("fc_gradient", None)
    s1 = _space({"model.w": one["model.w"][:1]})
    s2 = _space({"model.w": two["model.w"][:1]})
    assert s1.paths == s2.paths == ("model.w", "model.w@myelin")  # same names for the group
    z1, z2 = s1.mapped["model.w"][2][0], s2.mapped["model.w"][2][0]
    np.testing.assert_allclose(z1, (np.arange(1, 5) - 2.5) / np.std(np.arange(1, 5)))
    np.testing.assert_allclose(z2, (np.array([4, 1, 1, 1]) - 1.75) / np.std([4, 1, 1, 1]))


def test_a_missing_map_names_the_subject_and_the_filter(bids):
    maps_of = {"model.w": [MYELIN]}
    with pytest.raises(InputError) as err:
        resolve_region_maps(maps_of, bids_dir=bids, subject="sub-03")
    msg = str(err.value)
    assert "sub-03" in msg and "'desc': 'myelin'" in msg and "no fallback" in msg
    assert "fit_regional.parameters.model.w.maps[0]" in msg


def test_the_group_file_only_when_declared(bids, tmp_path):
    group = _write_map(tmp_path / "group_myelin.tsv", [0, 0, 1, 5])
    maps_of = {"model.w": [{**MYELIN, "fallback": str(group)}]}
    three = resolve_region_maps(maps_of, bids_dir=bids, subject="sub-03")
    assert three["model.w"] == [MapSource("myelin", str(group))]
    one = resolve_region_maps(maps_of, bids_dir=bids, subject="sub-01")
    assert one["model.w"][0].file.endswith("sub-01_desc-myelin_map.tsv")  # own file first


def test_session_first_then_subject_level_and_ambiguity(tmp_path):
    root = make_tiny_bids(tmp_path / "b", subjects=("01",), n_regions=4, sessions=("1", "2"))
    _write_map(root / "sub-01" / "anat" / "sub-01_desc-myelin_map.tsv", [1, 2, 3, 4])
    ses2 = _write_map(
        root / "sub-01" / "ses-2" / "anat" / "sub-01_ses-2_desc-myelin_map.tsv", [2, 2, 3, 4]
    )
    maps_of = {"model.w": [MYELIN]}
    s1 = resolve_region_maps(maps_of, bids_dir=root, subject="sub-01_ses-1")
    s2 = resolve_region_maps(maps_of, bids_dir=root, subject="sub-01_ses-2")
    assert s1["model.w"][0].file.endswith("sub-01/anat/sub-01_desc-myelin_map.tsv")
    assert s2["model.w"][0].file == str(ses2)
    _write_map(root / "sub-01" / "anat" / "sub-01_desc-myelin_run-2_map.tsv", [1, 1, 1, 2])
    with pytest.raises(InputError, match="2 files match the region map"):
        resolve_region_maps(maps_of, bids_dir=root, subject="sub-01_ses-1")


def test_filter_maps_need_the_dataset_and_a_name():
    with pytest.raises(ConfigError, match="bids_dir"):
        resolve_region_maps({"model.w": [MYELIN]}, bids_dir=None, subject="sub-01")
    with pytest.raises(ConfigError, match="needs a name"):
        resolve_region_maps({"model.w": [{"extension": ".tsv"}]}, bids_dir=".", subject="sub-01")
    assert split_prefix("sub-01_ses-pre") == ("01", "pre") and split_prefix("sub-x") == ("x", None)


def test_the_subjects_map_ties_the_regional_parameter(bids):
    """The fit stage's path: the filter resolved per subject, then the parameter space."""
    from types import SimpleNamespace

    from tvbo_pipe.fit.maps import parse_maps
    from tvbo_pipe.fit.procedure import parameter_space

    def _space(problem, spec, *, subject, bids_dir, key, **kw):
        maps = resolve_region_maps(
            parse_maps(spec, key=key), bids_dir=bids_dir, subject=subject, key=key
        )
        return parameter_space(problem, spec, key=key, region_maps=maps, **kw)

    problem = SimpleNamespace(
        state={"model": {"w": jnp.asarray(0.5), "I_o": jnp.asarray(0.3)}, "coupling": {}},
        fc_emp=jnp.eye(4),
    )
    spec = {"model.w": {"low": 0.0, "high": 1.5, "maps": [MYELIN]}, "model.I_o": [0.0, 0.6]}
    kw = dict(regional=True, key="fit_regional.parameters", labels=LABELS)
    sp = _space(problem, spec, subject="sub-02", bids_dir=str(bids), **kw)
    assert set(sp.paths) == {"model.w", "model.w@myelin", "model.I_o"}
    np.testing.assert_allclose(
        sp.mapped["model.w"][2][0], [np.sqrt(3), -1 / np.sqrt(3)] + [-1 / np.sqrt(3)] * 2
    )
    with pytest.raises(InputError, match="sub-03"):
        _space(problem, spec, subject="sub-03", bids_dir=str(bids), **kw)


def _discovery_config(bids, tmp_path, maps, *, enabled=True):
    from conftest import tiny_config

    from tvbo_pipe.config import validate_config

    cfg = tiny_config(bids, tmp_path)
    cfg["fit_regional"] = {
        "enabled": enabled,
        "parameters": {"model.w": {"low": 0.0, "high": 1.5, "maps": maps}, "model.I_o": [0, 1]},
    }
    return validate_config(cfg)


def test_discovery_finds_each_subjects_map_files(bids, tmp_path):
    """The workflow's inputs of fit_regional: the files its maps are read from."""
    from tvbo_pipe.io.bids import discover

    group = _write_map(tmp_path / "group.tsv", [0, 0, 1, 5])
    maps = [{**MYELIN, "fallback": str(group)}, "fc_gradient"]
    units = {u.prefix: u for u in discover(_discovery_config(bids, tmp_path, maps))}
    assert units["sub-01"].region_maps == (str(bids / "sub-01/anat/sub-01_desc-myelin_map.tsv"),)
    assert units["sub-02"].region_maps == (str(bids / "sub-02/anat/sub-02_desc-myelin_map.tsv"),)
    assert units["sub-03"].region_maps == (str(group),)  # its fallback
    off = discover(_discovery_config(bids, tmp_path, maps, enabled=False))
    assert all(u.region_maps == () for u in off)


def test_discovery_names_the_subject_without_a_map(bids, tmp_path):
    from tvbo_pipe.io.bids import discover

    with pytest.raises(InputError, match=r"sub-03.*no region map matching"):
        discover(_discovery_config(bids, tmp_path, [MYELIN]))


def test_fit_regional_takes_the_planned_files_without_the_dataset(bids, tmp_path):
    """At run time the stage gets the files discovery found (its Snakemake inputs)
    and maps them back to the configured maps in order, without pybids."""
    from tvbo_pipe.io.bids import discover
    from tvbo_pipe.io.region_maps import map_files

    group = _write_map(tmp_path / "group.tsv", [0, 0, 1, 5])
    maps = [{**MYELIN, "fallback": str(group)}, "fc_gradient", str(group)]
    cfg = _discovery_config(bids, tmp_path, maps)
    units = {u.prefix: u for u in discover(cfg)}
    maps_of = parse_maps(cfg["fit_regional"]["parameters"], key="fit_regional.parameters")
    for prefix in ("sub-01", "sub-03"):
        planned = resolve_region_maps(maps_of, bids_dir=bids, subject=prefix)
        assert units[prefix].region_maps == map_files(planned)  # one file per map, in order
        # bids_dir=None: a filter map would need the dataset; the files make it unneeded
        given = resolve_region_maps(
            maps_of, bids_dir=None, subject=prefix, files=units[prefix].region_maps
        )
        assert given == planned
    assert units["sub-03"].region_maps == (str(group), str(group))  # its fallback, then the path
    with pytest.raises(InputError, match="1 region map files given for 2 configured maps"):
        resolve_region_maps(maps_of, bids_dir=None, subject="sub-01", files=[str(group)])
