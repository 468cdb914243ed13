"""The general layered junction (jaxsge.stack, stack_solve, presets) against Kwant and sum rules."""

import dataclasses

import jax
import numpy as np
import pytest

from jaxsge import JunctionParams, presets, response, transmissions
from jaxsge.stack import (Layer, SideLead, Stack, VerticalLead, dresselhaus_hoppings,
                          layer_is_uniform, layer_potential, linear_rashba_hoppings)
from jaxsge.stack_solve import plan, stack_transmissions
from validation import kwant_stack

KWANT_TOL = 1e-8  # absolute, on transmission probabilities (issue: 1e-8)
PATH_TOL = 1e-10  # folded / spin-block paths against dense recursion (issue: 1e-10)
SMALL = JunctionParams(Lx=6, Ly=5, Lz=4, W=3, n_barrier=2, theta=1.1, phi=0.6, mu=1.1)


def _layers(**per_layer):
    """The paper's four-layer stack of SMALL with the given fields replaced, {field: {z: value}}."""
    layers = list(presets.junction(SMALL).layers)
    for field, values in per_layer.items():
        for z, value in values.items():
            layers[z] = layers[z].replace(**{field: value})
    return tuple(layers)


def _stack(**changes):
    return presets.junction(SMALL).replace(**changes)


CASES = {
    "linear_rashba_barrier_only": presets.mechanism("barrier", SMALL, alpha1=0.4),
    "cubic_2deg_and_linear_barrier": presets.mechanism("both", SMALL, alpha1=0.4),
    "dresselhaus_2deg": _stack(layers=_layers(alpha3={0: 0.0}, beta={0: 0.35})),
    "non_collinear_exchange": _stack(layers=_layers(dxc={0: -0.3, 1: 0.5, 2: -0.4, 3: 0.6},
                                                    theta={1: 0.4, 2: 2.0}, phi={1: 1.0, 2: -0.7})),
    "three_terminal": presets.three_terminal(SMALL),
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
}


def _potentials(stack):
    with jax.enable_x64(True):
        return np.stack([np.asarray(layer_potential(stack, z)) for z in range(stack.Lz)])


@pytest.mark.parametrize("name", CASES)
def test_equals_kwant(name):
    stack = CASES[name]
    ours = stack_transmissions(stack, energy=1.1)
    T, n_open = kwant_stack.transmissions(stack, 1.1, _potentials(stack))
    np.testing.assert_array_equal(ours.n_open, n_open)
    np.testing.assert_allclose(ours.T, T, atol=KWANT_TOL, rtol=0)
    assert np.abs(T[:-1, :, -1, :]).max() > 1e-3, "the check must see a transmission from the last lead to another"
    assert np.abs(T[:-1, 0, -1, 0] - T[:-1, 0, -1, 1]).max() > 1e-4, "and spin-resolved ones that differ"


@pytest.mark.parametrize("name", CASES)
def test_paths_agree_and_conserve_current(name):
    stack = CASES[name]
    auto = stack_transmissions(stack, energy=1.1)
    dense = stack_transmissions(stack, energy=1.1, path="recursive")
    np.testing.assert_allclose(auto.T, dense.T, atol=PATH_TOL, rtol=0)
    S = np.asarray(auto.S)
    np.testing.assert_allclose(S @ S.conj().T, np.eye(S.shape[0]), atol=1e-10)
    assert auto.conservation_residual() < 1e-10


def test_in_plane_tables_equal_kwant_continuum():
    with jax.enable_x64(True):
        ours = {"alpha1": {d: np.asarray(b) for d, b in linear_rashba_hoppings(0.37).items()},
                "beta": {d: np.asarray(b) for d, b in dresselhaus_hoppings(-0.21).items()}}
    theirs = {"alpha1": kwant_stack.linear_rashba_table(0.37), "beta": kwant_stack.dresselhaus_table(-0.21)}
    for name in ours:
        for d, block in theirs[name].items():
            if d[0] > 0 or (d[0] == 0 and d[1] > 0):
                np.testing.assert_allclose(ours[name][d], block, atol=1e-15, err_msg=f"{name} {d}")
            else:
                np.testing.assert_allclose(ours[name][(-d[0], -d[1])].conj().T, block, atol=1e-15)


def test_fold_only_where_it_applies():
    """Folded and spin-block layers are exactly the layers that allow it, in every case."""
    for name, stack in CASES.items():
        pl = plan(stack, 1.1)
        touched = {z for lead in stack.side_leads for z in range(lead.layers[0], lead.layers[1] + 1)}
        for z in pl.top_fold + pl.bottom_fold:
            assert layer_is_uniform(stack.layers[z]) and z not in touched, (name, z)
        for z in pl.blocks:
            layer = stack.layers[z]
            assert not (layer.alpha1 or layer.alpha3 or layer.beta or layer.hoppings) and z not in touched, (name, z)
    # SOC in the barrier: nothing above the 2DEG may be folded; everything is folded without it.
    assert plan(CASES["linear_rashba_barrier_only"], 1.1).top_fold == ()
    assert plan(presets.junction(SMALL), 1.1).top_fold == (3, 2, 1)
    assert plan(CASES["non_collinear_exchange"], 1.1).top_fold == (3,)
    middle = plan(CASES["bottom_fold_2deg_in_the_middle"], 1.1)
    assert middle.top_fold == (3, 2) and middle.bottom_fold == (0,) and middle.slices == ((1, 1),)
    mixed = plan(CASES["bottom_lead_profile_disorder"], 1.1)  # layer 2 disordered, layer 1 with a profile
    assert mixed.top_fold == (3,) and mixed.blocks == (2, 1)


def test_a_wrong_fold_is_caught():
    """Forcing the fold of the spin-orbit-coupled barrier changes the answer: the Kwant check can fail."""
    stack = CASES["linear_rashba_barrier_only"]
    pl = plan(stack, 1.1)
    wrong = dataclasses.replace(pl, top_fold=(3, 2), blocks=(1,), slices=((0, 0),))
    from jaxsge.stack_solve import _evaluate_batch, _upper_jit
    with jax.enable_x64(True):
        base = stack.replace(theta=0.0, phi=0.0)
        T = np.asarray(_evaluate_batch(base, np.array([stack.theta]), np.array([stack.phi]), 1.1, wrong,
                                       _upper_jit(base, 1.1, wrong), False)[0][0])
    right = stack_transmissions(stack, energy=1.1).T
    assert np.abs(T - right).max() > 1e-3


def test_time_reversal():
    """T(a, s <- b, s') with every exchange field reversed equals T(b, -s' <- a, -s) (spin-orbit coupling is even)."""
    stack = CASES["lead_on_inner_layer"]
    flipped = stack.replace(
        layers=tuple(layer.replace(dxc=-layer.dxc) for layer in stack.layers),
        side_leads=tuple(dataclasses.replace(lead, dxc=-lead.dxc) for lead in stack.side_leads),
        top=dataclasses.replace(stack.top, dxc=-stack.top.dxc))
    forward = stack_transmissions(stack, energy=1.1).T
    backward = stack_transmissions(flipped, energy=1.1).T
    np.testing.assert_allclose(forward, backward.transpose(2, 3, 0, 1)[:, ::-1, :, ::-1], atol=1e-10)
    assert np.abs(forward[:, 0] - forward[:, 1]).max() > 1e-3


def test_paper_preset_equals_special_solver():
    """The five-terminal preset through the general solver equals solve.transmissions (also disordered)."""
    for changes in ({}, {"K0": 0.8, "seed": 2}, {"side_leads": ("L", "R")}):
        p = SMALL.replace(**changes)
        general = stack_transmissions(presets.junction(p), energy=p.mu)
        T, n_open = general.five_terminal()
        special = transmissions(p)
        np.testing.assert_allclose(T, special.T, atol=1e-12, rtol=0)
        np.testing.assert_array_equal(n_open, special.n_open)


@pytest.mark.parametrize("kind", presets.MECHANISMS)
def test_mechanisms_convert_and_obey_onsager_casimir(kind):
    """Each Fig. 2 mechanism gives G_sc != 0 and G_sc(dxc) = G_cs(-dxc) [Eq. (4)]."""
    stack = presets.mechanism(kind, SMALL, alpha1=0.4)
    phi = np.array([0.3, 1.2])
    forward = stack_transmissions(stack.replace(phi=phi), energy=1.1)
    reverse_p = SMALL.replace(dxc=-SMALL.dxc)
    reverse = stack_transmissions(presets.mechanism(kind, reverse_p, alpha1=0.4).replace(phi=phi), energy=1.1)
    with jax.enable_x64(True):
        g = response.conversions(*forward.five_terminal())
        h = response.conversions(*reverse.five_terminal())
    for axis in "xy":
        np.testing.assert_allclose(g[f"Gsc_{axis}"], h[f"Gcs_{axis}"], atol=1e-10)
    assert np.abs(np.asarray(g["Gsc_x"])).max() > 1e-5


def test_angle_batch_equals_single_calls():
    stack = CASES["cubic_2deg_and_linear_barrier"]
    phi = np.array([0.0, 0.5, 2.0])
    batch = stack_transmissions(stack.replace(phi=phi), energy=1.1).T
    for k, value in enumerate(phi):
        np.testing.assert_allclose(batch[k], stack_transmissions(stack.replace(phi=value), energy=1.1).T, atol=1e-12)


def test_explain_names_the_reasons():
    text = plan(CASES["cubic_2deg_and_linear_barrier"], 1.1).explain()
    assert "alpha1" in text and "alpha3" in text and "side lead(s) L, R, F, B" in text
    assert "folded into the top lead" in plan(presets.junction(SMALL), 1.1).explain()


BAD = {
    "edge": (lambda: _stack(side_leads=(SideLead("L", "left"),)), "edge"),
    "layers": (lambda: _stack(side_leads=(SideLead("L", "-x", layers=(1, 7)),)), "layers"),
    "width": (lambda: _stack(side_leads=(SideLead("L", "-x", width=9),)), "width"),
    "hermitian": (lambda: _stack(layers=_layers(hoppings={0: {(1, 0): 0.1, (-1, 0): 0.2}})), "conjugate"),
    "profile": (lambda: _stack(layers=_layers(onsite={1: np.zeros((2, 2))})), "shape"),
    "K0": (lambda: _stack(layers=_layers(K0={1: -1.0})), "K0"),
    "names": (lambda: _stack(side_leads=(SideLead("M", "-x"),)), "distinct"),
    "closed": (lambda: _stack(top=VerticalLead("M", onsite=40.0)), "no open channel"),
}


@pytest.mark.parametrize("name", BAD)
def test_bad_input_raises(name):
    build, message = BAD[name]
    with pytest.raises(ValueError, match=message):
        stack_transmissions(build(), energy=1.1)
