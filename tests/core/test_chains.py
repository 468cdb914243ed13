"""One-dimensional chains: closed-form lead self-energies and the folding, against the general numerical ones."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsge import JunctionParams, junction
from jaxsge.core.chains import chain_self_energy, decimation_self_energy, fold_mode_chains
from jaxsge.core.lattice import PAULI, band_energies, magnetization, sine_modes, spin_along
from jaxsge.model.stack import vertical_lead_chains

TOL = 1e-10  # closed forms equal the numerical self-energies to 1e-10


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def layer_matrix(Lx, Ly, onsite, exchange):
    """Real-space layer: onsite + exchange b.sigma on every site, hopping -1 (an independent construction)."""
    hop = np.kron(np.eye(Lx, k=1), np.eye(Ly)) + np.kron(np.eye(Lx), np.eye(Ly, k=1))
    site = onsite * np.eye(2) + np.einsum("i,ijk->jk", exchange, PAULI)
    return np.kron(np.eye(Lx * Ly), site) - np.kron(hop + hop.T, np.eye(2))


def modes_to_real(Lx, Ly, values, chi):
    """sum_(q, s) values(q, s) |q s><q s| in real space (sigma_z basis, index 2 site + spin)."""
    phix, phiy = sine_modes(Lx)[0], sine_modes(Ly)[0]
    orbital = np.einsum("am,bn,mns,cm,dn->sabcd", phix, phiy, values, phix, phiy).reshape(2, Lx * Ly, Lx * Ly)
    return np.einsum("sij,as,bs->iajb", orbital, chi, chi.conj()).reshape(2 * Lx * Ly, 2 * Lx * Ly)


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
    closed = (phi * chain_self_energy(energy, 4 * t + t * sine_modes(W)[1], t)) @ phi.T
    h0 = 4 * t * np.eye(W) - t * (np.eye(W, k=1) + np.eye(W, k=-1))
    numeric = decimation_self_energy(h0, -t * np.eye(W), energy)
    np.testing.assert_allclose(closed, numeric, atol=TOL, rtol=0)


@pytest.mark.parametrize("theta,phi", [(0.7, 1.2), (np.pi / 2, 0.0), (2.9, -2.0)])
def test_magnetic_lead_closed_form_equals_decimation(theta, phi):
    stack = junction(JunctionParams(Lx=5, Ly=4, theta=theta, phi=phi))
    chi, n = spin_along(theta, phi), np.asarray(magnetization(theta, phi))
    closed = modes_to_real(5, 4, np.asarray(chain_self_energy(1.1, vertical_lead_chains(stack, stack.top, "top"), 1.0)), chi)
    cell = layer_matrix(5, 4, 6.0, 0.3 * n)  # exchange -(dxc/2) n with dxc = -0.6
    numeric = decimation_self_energy(cell, -np.eye(40), 1.1)
    np.testing.assert_allclose(closed, numeric, atol=TOL, rtol=0)


def test_folded_stack_equals_dense_recursion_with_decimated_lead():
    """Self-energy of M plus the clean barrier stack on the 2DEG, two independent ways."""
    p = JunctionParams(Lx=5, Ly=4, Lz=5, n_barrier=2, theta=1.1, phi=0.4, xi=9.0)
    stack = junction(p)
    chi, n = spin_along(p.theta, p.phi), np.asarray(magnetization(p.theta, p.phi))
    sigma = chain_self_energy(p.mu, vertical_lead_chains(stack, stack.top, "top"), 1.0)
    chains = [((layer.onsite + band_energies(5, 4, 1.0))[:, :, None] - np.array([1.0, -1.0]) * layer.dxc / 2, -1.0)
              for layer in stack.layers[:0:-1]]
    folded = modes_to_real(5, 4, np.asarray(fold_mode_chains(p.mu, sigma, chains)[0]), chi)
    dense = decimation_self_energy(layer_matrix(5, 4, 6.0, 0.3 * n), -np.eye(40), p.mu)
    for layer in stack.layers[:0:-1]:
        h = layer_matrix(5, 4, float(layer.onsite), -float(layer.dxc) / 2 * n)
        dense = jnp.linalg.inv(p.mu * np.eye(40) - h - dense)
    np.testing.assert_allclose(folded, dense, atol=TOL, rtol=0)
