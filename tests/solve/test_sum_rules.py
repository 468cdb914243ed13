"""Sum rules, symmetries and internal consistency of the one solver (paper's junction and general stacks)."""

import dataclasses

import jax
import numpy as np
import pytest

from jaxsge import JunctionParams, junction, mechanism, solve, three_terminal, transmissions
from jaxsge.model.stack import Layer, SideLead, Stack, VerticalLead
from jaxsge.plan.plan import plan

BASE = dict(Lx=7, Ly=6, Lz=4, W=4, n_barrier=1, theta=1.1, phi=0.7)
CASES = {
    "clean": dict(),
    "disorder_all": dict(K0=0.9, seed=4),
    "disorder_2deg": dict(K0=1.5, seed=5, disorder_layers="2deg"),
}
SMALL = JunctionParams(Lx=6, Ly=5, Lz=4, W=3, n_barrier=2, theta=1.1, phi=0.6, mu=1.1)
STACKS = {
    "barrier_soc": junction(mechanism("both", SMALL, alpha1=0.4)),
    "leads_on_inner_layers": junction(SMALL).replace(side_leads=(
        SideLead("L", "-x", layers=0, width=3, onsite=4.0),
        SideLead("R", "+x", layers=2, width=4, offset=1, onsite=2.0),
        SideLead("F", "-y", layers=(1, 2), width=4, onsite=(2.5, 3.0), dxc=0.5, theta=0.3, phi=0.2))),
    "bottom_lead": Stack(6, 5, (Layer(onsite=6.0), Layer(onsite=4.0, alpha3=-0.3, alpha1=0.1),
                                Layer(onsite=6.0, dxc=-0.3), Layer(onsite=7.9, dxc=-0.5)),
                         side_leads=(SideLead("L", "-x", layers=1, width=3), SideLead("R", "+x", layers=1, width=3)),
                         top=VerticalLead("M", onsite=6.0, dxc=-0.6), bottom=VerticalLead("D", onsite=5.5),
                         theta=1.3, phi=0.4),
}


@pytest.mark.parametrize("case", CASES)
def test_unitarity_and_current_conservation(case):
    r = transmissions(JunctionParams(**BASE, **CASES[case]), smatrix=True)
    np.testing.assert_allclose(r.S @ r.S.conj().T, np.eye(r.S.shape[0]), atol=1e-10)
    assert float(r.conservation_residual()) < 1e-10
    # Outgoing probabilities also add up to the open channels of each receiving lead.
    np.testing.assert_allclose(r.T.sum(axis=(2, 3)), r.n_open, atol=1e-10)


@pytest.mark.parametrize("name", STACKS)
def test_general_stacks_are_unitary_and_fold_exactly(name):
    stack = STACKS[name]
    auto = solve(stack, 1.1, smatrix=True)
    dense = solve(stack, 1.1, fold=False)
    np.testing.assert_allclose(auto.T, dense.T, atol=1e-10, rtol=0)
    np.testing.assert_allclose(auto.S @ auto.S.conj().T, np.eye(auto.S.shape[0]), atol=1e-10)
    assert auto.conservation_residual() < 1e-10


@pytest.mark.parametrize("case", CASES)
def test_microreversibility(case):
    """T(alpha <- M, s) at dxc equals T(M, -s <- alpha) at -dxc (same n, same disorder)."""
    p = JunctionParams(**BASE, **CASES[case])
    forward = transmissions(p).from_lead("M")
    backward = transmissions(p.replace(dxc=-p.dxc)).to_lead("M")
    np.testing.assert_allclose(forward, backward[:, ::-1], atol=1e-10, rtol=0)
    assert np.abs(forward[:, 0] - forward[:, 1]).max() > 1e-3  # spin-resolved, not trivially equal


def test_time_reversal_of_a_general_stack():
    """T(a, s <- b, s') with every exchange field reversed equals T(b, -s' <- a, -s) (spin-orbit coupling is even)."""
    stack = STACKS["leads_on_inner_layers"]
    flipped = stack.replace(
        layers=tuple(layer.replace(dxc=-layer.dxc) for layer in stack.layers),
        side_leads=tuple(dataclasses.replace(lead, dxc=-lead.dxc) for lead in stack.side_leads),
        top=dataclasses.replace(stack.top, dxc=-stack.top.dxc))
    forward = solve(stack, 1.1).T
    backward = solve(flipped, 1.1).T
    np.testing.assert_allclose(forward, backward.transpose(2, 3, 0, 1)[:, ::-1, :, ::-1], atol=1e-10)
    assert np.abs(forward[:, 0] - forward[:, 1]).max() > 1e-3


@pytest.mark.parametrize("case", ["clean", "disorder_2deg", "disorder_all"])
def test_folded_spin_block_and_dense_paths_agree(case):
    p = JunctionParams(**BASE, **CASES[case])
    auto, dense = transmissions(p), transmissions(p, fold=False)
    assert dense.plan.top_fold == () and dense.plan.blocks == () and len(dense.plan.slices) == 4
    np.testing.assert_allclose(auto.T, dense.T, atol=1e-10, rtol=0)


@pytest.mark.parametrize("case", CASES)
def test_lean_right_hand_sides_equal_the_full_solve(case):
    """Without the top lead's channels as right-hand sides every transmission is the same except M's
    spin-resolved self-reflection, whose row and column sums are the same."""
    p = JunctionParams(**BASE, **CASES[case])
    full, lean = transmissions(p, reflection=True), transmissions(p, reflection=False)
    assert full.reflection_resolved and not lean.reflection_resolved
    expected = full.T.copy()
    expected[4, :, 4, :] = lean.T[4, :, 4, :]
    np.testing.assert_allclose(lean.T, expected, atol=1e-12, rtol=0)
    for axis in (0, 1):
        np.testing.assert_allclose(lean.T[4, :, 4, :].sum(axis), full.T[4, :, 4, :].sum(axis), atol=1e-12)
    assert lean.conservation_residual() < 1e-10


@pytest.mark.parametrize("layers", ["2deg", "all"])
@pytest.mark.parametrize("one_per_chunk", [False, True])
def test_batched_angles_equal_single_evaluations(layers, one_per_chunk):
    """Also with the upper layers eliminated once for the whole scan and chunks of one angle."""
    p = JunctionParams(**BASE, K0=0.5, disorder_layers=layers)
    phis = np.array([0.0, 0.4, 2.0])
    budget = 2 * 16 * (2 * 7 * 6) ** 2 * 3 / 2 ** 30 if one_per_chunk else None
    batched = transmissions(p.replace(theta=np.array([0.3, 1.0, 2.0]), phi=phis), memory_budget_gib=budget)
    assert batched.T.shape == (3, 5, 2, 5, 2)
    for i, (th, ph) in enumerate(zip([0.3, 1.0, 2.0], phis)):
        single = transmissions(p.replace(theta=th, phi=ph))
        np.testing.assert_allclose(batched.T[i], single.T, atol=1e-12, rtol=0)


def test_realizations_and_energies_batch_like_single_calls():
    p = JunctionParams(**BASE, K0=0.7, seed=2)
    stack = junction(p.replace(phi=np.array([0.1, 1.2])))
    both = solve(stack, np.array([[1.05], [1.15]]), realizations=[0, 3])
    assert both.T.shape == (2, 2, 2, 5, 2, 5, 2)
    for i, r in enumerate((0, 3)):
        for j, e in enumerate((1.05, 1.15)):
            single = solve(junction(p.replace(phi=1.2)), e, realizations=[r])
            np.testing.assert_allclose(both.T[i, j, 1], single.T[0], atol=1e-12, rtol=0)


def test_double_precision_without_touching_global_config():
    before = jax.config.jax_enable_x64
    r = transmissions(JunctionParams(**BASE), smatrix=True)
    assert jax.config.jax_enable_x64 == before
    assert r.T.dtype == np.float64 and r.S.dtype == np.complex128


def test_path_choice():
    energies = 1.1
    clean = plan(junction(JunctionParams(**BASE)), energies)
    assert clean.top_fold == (3, 2, 1) and clean.blocks == () and clean.slices == ((0, 0),)
    every = plan(junction(JunctionParams(**BASE, K0=1.0)), energies)
    assert every.top_fold == () and every.blocks == (3, 2, 1)
    two_deg = plan(junction(JunctionParams(**BASE, K0=1.0, disorder_layers="2deg")), energies)
    assert two_deg.top_fold == (3, 2, 1) and two_deg.disordered == (True, False, False, False)
    explicit = np.zeros((4, 7, 6))
    explicit[2, 3, 3] = 0.1
    mixed = plan(junction(JunctionParams(**BASE, disorder=explicit)), energies)
    assert mixed.top_fold == (3,) and mixed.blocks == (2, 1)
    barrier = plan(junction(mechanism("barrier", JunctionParams(**BASE))), energies)
    assert barrier.top_fold == () and barrier.blocks == () and len(barrier.slices) == 4
    with pytest.raises(ValueError, match="path"):
        plan(junction(JunctionParams(**BASE)), energies, solver="fast")


def test_a_wrong_fold_is_caught():
    """Forcing the fold of the spin-orbit-coupled barrier changes the answer: the Kwant check can fail."""
    from jaxsge.solve.kernel import evaluate, upper_state

    stack = junction(mechanism("barrier", SMALL, alpha1=0.4))
    pl = plan(stack, 1.1)
    wrong = dataclasses.replace(pl, top_fold=(3, 2), blocks=(1,), slices=((0, 0),))
    with jax.enable_x64(True):
        base = stack.replace(theta=0.0, phi=0.0)
        T = np.asarray(evaluate(base, stack.theta, stack.phi, 1.1, 0, wrong, upper_state(base, 1.1, 0, wrong),
                                True, False).T)
    right = solve(stack, 1.1).T
    assert np.abs(T - right).max() > 1e-3


def test_explain_names_the_reasons():
    text = plan(junction(mechanism("both", SMALL, alpha1=0.4)), 1.1).explain()
    assert "alpha1" in text and "alpha3" in text and "side lead(s) L, R, F, B" in text
    assert "folded into the top lead" in plan(junction(SMALL), 1.1).explain()


def test_spin_resolution_in_M_follows_n():
    """dxc < 0: s = + is the minority band of M, so it has fewer open channels."""
    r = transmissions(JunctionParams(**BASE))
    assert r.n_open[4, 0] < r.n_open[4, 1]


def test_three_terminal_junction_has_three_leads():
    r = transmissions(three_terminal(JunctionParams(**BASE)))
    assert r.leads == ("L", "R", "M") and r.T.shape == (3, 2, 3, 2)
