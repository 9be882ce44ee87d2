"""Structural connectome loaders: BEP017, TVB zip, MRtrix CSV, normative."""

from __future__ import annotations

import bz2
import hashlib
import importlib.resources
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tvbo_pipe.errors import InputError
from tvbo_pipe.io.connectome import (
    load_mrtrix_csv,
    load_normative,
    load_relmat_connectome,
    load_tvb_zip,
)
from tvbo_pipe.io.relmat import write_relmat

W_NAME = "sub-01_atlas-Toy_meas-streamlineCount_relmat.dense.tsv"
L_NAME = "sub-01_atlas-Toy_meas-tractLength_relmat.dense.tsv"
LABELS = ("A", "B", "C")
W = np.array([[0.0, 2.0, 1.0], [2.0, 0.0, 0.5], [1.0, 0.5, 0.0]])
L = np.array([[0.0, 30.0, 45.5], [30.0, 0.0, 12.25], [45.5, 12.25, 0.0]])

DK_REGIONS = {
    "bankssts", "caudalanteriorcingulate", "caudalmiddlefrontal", "cuneus", "entorhinal",
    "fusiform", "inferiorparietal", "inferiortemporal", "isthmuscingulate", "lateraloccipital",
    "lateralorbitofrontal", "lingual", "medialorbitofrontal", "middletemporal",
    "parahippocampal", "paracentral", "parsopercularis", "parsorbitalis", "parstriangularis",
    "pericalcarine", "postcentral", "posteriorcingulate", "precentral", "precuneus",
    "rostralanteriorcingulate", "rostralmiddlefrontal", "superiorfrontal", "superiorparietal",
    "superiortemporal", "supramarginal", "frontalpole", "temporalpole", "transversetemporal",
    "insula",
}  # fmt: skip


def _relmats(tmp_path, w=W, lengths=L, wl=LABELS, ll=LABELS):
    wp, lp = tmp_path / W_NAME, tmp_path / L_NAME
    write_relmat(wp, w, wl, {"RelationshipMeasure": "streamlineCount"})
    if lengths is not None:
        write_relmat(lp, lengths, ll, {"RelationshipMeasure": "tractLength", "Units": "mm"})
    return wp, lp


# --------------------------------------------------------------------------- BEP017


def test_relmat_connectome(tmp_path):
    wp, lp = _relmats(tmp_path)
    c = load_relmat_connectome(wp, lp, subject="01")
    assert np.array_equal(c.weights, W) and np.array_equal(c.lengths, L)
    assert c.labels == LABELS and c.atlas == "Toy" and c.source == str(wp)
    assert load_relmat_connectome(wp, atlas="X").lengths is None


def test_relmat_default_labels(tmp_path):
    wp = tmp_path / W_NAME
    wp.write_text("0\t1\n1\t0\n")
    c = load_relmat_connectome(wp)
    assert c.labels == ("R001", "R002") and c.meta["labels_generated"]


def test_relmat_labels_mismatch_names_both(tmp_path):
    wp, lp = _relmats(tmp_path, ll=("A", "C", "B"))
    with pytest.raises(InputError, match="different region labels") as e:
        load_relmat_connectome(wp, lp, subject="01")
    msg = str(e.value)
    assert str(wp) in msg and str(lp) in msg and "subject 01" in msg
    assert "'B' vs 'C'" in msg and "same regions in the same order" in msg


def test_relmat_shape_mismatch_names_both(tmp_path):
    wp, lp = _relmats(tmp_path, lengths=np.ones((2, 2)), ll=("A", "B"))
    with pytest.raises(InputError, match="3x3 but tract lengths") as e:
        load_relmat_connectome(wp, lp)
    assert str(wp) in str(e.value) and str(lp) in str(e.value)
    assert "same shape" in str(e.value)


@pytest.mark.parametrize(
    "bad, which, expected",
    [
        (np.ones((2, 3)), "weights", "SC weights must be a non-empty square matrix; got shape"),
        (np.array([[0, np.nan], [1, 0]]), "weights", "NaN/Inf values .* must be finite"),
        (np.array([[0, np.inf], [1, 0]]), "weights", "NaN/Inf values .* must be finite"),
        (np.array([[0, -1.0], [1, 0]]), "weights", "must be non-negative; found -1"),
        (np.array([[0, -1.0], [1, 0]]), "lengths", r"must be non-negative \(mm\)"),
        (np.array([[0, np.nan], [1, 0]]), "lengths", "tract lengths contain 1 NaN/Inf"),
        (np.ones((2, 3)), "lengths", "tract lengths must be a non-empty square matrix"),
    ],
)
def test_relmat_bad_matrix(tmp_path, bad, which, expected):
    good = np.array([[0.0, 1.0], [1.0, 0.0]])
    w, lengths = (bad, good) if which == "weights" else (good, bad)
    wp, lp = tmp_path / W_NAME, tmp_path / L_NAME
    write_relmat(wp, w, ["a", "b"] if w.shape[0] == 2 else ["a"] * w.shape[0])
    write_relmat(lp, lengths, ["a", "b"])
    with pytest.raises(InputError, match=expected) as e:
        load_relmat_connectome(wp, lp)
    assert str(wp if which == "weights" else lp) in str(e.value)


def test_relmat_ragged_tsv(tmp_path):
    wp = tmp_path / W_NAME
    wp.write_text("0\t1\t2\n1\t0\n2\t1\t0\n")
    with pytest.raises(InputError, match="line 2 has 2 values but line 1 has 3; expected") as e:
        load_relmat_connectome(wp)
    assert str(wp) in str(e.value)


# --------------------------------------------------------------------------- TVB zip


def _tvb_zips() -> list[Path]:
    tvb_data = pytest.importorskip("tvb_data")
    folder = Path(tvb_data.__file__).parent / "connectivity"
    return sorted(folder.glob("*.zip"))


def test_every_tvb_data_zip_loads():
    zips = _tvb_zips()
    names = {z.name for z in zips}
    assert {f"connectivity_{n}.zip" for n in (66, 68, 76, 96, 192)} <= names
    for z in zips:
        c = load_tvb_zip(z)
        n = int(z.stem.split("_")[1]) if z.stem.startswith("connectivity_") else 4
        assert c.weights.shape == (n, n) == c.lengths.shape, z.name
        assert c.centres.shape == (n, 3) and len(c.labels) == n, z.name
        assert c.lengths.max() > 0 and c.weights.max() > 0, z.name


def _write_tvb_zip(path, w, lengths, labels, *, folder="", compress=False):
    def text_matrix(m):
        return "\n".join(" ".join(f"{x:.10e}" for x in row) for row in m) + "\n"

    centres = "".join(f"{lab} {k}.0 {2 * k}.5 -{k}.25\n" for k, lab in enumerate(labels))
    members = {
        "weights.txt": text_matrix(w),
        "tract_lengths.txt": text_matrix(lengths),
        "centres.txt": centres,
        "info.txt": 'weights_unit = "au"\n',
    }
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in members.items():
            data = text.encode()
            if compress:
                name, data = name + ".bz2", bz2.compress(data)
            zf.writestr(folder + name, data)
    return path


def test_tvb_zip_bz2_in_folder(tmp_path):
    z = _write_tvb_zip(tmp_path / "conn.zip", W, L, LABELS, folder="conn/", compress=True)
    c = load_tvb_zip(z)
    assert np.array_equal(c.weights, W) and np.array_equal(c.lengths, L)
    assert c.labels == LABELS
    assert np.array_equal(c.centres[1], [1.0, 2.5, -1.25])
    assert c.meta["members"]["weights"] == "conn/weights.txt.bz2"


def test_tvb_zip_errors(tmp_path):
    not_zip = tmp_path / "x.zip"
    not_zip.write_text("hello")
    with pytest.raises(InputError, match=r"not a zip file.*expected a TVB connectivity zip") as e:
        load_tvb_zip(not_zip)
    assert str(not_zip) in str(e.value)

    missing = tmp_path / "missing.zip"
    with zipfile.ZipFile(missing, "w") as zf:
        zf.writestr("weights.txt", "0 1\n1 0\n")
    with pytest.raises(InputError, match=r"has no tract_lengths.txt .*expected a TVB") as e:
        load_tvb_zip(missing)
    assert str(missing) in str(e.value)

    neg = _write_tvb_zip(tmp_path / "neg.zip", -W, L, LABELS)
    with pytest.raises(InputError, match="non-negative") as e:
        load_tvb_zip(neg)
    assert str(neg) in str(e.value)

    shape = _write_tvb_zip(tmp_path / "shape.zip", W, L[:2, :2], LABELS)
    with pytest.raises(InputError, match=r"are 3x3 but tract lengths .* are 2x2") as e:
        load_tvb_zip(shape)
    assert "member weights.txt" in str(e.value) and "member tract_lengths.txt" in str(e.value)

    few = _write_tvb_zip(tmp_path / "few.zip", W, L, LABELS[:2])
    with pytest.raises(InputError, match="centres list 2 regions") as e:
        load_tvb_zip(few)
    assert "few.zip [member centres.txt]" in str(e.value)


# --------------------------------------------------------------------------- MRtrix


def test_mrtrix_upper_triangular_is_symmetrised(tmp_path):
    upper = np.triu(W)
    wp = tmp_path / "connectome.csv"
    wp.write_text("\n".join(",".join(repr(float(x)) for x in row) for row in upper) + "\n")
    lp = tmp_path / "lengths.txt"  # whitespace-separated, full matrix, with a comment line
    lp.write_text("# command_history: tck2connectome ...\n" + "\n".join(
        " ".join(repr(float(x)) for x in row) for row in L
    ) + "\n")  # fmt: skip
    c = load_mrtrix_csv(wp, lp)
    assert np.array_equal(c.weights, W) and np.array_equal(c.lengths, L)
    assert c.labels == ("R001", "R002", "R003")
    assert c.meta["symmetrised"] == {"weights": True, "lengths": False}


@pytest.mark.parametrize(
    "text",
    [
        "A\nB\nC\n",  # one label per line
        "# FreeSurfer-like LUT\n0 Unknown 0 0 0 0\n3 C 1 1 1 255\n1 A 1 1 1 255\n2 B 1 1 1 255\n",
        "index\tname\n1\tA\n2\tB\n3\tC\n",
    ],
)
def test_mrtrix_labels_files(tmp_path, text):
    wp = tmp_path / "w.csv"
    wp.write_text("0 2 1\n2 0 0.5\n1 0.5 0\n")
    lab = tmp_path / "labels.txt"
    lab.write_text(text)
    assert load_mrtrix_csv(wp, labels=lab).labels == LABELS
    assert load_mrtrix_csv(wp, labels=list(LABELS)).labels == LABELS


def test_mrtrix_errors(tmp_path):
    wp = tmp_path / "w.csv"
    wp.write_text("0,1,2\n1,0,3\n")
    with pytest.raises(InputError, match=r"non-empty square matrix; got shape \(2, 3\)") as e:
        load_mrtrix_csv(wp)
    assert str(wp) in str(e.value)
    wp.write_text("0,1\n1,0\n")
    lab = tmp_path / "labels.txt"
    lab.write_text("A\nB\nC\n")
    with pytest.raises(InputError, match="lists 3 regions but the connectome has 2") as e:
        load_mrtrix_csv(wp, labels=lab)
    assert str(lab) in str(e.value)
    lp = tmp_path / "l.csv"
    lp.write_text("0,1,1\n1,0,1\n1,1,0\n")
    with pytest.raises(InputError, match="same shape") as e:
        load_mrtrix_csv(wp, lp)
    assert str(wp) in str(e.value) and str(lp) in str(e.value)
    wp.write_text("0,nan\n1,0\n")
    with pytest.raises(InputError, match="NaN/Inf") as e:
        load_mrtrix_csv(wp)
    assert str(wp) in str(e.value)


# --------------------------------------------------------------------------- normative


@pytest.mark.parametrize("name", ["tvb76", "TVB76", "default", "Default"])
def test_normative_tvb76(name):
    c = load_normative(name)
    assert c.n_regions == 76 and c.atlas == "TVB76" and c.lengths is not None
    assert c.labels[:2] == ("rA1", "rA2")


@pytest.mark.parametrize("name", ["dk68", "DK68", "DesikanKilliany68", "desikankilliany68"])
def test_normative_dk68_is_desikan_killiany_cortical(name):
    c = load_normative(name)
    assert c.n_regions == 68 and c.atlas == "DesikanKilliany68"
    assert {lab[2:] for lab in c.labels if lab.startswith("r_")} == DK_REGIONS
    assert {lab[2:] for lab in c.labels if lab.startswith("l_")} == DK_REGIONS


def test_normative_files_match_readme_and_tvb_data():
    folder = importlib.resources.files("tvbo_pipe") / "data" / "connectomes"
    readme = (folder / "README.md").read_text()
    assert "GPL-3.0-or-later" in readme and "tvb-data 3.0.0" in readme
    for name in ("tvb76.zip", "dk68.zip"):
        md5 = hashlib.md5((folder / name).read_bytes()).hexdigest()
        assert md5 in readme, name
    zips = {z.name: z for z in _tvb_zips()}
    assert (folder / "tvb76.zip").read_bytes() == zips["connectivity_76.zip"].read_bytes()
    assert (folder / "dk68.zip").read_bytes() == zips["connectivity_68.zip"].read_bytes()


def test_normative_unknown_lists_valid_names():
    with pytest.raises(InputError, match="unknown normative connectome 'aal'") as e:
        load_normative("aal")
    for name in ("tvb76", "default", "dk68", "DesikanKilliany68"):
        assert name in str(e.value)
