"""Derivatives by automatic differentiation against central finite differences (and Kwant)."""

import jax
import numpy as np
import pytest

from jaxsge import JunctionParams, transmissions
from jaxsge import response as rs
from jaxsge.model import disorder_potential
from jaxsge.sensitivity import PARAMETERS, check_not_singular, gradient, sensitivities
from jaxsge.leads import side_mode_onsite
from validation import kwant_junction

BASE = dict(Lx=7, Ly=6, Lz=4, W=4, n_barrier=1, theta=1.1, phi=0.4)
# Central differences with step H have truncation error ~H^2 and rounding error ~1e-15/H:
# 1e-5 keeps both near 1e-10, far below the asserted relative agreement RTOL.
H = 1e-5
RTOL = 1e-6


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def values(p, path="auto"):
    """T and the conversion conductances through the plain (non-differentiated) API."""
    r = transmissions(p, path=path, smatrix=False)
    return {"T": r.T, **{f"Gsc_{a}": rs.spin_charge(r.T, r.n_open, a) for a in "xy"},
            **{f"Gcs_{a}": rs.charge_spin(r.T, r.n_open, a) for a in "xy"}}


def central_difference(p, name, path="auto"):
    x = float(np.asarray(getattr(p, name)))
    up, down = values(p.replace(**{name: x + H}), path), values(p.replace(**{name: x - H}), path)
    return {q: (np.asarray(up[q]) - np.asarray(down[q])) / (2 * H) for q in up}


def assert_matches_finite_differences(p, wrt, path="auto"):
    s = sensitivities(p, wrt, path=path)
    for name in wrt:
        fd = central_difference(p, name, path)
        for q, expected in fd.items():
            scale = max(np.abs(expected).max(), 1e-8)
            np.testing.assert_allclose(s.derivatives[q][name], expected, rtol=RTOL, atol=RTOL * scale,
                                       err_msg=f"d {q} / d {name}")
    return s


@pytest.mark.parametrize("path", ["folded", "recursive"])
def test_every_derivative_of_a_clean_junction(path):
    s = assert_matches_finite_differences(JunctionParams(**BASE), [n for n in PARAMETERS if n != "K0"], path)
    assert abs(s.derivatives["Gsc_x"]["alpha3"]) > 1e-4, "the check needs a non-trivial dG_sc/d alpha3"


@pytest.mark.parametrize("layers", ["all", "2deg"])
def test_derivatives_of_a_disordered_junction(layers):
    p = JunctionParams(**BASE, K0=0.8, seed=3, disorder_layers=layers)
    assert_matches_finite_differences(p, ("alpha3", "dxc", "U0", "K0", "phi"))


def test_batched_derivatives_equal_single_ones():
    phis = np.array([0.2, 1.3, 2.9])
    p = JunctionParams(**BASE, K0=0.6, seed=5)
    batched = sensitivities(p.replace(phi=phis), ("alpha3", "phi"), realizations=[0, 4])
    assert batched.derivatives["Gsc_x"]["alpha3"].shape == (2, 3)
    for i, index in enumerate([0, 4]):
        q = p.replace(disorder=disorder_potential(p, index))
        for j, phi in enumerate(phis):
            single = sensitivities(q.replace(phi=phi), ("alpha3", "phi"))
            for quantity in single.values:
                np.testing.assert_allclose(batched.values[quantity][i, j], single.values[quantity], atol=1e-12)
                for name in ("alpha3", "phi"):
                    np.testing.assert_allclose(batched.derivatives[quantity][name][i, j],
                                               single.derivatives[quantity][name], atol=1e-12)


def test_reverse_mode_equals_forward_mode_and_disorder_gradient_equals_finite_differences():
    p = JunctionParams(**BASE, K0=0.7, seed=2)
    forward = sensitivities(p, ("alpha3", "dxc", "xi"))
    value, grads = gradient(p, "Gsc_y", ("alpha3", "dxc", "xi", "disorder"))
    np.testing.assert_allclose(value, forward.values["Gsc_y"], atol=1e-13)
    for name in ("alpha3", "dxc", "xi"):
        np.testing.assert_allclose(grads[name], forward.derivatives["Gsc_y"][name], rtol=1e-10)
    # Directional derivative along a random potential change, by central differences.
    direction = np.random.default_rng(0).normal(size=(p.Lz, p.Lx, p.Ly))
    potential = np.asarray(disorder_potential(p))
    shifted = [values(p.replace(disorder=potential + sign * H * direction))["Gsc_y"] for sign in (1, -1)]
    fd = (shifted[0] - shifted[1]) / (2 * H)
    np.testing.assert_allclose(np.sum(grads["disorder"] * direction), fd, rtol=RTOL)
    # Only the 2DEG, folded path: equals the z = 0 slice of the all-layer gradient.
    _, g2 = gradient(p.replace(disorder_layers="2deg"), "Gsc_y", "disorder", layers="2deg")
    _, gall = gradient(p.replace(disorder_layers="2deg"), "Gsc_y", "disorder", layers="all")
    np.testing.assert_allclose(g2["disorder"], gall["disorder"][0], atol=1e-12)


def test_dgsc_dalpha3_against_kwant_finite_differences():
    p = JunctionParams(Lx=6, Ly=6, Lz=4, W=4, n_barrier=1, theta=np.pi / 2, phi=0.3)
    ours = sensitivities(p, "alpha3").derivatives["Gsc_x"]["alpha3"]
    kwant_values = []
    for alpha3 in (p.alpha3 + H, p.alpha3 - H):
        T, _ = kwant_junction.transmissions(p.Lx, p.Ly, p.Lz, p.W, p.n_barrier, p.t, p.mu, alpha3, p.dxc, p.U0,
                                            p.xi, p.theta, p.phi, np.zeros((p.Lz, p.Lx, p.Ly)))
        kwant_values.append(rs.eq8_spin_charge(T, "x"))
    fd = (kwant_values[0] - kwant_values[1]) / (2 * H)
    assert abs(fd) > 1e-4
    np.testing.assert_allclose(ours, fd, rtol=RTOL)


def test_derivative_at_a_channel_opening_is_refused_and_finite_nearby():
    p = JunctionParams(**BASE)
    edge = float(side_mode_onsite(1.0, p.W)[1]) - 2.0  # a side-lead channel opens here
    at_edge = p.replace(mu=edge + 1e-8)
    with pytest.raises(ValueError, match="singular at mu"):
        check_not_singular(at_edge, ("mu",))
    with pytest.raises(ValueError, match="derivative with respect to mu, dxc is singular"):
        sensitivities(at_edge, ("alpha3", "mu", "dxc"))
    # alpha3 does not move the edge: its derivative is finite there and matches differences.
    assert_matches_finite_differences(p.replace(mu=edge + 1e-7), ("alpha3",))
    # Approaching the edge from above, dT/d mu grows like distance^-1/2.
    slopes = [np.abs(sensitivities(p.replace(mu=edge + d), "mu").derivatives["T"]["mu"]).max() for d in (1e-3, 1e-5)]
    assert 5 < slopes[1] / slopes[0] < 20


def test_bad_requests():
    p = JunctionParams(**BASE)
    with pytest.raises(ValueError, match="wrt = 'W'"):
        sensitivities(p, ("W",))
    with pytest.raises(ValueError, match="realizations need a drawn disorder"):
        sensitivities(p, "alpha3", realizations=[0])
    with pytest.raises(ValueError, match="realizations must be"):
        sensitivities(p.replace(K0=0.5), "alpha3", realizations=[-1])
    with pytest.raises(ValueError, match="quantity = 'T'"):
        gradient(p, "T")
    with pytest.raises(ValueError, match="one point"):
        gradient(p.replace(phi=np.array([0.0, 1.0])), "Gsc_x", "alpha3")
