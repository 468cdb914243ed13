"""The general layered junction against an independent Kwant model (jaxsge/validation/kwant_model.py)."""

import jax
import numpy as np
import pytest

from jaxsge.model.junction import JunctionParams, junction, mechanism, three_terminal
from jaxsge.model.stack import Layer, SideLead, Stack, VerticalLead
from jaxsge.solve.transmissions import solve

pytest.importorskip("kwant", reason="Kwant is not installed (make kwant)")
from jaxsge.validation import kwant_model as kwant_stack  # noqa: E402
from jaxsge.validation.kwant_model import potentials  # noqa: E402

KWANT_TOL = 1e-8  # absolute, on transmission probabilities
SMALL = JunctionParams(Lx=6, Ly=5, Lz=4, W=3, n_barrier=2, theta=1.1, phi=0.6, mu=1.1)


def _layers(**per_layer):
    """The paper's four-layer stack of SMALL with the given fields replaced, {field: {z: value}}."""
    layers = list(junction(SMALL).layers)
    for field, values in per_layer.items():
        for z, value in values.items():
            layers[z] = layers[z].replace(**{field: value})
    return tuple(layers)


def _stack(**changes):
    return junction(SMALL).replace(**changes)


CASES = {
    "linear_rashba_barrier_only": junction(mechanism("barrier", SMALL, alpha1=0.4)),
    "cubic_2deg_and_linear_barrier": junction(mechanism("both", SMALL, alpha1=0.4)),
    "dresselhaus_2deg": _stack(layers=_layers(alpha3={0: 0.0}, beta={0: 0.35})),
    "non_collinear_exchange": _stack(layers=_layers(dxc={0: -0.3, 1: 0.5, 2: -0.4, 3: 0.6},
                                                    theta={1: 0.4, 2: 2.0}, phi={1: 1.0, 2: -0.7})),
    "three_terminal": junction(three_terminal(SMALL)),
    "lead_on_inner_layer": _stack(side_leads=(
        SideLead("L", "-x", layers=0, width=3, onsite=4.0),
        SideLead("R", "+x", layers=2, width=4, offset=1, onsite=2.0),
        SideLead("F", "-y", layers=(1, 2), width=4, onsite=(2.5, 3.0), dxc=0.5, theta=0.3, phi=0.2))),
    "user_hopping_table": _stack(layers=_layers(alpha3={0: 0.0}, hoppings={
        0: {(1, 1): 0.15j * np.array([[0, 1], [1, 0]]) + 0.05, (2, 0): np.array([[0.1, 0.2j], [-0.2j, 0.1]])}})),
    "bottom_fold_2deg_in_the_middle": Stack(6, 5, (
        Layer(onsite=6.0), Layer(onsite=4.0, alpha3=-0.3, alpha1=0.1),
        Layer(onsite=6.0, dxc=-0.3), Layer(onsite=7.9, dxc=-0.5)),
        side_leads=(SideLead("L", "-x", layers=1, width=3), SideLead("R", "+x", layers=1, width=3)),
        top=VerticalLead("M", onsite=6.0, dxc=-0.6), bottom=VerticalLead("D", onsite=5.5), theta=1.3, phi=0.4),
    "bottom_lead_profile_disorder": _stack(
        layers=_layers(onsite={1: 6.0 + 0.3 * np.arange(30).reshape(6, 5) / 30}, K0={2: 0.7}),
        bottom=VerticalLead("D", onsite=5.0, dxc=0.4, theta=0.8, phi=0.1), seed=3),
    "interlayer_table": _stack(layers=_layers(up={1: {(0, 0): -0.9, (1, 0): 0.1j * np.eye(2)}})),
}


@pytest.mark.parametrize("name", CASES)
def test_equals_kwant(name):
    stack = CASES[name]
    ours = solve(stack, 1.1)
    T, n_open = kwant_stack.transmissions(stack, 1.1, potentials(stack))
    np.testing.assert_array_equal(ours.n_open, n_open)
    np.testing.assert_allclose(ours.T, T, atol=KWANT_TOL, rtol=0)
    assert np.abs(T[:-1, :, -1, :]).max() > 1e-3, "the check must see a transmission from the last lead to another"
    assert np.abs(T[:-1, 0, -1, 0] - T[:-1, 0, -1, 1]).max() > 1e-4, "and spin-resolved ones that differ"


def test_in_plane_tables_equal_kwant_continuum():
    from jaxsge.core.lattice import dresselhaus_table, linear_rashba_table

    with jax.enable_x64(True):
        ours = {"alpha1": {d: np.asarray(b) for d, b in linear_rashba_table(0.37).items()},
                "beta": {d: np.asarray(b) for d, b in dresselhaus_table(-0.21).items()}}
    theirs = {"alpha1": kwant_stack.linear_rashba_table(0.37), "beta": kwant_stack.dresselhaus_table(-0.21)}
    for name in ours:
        for d, block in theirs[name].items():
            if d[0] > 0 or (d[0] == 0 and d[1] > 0):
                np.testing.assert_allclose(ours[name][d], block, atol=1e-15, err_msg=f"{name} {d}")
            else:
                np.testing.assert_allclose(ours[name][(-d[0], -d[1])].conj().T, block, atol=1e-15)


def test_build_keeps_double_precision_in_a_float32_context():
    """kwant_model.build called from the caller's default (float32) JAX context: the side leads' cells hold
    the stack's float64 onsite energy (here 4t + mu - gate = 4.65 of the t2g preset, not representable in
    float32: it was 4.6500001 before build ran in ``x64``, a 1e-7 error in every Kwant reference built
    directly, e.g. the densities' checks), to 1e-15."""
    from jaxsge.model.junction import t2g

    stack = junction(t2g(JunctionParams(Lx=3, Ly=3, Lz=2, W=3, n_barrier=1, mu=1.1), gate=0.45, delta_E=0.0))
    assert not jax.config.jax_enable_x64, "the check needs the default float32 context"
    syst = kwant_stack.build(stack, potentials(stack))
    side = [np.diag(lead.cell_hamiltonian()).real for lead in syst.leads[:len(stack.side_leads)]]
    assert len(side) == 4 and all(onsite.shape == (3 * 6,) for onsite in side), "four side leads, 3 sites x 6"
    np.testing.assert_allclose(np.concatenate(side), 4.0 + 1.1 - 0.45, atol=1e-15, rtol=0)
