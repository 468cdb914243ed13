"""Closed-form lead self-energies against the general numerical one (decimation)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsge.leads import (chain_self_energy, decimation_self_energy, fold_clean_layers, magnetic_lead_onsite,
                          mode_to_real_space, open_channels, side_mode_onsite)
from jaxsge.model import (JunctionParams, exchange_profile, layer_hamiltonian, layer_onsite, magnetization,
                          nearest_neighbour_hoppings, sine_modes)

TOL = 1e-10  # issue: closed forms equal the numerical self-energies to 1e-10


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


@pytest.mark.parametrize("z", [-3.0, -1.5, -0.9, -0.2, 0.0, 0.4, 0.99, 1.01, 2.5])
def test_chain_self_energy_root_and_branch(z):
    t = 1.3
    sigma = complex(chain_self_energy(2 * t * z, 0.0, t))
    lam = sigma / t
    assert abs(lam ** 2 - 2 * z * lam + 1) < 1e-13  # root of the surface-Green's-function equation
    if abs(z) < 1:
        assert sigma.imag < 0  # retarded, propagating
    else:
        assert abs(lam) < 1 and sigma.imag == 0  # decaying


@pytest.mark.parametrize("energy", [0.3, 1.1, 2.7, 5.9])
def test_strip_closed_form_equals_decimation(energy):
    W, t = 7, 1.0
    phi = sine_modes(W)[0]
    closed = (phi * chain_self_energy(energy, side_mode_onsite(t, W), t)) @ phi.T
    h0 = 4 * t * np.eye(W) - t * (np.eye(W, k=1) + np.eye(W, k=-1))
    numeric = decimation_self_energy(h0, -t * np.eye(W), energy)
    np.testing.assert_allclose(closed, numeric, atol=TOL, rtol=0)


@pytest.mark.parametrize("theta,phi", [(0.7, 1.2), (np.pi / 2, 0.0), (2.9, -2.0)])
def test_magnetic_lead_closed_form_equals_decimation(theta, phi):
    p = JunctionParams(Lx=5, Ly=4, theta=theta, phi=phi)
    n = magnetization(p.theta, p.phi)
    closed = mode_to_real_space(sine_modes(5)[0], sine_modes(4)[0], chain_self_energy(p.mu, magnetic_lead_onsite(p), p.t), n)
    cell = layer_hamiltonian(5, 4, 6.0, -p.dxc / 2 * n, 0.0, nearest_neighbour_hoppings(1.0))
    numeric = decimation_self_energy(cell, -np.eye(40), p.mu)
    np.testing.assert_allclose(closed, numeric, atol=TOL, rtol=0)


def test_folded_stack_equals_dense_recursion_with_decimated_lead():
    """Self-energy of M plus the clean barrier stack on the 2DEG, two independent ways."""
    p = JunctionParams(Lx=5, Ly=4, Lz=5, n_barrier=2, theta=1.1, phi=0.4, xi=9.0)
    n = magnetization(p.theta, p.phi)
    sigma_q, _, _ = fold_clean_layers(p, p.mu, range(p.Lz - 1, 0, -1))
    folded = mode_to_real_space(sine_modes(5)[0], sine_modes(4)[0], sigma_q, n)
    cell = layer_hamiltonian(5, 4, 6.0, -p.dxc / 2 * n, 0.0, nearest_neighbour_hoppings(1.0))
    sigma = decimation_self_energy(cell, -np.eye(40), p.mu)
    onsite, dz = layer_onsite(p), exchange_profile(p)
    for z in range(p.Lz - 1, 0, -1):
        h = layer_hamiltonian(5, 4, onsite[z], -dz[z] / 2 * n, 0.0, nearest_neighbour_hoppings(1.0))
        sigma = jnp.linalg.inv(p.mu * np.eye(40) - h - sigma)
    np.testing.assert_allclose(folded, sigma, atol=TOL, rtol=0)


def test_open_channel_counts_and_errors():
    p = JunctionParams(Lx=6, Ly=6, W=4)
    ch = open_channels(p)
    assert len(ch.side_modes) == 1
    assert {s for _, _, s in ch.top_modes} == {0, 1}
    with pytest.raises(ValueError, match="no open channel in the side leads"):
        open_channels(p.replace(mu=-0.5))
    assert open_channels(p.replace(mu=-0.5), allow_closed=True).side_modes == ()
    edge = 4.0 - 2 * np.cos(np.pi / 5) - 2.0  # bottom of the first side-strip subband
    with pytest.raises(ValueError, match="channel opening"):
        open_channels(p.replace(mu=edge))
