"""Ready-made stacks: the paper's three- and five-terminal junctions and its Fig. 2 mechanisms.

All start from a ``model.JunctionParams`` (names and defaults of ``shared/model.md``) and
return a ``stack.Stack`` with side leads named L (-x), R (+x), F (-y), B (+y) and the magnetic
top lead M, so ``StackTransmissions.five_terminal`` feeds ``response.conversions``.

Fig. 2 of G. Fleury, M. Barth, C. Gorini, PRB 108, L081402 (2023) sorts the mechanisms by
where inversion symmetry is broken: in the barrier only (tunneling inverse spin Hall effect,
here a linear Rashba term alpha1 in the barrier layers), in the 2DEG only (skew tunneling plus
the standard spin galvanic effect, the cubic Rashba alpha3 of the paper's 2DEG) or in both.
"""

from __future__ import annotations

import numpy as np

from .model import JunctionParams, exchange_profile, layer_onsite, validate
from .precision import x64
from .stack import Layer, SideLead, Stack, VerticalLead

MECHANISMS = ("barrier", "2deg", "both")
SIDE_EDGES = {"L": "-x", "R": "+x", "F": "-y", "B": "+y"}


@x64
def junction(p: JunctionParams, barrier_alpha1: float = 0.0) -> Stack:
    """The junction of ``shared/model.md`` (three terminals when ``p.side_leads`` = ("L", "R")).

    Identical Hamiltonian, disorder draw and lead order to ``solve.transmissions``;
    ``barrier_alpha1`` adds a linear Rashba term to the barrier layers.
    """
    validate(p)
    t = float(p.t)
    onsite = np.asarray(layer_onsite(p), dtype=float)
    dxc_z = np.asarray(exchange_profile(p), dtype=float)
    extra = None if p.disorder is None else np.asarray(p.disorder, dtype=float)
    layers = []
    for z in range(p.Lz):
        disordered = z == 0 or p.disorder_layers == "all"
        barrier = z >= p.Lz - p.n_barrier
        layers.append(Layer(
            onsite=onsite[z] if extra is None else onsite[z] + extra[z],
            t=t, tz=t, dxc=dxc_z[z], K0=(p.K0 * t if disordered and extra is None else 0.0),
            alpha3=p.alpha3 if z == 0 else 0.0, alpha1=barrier_alpha1 if barrier else 0.0,
            name="2deg" if z == 0 else ("barrier" if barrier else "transition")))
    side = tuple(SideLead(name, SIDE_EDGES[name], layers=0, width=p.W, onsite=4.0 * t, t=t)
                 for name in ("L", "R", "F", "B") if name in p.side_leads)
    return Stack(p.Lx, p.Ly, tuple(layers), side, top=VerticalLead("M", onsite=6.0 * t, t=t, dxc=float(p.dxc)),
                 theta=p.theta, phi=p.phi, seed=p.seed)


def three_terminal(p: JunctionParams = JunctionParams(), **changes) -> Stack:
    """The set-up of the paper's Fig. 1: side leads L and R and the magnet M."""
    return junction(p.replace(side_leads=("L", "R"), **changes))


def five_terminal(p: JunctionParams = JunctionParams(), **changes) -> Stack:
    """The set-up of the paper's Fig. 3: side leads L, R, F, B and the magnet M."""
    return junction(p.replace(side_leads=("L", "R", "F", "B"), **changes))


def mechanism(kind: str, p: JunctionParams = JunctionParams(), alpha1: float = 0.2) -> Stack:
    """A Fig. 2 mechanism: spin-orbit coupling in the "barrier" only (linear Rashba ``alpha1``
    in the barrier layers, none in the 2DEG), in the "2deg" only (the paper's cubic Rashba
    ``p.alpha3``), or in "both"."""
    if kind not in MECHANISMS:
        raise ValueError(f"kind = {kind!r} must be one of {MECHANISMS}")
    if kind != "2deg" and p.n_barrier < 1:
        raise ValueError(f"n_barrier = {p.n_barrier} must be >= 1 for spin-orbit coupling in the barrier")
    q = p.replace(alpha3=0.0) if kind == "barrier" else p
    return junction(q, barrier_alpha1=alpha1 if kind != "2deg" else 0.0)
