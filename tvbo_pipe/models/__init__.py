"""Neural mass models with TVB's names, parameters and equations, in pure JAX.

``MODELS`` maps TVB's class name to a :class:`~tvbo_pipe.models.base.Model`;
``get_model(name)`` looks one up.
"""

from __future__ import annotations

from tvbo_pipe.models.base import Array, DFun, Model, Parameter, StateVariable
from tvbo_pipe.models.epileptor import Epileptor
from tvbo_pipe.models.generic_2d_oscillator import Generic2dOscillator
from tvbo_pipe.models.jansen_rit import JansenRit
from tvbo_pipe.models.kuramoto import Kuramoto
from tvbo_pipe.models.larter_breakspear import LarterBreakspear
from tvbo_pipe.models.montbrio_pazo_roxin import MontbrioPazoRoxin
from tvbo_pipe.models.reduced_wong_wang import ReducedWongWang
from tvbo_pipe.models.reduced_wong_wang_exc_inh import ReducedWongWangExcInh
from tvbo_pipe.models.sup_hopf import SupHopf
from tvbo_pipe.models.wilson_cowan import WilsonCowan

MODELS: dict[str, Model] = {
    m.name: m
    for m in (
        ReducedWongWang,
        ReducedWongWangExcInh,
        Generic2dOscillator,
        SupHopf,
        Kuramoto,
        JansenRit,
        WilsonCowan,
        MontbrioPazoRoxin,
        Epileptor,
        LarterBreakspear,
    )
}


def get_model(name: str) -> Model:
    """Return the registered model called ``name`` (TVB's class name).

    Raises:
        KeyError: If no model has that name; the message lists the valid names.
    """
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; valid models: {', '.join(MODELS)}") from None


__all__ = [
    "MODELS",
    "Array",
    "DFun",
    "Epileptor",
    "Generic2dOscillator",
    "JansenRit",
    "Kuramoto",
    "LarterBreakspear",
    "Model",
    "MontbrioPazoRoxin",
    "Parameter",
    "ReducedWongWang",
    "ReducedWongWangExcInh",
    "StateVariable",
    "SupHopf",
    "WilsonCowan",
    "get_model",
]
