"""Bad input gives a ValueError naming the parameter, its value and what is allowed (before anything is traced)."""

import numpy as np
import pytest

from jaxsge import JunctionParams, Layer, SideLead, Stack, VerticalLead, junction, solve, transmissions
from jaxsge.model.system import junction_system, stack_system

SMALL = dict(Lx=6, Ly=5, Lz=3, W=3, n_barrier=1)


@pytest.mark.parametrize("change,match", [
    (dict(W=7), r"W = 7 must satisfy 1 <= W <= min\(Lx, Ly\) = 5"),
    (dict(Lx=0), r"Lx = 0 must be a positive integer"),
    (dict(Lz=-1), r"Lz = -1 must be a positive integer"),
    (dict(n_barrier=3), r"n_barrier = 3 must satisfy 0 <= n_barrier < Lz = 3"),
    (dict(Lx=4.5), r"Lx = 4.5 must be an integer"),
    (dict(seed=2 ** 63), r"seed = 9223372036854775808 must satisfy 0 <= seed < 2\*\*63"),
    (dict(mu=float("nan")), r"mu = nan must be finite"),
    (dict(alpha3=float("inf")), r"alpha3 = inf must be finite"),
    (dict(alpha3="x"), r"alpha3 = 'x' must be a real number"),
    (dict(t=0.0), r"t = 0.0 must be > 0"),
    (dict(xi=-1.0), r"xi = -1.0 must be > 0"),
    (dict(K0=-0.1), r"K0 = -0.1 must be >= 0"),
    (dict(alpha1=0.2, n_barrier=0), r"alpha1 = 0.2 is the linear Rashba coupling of the barrier layers"),
    (dict(disorder=np.zeros((3, 5, 6))), r"disorder has shape \(3, 5, 6\); it must have shape \(3, 6, 5\)"),
    (dict(disorder=np.zeros((1, 3, 6, 5))), r"disorder has shape \(1, 3, 6, 5\); it must have shape \(3, 6, 5\)"),
    (dict(disorder=np.full((3, 6, 5), "a")), r"disorder must hold real numbers"),
    (dict(disorder=np.zeros((3, 6, 5), bool)), r"disorder must hold real numbers"),
    (dict(disorder=np.full((3, 6, 5), np.nan)), r"disorder must hold finite numbers"),
    (dict(dxc_profile=np.zeros(4)), r"dxc_profile has shape \(4,\); it must have shape \(3,\)"),
    (dict(disorder_layers="top"), r"disorder_layers = 'top' must be one of"),
    (dict(side_leads=("L", "X")), r"side_leads = \('L', 'X'\) must be a non-empty selection"),
    (dict(mu=-1.0), r"side lead 'L' has no open channel at the energies asked for"),
])
def test_bad_junction_input_is_a_clear_error(change, match):
    with pytest.raises(ValueError, match=match):
        transmissions(JunctionParams(**SMALL).replace(**change))


def test_closed_lead_gives_zeros_only_when_asked():
    # Side strips open (band from 4 - 2cos(pi/4) - 2 = 0.59), M closed (from 6 - 4cos(pi/4) - 2 = 1.17).
    p = JunctionParams(Lx=3, Ly=3, Lz=3, W=3, n_barrier=1, dxc=0.0, mu=0.8)
    with pytest.raises(ValueError, match="the top lead 'M' has no open channel"):
        transmissions(p)
    r = transmissions(p, allow_closed=True)
    assert np.all(r.from_lead("M") == 0) and r.n_open[4].sum() == 0


def test_channel_opening_is_refused():
    p = JunctionParams(Lx=6, Ly=6, W=4)
    edge = 4.0 - 2 * np.cos(np.pi / 5) - 2.0  # bottom of the first side-strip subband
    with pytest.raises(ValueError, match="channel opening of side lead 'L'"):
        transmissions(p.replace(mu=edge))


BASE = junction(JunctionParams(Lx=6, Ly=5, Lz=4, W=3, n_barrier=2, theta=1.1, phi=0.6))
BAD_STACKS = {
    "edge": (BASE.replace(side_leads=(SideLead("L", "left"),)), "edge = 'left' must be one of"),
    "layers": (BASE.replace(side_leads=(SideLead("L", "-x", layers=(1, 7)),)), r"layers = \(1, 7\) must satisfy"),
    "width": (BASE.replace(side_leads=(SideLead("L", "-x", width=9),)), "width = 9 must satisfy"),
    "no name": (BASE.replace(side_leads=(SideLead("", "-x"),)), "every lead needs a name"),
    "names": (BASE.replace(side_leads=(SideLead("M", "-x"),)), "must be distinct"),
    "hermitian": (BASE.replace(layers=(BASE.layers[0].replace(hoppings={(1, 0): 0.1, (-1, 0): 0.2}),) + BASE.layers[1:]),
                  "must be conjugate transposes"),
    "offset": (BASE.replace(layers=(BASE.layers[0].replace(hoppings={(7, 0): 0.1}),) + BASE.layers[1:]),
               r"offset \(7, 0\) does not fit"),
    "profile": (BASE.replace(layers=(Layer(onsite=np.zeros((2, 2))),) + BASE.layers[1:]), "a profile must have shape"),
    "K0": (BASE.replace(layers=(Layer(K0=-1.0),) + BASE.layers[1:]), r"layers\[0\].K0 = -1.0 must be >= 0"),
    "direction": (BASE.replace(layers=(Layer(theta=0.3),) + BASE.layers[1:]), "give both theta and phi"),
    "lead t": (BASE.replace(top=VerticalLead("M", t=-1.0)), "t = -1.0 must be > 0"),
    "no lead": (Stack(4, 4, (Layer(),)), "at least two leads"),
    "one lead": (Stack(4, 4, (Layer(),), top=VerticalLead("M")), "at least two leads.*it has 1: .M."),
    "closed": (BASE.replace(top=VerticalLead("M", onsite=40.0)), "no open channel"),
    "seed": (BASE.replace(seed=-1), "seed = -1 must satisfy"),
}


@pytest.mark.parametrize("name", BAD_STACKS)
def test_bad_stack_input_is_a_clear_error(name):
    stack, message = BAD_STACKS[name]
    with pytest.raises(ValueError, match=message):
        solve(stack, 1.1)


def test_system_names_and_errors():
    system = junction_system(JunctionParams(**SMALL))
    assert set(system.names) >= {"alpha3", "alpha1", "xi", "dxc", "U0", "K0", "mu", "theta", "phi"}
    with pytest.raises(ValueError, match="'W' is not a parameter of this junction"):
        system.with_values(W=4)
    with pytest.raises(ValueError, match="xi = -2.0 must be > 0"):
        system.with_values(xi=-2.0)
    stack = stack_system(junction(JunctionParams(**SMALL, K0=0.5)), 1.1)
    assert {"energy", "layers[0].alpha3", "M.dxc", "L.t", "K0"} <= set(stack.names)
    assert stack.with_values(K0=0.9).stack().layers[2].K0 == 0.9
    assert stack.with_values(**{"layers[1].K0": 0.2}).stack().layers[1].K0 == 0.2
