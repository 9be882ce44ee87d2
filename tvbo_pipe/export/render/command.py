"""``tvbo-pipe render``: print the code, LEMS or report an experiment (or a model) becomes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from ...errors import InputError
from ...experiment import Experiment
from ...io.relmat import write_text_atomic
from ...models import MODELS
from ..lems import to_lems
from ..report import model_report
from .common import TARGETS
from .targets import render_code


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tvbo_pipe render --target TARGET EXPERIMENT_YAML [-o FILE]``."""
    parser = argparse.ArgumentParser(
        prog="python -m tvbo_pipe render",
        description="Print the code, LEMS or report an experiment (or a model) becomes.",
    )
    parser.add_argument(
        "--target",
        required=True,
        choices=(*TARGETS, "lems", "report"),
        help="jax/python/julia code, BEP034-style LEMS XML, or the model report",
    )
    parser.add_argument(
        "--format", default="markdown", choices=("markdown", "html"), help="report format"
    )
    parser.add_argument("experiment", help="experiment YAML file, or a registry model name")
    parser.add_argument("-o", "--output", default=None, help="write here instead of stdout")
    args = parser.parse_args(argv)
    try:
        source: Any = (
            args.experiment if args.experiment in MODELS else Experiment.load(args.experiment)
        )
        if args.target == "lems":
            text = to_lems(source)
        elif args.target == "report":
            text = model_report(source, format=args.format)
        else:
            text = render_code(source, args.target)
    except (InputError, NotImplementedError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.output:
        write_text_atomic(args.output, text)
    else:
        sys.stdout.write(text)
    return 0


__all__ = ["main"]
