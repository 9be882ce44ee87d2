"""Model reports: every registry model, Markdown and self-contained HTML."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from tvbo_pipe.experiment import Experiment
from tvbo_pipe.export import model_report
from tvbo_pipe.models import MODELS

MODEL_NAMES = list(MODELS)
_VOID = {"meta", "br", "hr", "img", "link", "input"}


class _TagChecker(HTMLParser):
    """Collects text and checks that every opened element is closed in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs) -> None:
        self.tags.append(tag)
        if tag not in _VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(f"unexpected </{tag}>")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_markdown_report(name: str) -> None:
    model = MODELS[name]
    text = model_report(model)
    assert text.startswith(f"# {name}\n")
    assert model.description in text
    for latex in model.equations.values():
        assert f"$$\n{latex}\n$$" in text
    for p in model.parameters:
        assert f"\n| {p.name} | " in text
    for sv in model.state_variables:
        assert f"\n| {sv.name} | " in text
    for ref in model.references:
        assert f"- {ref}" in text
    for v in model.state_variable_names:
        assert f"d{v}/dt = {model.rhs[v]}" in text
    assert "## Coupling variables" in text
    assert ", ".join(model.state_variable_names[i] for i in model.cvar) in text
    # every table row has as many cells as its header
    for block in text.split("\n\n"):
        rows = [r for r in block.splitlines() if r.startswith("|")]
        if rows:
            widths = {r.replace("\\|", "").count("|") for r in rows}
            assert len(widths) == 1, block


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_html_report_is_self_contained_and_escaped(name: str) -> None:
    model = MODELS[name]
    page = model_report(name, format="html")
    assert page.startswith("<!DOCTYPE html>")
    checker = _TagChecker()
    checker.feed(page)
    checker.close()
    assert not checker.errors and not checker.stack
    assert "script" not in checker.tags and "link" not in checker.tags
    text = "".join(checker.text)
    for latex in model.equations.values():
        assert f"$${latex}$$" in text  # the LaTeX survives escaping exactly
    for p in model.parameters:
        assert p.description in text
    assert 'href="https://doi.org/10.' in page


def test_html_escapes_markup_in_latex() -> None:
    page = model_report("Epileptor", format="html")
    assert "x_{1,k} &lt; 0" in page  # the LaTeX derived from where(x1 < 0, ...)
    assert "x_{1,k} < 0" not in page


def test_experiment_report_shows_its_values_and_coupling() -> None:
    exp = Experiment.from_dict(
        {
            "model": {"name": "ReducedWongWang", "parameters": {"w": 0.45, "I_o": [0.3, 0.35]}},
            "coupling": {"name": "Linear", "parameters": {"a": 0.5}},
        }
    )
    text = model_report(exp)
    assert "| w | 0.45 | 0.6 |" in text
    assert "| I_o | regional, 2 values in [0.3, 0.35] | 0.33 |" in text
    assert "## Coupling function: Linear" in text
    assert "| a | 0.5 | 0.00390625 |" in text
    html_text = model_report(exp, format="html")
    assert "Coupling function: Linear" in html_text


def test_unknown_format() -> None:
    with pytest.raises(ValueError, match="markdown, html"):
        model_report("SupHopf", format="pdf")
