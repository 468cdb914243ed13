"""Spin-charge / charge-spin conversion: general solver, printed formulas, Onsager, symmetries."""

import jax
import numpy as np
import pytest
import scipy.integrate

from jaxsge import JunctionParams, transmissions
from jaxsge import response as rs
from jaxsge.model import disorder_potential
from jaxsge.leads import subband_edges
from jaxsge.scan import angular_harmonics, conversion_scan, thermal_nodes
from validation import kwant_junction

BASE = dict(Lx=7, Ly=6, Lz=4, W=4, n_barrier=1, theta=1.1)
THREE = ("L", "R")
PHIS = np.array([0.2, 1.3, 2.9])


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


@pytest.mark.parametrize("disorder", [dict(), dict(K0=0.8, seed=3)])
def test_general_solver_reproduces_eqs_2_and_3_three_terminals(disorder):
    r = transmissions(JunctionParams(**BASE, **disorder, side_leads=THREE, phi=PHIS))
    np.testing.assert_allclose(rs.spin_charge(r.T, r.n_open), rs.eq2_spin_charge(r.T), rtol=1e-12, atol=0)
    np.testing.assert_allclose(rs.charge_spin(r.T, r.n_open), rs.eq3_charge_spin(r.T), rtol=1e-12, atol=0)


@pytest.mark.parametrize("axis", ["x", "y"])
def test_general_solver_reproduces_eq_8_five_terminals(axis):
    r = transmissions(JunctionParams(**BASE, K0=0.5, phi=PHIS))
    np.testing.assert_allclose(rs.spin_charge(r.T, r.n_open, axis), rs.eq8_spin_charge(r.T, axis), rtol=1e-12, atol=0)


@pytest.mark.parametrize("leads", [THREE, ("L", "R", "F", "B")])
@pytest.mark.parametrize("disorder", [dict(), dict(K0=0.8, seed=3)])
def test_onsager_casimir_eq_4(leads, disorder):
    """G_sc(dxc) = G_cs(-dxc) to 1e-10 relative, at several angles."""
    p = JunctionParams(**BASE, **disorder, side_leads=leads, phi=PHIS)
    a, b = transmissions(p), transmissions(p.replace(dxc=-p.dxc))
    for axis in (["x"] if leads == THREE else ["x", "y"]):
        gsc, gcs = np.asarray(rs.spin_charge(a.T, a.n_open, axis)), np.asarray(rs.charge_spin(b.T, b.n_open, axis))
        assert np.abs(gsc).min() > 1e-6
        np.testing.assert_allclose(gsc, gcs, rtol=1e-10, atol=0)


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
    a = conversion_scan(p.replace(phi=phi))
    b = conversion_scan(p.replace(phi=phi + np.pi / 2))
    np.testing.assert_allclose(np.abs(b.Gsc_y), np.abs(a.Gsc_x), rtol=1e-10)
    np.testing.assert_allclose(np.hypot(b.Gsc_x, b.Gsc_y), np.hypot(a.Gsc_x, a.Gsc_y), rtol=1e-10)
    assert np.abs(a.Gsc_x).min() > 1e-6


def test_no_spin_orbit_no_conversion():
    """Needs the mirror-symmetric junction: with leads off-centre (odd Lx - W) a spin-polarised
    current already splits unevenly between L and R without spin-orbit coupling."""
    s = conversion_scan(JunctionParams(Lx=7, Ly=7, Lz=4, W=3, n_barrier=1, theta=1.1, alpha3=0.0, phi=PHIS))
    assert np.abs(np.stack([s.Gsc_x, s.Gsc_y, s.Gcs_x, s.Gcs_y])).max() < 1e-12


@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
def test_thermal_nodes_split_at_square_root_onsets():
    """int (-df/d eps) F(eps) for a bounded F with a square-root onset at e0 (like a channel
    opening), against scipy's adaptive quadrature in eps = e0 +- s^2 (smooth in s): splitting at
    e0 turns the slow convergence of one Gauss-Legendre rule (1e-4 at 32 nodes) into a fast
    one (5e-8, 1e-9, 8e-12 at 8, 16, 32 nodes)."""
    mu, kT, e0 = 1.1, 0.02, 1.13
    weight = lambda e: 1 / (4 * kT * np.cosh((e - mu) / (2 * kT)) ** 2)
    f = lambda e: np.sqrt(np.abs(np.tanh((e - e0) / 0.05)))
    reference = sum(scipy.integrate.quad(lambda s: 2 * s * weight(e0 + sign * s * s) * f(e0 + sign * s * s), 0,
                                         np.sqrt(30 * kT + sign * (mu - e0)), epsabs=1e-16, epsrel=1e-14, limit=500)[0]
                    for sign in (-1, 1))
    eps, w = thermal_nodes(mu, kT, [e0, 5.0], 32)
    assert abs(w.sum() - 1) < 1e-12
    split_error = abs(w @ f(eps) - reference)
    eps, w = thermal_nodes(mu, kT, [], 32)
    plain_error = abs(w @ f(eps) - reference)
    assert split_error < 1e-10 and plain_error > 1e-5


def test_finite_temperature_converges_fast_and_tends_to_zero_temperature():
    p = JunctionParams(**BASE, phi=0.4)
    assert np.any(np.abs(subband_edges(p) - p.mu) < 40 * 0.01), "the test needs subband edges in the window"
    cold = conversion_scan(p)
    # Split at the subband edges the quadrature converges fast (here 6e-4, 2e-6, 4e-8, 3e-10 at
    # 4, 8, 16, 32 nodes per piece): rtol 1e-8 is reached.
    warm = conversion_scan(p, kT=0.01, rtol=1e-8)
    scale = max(abs(warm.Gsc_x), abs(warm.Gsc_y), abs(warm.Gcs_x), abs(warm.Gcs_y))
    assert warm.quadrature_error <= 1e-8 * scale
    coarse = conversion_scan(p, kT=0.01, rtol=1e-4)
    assert coarse.quadrature_nodes < warm.quadrature_nodes
    assert abs(coarse.Gsc_x - warm.Gsc_x) < 1e-4 * scale
    # Onsager-Casimir survives the thermal average (same nodes for both signs of dxc).
    reversed_ = conversion_scan(p.replace(dxc=-p.dxc), kT=0.01, rtol=1e-8)
    np.testing.assert_allclose([warm.Gsc_x, warm.Gsc_y], [reversed_.Gcs_x, reversed_.Gcs_y], rtol=1e-10)
    tiny = conversion_scan(p, kT=1e-5, rtol=1e-8)
    np.testing.assert_allclose(tiny.Gsc_x, cold.Gsc_x, rtol=1e-3)
    with pytest.raises(ValueError, match="kT = -1"):
        conversion_scan(p, kT=-1)


def test_angular_harmonics_of_a_known_function():
    phi = 2 * np.pi * np.arange(64) / 64
    values = 0.5 + 0.3 * np.cos(4 * phi - 0.2) + 0.1 * np.sin(8 * phi)
    np.testing.assert_allclose(angular_harmonics(values), [0.5, 0, 0, 0, 0.3, 0, 0, 0, 0.1], atol=1e-12)


@pytest.mark.parametrize("leads", [THREE, ("L", "R", "F", "B")])
def test_conversion_against_kwant(leads):
    p = JunctionParams(**BASE, phi=0.8, K0=0.6, seed=9, side_leads=leads)
    ours = transmissions(p)
    potential = np.asarray(disorder_potential(p))
    T, n_open = kwant_junction.transmissions(p.Lx, p.Ly, p.Lz, p.W, p.n_barrier, p.t, p.mu, p.alpha3, p.dxc, p.U0,
                                             p.xi, p.theta, p.phi, potential, side_leads=leads)
    for axis in (["x"] if leads == THREE else ["x", "y"]):
        for fn in (rs.spin_charge, rs.charge_spin):
            assert abs(float(fn(ours.T, ours.n_open, axis)) - float(fn(T, n_open, axis))) < 1e-8
