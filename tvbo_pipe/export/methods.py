"""A methods paragraph for a subject report, written from the run's configuration.

:func:`methods_text` describes what was simulated and fitted (model,
coupling, integrator, step, noise, BOLD, losses, optimiser, steps) in
prose and returns the references it cites: the model's own (from the model
registry) and those of the tools (TVB, JAX, optax, Snakemake, BIDS, the
optimiser).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

#: Citations of the tools, by key.
TOOL_REFERENCES: dict[str, str] = {
    "tvb": "Sanz Leon P, Knock SA, Woodman MM, Domide L, Mersmann J, McIntosh AR, Jirsa V "
    "(2013). The Virtual Brain: a simulator of primate brain network dynamics. Frontiers in "
    "Neuroinformatics 7:10. doi:10.3389/fninf.2013.00010",
    "jax": "Bradbury J, Frostig R, Hawkins P, Johnson MJ, Leary C, Maclaurin D, Necula G, "
    "Paszke A, VanderPlas J, Wanderman-Milne S, Zhang Q (2018). JAX: composable "
    "transformations of Python+NumPy programs. https://github.com/jax-ml/jax",
    "optax": "DeepMind et al. (2020). The DeepMind JAX Ecosystem (optax). "
    "https://github.com/google-deepmind/optax",
    "snakemake": "Mölder F, Jablonski KP, Letcher B, et al. (2021). Sustainable data analysis "
    "with Snakemake. F1000Research 10:33. doi:10.12688/f1000research.29032.2",
    "bids": "Gorgolewski KJ, Auer T, Calhoun VD, et al. (2016). The brain imaging data "
    "structure, a format for organizing and describing outputs of neuroimaging experiments. "
    "Scientific Data 3:160044. doi:10.1038/sdata.2016.44",
    "balloon": "Friston KJ, Mechelli A, Turner R, Price CJ (2000). Nonlinear responses in fMRI: "
    "the Balloon model, Volterra kernels, and other hemodynamics. NeuroImage 12(4):466-477. "
    "doi:10.1006/nimg.2000.0630",
    "adam": "Kingma DP, Ba J (2015). Adam: a method for stochastic optimization. ICLR. "
    "arXiv:1412.6980",
    "fcd": "Hansen ECA, Battaglia D, Spiegler A, Deco G, Jirsa VK (2015). Functional "
    "connectivity dynamics: modeling the switching behavior of the resting state. NeuroImage "
    "105:525-535. doi:10.1016/j.neuroimage.2014.11.001",
}

_LOSS_TEXT = {
    "rmse": "the root mean squared difference of the FC upper triangles",
    "one_minus_corr": "one minus the Pearson correlation of the FC upper triangles",
    "combined": "a weighted sum of one minus the Pearson correlation and the root mean "
    "squared difference of the FC upper triangles",
}


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:g}"
    return str(x)


def _bounds(parameters: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} in [{_fmt(v[0])}, {_fmt(v[1])}]" for k, v in parameters.items())


def methods_text(experiment, params: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """Methods paragraphs and the references they cite.

    Args:
        experiment: The :class:`~tvbo_pipe.experiment.Experiment` as configured.
        params: The export stage's configuration sections: ``simulation``,
            ``empirical_fc``, ``connectome``, optionally ``observation``,
            ``explore``, ``fit_global``, ``fit_regional``, ``simulate_fitted``.

    Returns:
        ``(paragraphs, references)``: plain-text paragraphs citing
        ``[k]`` (1-based) into ``references``.
    """
    from ..models import get_model

    refs: list[str] = []

    def cite(text: str) -> str:
        if text not in refs:
            refs.append(text)
        return f"[{refs.index(text) + 1}]"

    model = get_model(experiment.model.name)
    model_cites = "".join(cite(r) for r in model.references)
    integ = experiment.integration
    bold = next((m for m in experiment.monitors if m.kind.bold), None)
    sim = params.get("simulation", {})
    speed = experiment.connectivity.conduction_speed
    delays = (
        "without conduction delays"
        if not math.isfinite(speed)
        else f"with conduction delays (tract lengths / {_fmt(speed)} mm/ms)"
    )
    noise = "without noise"
    if integ.noise is not None:
        noise = (
            f"with additive white noise (sigma {_fmt(integ.noise.sigma)}, "
            f"{integ.noise.convention} convention, seed {integ.seed})"
        )
    duration = sim.get("duration_s")
    duration_text = (
        f"{_fmt(duration)} s" if duration is not None else f"{_fmt(integ.duration / 1000)} s"
    )
    first = (
        f"Each subject's structural connectome (weights normalised by "
        f"{params.get('connectome', {}).get('normalise', 'n/a')}) coupled one "
        f"{experiment.model.name} neural mass {model_cites} per region through "
        f"{experiment.coupling.name} coupling, {delays}. The network was simulated in JAX "
        f"{cite(TOOL_REFERENCES['jax'])}, with the equations of The Virtual Brain "
        f"{cite(TOOL_REFERENCES['tvb'])}, by the {integ.method} scheme with dt = "
        f"{_fmt(integ.dt)} ms {noise}, for {duration_text} per evaluation "
        f"(first {_fmt(sim.get('transient_s'))} s discarded"
        + (", after a warm-up simulation" if sim.get("warmup", True) else "")
        + ")."
    )
    if bold is not None:
        first += (
            f" BOLD was computed by convolution with TVB's {bold.hrf} haemodynamic kernel "
            f"{cite(TOOL_REFERENCES['balloon'])} and sampled every "
            + (
                "repetition time of the subject"
                if sim.get("bold_period_ms") in (None, "auto")
                else f"{_fmt(sim.get('bold_period_ms'))} ms"
            )
            + "."
        )
    obs = params.get("observation", {})
    loss = obs.get("loss", "combined")
    second = (
        "The simulated functional connectivity (FC: Pearson correlation of the simulated BOLD "
        "between regions) was compared with the empirical FC of the subject's resting-state runs "
        f"by {_LOSS_TEXT.get(loss, loss)}"
        + (
            f" (weights {', '.join(f'{k} {_fmt(v)}' for k, v in obs['weights'].items())})"
            if loss == "combined" and obs.get("weights")
            else ""
        )
        + "."
    )
    realisations = int(sim.get("realisations", 1))
    if realisations > 1:
        second += f" Each evaluation averaged the FCs of {realisations} noise realisations."
    stages = []
    ex = params.get("explore")
    if ex:
        stages.append(
            f"the loss was evaluated on a {ex.get('method')} of {ex.get('n')} points per "
            f"parameter over {_bounds(ex.get('parameters', {}))}"
        )
    for name, what in (("fit_global", "global"), ("fit_regional", "regional")):
        cfg = params.get(name)
        if not cfg:
            continue
        opt = str(cfg.get("optimizer", "adam"))
        opt_cite = cite(TOOL_REFERENCES["adam"]) if opt.startswith("adam") else ""
        stages.append(
            f"the {what} parameters ({_bounds(cfg.get('parameters', {}))}) were fitted by "
            f"gradient descent through the simulation with optax {cite(TOOL_REFERENCES['optax'])} "
            f"({opt}{' ' + opt_cite if opt_cite else ''}, learning rate "
            f"{_fmt(cfg.get('learning_rate'))}, at most {cfg.get('steps')} steps, stopped "
            f"after {cfg.get('patience')} steps without a relative improvement of "
            f"{_fmt(cfg.get('tol'))}; the best values seen were kept)"
        )
    if stages:
        second += " Then " + "; then ".join(stages) + "."
    third = "The fitted model was simulated once more with the fit's noise (reported FC, FCD "
    fcd = params.get("empirical_fc", {}).get("fcd", {})
    if fcd.get("enabled"):
        third += (
            f"{cite(TOOL_REFERENCES['fcd'])} with {_fmt(fcd.get('window_s'))} s windows every "
            f"{_fmt(fcd.get('step_s'))} s, compared by the Kolmogorov-Smirnov distance"
        )
    else:
        third += "not computed"
    k = params.get("simulate_fitted", {}).get("fresh_seeds")
    third += ")"
    if k:
        third += f" and with {k} fresh noise seeds the fit never saw (robustness)"
    third += (
        "; the correlation between the SC weights and the empirical FC is the baseline a "
        f"model has to beat. The workflow ran in Snakemake {cite(TOOL_REFERENCES['snakemake'])} "
        f"and wrote a BIDS derivative {cite(TOOL_REFERENCES['bids'])}."
    )
    return [first, second, third], refs


__all__ = ["TOOL_REFERENCES", "methods_text"]
