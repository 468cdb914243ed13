"""Transmissions resolved by what each lead conserves (orbital and spin): Kwant's ``conservation_law``
blocks, sum rules, and the refusals (``Transmissions.resolved``, ``model.stack.lead_conservation``)."""

import dataclasses

import numpy as np
import pytest

from jaxsge.core.lattice import T2G_ORBITALS, spin_orbit_ls
from jaxsge.model.junction import JunctionParams, junction, t2g
from jaxsge.model.stack import LeadConservation, Layer, SideLead, Stack, VerticalLead, lead_conservation
from jaxsge.solve.transmissions import solve

KWANT_TOL = 1e-8  # absolute, on transmission probabilities
SUM_TOL = 1e-13  # the resolved sums against the totals
UNITARITY_TOL = 1e-10


def _odd(a, b, gamma):
    """gamma (|a><b| - |b><a|) x 1_spin: an orbital-changing hopping H[r, r+d], odd in the bond direction."""
    A = np.zeros((3, 3))
    A[a, b], A[b, a] = gamma, -gamma
    return np.kron(A, np.eye(2))


def _two_deg(**changes):
    """A three-orbital t2g 2DEG: atomic L.S, dxy lowered, odd orbital-changing hoppings, disorder."""
    onsite = np.kron(np.diag([0.0, 0.0, -0.4]), np.eye(2)) + spin_orbit_ls(0.3)
    return Layer(onsite=4.0, K0=0.5, orbitals=3, orbital_names=T2G_ORBITALS,
                 hoppings={(0, 0): onsite, (1, 0): _odd(0, 2, 0.15), (0, 1): _odd(1, 2, 0.15)}).replace(**changes)


def mixed_counts():
    """The 2DEG under a one-orbital barrier (linear Rashba, coupled by a 6x2 table) and a one-orbital magnet
    with the top lead; side leads with three orbitals on the 2DEG (L with orbital energies, R magnetic) and a
    one-orbital one on the magnet (F): leads of 3 and 1 orbitals (dense path)."""
    couple = np.kron(np.array([[-0.7], [-0.5], [-0.9]]), np.eye(2))
    return Stack(Lx=4, Ly=3, layers=(_two_deg(up={(0, 0): couple}), Layer(onsite=6.5, alpha1=0.2, dxc=-0.2),
                                      Layer(onsite=6.0, dxc=-0.4)),
                 side_leads=(SideLead("L", "-x", orbital_onsite=[0.0, 0.3, -0.4]),
                             SideLead("R", "+x", width=2, offset=1, dxc=0.3, theta=0.5, phi=0.2),
                             SideLead("F", "-y", layers=2, onsite=4.5)),
                 top=VerticalLead("M", onsite=6.0, dxc=-0.6), theta=1.1, phi=0.6, seed=2)


def folded():
    """The 2DEG under two three-orbital layers folded into a three-orbital top lead with orbital energies
    (the Krylov path's shape: a single lowest layer with every side lead, the rest folded)."""
    energies = np.kron(np.diag([0.0, 0.2, -0.3]), np.eye(2))
    return Stack(Lx=4, Ly=3, layers=(_two_deg(), Layer(onsite=6.5, orbitals=3, dxc=-0.2, hoppings={(0, 0): energies}),
                                      Layer(onsite=6.0, orbitals=3, dxc=0.4)),
                 side_leads=(SideLead("L", "-x", orbital_onsite=[0.0, 0.3, -0.4]), SideLead("R", "+x", width=2)),
                 top=VerticalLead("M", onsite=5.5, dxc=-0.6, orbital_onsite=[0.1, -0.2, 0.3]), theta=1.1, phi=0.6,
                 seed=2)


ENERGY = 1.5
KWANT_CASES = {"mixed_counts_dense": (mixed_counts, "dense"), "folded_krylov": (folded, "krylov"),
               "folded_dense": (folded, "dense")}


@pytest.mark.parametrize("name", KWANT_CASES)
def test_orbital_and_spin_resolved_transmissions_equal_kwant(name):
    """T resolved by (lead, orbital, spin) of source and destination against Kwant's S-matrix with the
    conservation law 2 o + (1 - n.sigma)/2 on every lead (blocks (orbital, spin);
    ``validation.kwant_model.resolved_transmissions``), to 1e-8, and the open channels per block exactly:
    atomic L.S, orbital-changing hoppings odd in the bond, disorder, leads of three and one orbitals (dense),
    a three-orbital top lead through folded three-orbital layers (Krylov and dense)."""
    pytest.importorskip("kwant", reason="Kwant is not installed (make kwant)")
    from jaxsge.validation import kwant_model

    make, path = KWANT_CASES[name]
    stack = make()
    ours = solve(stack, ENERGY, path=path)
    assert ours.plan.solver == path
    T, n_open = kwant_model.resolved_transmissions(stack, ENERGY, kwant_model.potentials(stack))
    np.testing.assert_array_equal(ours.n_open_orbital, n_open)
    np.testing.assert_allclose(ours.T_orbital, T, atol=KWANT_TOL, rtol=0)
    # The check must see orbital resolution: several open orbitals in a three-orbital lead, and transmissions
    # between different orbitals of L and R that differ.
    assert (n_open[0].sum(axis=-1) > 0).sum() >= 2, "several orbitals of L open"
    between = T[1, :, :, 0, :, :].sum(axis=(1, 3))  # R <- L, by orbital
    assert np.abs(between).max() > 1e-2 and np.ptp(between[between > 0]) > 1e-3
    off_diagonal = between - np.diag(np.diag(between))
    assert np.abs(off_diagonal).max() > 1e-4, "orbital-changing transmissions (L.S and the odd hopping mix them)"


def test_sums_over_the_resolved_indices_are_the_totals_and_unitarity():
    """Sum rules on the mixed junction at two angles and two disorder realizations: T_orbital summed over the
    orbitals is T (1e-13), and so are the open channels (exactly); every column and row of T_orbital sums to
    the open channels of its (lead, orbital, spin) block (unitarity of S, 1e-10); S itself is unitary on the
    open channels; :meth:`resolved` and :meth:`open_channels` agree with T and n_open for every ``by``."""
    stack = mixed_counts().replace(phi=np.array([0.6, 2.0]))
    r = solve(stack, ENERGY, realizations=[0, 1], smatrix=True)
    assert r.T_orbital.shape == (2, 2, 4, 3, 2, 4, 3, 2)
    np.testing.assert_allclose(r.T_orbital.sum(axis=(-5, -2)), r.T, atol=SUM_TOL, rtol=0)
    np.testing.assert_array_equal(r.n_open_orbital.sum(axis=-2), r.n_open)
    np.testing.assert_allclose(r.T_orbital.sum(axis=(-6, -5, -4)), r.n_open_orbital, atol=UNITARITY_TOL, rtol=0)
    np.testing.assert_allclose(r.T_orbital.sum(axis=(-3, -2, -1)), r.n_open_orbital, atol=UNITARITY_TOL, rtol=0)
    # zeros beyond a one-orbital lead's orbital, S unitary on the open channels
    assert not r.T_orbital[..., 2:, 1:, :, :, :, :].any() and not r.n_open_orbital[..., 2:, 1:, :].any()
    S = r.S[0, 0]
    open_ = np.abs(S).sum(axis=0) > 0
    S = S[np.ix_(open_, open_)]
    np.testing.assert_allclose(S.conj().T @ S, np.eye(S.shape[0]), atol=UNITARITY_TOL)
    for to, source in (("R", "L"), ("M", "L"), ("L", "F"), ("L", "L")):
        full = r.resolved(to, source)
        assert full.shape == (2, 2, len(r.orbitals[to]), 2, len(r.orbitals[source]), 2)
        a, b = r.leads.index(to), r.leads.index(source)
        np.testing.assert_allclose(full.sum(axis=(-4, -2)), r.T[..., a, :, b, :], atol=SUM_TOL, rtol=0)
        np.testing.assert_allclose(r.resolved(to, source, by="orbital"), full.sum(axis=(-3, -1)), atol=0, rtol=0)
        np.testing.assert_array_equal(r.resolved(to, source, by="spin"), r.T[..., a, :, b, :])
        np.testing.assert_allclose(r.resolved(to, source, by=()), r.T[..., a, :, b, :].sum(axis=(-2, -1)), atol=0)
        np.testing.assert_array_equal(r.open_channels(source).sum(axis=-2), r.n_open[..., b, :])
        np.testing.assert_array_equal(r.open_channels(source, by="spin"), r.n_open[..., b, :])
    assert r[1, 0].T_orbital.shape == (4, 3, 2, 4, 3, 2)


def test_what_each_lead_conserves_and_its_orbital_names():
    """Every lead conserves orbital and spin (no lead mixes orbitals or has spin-orbit coupling); the t2g
    preset's side leads name their orbitals dyz, dxz, dxy, the one-orbital magnet "0"; other layers 0 .. n-1.
    A one-orbital junction has no T_orbital and resolves by its one orbital from T."""
    p = t2g(JunctionParams(Lx=3, Ly=3, Lz=3, W=3, n_barrier=1, mu=1.1), gate=0.45)
    stack = junction(p)
    conservation = lead_conservation(stack)
    assert conservation == (LeadConservation(("orbital", "spin"), T2G_ORBITALS),) * 4 \
        + (LeadConservation(("orbital", "spin"), ("0",)),)
    unnamed = lead_conservation(folded().replace(layers=(_two_deg(orbital_names=()),) + folded().layers[1:]))
    assert [c.orbitals for c in unnamed] == [("0", "1", "2")] * 3
    three = mixed_counts()
    one = solve(three.replace(layers=(Layer(onsite=4.0, K0=0.5),) + three.layers[1:],
                              side_leads=(SideLead("L", "-x"),) + three.side_leads[1:]), ENERGY)
    assert one.T_orbital is None and one.conserved["L"] == ("orbital", "spin") and one.orbitals["M"] == ("0",)
    np.testing.assert_array_equal(one.resolved("R", "L")[0, :, 0, :], one.T[1, :, 0, :])
    np.testing.assert_array_equal(one.open_channels("L")[0], one.n_open[0])


def test_resolutions_that_cannot_be_made_are_refused():
    """An unknown quantity, a repeated one, a lead that does not conserve what is asked (a lead kind that mixed
    orbitals would say so in its conservation), and the top lead's orbital-resolved self-reflection where the
    lean right-hand sides did not compute it: each a ValueError naming the parameter, its value and what is
    allowed. The lean solve's other blocks equal those of the full one (1e-12)."""
    r = solve(folded(), ENERGY, reflection=False)
    assert not r.reflection_resolved
    full = solve(folded(), ENERGY).T_orbital
    top = r.leads.index("M")
    assert not r.T_orbital[top, :, :, top].any()
    np.testing.assert_allclose(r.T_orbital[:top], full[:top], atol=1e-12, rtol=0)
    np.testing.assert_allclose(r.T_orbital[:, :, :, :top], full[:, :, :, :top], atol=1e-12, rtol=0)
    with pytest.raises(ValueError, match=r"by = 'valley' must be a subset of \('orbital', 'spin'\)"):
        r.resolved("R", "L", by="valley")
    with pytest.raises(ValueError, match=r"by = \('spin', 'spin'\)"):
        r.resolved("R", "L", by=("spin", "spin"))
    with pytest.raises(ValueError, match="lead 'X' is not one of"):
        r.resolved("X", "L")
    with pytest.raises(ValueError, match="to = source = 'M'.*reflection=True"):
        r.resolved("M", "M")
    r.resolved("M", "M", by="spin")  # the spin-resolved block from unitarity stays available
    r.resolved("M", "L")  # and every other block
    spin_only = LeadConservation(("spin",), ("0", "1", "2"))
    mixing = dataclasses.replace(r, conservation=(spin_only,) + r.conservation[1:])
    assert mixing.conserved["L"] == ("spin",)
    with pytest.raises(ValueError, match=r"lead 'L' does not conserve 'orbital'.*allowed: a subset of \('spin',\)"):
        mixing.resolved("R", "L", by=("orbital", "spin"))
    np.testing.assert_array_equal(mixing.resolved("R", "L", by="spin"), r.T[1, :, 0, :])
    np.testing.assert_array_equal(mixing.resolved("M", "R"), r.resolved("M", "R"))  # other leads unaffected


def test_orbital_names_are_checked_and_survive_to_dict():
    """``Layer.orbital_names``: n distinct non-empty strings or (); kept by to_dict / from_dict."""
    from jaxsge.model.stack import validate_stack

    stack = folded()
    for bad in (("dyz", "dxz"), ("a", "a", "b"), ("a", "", "b")):
        with pytest.raises(ValueError, match=r"layers\[0\]\.orbital_names = .* must be 3 distinct non-empty"):
            validate_stack(stack.replace(layers=(_two_deg(orbital_names=bad),) + stack.layers[1:]))
    assert Stack.from_dict(stack.to_dict()).layers[0].orbital_names == T2G_ORBITALS
    assert Layer(orbitals=2, orbital_names=["a", "b"]).orbital_names == ("a", "b")


def test_orbital_resolution_under_jit_and_grad():
    """Under ``jax.jit`` (energy traced) the orbital-resolved T equals the plain call's (1e-12); its derivative
    in the energy equals a central difference (rtol 1e-6)."""
    import jax

    stack = folded()

    def entry(e):  # R, dxy, - <- L, dxz, +
        return solve(stack, e).T_orbital[1, 2, 1, 0, 1, 0]

    plain = solve(stack, ENERGY)
    with jax.enable_x64(True):
        jitted = jax.jit(lambda e: solve(stack, e).T_orbital)(ENERGY)
        derivative = float(jax.grad(entry)(ENERGY))
        h = 1e-5
        central = (float(entry(ENERGY + h)) - float(entry(ENERGY - h))) / (2 * h)
    np.testing.assert_allclose(np.asarray(jitted), plain.T_orbital, atol=1e-12, rtol=0)
    assert abs(central) > 1e-3
    np.testing.assert_allclose(derivative, central, rtol=1e-6)
