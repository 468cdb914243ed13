"""Finite temperature: the quadrature split at the subband edges, its convergence and its kT -> 0 limit."""

import jax
import numpy as np
import pytest
import scipy.integrate

from jaxsge import JunctionParams, junction
from jaxsge.observables.scan import conversion_scan
from jaxsge.observables.scan import thermal_nodes
from jaxsge.plan.plan import subband_edges

BASE = dict(Lx=7, Ly=6, Lz=4, W=4, n_barrier=1, theta=1.1)


@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
def test_thermal_nodes_split_at_square_root_onsets():
    """int (-df/d eps) F(eps) for a bounded F with a square-root onset at e0 (like a channel
    opening), against scipy's adaptive quadrature in eps = e0 +- s^2 (smooth in s): splitting at
    e0 turns the slow convergence of one Gauss-Legendre rule (1e-4 at 32 nodes) into a fast
    one (5e-8, 1e-9, 8e-12 at 8, 16, 32 nodes)."""
    mu, kT, e0 = 1.1, 0.02, 1.13
    weight = lambda e: 1 / (4 * kT * np.cosh((e - mu) / (2 * kT)) ** 2)  # noqa: E731
    f = lambda e: np.sqrt(np.abs(np.tanh((e - e0) / 0.05)))  # noqa: E731
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
    with jax.enable_x64(True):
        assert np.any(np.abs(subband_edges(junction(p)) - p.mu) < 40 * 0.01), "the test needs edges in the window"
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
