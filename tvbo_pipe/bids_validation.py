"""Check the input dataset with the BIDS validator before a BIDS-app run.

``bids-validator-deno`` (the BIDS validator, installed with tvbo_pipe's test
extra or ``pip install bids-validator-deno``) runs on BIDS_DIR with the config
shipped as ``tvbo_pipe/data/bids_validator_config.json``: it ignores
NOT_INCLUDED for BEP017 connectivity matrices (``*_relmat.*``) and region time
series (``*_timeseries.*``), the inputs tvbo_pipe reads, which the BIDS
specification does not define yet (a dataset may also list them in its
``.bidsignore``). Any other error stops the run; warnings do not.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

CONFIG = Path(__file__).resolve().parent / "data" / "bids_validator_config.json"
VALIDATOR = "bids-validator-deno"


def validator_errors(bids_dir: str | Path, *, executable: str | None = None) -> list[str]:
    """The validator's errors for ``bids_dir``, one line each (empty: valid).

    Args:
        bids_dir: The input dataset.
        executable: The validator command (default: ``bids-validator-deno`` on PATH).

    Raises:
        FileNotFoundError: the validator is not installed.
        RuntimeError: the validator did not produce a report.
    """
    exe = executable or shutil.which(VALIDATOR)
    if exe is None:
        raise FileNotFoundError(
            f"{VALIDATOR} not found: pip install bids-validator-deno, or pass "
            "--skip-bids-validation"
        )
    cmd = [exe, str(bids_dir), "--config", str(CONFIG), "--format", "json"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    try:
        report = json.loads(res.stdout)
    except json.JSONDecodeError:
        raise RuntimeError(
            f"{VALIDATOR} gave no report (exit status {res.returncode}): {res.stderr[-1000:]}"
        ) from None
    errors = []
    for issue in report.get("issues", {}).get("issues", []):
        if issue.get("severity") == "error":
            where = issue.get("location", "")
            what = issue.get("code", "?") + (
                f" ({issue['subCode']})" if issue.get("subCode") else ""
            )
            errors.append(f"{what}: {where}" if where else what)
    return errors
