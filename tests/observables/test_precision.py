"""Observables through the mixed-precision path: forward derivatives (implicit differentiation of
the refinement) and reverse-mode gradients against central differences of the double dense
path, and a conversion scan against the double path. Also the gradient with respect to an
on-site potential (a site-resolved onsite energy) through the Krylov and mixed paths."""

import numpy as np
import pytest

from jaxsge import JunctionParams, transmissions
from jaxsge.observables import response as rs
from jaxsge.observables.scan import conversion_scan
from jaxsge.observables.sensitivity import gradient, sensitivities
from tests.engine.test_mixed import file_disorder
from tests.solve.test_paths import BASE, JUNCTIONS

P = JunctionParams(**BASE, **JUNCTIONS["disorder_2deg"], theta=1.2)


def conductances(p, **options):
    r = transmissions(p, path="dense", precision="double", **options)
    return {k: float(v) for k, v in rs.conversions(r.T, r.n_open, r.leads).items()}


def test_forward_derivatives_through_the_mixed_path_equal_finite_differences():
    """rtol 1e-6 of each derivative, against central differences (h = 1e-4) of the double dense path."""
    wrt = ("alpha3", "xi", "K0")
    s = sensitivities(P, wrt, precision="mixed")
    assert s.solver["precision"] == "mixed" and s.solver["relative_residual"] <= 1e-10
    for name in wrt:
        h = 1e-4 * max(1.0, abs(float(getattr(P, name))))
        plus = conductances(P.replace(**{name: getattr(P, name) + h}))
        minus = conductances(P.replace(**{name: getattr(P, name) - h}))
        for q in ("Gsc_x", "Gsc_y", "Gcs_x"):
            fd = (plus[q] - minus[q]) / (2 * h)
            assert abs(fd) > 1e-4, (q, name)
            np.testing.assert_allclose(s.derivatives[q][name], fd, rtol=1e-6, atol=0, err_msg=f"d{q}/d{name}")


@pytest.mark.parametrize("options", [dict(precision="mixed"), dict(path="krylov")])
def test_potential_gradient_through_the_iterative_paths(options):
    """Disorder read from a file (the 2DEG's onsite energy a profile: the case that once failed on
    the Krylov path): the reverse-mode gradient with respect to the 2DEG's potential through the
    implicit solves against the double dense path's, and one site against a central difference.
    (Reverse mode once gave NaN on both paths: a zero cotangent column made GMRES solve 0/0.)"""
    p = JunctionParams(Lx=6, Ly=5, Lz=3, W=3, n_barrier=1, phi=0.4, theta=1.2, disorder=file_disorder(6, 5, 3))
    value, grads = gradient(p, "Gsc_x", wrt=("alpha3",), potential_layers=(0,), **options)
    ref_value, ref = gradient(p, "Gsc_x", wrt=("alpha3",), potential_layers=(0,), path="dense", precision="double")
    assert abs(value - ref_value) < 1e-10
    scale = np.abs(ref["potential"]).max()
    assert scale > 1e-4
    np.testing.assert_allclose(grads["potential"], ref["potential"], atol=1e-6 * scale, rtol=0)
    np.testing.assert_allclose(grads["alpha3"], ref["alpha3"], rtol=1e-6)
    h, site = 1e-4, np.unravel_index(np.argmax(np.abs(ref["potential"][0])), ref["potential"][0].shape)
    step = np.zeros_like(p.disorder)
    step[(0, *site)] = h
    fd = (conductances(p.replace(disorder=p.disorder + step))["Gsc_x"]
          - conductances(p.replace(disorder=p.disorder - step))["Gsc_x"]) / (2 * h)
    np.testing.assert_allclose(grads["potential"][(0, *site)], fd, rtol=1e-6)


def test_conversion_scan_mixed_equals_double():
    phi = np.linspace(0, 2 * np.pi, 4, endpoint=False)
    p = JunctionParams(**BASE, **JUNCTIONS["clean"])
    mixed = conversion_scan(p, phi=phi, precision="mixed")
    double = conversion_scan(p, phi=phi, precision="double", path="dense")
    assert mixed.solver["precision"] == "mixed" and double.solver["precision"] == "double"
    for key in double.G:
        np.testing.assert_allclose(mixed.G[key], double.G[key], atol=1e-10, rtol=0, err_msg=key)
    assert np.abs(double.G["Gsc_x"]).max() > 1e-4
