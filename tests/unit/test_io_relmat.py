"""BEP017 relationship matrices and the deterministic writers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tvbo_pipe.errors import InputError
from tvbo_pipe.io.relmat import (
    find_nodeindices,
    read_json,
    read_relmat,
    relmat_sidecar_path,
    write_json,
    write_relmat,
    write_tsv_table,
)

NAME = "sub-01_ses-1_atlas-Toy_meas-streamlineCount_relmat.dense.tsv"


def _awkward_matrix(n: int = 5) -> np.ndarray:
    rng = np.random.default_rng(0)
    m = rng.random((n, n)) * 10.0 ** rng.integers(-12, 12, (n, n))
    m[0, 0] = 0.1 + 0.2  # classic non-representable sum
    m[1, 1] = -0.0
    m[2, 3] = 1e-320  # subnormal
    m[3, 2] = 1.7976931348623157e308
    return m


def test_round_trip_exact_and_bytes_identical(tmp_path):
    m = _awkward_matrix()
    labels = [f"r{k}" for k in range(5)]
    a, b = tmp_path / "a" / NAME, tmp_path / "b" / NAME
    write_relmat(a, m, labels, {"RelationshipMeasure": "streamlineCount", "n": np.int64(3)})
    write_relmat(b, m, labels, {"n": np.int64(3), "RelationshipMeasure": "streamlineCount"})
    assert a.read_bytes() == b.read_bytes()
    side_a, side_b = relmat_sidecar_path(a), relmat_sidecar_path(b)
    assert side_a.name == "sub-01_ses-1_atlas-Toy_meas-streamlineCount_relmat.json"
    assert side_a.read_bytes() == side_b.read_bytes()
    assert b"\r" not in a.read_bytes() and a.read_bytes().endswith(b"\n")

    back, got_labels, sidecar = read_relmat(a)
    assert back.dtype == np.float64
    assert np.array_equal(back, m)
    assert np.array_equal(np.signbit(back), np.signbit(m))
    assert got_labels == tuple(labels)
    assert sidecar == {"NodeLabels": labels, "RelationshipMeasure": "streamlineCount", "n": 3}
    assert side_a.read_text() == json.dumps(sidecar, indent=2, sort_keys=True) + "\n"
    # Writing what was read gives the same bytes again.
    c = tmp_path / "c" / NAME
    write_relmat(c, back, got_labels, {k: v for k, v in sidecar.items() if k != "NodeLabels"})
    assert c.read_bytes() == a.read_bytes()
    assert [p.name for p in (tmp_path / "a").iterdir() if p.name.startswith(".")] == []


def test_write_json_and_table_deterministic(tmp_path):
    write_json(tmp_path / "x.json", {"b": np.float64(0.1), "a": [1, 2]})
    assert (tmp_path / "x.json").read_text() == '{\n  "a": [\n    1,\n    2\n  ],\n  "b": 0.1\n}\n'
    assert read_json(tmp_path / "x.json") == {"a": [1, 2], "b": 0.1}
    write_tsv_table(tmp_path / "t.tsv", ["name", "value", "ok"], [["x", 0.1, True], ["y", None, 3]])
    assert (tmp_path / "t.tsv").read_bytes() == b"name\tvalue\tok\nx\t0.1\ttrue\ny\tn/a\t3\n"
    with pytest.raises(ValueError, match="2 cells"):
        write_tsv_table(tmp_path / "bad.tsv", ["a", "b", "c"], [[1, 2]])


def _plain(path, rows):
    path.write_text("".join("\t".join(str(x) for x in r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize(
    "nodefile",
    [
        "sub-01_ses-1_atlas-Toy_nodeindices.tsv",  # meas- tail replaced
        "sub-01_ses-1_atlas-Toy_meas-streamlineCount_nodeindices.tsv",  # BEP017 draft
        "sub-01_ses-1_atlas-Toy_desc-orig_nodeindices.tsv",  # same sub/ses/atlas in folder
    ],
)
def test_labels_from_nodeindices(tmp_path, nodefile):
    path = _plain(tmp_path / NAME, [[0, 1, 2], [1, 0, 3], [2, 3, 0]])
    (tmp_path / nodefile).write_text("index\tname\n11\tA\n12\tB\n13\tC\n")
    # A node map of another subject/atlas must not be picked up.
    (tmp_path / "sub-02_ses-1_atlas-Toy_nodeindices.tsv").write_text("index\tname\n1\tX\n")
    (tmp_path / "sub-01_ses-1_atlas-Other_nodeindices.tsv").write_text("index\tname\n1\tX\n")
    _, labels, sidecar = read_relmat(path)
    assert labels == ("A", "B", "C") and sidecar == {}
    assert find_nodeindices(path) == tmp_path / nodefile


def test_sidecar_labels_win_over_nodeindices(tmp_path):
    path = _plain(tmp_path / NAME, [[0, 1], [1, 0]])
    (tmp_path / "sub-01_ses-1_atlas-Toy_nodeindices.tsv").write_text("index\tname\n1\tA\n2\tB\n")
    relmat_sidecar_path(path).write_text('{"NodeLabels": ["x", "y"]}')
    assert read_relmat(path)[1] == ("x", "y")


def test_no_labels_gives_none(tmp_path):
    path = _plain(tmp_path / NAME, [[0, 1], [1, 0]])
    assert read_relmat(path)[1] is None


def test_ambiguous_nodeindices(tmp_path):
    path = _plain(tmp_path / NAME, [[0, 1], [1, 0]])
    for desc in ("a", "b"):
        (tmp_path / f"sub-01_ses-1_atlas-Toy_desc-{desc}_nodeindices.tsv").write_text(
            "index\tname\n1\tA\n2\tB\n"
        )
    with pytest.raises(InputError, match="several node maps") as e:
        read_relmat(path)
    assert NAME in str(e.value)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", "file is empty; expected a headerless tab-separated matrix"),
        ("\n\n", "file is empty"),
        ("1\t2\n3\n", "line 2 has 1 values but line 1 has 2; expected"),
        ("1\t2\n3\tx\n", "line 2, column 2: 'x' is not a number; expected"),
        ("a\tb\n1\t2\n", "looks like a header row"),
        ("1 2\n3 4\n", "separated by tabs, not spaces"),
        ("1\t2\n\n3\t4\n", "line 2 is blank but more rows follow"),
    ],
)
def test_bad_relmat_text(tmp_path, text, expected):
    path = tmp_path / NAME
    path.write_text(text)
    with pytest.raises(InputError, match=expected) as e:
        read_relmat(path)
    assert str(path) in str(e.value)


def test_missing_file_and_label_count(tmp_path):
    with pytest.raises(InputError, match="file not found; expected") as e:
        read_relmat(tmp_path / NAME)
    assert NAME in str(e.value)
    path = _plain(tmp_path / NAME, [[0, 1], [1, 0]])
    side = relmat_sidecar_path(path)
    side.write_text('{"NodeLabels": ["a", "b", "c"]}')
    with pytest.raises(InputError, match="3 region labels but the matrix") as e:
        read_relmat(path)
    assert str(side) in str(e.value)
    side.write_text("{not json")
    with pytest.raises(InputError, match="invalid JSON") as e:
        read_relmat(path)
    assert str(side) in str(e.value)


def test_bep017_draft_node_map_columns(tmp_path):
    path = _plain(tmp_path / "atlas-Probe_meas-streamlineCount_relmat.dense.tsv", [[0, 1], [1, 0]])
    (tmp_path / "atlas-Probe_nodeindices.tsv").write_text(
        "matrix_index\tnode_file\tnode_index\tlabel\n1\tatlas-Probe\t7\tR.A1\n"
        "0\tatlas-Probe\t3\tL.A1\n"
    )
    assert read_relmat(path)[1] == ("L.A1", "R.A1")


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    (tmp_path / "x.json").mkdir()  # os.replace onto a directory fails
    with pytest.raises(OSError):
        write_json(tmp_path / "x.json", {"a": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json"]


def test_write_rejects_wrong_labels(tmp_path):
    with pytest.raises(ValueError, match="3 labels for a 2x2"):
        write_relmat(tmp_path / NAME, np.eye(2), ["a", "b", "c"])
    assert not (tmp_path / NAME).exists()
