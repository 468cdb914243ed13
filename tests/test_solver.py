"""Sum rules, symmetries and internal consistency of the transport solver."""

import jax
import numpy as np
import pytest

from jaxsge import JunctionParams, transmissions
from jaxsge.solve import dense_layers

BASE = dict(Lx=7, Ly=6, Lz=4, W=4, n_barrier=1, theta=1.1, phi=0.7)
CASES = {
    "clean": dict(),
    "disorder_all": dict(K0=0.9, seed=4),
    "disorder_2deg": dict(K0=1.5, seed=5, disorder_layers="2deg"),
}


@pytest.mark.parametrize("case", CASES)
def test_unitarity_and_current_conservation(case):
    r = transmissions(JunctionParams(**BASE, **CASES[case]))
    S = np.asarray(r.S)
    np.testing.assert_allclose(S @ S.conj().T, np.eye(S.shape[0]), atol=1e-10)
    assert float(r.conservation_residual()) < 1e-10
    # Outgoing probabilities also add up to the open channels of each receiving lead.
    np.testing.assert_allclose(np.asarray(r.T).sum(axis=(2, 3)), r.n_open, atol=1e-10)


@pytest.mark.parametrize("case", CASES)
def test_microreversibility(case):
    """T(alpha <- M, s) at dxc equals T(M, -s <- alpha) at -dxc (same n, same disorder)."""
    p = JunctionParams(**BASE, **CASES[case])
    forward = np.asarray(transmissions(p).from_M())
    backward = np.asarray(transmissions(p.replace(dxc=-p.dxc)).to_M())
    np.testing.assert_allclose(forward, backward[:, ::-1], atol=1e-10, rtol=0)
    assert np.abs(forward[:, 0] - forward[:, 1]).max() > 1e-3  # spin-resolved, not trivially equal


@pytest.mark.parametrize("case", ["clean", "disorder_2deg"])
def test_folded_and_recursive_paths_agree(case):
    p = JunctionParams(**BASE, **CASES[case])
    folded, recursive = transmissions(p, path="folded"), transmissions(p, path="recursive")
    assert (folded.path, recursive.path) == ("folded", "recursive")
    np.testing.assert_allclose(np.asarray(folded.T), np.asarray(recursive.T), atol=1e-10, rtol=0)


@pytest.mark.parametrize("layers", ["2deg", "all"])
@pytest.mark.parametrize("one_per_chunk", [False, True])
def test_batched_angles_equal_single_evaluations(layers, one_per_chunk):
    """Also with the upper layers eliminated once for the whole scan and chunks of one angle."""
    p = JunctionParams(**BASE, K0=0.5, disorder_layers=layers)
    phis = np.array([0.0, 0.4, 2.0])
    budget = 1.5 * 8 * 16 * p.N ** 2 / 2 ** 30 if one_per_chunk else None
    batched = transmissions(p.replace(theta=np.array([0.3, 1.0, 2.0]), phi=phis), memory_budget_gib=budget)
    assert batched.T.shape == (3, 5, 2, 5, 2)
    for i, (th, ph) in enumerate(zip([0.3, 1.0, 2.0], phis)):
        single = transmissions(p.replace(theta=th, phi=ph))
        np.testing.assert_allclose(np.asarray(batched.T[i]), np.asarray(single.T), atol=1e-12, rtol=0)


def test_double_precision_without_touching_global_config():
    before = jax.config.jax_enable_x64
    r = transmissions(JunctionParams(**BASE))
    assert jax.config.jax_enable_x64 == before
    assert r.T.dtype == np.float64 and r.S.dtype == np.complex128


def test_path_choice():
    assert dense_layers(JunctionParams(**BASE)) == 0
    assert dense_layers(JunctionParams(**BASE, K0=1.0)) == 3
    assert dense_layers(JunctionParams(**BASE, K0=1.0, disorder_layers="2deg")) == 0
    explicit = np.zeros((4, 7, 6))
    explicit[2, 3, 3] = 0.1
    assert dense_layers(JunctionParams(**BASE, disorder=explicit)) == 2
    with pytest.raises(ValueError, match="path='folded'"):
        dense_layers(JunctionParams(**BASE, K0=1.0), "folded")
    with pytest.raises(ValueError, match="path"):
        dense_layers(JunctionParams(**BASE), "fast")


def test_spin_resolution_in_M_follows_n():
    """dxc < 0: s = + is the minority band of M, so it has fewer open channels."""
    r = transmissions(JunctionParams(**BASE))
    assert r.n_open[4, 0] < r.n_open[4, 1]
