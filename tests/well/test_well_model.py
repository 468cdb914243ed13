"""The quantum-well model (jaxsge.well.model): roots, states, Kubo spin density (Eq. (6) of the seed),
derivatives, against independent references (validation/well_reference.py) and the seed's numbers."""

import jax
import numpy as np
import pytest

from jaxsge.well.model import (HBAR2_2ME, WellNumerics, WellParams, fermi_states, matching_determinant,
                               matching_matrix, resolve_numerics, spin_derivatives)
from validation import well_reference

# One static configuration for most single-point calls, so that they share one compilation.
NUM = WellNumerics(n_k=1024, n_slots=24, n_quad=160)
FINE = WellNumerics(k_max=200.0, n_k=2 ** 18, n_slots=24, n_quad=320)
PAPER = WellParams()                                   # seed Fig. 2(a): d = 2.2, V = 5, E_F = 3, Delta = 0.25
GENERIC = WellParams(d=1.7, V_L=4.5, V_R=3.8, E_F=2.2, Delta=0.3, Delta_L=0.1, Delta_R=-0.05,
                     alpha_L=0.04, alpha_R=-0.02, mass=0.9)


def states(p, numerics=NUM):
    st = fermi_states(p, numerics)
    return st, st.k[st.valid]


def test_constant():
    assert HBAR2_2ME == pytest.approx(0.03809982111, rel=1e-9)


@pytest.mark.parametrize("change, name", [
    ({"d": 0.0}, "d"), ({"d": -1.0}, "d"), ({"V_L": 3.0}, "V_L"), ({"V_R": 2.0}, "V_R"),
    ({"V_L": 3.2, "Delta_L": 0.3}, "V_L"), ({"E_F": float("nan")}, "E_F"), ({"alpha_L": float("inf")}, "alpha_L"),
    ({"E_F": -0.3}, "E_F"), ({"mass": 0.0}, "mass"), ({"Delta": 1j}, "Delta")])
def test_bad_input(change, name):
    with pytest.raises(ValueError, match=name):
        fermi_states(PAPER.replace(**change))


def test_scaled_determinant_equals_direct_determinant():
    """Cauchy-Binet with the Wronskian gives det(P1 + K P0) / (N_up N_down) exactly; the propagator here
    is the unscaled one, cosh/sinh (x > 0) or cos/sin (x < 0) of sqrt|x| d, in NumPy."""
    p = GENERIC
    c = HBAR2_2ME / p.mass
    spin = np.array([1, -1])
    with jax.enable_x64(True):
        for k in (0.3, 4.0, 7.5, 11.0):
            x = (c * k * k + spin * p.Delta - p.E_F) / c
            q_L = np.sqrt((p.V_L + spin * p.Delta_L + c * k * k - p.E_F) / c)
            q_R = np.sqrt((p.V_R + spin * p.Delta_R + c * k * k - p.E_F) / c)
            sx = np.array([[0, 1.0], [1.0, 0]])
            B, K = np.diag(q_L) + p.alpha_L * k / c * sx, np.diag(q_R) - p.alpha_R * k / c * sx
            rd = np.sqrt(np.abs(x)) * p.d
            C = np.where(x > 0, np.cosh(rd), np.cos(rd))
            S = np.where(x > 0, np.sinh(rd), np.sin(rd)) / np.sqrt(np.abs(x))
            N = np.where(x > 0, np.cosh(rd), 1.0)
            M = (np.diag(x * S) + np.diag(C) @ B) + K @ (np.diag(C) + np.diag(S) @ B)
            assert float(matching_determinant(p, p.E_F, k)) == pytest.approx(np.linalg.det(M) / N.prod(), rel=1e-10)


def test_roots_are_states_of_the_8x8_matching_system():
    st, k = states(GENERIC)
    assert st.n_states == k.size > 5
    with jax.enable_x64(True):
        A = np.asarray(jax.jit(jax.vmap(matching_matrix, (None, None, 0)))(GENERIC, GENERIC.E_F, k))
        # Hellmann-Feynman slope against the implicit one -dD/dk / dD/dE.
        dE, dk = jax.jit(jax.vmap(jax.grad(matching_determinant, argnums=(1, 2)), (None, None, 0)))(
            GENERIC, GENERIC.E_F, k)
    s = np.linalg.svd(A, compute_uv=False)
    assert np.all(s[:, -1] < 1e-11 * s[:, 0])
    np.testing.assert_allclose(st.dE_dk[st.valid], -np.asarray(dk) / np.asarray(dE), rtol=1e-8)


@pytest.mark.parametrize("p", [PAPER.replace(alpha_L=0.0), GENERIC.replace(alpha_L=0.0, alpha_R=0.0)])
def test_alpha_zero_states_are_the_spin_split_finite_well_levels_and_carry_no_spin_density(p):
    st, k = states(p)
    ref = well_reference.alpha_zero_momenta(p)
    levels = len(well_reference.finite_well_levels(p, 1)) + len(well_reference.finite_well_levels(p, -1))
    assert k.size == ref.size == levels
    np.testing.assert_allclose(k, ref, rtol=1e-11)
    assert np.all(st.S_state_total == 0) and st.S_well == 0 and st.S_total == 0
    assert np.abs(st.profile(np.linspace(-1, 3, 41))).max() == 0


def test_paper_well_at_alpha_zero_has_13_states():
    """6 spin-up + 7 spin-down levels below E_F (the seed reports 11 at alpha_L = 0.046)."""
    assert [len(well_reference.finite_well_levels(PAPER, s)) for s in (1, -1)] == [6, 7]


@pytest.mark.parametrize("p, numerics", [(PAPER, NUM), (GENERIC, NUM),
                                         (PAPER.replace(alpha_L=0.12, alpha_R=-0.025), None)])
def test_root_count_is_stable_under_grid_refinement(p, numerics):
    """Against a much finer k grid, a larger k_max and a doubled quadrature order."""
    st, k = states(p, numerics)
    assert st.n_states == k.size > 5
    fine = fermi_states(p, FINE)
    assert fine.n_states == st.n_states
    np.testing.assert_allclose(fine.k[fine.valid], k, rtol=1e-12)
    assert fine.S_well == pytest.approx(st.S_well, rel=1e-10)


def test_one_interface_without_exchange_is_the_edelstein_result():
    """Delta = 0, alpha_R = 0: chiral states (|sigma_y| = 1 each), close pairs of roots all
    resolved, and S_total / alpha_L -> (1/8 pi^2 c) sum_n |phi_n(0)|^2 with O(alpha^2) error."""
    errors = []
    for a in (1e-2, 1e-3, 1e-4):
        p = WellParams(d=2.0, V_L=4.0, V_R=6.0, E_F=2.5, Delta=0.0, alpha_L=a, alpha_R=0.0)
        st, k = states(p)
        assert k.size == 2 * len(well_reference.finite_well_levels(p, 1))
        np.testing.assert_allclose(np.abs(st.sigma_y_total[st.valid]), 1, atol=1e-12)
        errors.append(st.S_total / well_reference.rashba_edelstein(p) - 1)
    assert abs(errors[-1]) < 1e-5
    assert abs(errors[0]) / abs(errors[1]) > 50 and abs(errors[1]) / abs(errors[2]) > 50


def test_spin_degenerate_well_doubles_every_level():
    p = WellParams(d=2.0, V_L=4.0, V_R=6.0, E_F=2.5, Delta=0.0, alpha_L=0.0, alpha_R=0.0)
    st, k = states(p)
    np.testing.assert_allclose(k, well_reference.alpha_zero_momenta(p), rtol=1e-11)
    assert st.S_well == 0


def test_mirror_symmetric_well_with_equal_alphas_has_zero_net_density():
    """V_L = V_R and alpha_L = alpha_R: z -> d - z maps the problem to alpha -> -alpha, so
    S_y(z) = -S_y(d - z)."""
    p = PAPER.replace(d=1.3, alpha_L=0.03, alpha_R=0.03)
    st = fermi_states(p, NUM)
    z = np.linspace(-0.5, 1.8, 47)
    prof = st.profile(z).sum(0)
    np.testing.assert_allclose(prof, -prof[::-1], atol=1e-10 * np.abs(prof).max())
    assert abs(st.S_well) < 1e-12


def test_finite_differences_converge_to_the_transfer_matrix_result():
    """k_n, per-state and total spin densities of the FD discretisation converge as h^2."""
    p = GENERIC
    st, k = states(p)
    errors = []
    for h in (0.02, 0.01, 0.005):
        fd = well_reference.fd_states(p, h)
        assert fd["k"].size == k.size
        errors.append((np.abs(fd["k"] - k).max(), np.abs(fd["S_state_well"] - st.S_state_well[st.valid]).max(),
                       abs(fd["S_well"] - st.S_well)))
    errors = np.array(errors)
    assert np.all(errors[1:] < errors[:-1] / 3)
    assert errors[-1, 0] < 1e-2 and errors[-1, 2] < 1e-3 * abs(st.S_well)
    # The profile on the FD nodes.
    prof = st.profile(fd["z"]).sum(0)
    assert np.abs(prof - fd["profile"]).max() < 2e-3 * np.abs(prof).max()


def test_bruteforce_2d_kubo_integral_converges_to_the_angular_formula():
    """Eq. (6) on a Cartesian k grid with a Gaussian delta (laboratory-frame, complex H) tends to
    the isotropic formula -(1/8 pi^2) sum k_n sign(v_n) sigma_n as eta -> 0 (error ~ eta^2)."""
    p = WellParams(d=0.8, V_L=3.0, V_R=2.5, E_F=1.0, Delta=0.2, alpha_L=0.03, alpha_R=-0.02)
    exact = well_reference.fd_states(p, 0.1, barrier=0.5)["S_well"]
    brute = well_reference.fd_kubo_bruteforce(p, 0.1, [0.2, 0.1, 0.05], n_grid=81, barrier=0.5)
    errors = np.abs(brute / exact - 1)
    assert errors[0] > 3 * errors[1] > 9 * errors[2]
    assert errors[2] < 5e-3


def test_implicit_derivatives_match_central_differences():
    """jax.grad through the roots (custom_root) against central differences, step 1e-6."""
    p = PAPER.replace(alpha_L=0.03, alpha_R=-0.025)
    num, _ = resolve_numerics(p, NUM)
    ad = spin_derivatives(p, ("alpha_L", "d"), num)
    for name, step in (("alpha_L", 1e-6), ("d", 1e-6)):
        x = float(getattr(p, name))
        plus, minus = (fermi_states(p.replace(**{name: x + s}), num) for s in (step, -step))
        assert plus.n_states == minus.n_states
        fd = (plus.S_well - minus.S_well) / (2 * step)
        assert fd == pytest.approx(ad[name], rel=1e-6)
    assert ad["value"] == pytest.approx(float(fermi_states(p, num).S_well), rel=1e-13)


def test_seed_state_counts_and_the_critical_coupling():
    """Measured against the seed (docs/quantum_well.md): 13 states at alpha_L = 0.046 and 0.05
    (seed: 11 and 10); one state is lost at alpha_L = 2c = hbar^2/m (its k_F runs to infinity)."""
    c = HBAR2_2ME
    points = PAPER.replace(alpha_L=np.array([0.046, 0.05, 2 * c - 2e-3, 2 * c + 2e-3]))
    st = fermi_states(points)
    assert st.n_states.tolist() == [13, 13, 13, 12]
    chi = st.chirality[0][st.valid[0]]
    assert (np.sum(chi > 0), np.sum(chi < 0)) == (8, 5)


def test_seed_thickness_features():
    """alpha_L = -alpha_R = 0.01: a local maximum of int_0^d S_y dz just below d = 0.54 nm
    (seed: 0.52 nm) and no state left below d = 0.144 nm (seed: 0.2 nm)."""
    d = np.linspace(0.4, 0.6, 41)
    p = PAPER.replace(d=d, alpha_L=0.01, alpha_R=-0.01)
    st = fermi_states(p, NUM)
    i = int(np.argmax(st.S_well))
    assert 0.52 <= d[i] <= 0.54 and st.S_well[i + 1] < st.S_well[i] and st.n_states[i + 1] == st.n_states[i] + 1
    assert fermi_states(PAPER.replace(d=0.14, alpha_L=0.01, alpha_R=-0.01), NUM).n_states == 0
    assert fermi_states(PAPER.replace(d=0.15, alpha_L=0.01, alpha_R=-0.01), NUM).n_states == 1


def test_padded_chunks_and_shared_numerics_change_nothing():
    """What the report does to compile once per root grid (well.figures: padded chunks, the largest slot and
    quadrature counts shared): the same states and spin densities as a call of its own size and numerics,
    to 1e-12 (more slots only pad; more Gauss-Legendre nodes refine converged integrals)."""
    p = GENERIC.replace(alpha_L=np.array([0.0, 0.04, 0.09]))
    own = fermi_states(p, NUM)
    shared = fermi_states(p, WellNumerics(n_k=1024, n_slots=28, n_quad=200), chunk=8, pad=True)
    assert shared.k.shape == (3, 28) and not shared.valid[:, 24:].any()
    np.testing.assert_array_equal(shared.n_states, own.n_states)
    np.testing.assert_allclose(shared.k[:, :24][own.valid], own.k[own.valid], rtol=1e-13, atol=0)
    for name in ("S_well", "S_total"):
        np.testing.assert_allclose(getattr(shared, name), getattr(own, name), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(shared.S_state_well[:, :24], own.S_state_well, rtol=0, atol=1e-14)


def test_multisection_threshold_equals_bisection():
    """well.figures.threshold (7 batched calls) against 40 bisection steps of single points, at the onset of the
    first state (alpha_L = -alpha_R = 0.01, between d = 0.14 and 0.15 nm: test_seed_thickness_features)."""
    from jaxsge.well.figures import threshold

    p = PAPER.replace(alpha_L=0.01, alpha_R=-0.01)
    lo, hi = 0.14, 0.15
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if fermi_states(p.replace(d=mid), NUM).n_states == 0 else (lo, mid)
    onset = threshold(p, "d", 0.14, 0.15, NUM)
    assert abs(onset - (lo + hi) / 2) <= 1e-12 * 0.15 and 0.144 < onset < 0.145
