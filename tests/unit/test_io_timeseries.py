"""Functional data loaders: time-series TSV, BOLD parcellation, FC relmat."""

from __future__ import annotations

import json
import warnings

import nibabel as nib
import numpy as np
import pytest

from tvbo_pipe.errors import InputError
from tvbo_pipe.io.relmat import write_relmat
from tvbo_pipe.io.timeseries import (
    RegionTimeSeries,
    load_fc_relmat,
    load_timeseries_tsv,
    parcellate_bold,
)

TS_NAME = "sub-01_task-rest_atlas-Toy_timeseries.tsv"


def _write_ts(tmp_path, data, labels=("A", "B", "C"), sidecar=None, name=TS_NAME):
    path = tmp_path / name
    rows = ["\t".join(labels)] + ["\t".join(repr(float(x)) for x in row) for row in data]
    path.write_text("\n".join(rows) + "\n")
    if sidecar is not None:
        (tmp_path / name.replace(".tsv", ".json")).write_text(json.dumps(sidecar))
    return path


# --------------------------------------------------------------------------- TSV


def test_timeseries_tsv(tmp_path):
    data = np.random.default_rng(1).standard_normal((20, 3))
    path = _write_ts(tmp_path, data, sidecar={"RepetitionTime": 2.0})
    ts = load_timeseries_tsv(path)
    assert isinstance(ts, RegionTimeSeries)
    assert np.array_equal(ts.data, data) and ts.labels == ("A", "B", "C")
    assert ts.tr == 2.0 and ts.n_volumes == 20 and ts.n_regions == 3 and ts.duration == 40.0
    assert ts.source == str(path)


def test_timeseries_tr_sources(tmp_path):
    data = np.zeros((5, 3)) + np.arange(5)[:, None]
    path = _write_ts(tmp_path, data, sidecar={"SamplingFrequency": 0.5})
    assert load_timeseries_tsv(path).tr == 2.0
    with pytest.warns(UserWarning, match="tr=0.72 s given explicitly, although"):
        assert load_timeseries_tsv(path, tr=0.72).tr == 0.72
    path2 = _write_ts(tmp_path, data, name="other_timeseries.tsv")
    assert load_timeseries_tsv(path2, tr=1.5).tr == 1.5


def test_timeseries_tsv_gz(tmp_path):
    import gzip

    path = tmp_path / "sub-01_timeseries.tsv.gz"
    path.write_bytes(gzip.compress(b"A\tB\n1\t2\n3\t4\n5\t6\n"))
    (tmp_path / "sub-01_timeseries.json").write_text('{"RepetitionTime": 0.8}')
    ts = load_timeseries_tsv(path)
    assert ts.tr == 0.8 and ts.data.tolist() == [[1, 2], [3, 4], [5, 6]]


def test_timeseries_missing_tr(tmp_path):
    path = _write_ts(tmp_path, np.ones((5, 3)))
    with pytest.raises(InputError, match="no repetition time: looked for") as e:
        load_timeseries_tsv(path, subject="01")
    msg = str(e.value)
    assert str(path) in msg and str(path.with_suffix(".json")) in msg
    assert "does not exist" in msg and "explicit tr=" in msg and "subject 01" in msg
    path.with_suffix(".json").write_text('{"TaskName": "rest"}')
    with pytest.raises(InputError, match="RepetitionTime") as e:
        load_timeseries_tsv(path)
    assert "does not exist" not in str(e.value)


def test_timeseries_tr_in_ms(tmp_path):
    path = _write_ts(tmp_path, np.ones((5, 3)), sidecar={"RepetitionTime": 2000})
    with pytest.raises(InputError, match="looks like milliseconds; expected seconds") as e:
        load_timeseries_tsv(path)
    assert str(path.with_suffix(".json")) in str(e.value)


@pytest.mark.parametrize(
    "value, expected",
    [
        (np.nan, r"region 'B' is nan at volume 3 \(line 4\); expected finite values"),
        (np.inf, r"region 'B' is inf at volume 3 \(line 4\); expected finite values"),
    ],
)
def test_timeseries_nonfinite(tmp_path, value, expected):
    data = np.ones((6, 3))
    data[2, 1] = value
    path = _write_ts(tmp_path, data, sidecar={"RepetitionTime": 2.0})
    with pytest.raises(InputError, match=expected) as e:
        load_timeseries_tsv(path)
    assert str(path) in str(e.value)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("A\tB\n1\t2\n3\t4\n", r"has 2 volume\(s\); expected at least 3"),
        ("A\tB\n1\t2\n3\n5\t6\n", "line 3 has 1 tab-separated values but the header lists 2"),
        ("A\tB\n1\t2\n3\tx\n5\t6\n", "line 3, region 'B': 'x' is not a number"),
        ("A\tB\n1\tn/a\n3\t4\n5\t6\n", r"region 'B' is nan at volume 1 \(line 2\)"),
        ("1\t2\n1\t2\n3\t4\n5\t6\n", "line 1 holds numbers; expected .* header row"),
        ("A\tA\n1\t2\n3\t4\n5\t6\n", "region labels must be unique; repeated: A"),
        ("", "file is empty"),
    ],
)
def test_timeseries_bad_tsv(tmp_path, text, expected):
    path = tmp_path / TS_NAME
    path.write_text(text)
    path.with_suffix(".json").write_text('{"RepetitionTime": 2.0}')
    with pytest.raises(InputError, match=expected) as e:
        load_timeseries_tsv(path)
    assert str(path) in str(e.value)


# --------------------------------------------------------------------------- BOLD


AFFINE = np.diag([3.0, 3.0, 3.0, 1.0])
AFFINE[:3, 3] = [-10.0, 20.0, 5.0]


def _bold_and_dseg(tmp_path, *, n_vol=8, sidecar_tr=2.0, time_units="sec", zoom_t=2.5):
    seg = np.zeros((4, 3, 2), dtype=np.int16)
    seg[0:2, :, :] = 1
    seg[2, :, 0] = 3
    seg[3, 0, 1] = 7
    rng = np.random.default_rng(2)
    bold = rng.standard_normal((4, 3, 2, n_vol)).astype(np.float32) + 100.0
    bold_img = nib.Nifti1Image(bold, AFFINE)
    bold_img.header.set_zooms((3.0, 3.0, 3.0, zoom_t))
    bold_img.header.set_xyzt_units("mm", time_units)
    bp = tmp_path / "sub-01_task-rest_space-T1w_desc-preproc_bold.nii.gz"
    dp = tmp_path / "sub-01_space-T1w_atlas-Toy_dseg.nii.gz"
    nib.save(bold_img, bp)
    nib.save(nib.Nifti1Image(seg, AFFINE), dp)
    if sidecar_tr is not None:
        (tmp_path / "sub-01_task-rest_space-T1w_desc-preproc_bold.json").write_text(
            json.dumps({"RepetitionTime": sidecar_tr})
        )
    expected = np.stack([bold[seg == k].mean(axis=0, dtype=np.float64) for k in (1, 3, 7)], 1)
    return bp, dp, expected


def test_parcellate_bold_without_tsv(tmp_path):
    bp, dp, expected = _bold_and_dseg(tmp_path)
    ts = parcellate_bold(bp, dp)
    assert ts.labels == ("label-1", "label-3", "label-7")
    assert ts.data.shape == (8, 3) and ts.tr == 2.0 and ts.source == str(bp)
    np.testing.assert_allclose(ts.data, expected, rtol=1e-12)


def test_parcellate_bold_tsv_order_and_missing_label_warning(tmp_path):
    bp, dp, expected = _bold_and_dseg(tmp_path)
    tsv = tmp_path / "sub-01_space-T1w_atlas-Toy_dseg.tsv"
    tsv.write_text("index\tname\n0\tBackground\n7\tSeven\n5\tGhost\n1\tOne\n3\tThree\n")
    with pytest.warns(UserWarning, match="region 'Ghost' \\(index 5\\) has no voxels") as rec:
        ts = parcellate_bold(bp, dp, tsv)
    assert str(tsv) in str(rec[0].message) and str(dp) in str(rec[0].message)
    assert ts.labels == ("Seven", "One", "Three")
    np.testing.assert_allclose(ts.data, expected[:, [2, 0, 1]], rtol=1e-12)


def test_parcellate_bold_unlisted_label(tmp_path):
    bp, dp, _ = _bold_and_dseg(tmp_path)
    tsv = tmp_path / "dseg.tsv"
    tsv.write_text("index\tname\n1\tOne\n3\tThree\n")
    with pytest.raises(InputError, match=r"holds label\(s\) \[7\] that dseg.tsv does not") as e:
        parcellate_bold(bp, dp, tsv)
    assert str(tsv) in str(e.value) and str(dp) in str(e.value)


@pytest.mark.parametrize(
    "units, zoom, tr", [("sec", 2.5, 2.5), ("msec", 800.0, 0.8), ("unknown", 1.5, 1.5)]
)
def test_parcellate_bold_tr_from_header(tmp_path, units, zoom, tr):
    bp, dp, _ = _bold_and_dseg(tmp_path, sidecar_tr=None, time_units=units, zoom_t=zoom)
    assert parcellate_bold(bp, dp).tr == pytest.approx(tr)


def test_parcellate_bold_no_tr(tmp_path):
    bp, dp, _ = _bold_and_dseg(tmp_path, sidecar_tr=None, zoom_t=0.0)
    with pytest.raises(InputError, match="no repetition time") as e:
        parcellate_bold(bp, dp)
    assert str(bp) in str(e.value) and "pixdim[4]" in str(e.value)


def test_parcellate_bold_grid_mismatch(tmp_path):
    bp, _, _ = _bold_and_dseg(tmp_path)
    shifted = AFFINE.copy()
    shifted[0, 3] += 1.5
    other = tmp_path / "shifted_dseg.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((4, 3, 2), np.int16), shifted), other)
    with pytest.raises(InputError, match="not on the same voxel grid") as e:
        parcellate_bold(bp, other)
    assert str(bp) in str(e.value) and str(other) in str(e.value)
    small = tmp_path / "small_dseg.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((4, 3, 3), np.int16), AFFINE), small)
    with pytest.raises(
        InputError, match=r"\(grid \(4, 3, 3\)\) and BOLD .* \(grid \(4, 3, 2\)\)"
    ) as e:
        parcellate_bold(bp, small)
    assert str(bp) in str(e.value) and str(small) in str(e.value)
    assert "same shape and affine expected" in str(e.value)


def test_parcellate_bold_bad_inputs(tmp_path):
    bp, dp, _ = _bold_and_dseg(tmp_path)
    prob = tmp_path / "prob_dseg.nii.gz"
    nib.save(nib.Nifti1Image(np.full((4, 3, 2), 0.3, np.float32), AFFINE), prob)
    with pytest.raises(InputError, match=r"non-integer value 0\.3.*expected integer") as e:
        parcellate_bold(bp, prob)
    assert str(prob) in str(e.value)
    with pytest.raises(InputError, match="expected a 4-D BOLD image") as e:
        parcellate_bold(dp, dp)
    (tmp_path / "short").mkdir()
    short_bold, short_dseg, _ = _bold_and_dseg(tmp_path / "short", n_vol=2)
    with pytest.raises(InputError, match=r"has 2 volume\(s\); expected at least 3") as e:
        parcellate_bold(short_bold, short_dseg)
    assert str(short_bold) in str(e.value)
    nan_bold = tmp_path / "nan_bold.nii.gz"
    data = np.ones((4, 3, 2, 5), np.float32)
    data[3, 0, 1, 4] = np.nan
    nib.save(nib.Nifti1Image(data, AFFINE), nan_bold)
    with pytest.raises(InputError, match=r"region 'label-7' is nan at volume 5") as e:
        parcellate_bold(nan_bold, dp)
    assert str(nan_bold) in str(e.value)
    with pytest.raises(InputError, match="file not found; expected a 4-D BOLD"):
        parcellate_bold(tmp_path / "nope.nii.gz", dp)


# --------------------------------------------------------------------------- FC relmat


def _fc(n=4, seed=3):
    x = np.random.default_rng(seed).standard_normal((50, n))
    return np.corrcoef(x.T)


def test_fc_relmat(tmp_path):
    fc = _fc()
    fc = (fc + fc.T) / 2
    np.fill_diagonal(fc, 1.0)
    path = tmp_path / "sub-01_atlas-Toy_meas-pearson_relmat.dense.tsv"
    write_relmat(path, fc, ["a", "b", "c", "d"], {"RelationshipMeasure": "pearson"})
    got, labels = load_fc_relmat(path)
    assert np.array_equal(got, fc) and labels == ("a", "b", "c", "d")
    np.fill_diagonal(fc, 0.0)
    write_relmat(path, fc, ["a", "b", "c", "d"])
    assert load_fc_relmat(path)[0][0, 0] == 0.0


def _sym(fc):
    fc = (fc + fc.T) / 2
    np.fill_diagonal(fc, 1.0)
    return fc


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda m: m[:3], "FC must be a non-empty square matrix"),
        (lambda m: np.where(np.eye(4, dtype=bool), np.nan, m), "FC values contain 4 NaN/Inf"),
        (lambda m: m + np.triu(np.full((4, 4), 0.01), 1), "FC is not symmetric"),
        (lambda m: np.arctanh(np.clip(m, -0.999, 0.999)) * 3, "outside \\[-1, 1\\]"),
        (lambda m: np.where(np.eye(4, dtype=bool), 0.5, m), "diagonal entry 0 is 0.5"),
    ],
)
def test_fc_relmat_bad(tmp_path, edit, expected):
    m = edit(_sym(_fc()))
    path = tmp_path / "fc_relmat.dense.tsv"
    write_relmat(path, m, [f"r{k}" for k in range(m.shape[0])])
    with pytest.raises(InputError, match=expected) as e:
        load_fc_relmat(path)
    assert str(path) in str(e.value)


def test_warnings_are_not_raised_for_clean_inputs(tmp_path):
    bp, dp, _ = _bold_and_dseg(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parcellate_bold(bp, dp)
