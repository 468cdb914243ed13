"""Every spin-resolved transmission of the paper's junction against an independent Kwant model (validation/)."""

import jax
import numpy as np
import pytest

from jaxsge import JunctionParams, junction, transmissions
from jaxsge.core.lattice import cubic_rashba_table, disorder_realization
from jaxsge.model.junction import exchange_profile, layer_onsite

kwant_junction = pytest.importorskip("validation.kwant_junction", reason="Kwant is not installed (make kwant)")

TOL = 1e-8  # absolute, on transmission probabilities

GEOMETRIES = {
    "square_clean": dict(Lx=6, Ly=6, Lz=4, W=4, n_barrier=1, theta=np.pi / 2, phi=0.3),
    "rect_odd_W_theta": dict(Lx=7, Ly=5, Lz=5, W=3, n_barrier=2, theta=0.7, phi=1.1, xi=9.6),
    "disorder_all_layers": dict(Lx=6, Ly=7, Lz=4, W=5, n_barrier=1, theta=1.0, phi=2.0, K0=0.8, seed=1),
    "disorder_2deg_only": dict(Lx=8, Ly=6, Lz=3, W=4, n_barrier=1, theta=2.5, phi=-0.4, K0=1.0, seed=2,
                               disorder_layers="2deg"),
    "profile_Lz2_no_barrier": dict(Lx=5, Ly=6, Lz=2, W=5, n_barrier=0, dxc_profile=np.array([-0.1, 0.3]),
                                   theta=0.3, phi=4.0, alpha3=0.35, mu=1.3),
}


def potential(p):
    """The realization's on-site potential V(z, x, y) = K0 t w (K0 on the drawn layers), for Kwant."""
    with jax.enable_x64(True):
        if p.disorder is not None:
            return np.asarray(p.disorder)
        w = np.array(disorder_realization(p.seed, 0, (p.Lz, p.Lx, p.Ly)))
        if p.disorder_layers == "2deg":
            w[1:] = 0
        return p.K0 * p.t * w


def kwant_reference(p):
    return kwant_junction.transmissions(p.Lx, p.Ly, p.Lz, p.W, p.n_barrier, p.t, p.mu, p.alpha3, p.dxc, p.U0,
                                        p.xi, p.theta, p.phi, potential(p), p.dxc_profile)


def test_cubic_rashba_table_equals_kwant_continuum():
    with jax.enable_x64(True):
        ours = {d: np.asarray(h) for d, h in cubic_rashba_table(-0.37).items()}
    theirs = kwant_junction.rashba_table(-0.37)
    assert set(theirs) <= set(ours)
    for d, h in ours.items():
        np.testing.assert_allclose(h, theirs.get(d, np.zeros((2, 2))), atol=1e-15, err_msg=str(d))


@pytest.mark.parametrize("name", GEOMETRIES)
@pytest.mark.parametrize("reflection", [True, False])
def test_transmissions_equal_kwant(name, reflection):
    """Exact (reflection) and lean (the top lead's self-reflection from unitarity) right-hand sides."""
    p = JunctionParams(**GEOMETRIES[name])
    ours = transmissions(p, reflection=reflection)
    T, n_open = kwant_reference(p)
    np.testing.assert_array_equal(ours.n_open, n_open)
    if not reflection:  # only the sums of M's spin-resolved self-reflection are resolved
        np.testing.assert_allclose(ours.T[4, :, 4, :].sum(0), T[4, :, 4, :].sum(0), atol=TOL, rtol=0)
        np.testing.assert_allclose(ours.T[4, :, 4, :].sum(1), T[4, :, 4, :].sum(1), atol=TOL, rtol=0)
        T = T.copy()
        T[4, :, 4, :] = ours.T[4, :, 4, :]
    np.testing.assert_allclose(ours.T, T, atol=TOL, rtol=0)
    assert np.abs(T[:4, :, 4, :]).max() > 1e-3, "the check must see a non-trivial transmission into M"


def test_hybrid_path_equals_kwant():
    """Explicit disorder on layers 0 and 1 only: layers 2.. folded, layer 1 in spin blocks."""
    rng = np.random.default_rng(7)
    disorder = np.zeros((5, 6, 6))
    disorder[:2] = rng.normal(size=(2, 6, 6))
    p = JunctionParams(Lx=6, Ly=6, Lz=5, W=4, n_barrier=2, theta=1.2, phi=0.5, disorder=disorder)
    ours = transmissions(p)
    assert ours.plan.top_fold == (4, 3, 2) and ours.plan.blocks == (1,)
    T, _ = kwant_reference(p)
    np.testing.assert_allclose(ours.T, T, atol=TOL, rtol=0)


def test_preset_layers_follow_the_model():
    """The preset's layer onsite energies and exchange are those of docs/model.md."""
    p = JunctionParams(Lx=6, Ly=6, Lz=6, n_barrier=2, xi=7.2)
    with jax.enable_x64(True):
        s = junction(p)
        np.testing.assert_allclose([float(layer.onsite) for layer in s.layers], [4, 6, 6, 6, 7.9, 7.9], atol=1e-15)
        np.testing.assert_allclose([float(layer.dxc) for layer in s.layers],
                                   -0.6 * np.exp(-(6 - np.arange(6)) / 7.2), rtol=1e-15)
        np.testing.assert_allclose(np.asarray(layer_onsite(p)), [4, 6, 6, 6, 7.9, 7.9], atol=1e-15)
        np.testing.assert_allclose(np.asarray(exchange_profile(p))[0], -0.6 * np.exp(-6 / 7.2), rtol=1e-15)
