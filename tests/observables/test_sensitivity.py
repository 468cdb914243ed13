"""Derivatives by automatic differentiation against central finite differences (and Kwant)."""

import jax
import numpy as np
import pytest

from jaxsge import JunctionParams, junction, junction_system, mechanism, stack_system
from jaxsge.core.lattice import disorder_realization
from jaxsge.observables import response as rs
from jaxsge.observables.scan import conversion_scan
from jaxsge.observables.sensitivity import gradient, sensitivities
from jaxsge.solve.transmissions import transmissions

BASE = dict(Lx=7, Ly=6, Lz=4, W=4, n_barrier=1, theta=1.1, phi=0.4)
# Central differences with step H have truncation error ~H^2 and rounding error ~1e-15/H:
# 1e-5 keeps both near 1e-10, far below the asserted relative agreement RTOL.
H = 1e-5
RTOL = 1e-6
JUNCTION_PARAMETERS = ("alpha3", "alpha1", "dxc", "U0", "mu", "xi", "t", "theta", "phi")


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def values(system, fold=True):
    """T and the conversion conductances through the plain (non-differentiated) API."""
    r = transmissions(system.stack(), system.energy(), fold=fold)
    return {"T": r.T, **rs.conversions(r.T, r.n_open, r.leads)}


def central_difference(system, name, fold=True):
    x = float(np.asarray(system.values[name]))
    up = values(system.with_values(**{name: x + H}), fold)
    down = values(system.with_values(**{name: x - H}), fold)
    return {q: (np.asarray(up[q]) - np.asarray(down[q])) / (2 * H) for q in up}


def assert_matches_finite_differences(system, wrt, fold=True):
    s = sensitivities(system, wrt, fold=fold)
    for name in wrt:
        fd = central_difference(system, name, fold)
        for q, expected in fd.items():
            scale = max(np.abs(expected).max(), 1e-8)
            np.testing.assert_allclose(s.derivatives[q][name], expected, rtol=RTOL, atol=RTOL * scale,
                                       err_msg=f"d {q} / d {name}")
    return s


@pytest.mark.parametrize("fold", [True, False])
def test_every_derivative_of_a_clean_junction(fold):
    s = assert_matches_finite_differences(junction_system(JunctionParams(**BASE)), JUNCTION_PARAMETERS, fold)
    assert abs(s.derivatives["Gsc_x"]["alpha3"]) > 1e-4, "the check needs a non-trivial dG_sc/d alpha3"
    assert abs(s.derivatives["Gsc_x"]["alpha1"]) > 1e-5, "alpha1 = 0 is differentiated through a non-folded barrier"


@pytest.mark.parametrize("layers", ["all", "2deg"])
def test_derivatives_of_a_disordered_junction(layers):
    p = JunctionParams(**BASE, K0=0.8, seed=3, disorder_layers=layers)
    assert_matches_finite_differences(junction_system(p), ("alpha3", "dxc", "U0", "K0", "xi", "phi"))


def test_derivatives_of_the_barrier_mechanism():
    """Spin-orbit coupling in the barrier only (the paper's Fig. 2 (a)): d/d alpha1, d/d K0 with disorder."""
    p = mechanism("barrier", JunctionParams(**BASE, K0=0.5, seed=1), alpha1=0.3)
    s = assert_matches_finite_differences(junction_system(p), ("alpha1", "K0", "dxc"))
    assert abs(s.derivatives["Gsc_x"]["alpha1"]) > 1e-5


def test_derivatives_with_respect_to_stack_leaves():
    """A stack's own leaves: lead M's exchange apart from the layers', one layer's alpha1, a group."""
    p = mechanism("both", JunctionParams(**BASE), alpha1=0.3)
    system = stack_system(junction(p), p.mu)
    assert_matches_finite_differences(system, ("M.dxc", "layers[3].alpha1", "alpha3", "layers[0].dxc", "energy"))


def test_batched_derivatives_equal_single_ones():
    phis = np.array([0.2, 1.3, 2.9])
    system = junction_system(JunctionParams(**BASE, K0=0.6, seed=5))
    batched = sensitivities(system, ("alpha3", "phi"), phi=phis, realizations=[0, 4])
    assert batched.derivatives["Gsc_x"]["alpha3"].shape == (2, 3)
    for i, index in enumerate([0, 4]):
        for j, phi in enumerate(phis):
            single = sensitivities(system, ("alpha3", "phi"), phi=phi, realizations=[index])
            for quantity in single.values:
                np.testing.assert_allclose(batched.values[quantity][i, j], single.values[quantity][0], atol=1e-12)
                for name in ("alpha3", "phi"):
                    np.testing.assert_allclose(batched.derivatives[quantity][name][i, j],
                                               single.derivatives[quantity][name][0], atol=1e-12)


def test_reverse_mode_equals_forward_mode_and_potential_gradient_equals_finite_differences():
    p = JunctionParams(**BASE, K0=0.7, seed=2)
    system = junction_system(p)
    forward = sensitivities(system, ("alpha3", "dxc", "xi"))
    value, grads = gradient(system, "Gsc_y", ("alpha3", "dxc", "xi"), potential_layers=range(p.Lz))
    np.testing.assert_allclose(value, forward.values["Gsc_y"], atol=1e-13)
    for name in ("alpha3", "dxc", "xi"):
        np.testing.assert_allclose(grads[name], forward.derivatives["Gsc_y"][name], rtol=1e-10)
    # Directional derivative along a random potential change, by central differences (explicit potential).
    direction = np.random.default_rng(0).normal(size=(p.Lz, p.Lx, p.Ly))
    potential = 0.7 * np.asarray(disorder_realization(2, 0, (p.Lz, p.Lx, p.Ly)))
    shifted = [conversion_scan(p.replace(disorder=potential + sign * H * direction)).Gsc_y for sign in (1, -1)]
    fd = (shifted[0] - shifted[1]) / (2 * H)
    np.testing.assert_allclose(np.sum(grads["potential"] * direction), fd, rtol=RTOL)
    # Only the 2DEG (the upper layers stay folded): the z = 0 slice of the all-layer gradient.
    two = junction_system(p.replace(disorder_layers="2deg"))
    _, g2 = gradient(two, "Gsc_y", potential_layers=(0,))
    _, gall = gradient(two, "Gsc_y", potential_layers=range(p.Lz))
    np.testing.assert_allclose(g2["potential"][0], gall["potential"][0], atol=1e-12)


kwant_junction = pytest.importorskip("validation.kwant_junction", reason="Kwant is not installed (make kwant)")


def test_dgsc_dalpha3_against_kwant_finite_differences():
    p = JunctionParams(Lx=6, Ly=6, Lz=4, W=4, n_barrier=1, theta=np.pi / 2, phi=0.3)
    ours = sensitivities(p, "alpha3").derivatives["Gsc_x"]["alpha3"]
    kwant_values = []
    for alpha3 in (p.alpha3 + H, p.alpha3 - H):
        T, _ = kwant_junction.transmissions(p.Lx, p.Ly, p.Lz, p.W, p.n_barrier, p.t, p.mu, alpha3, p.dxc, p.U0,
                                            p.xi, p.theta, p.phi, np.zeros((p.Lz, p.Lx, p.Ly)))
        kwant_values.append(rs.eq8_spin_charge(T, ("L", "R", "F", "B", "M"), "x"))
    fd = (kwant_values[0] - kwant_values[1]) / (2 * H)
    assert abs(fd) > 1e-4
    np.testing.assert_allclose(ours, fd, rtol=RTOL)


def test_derivative_at_a_channel_opening_is_refused_and_finite_nearby():
    p = JunctionParams(**BASE)
    edge = 4.0 - 2 * np.cos(2 * np.pi / 5) - 2.0  # a side-lead channel (mode 2 of W = 4) opens here
    with pytest.raises(ValueError, match="the derivative with respect to mu, dxc is singular at mu"):
        sensitivities(p.replace(mu=edge + 1e-8), ("alpha3", "mu", "dxc"))
    # alpha3 does not move the edge: its derivative is finite there and matches differences.
    assert_matches_finite_differences(junction_system(p.replace(mu=edge + 1e-7)), ("alpha3",))
    # Approaching the edge from above, dT/d mu grows like distance^-1/2.
    slopes = [np.abs(sensitivities(p.replace(mu=edge + d), "mu").derivatives["T"]["mu"]).max() for d in (1e-3, 1e-5)]
    assert 5 < slopes[1] / slopes[0] < 20


def test_bad_requests():
    p = JunctionParams(**BASE)
    with pytest.raises(ValueError, match="wrt = 'W'"):
        sensitivities(p, ("W",))
    with pytest.raises(ValueError, match="realizations need a disordered layer"):
        sensitivities(p, "alpha3", realizations=[0])
    with pytest.raises(ValueError, match="quantity = 'T'"):
        gradient(p, "T", ("alpha3",))
    with pytest.raises(ValueError, match="one point"):
        gradient(p.replace(phi=np.array([0.0, 1.0])), "Gsc_x", ("alpha3",))
