"""Spin-charge / charge-spin conversion: general N-terminal solver, printed formulas, Onsager, symmetries."""

import jax
import numpy as np
import pytest

from jaxsge import JunctionParams, junction, junction_system, mechanism, stack_system, transmissions
from jaxsge.core.lattice import disorder_realization
from jaxsge.observables import response as rs
from jaxsge.observables.scan import conversion_scan

BASE = dict(Lx=7, Ly=6, Lz=4, W=4, n_barrier=1, theta=1.1)
THREE = ("L", "R")
PHIS = np.array([0.2, 1.3, 2.9])


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


@pytest.mark.parametrize("disorder", [dict(), dict(K0=0.8, seed=3)])
@pytest.mark.parametrize("reflection", [True, False])
def test_general_solver_reproduces_eqs_2_and_3_three_terminals(disorder, reflection):
    r = transmissions(JunctionParams(**BASE, **disorder, side_leads=THREE, phi=PHIS), reflection=reflection)
    np.testing.assert_allclose(rs.spin_charge(r.T, r.n_open, r.leads), rs.eq2_spin_charge(r.T, r.leads), rtol=1e-12,
                               atol=0)
    np.testing.assert_allclose(rs.charge_spin(r.T, r.n_open, r.leads), rs.eq3_charge_spin(r.T, r.leads), rtol=1e-12,
                               atol=0)


@pytest.mark.parametrize("axis", ["x", "y"])
def test_general_solver_reproduces_eq_8_five_terminals(axis):
    r = transmissions(JunctionParams(**BASE, K0=0.5, phi=PHIS))
    np.testing.assert_allclose(rs.spin_charge(r.T, r.n_open, r.leads, rs.AXIS_PAIRS[axis]),
                               rs.eq8_spin_charge(r.T, r.leads, axis), rtol=1e-12, atol=0)


@pytest.mark.parametrize("leads", [THREE, ("L", "R", "F", "B")])
@pytest.mark.parametrize("disorder", [dict(), dict(K0=0.8, seed=3)])
def test_onsager_casimir_eq_4(leads, disorder):
    """G_sc(dxc) = G_cs(-dxc) to 1e-10 relative, at several angles (lean right-hand sides)."""
    p = JunctionParams(**BASE, **disorder, side_leads=leads, phi=PHIS)
    a, b = transmissions(p, reflection=False), transmissions(p.replace(dxc=-p.dxc), reflection=False)
    for axis in (["x"] if leads == THREE else ["x", "y"]):
        pair = rs.AXIS_PAIRS[axis]
        gsc = np.asarray(rs.spin_charge(a.T, a.n_open, a.leads, pair))
        gcs = np.asarray(rs.charge_spin(b.T, b.n_open, b.leads, pair))
        assert np.abs(gsc).min() > 1e-6
        np.testing.assert_allclose(gsc, gcs, rtol=1e-10, atol=0)


def test_conversions_do_not_depend_on_the_unresolved_spin_flip_reflection():
    """Every conversion conductance needs only the row and column sums of M's self-reflection."""
    r = transmissions(JunctionParams(**BASE, K0=0.5, phi=PHIS), reflection=True)
    base = rs.conversions(r.T, r.n_open, r.leads)
    shifted = r.T.copy()
    shifted[:, 4, 0, 4, 0] -= 0.1
    shifted[:, 4, 1, 4, 1] -= 0.1
    shifted[:, 4, 0, 4, 1] += 0.1
    shifted[:, 4, 1, 4, 0] += 0.1  # same row and column sums
    other = rs.conversions(shifted, r.n_open, r.leads)
    for key in base:
        np.testing.assert_allclose(other[key], base[key], rtol=1e-12, atol=0)


def test_charge_conservation_and_floating_lead():
    r = transmissions(JunctionParams(**BASE, K0=0.5, phi=PHIS))
    bias = np.zeros((3, 5, 2))
    bias[:, 4] = [0.5, -0.5]
    bias[:, 0] = 0.3
    currents, potentials = rs.terminal_response(r.T, r.n_open, bias, floating=(4,))
    np.testing.assert_allclose(np.asarray(currents).sum(axis=(-2, -1)), 0, atol=1e-12)
    np.testing.assert_allclose(np.asarray(currents)[:, 4].sum(-1), 0, atol=1e-12)
    spin_bias = np.asarray(potentials)[:, 4, 0] - np.asarray(potentials)[:, 4, 1]
    np.testing.assert_allclose(spin_bias, 1.0, atol=1e-12)


def test_square_junction_quarter_turn_symmetry():
    """Clean Lx = Ly: rotating n by pi/2 maps G_sc^x onto G_sc^y, so g_sc has period pi/2."""
    phi = np.array([0.3, 1.0])
    p = JunctionParams(Lx=7, Ly=7, Lz=4, W=3, n_barrier=1, theta=np.pi / 2)
    a = conversion_scan(p, phi=phi)
    b = conversion_scan(p, phi=phi + np.pi / 2)
    np.testing.assert_allclose(np.abs(b.Gsc_y), np.abs(a.Gsc_x), rtol=1e-10)
    np.testing.assert_allclose(np.hypot(b.Gsc_x, b.Gsc_y), np.hypot(a.Gsc_x, a.Gsc_y), rtol=1e-10)
    assert np.abs(a.Gsc_x).min() > 1e-6


def test_no_spin_orbit_no_conversion():
    """Needs the mirror-symmetric junction: with leads off-centre (odd Lx - W) a spin-polarised
    current already splits unevenly between L and R without spin-orbit coupling."""
    s = conversion_scan(JunctionParams(Lx=7, Ly=7, Lz=4, W=3, n_barrier=1, theta=1.1, alpha3=0.0), phi=PHIS)
    assert np.abs(np.stack([s.Gsc_x, s.Gsc_y, s.Gcs_x, s.Gcs_y])).max() < 1e-12
    with pytest.raises(ValueError, match="g_sc is undefined"):
        s.g_sc


@pytest.mark.parametrize("kind", ["barrier", "2deg", "both"])
def test_mechanisms_convert_and_obey_onsager_casimir(kind):
    """Each Fig. 2 mechanism gives G_sc != 0 and G_sc(dxc) = G_cs(-dxc) [Eq. (4)]."""
    p = mechanism(kind, JunctionParams(Lx=6, Ly=5, Lz=4, W=3, n_barrier=2, theta=1.1), alpha1=0.4)
    forward = conversion_scan(p, phi=np.array([0.3, 1.2]))
    reverse = conversion_scan(p.replace(dxc=-p.dxc), phi=np.array([0.3, 1.2]))
    for axis in "xy":
        np.testing.assert_allclose(forward.G[f"Gsc_{axis}"], reverse.G[f"Gcs_{axis}"], atol=1e-10)
    assert np.abs(forward.Gsc_x).max() > 1e-5


def test_stack_system_scan_equals_junction_scan():
    """The same junction as a System of its parameters or of its stack's leaves."""
    p = JunctionParams(**BASE, K0=0.4, seed=2)
    a = conversion_scan(junction_system(p), phi=PHIS)
    b = conversion_scan(stack_system(junction(p), p.mu), phi=PHIS)
    for key in a.G:
        np.testing.assert_allclose(a.G[key], b.G[key], atol=1e-13, rtol=0)


kwant_junction = pytest.importorskip("validation.kwant_junction", reason="Kwant is not installed (make kwant)")


@pytest.mark.parametrize("leads", [THREE, ("L", "R", "F", "B")])
def test_conversion_against_kwant(leads):
    p = JunctionParams(**BASE, phi=0.8, K0=0.6, seed=9, side_leads=leads)
    ours = transmissions(p)
    potential = 0.6 * np.asarray(disorder_realization(9, 0, (p.Lz, p.Lx, p.Ly)))
    T, n_open = kwant_junction.transmissions(p.Lx, p.Ly, p.Lz, p.W, p.n_barrier, p.t, p.mu, p.alpha3, p.dxc, p.U0,
                                             p.xi, p.theta, p.phi, potential, side_leads=leads)
    names = ("L", "R", "F", "B", "M")
    for axis in (["x"] if leads == THREE else ["x", "y"]):
        for fn in (rs.spin_charge, rs.charge_spin):
            pair = rs.AXIS_PAIRS[axis]
            assert abs(float(fn(ours.T, ours.n_open, ours.leads, pair)) - float(fn(T, n_open, names, pair))) < 1e-8
