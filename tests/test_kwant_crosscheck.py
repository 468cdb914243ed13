"""Every spin-resolved transmission against an independent Kwant model (validation/)."""

import jax
import numpy as np
import pytest

from jaxsge import JunctionParams, transmissions
from jaxsge.model import cubic_rashba_hoppings, disorder_potential
from validation import kwant_junction

TOL = 1e-8  # absolute, on transmission probabilities (issue: 1e-8)

GEOMETRIES = {
    "square_clean": dict(Lx=6, Ly=6, Lz=4, W=4, n_barrier=1, theta=np.pi / 2, phi=0.3),
    "rect_odd_W_theta": dict(Lx=7, Ly=5, Lz=5, W=3, n_barrier=2, theta=0.7, phi=1.1, xi=9.6),
    "disorder_all_layers": dict(Lx=6, Ly=7, Lz=4, W=5, n_barrier=1, theta=1.0, phi=2.0, K0=0.8, seed=1),
    "disorder_2deg_only": dict(Lx=8, Ly=6, Lz=3, W=4, n_barrier=1, theta=2.5, phi=-0.4, K0=1.0, seed=2,
                               disorder_layers="2deg"),
    "profile_Lz2_no_barrier": dict(Lx=5, Ly=6, Lz=2, W=5, n_barrier=0, dxc_profile=np.array([-0.1, 0.3]),
                                   theta=0.3, phi=4.0, alpha3=0.35, mu=1.3),
}


def kwant_reference(p):
    with jax.enable_x64(True):
        potential = np.asarray(disorder_potential(p))
    return kwant_junction.transmissions(p.Lx, p.Ly, p.Lz, p.W, p.n_barrier, p.t, p.mu, p.alpha3, p.dxc, p.U0,
                                        p.xi, p.theta, p.phi, potential, p.dxc_profile)


def test_cubic_rashba_hoppings_equal_kwant_continuum():
    with jax.enable_x64(True):
        ours = {d: np.asarray(h) for d, h in cubic_rashba_hoppings(-0.37).items()}
    theirs = kwant_junction.rashba_table(-0.37)
    assert set(theirs) <= set(ours)
    for d, h in ours.items():
        np.testing.assert_allclose(h, theirs.get(d, np.zeros((2, 2))), atol=1e-15, err_msg=str(d))


@pytest.mark.parametrize("name", GEOMETRIES)
def test_transmissions_equal_kwant(name):
    p = JunctionParams(**GEOMETRIES[name])
    ours = transmissions(p)
    T, n_open = kwant_reference(p)
    np.testing.assert_array_equal(ours.n_open, n_open)
    np.testing.assert_allclose(np.asarray(ours.T), T, atol=TOL, rtol=0)
    assert np.abs(T[:4, :, 4, :]).max() > 1e-3, "the check must see a non-trivial transmission into M"


def test_hybrid_path_equals_kwant():
    """Explicit disorder on layers 0 and 1 only: layers 2.. folded, layer 1 recursive."""
    rng = np.random.default_rng(7)
    disorder = np.zeros((5, 6, 6))
    disorder[:2] = rng.normal(size=(2, 6, 6))
    p = JunctionParams(Lx=6, Ly=6, Lz=5, W=4, n_barrier=2, theta=1.2, phi=0.5, disorder=disorder)
    ours = transmissions(p)
    assert ours.path.startswith("hybrid")
    T, _ = kwant_reference(p)
    np.testing.assert_allclose(np.asarray(ours.T), T, atol=TOL, rtol=0)
