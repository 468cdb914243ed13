"""JAX transformations on the public API: ``jax.jit``, ``grad``, ``vmap``, ``jacfwd`` and ``jacrev`` of
``transmissions``, ``solve`` and ``conversion_scan`` with traced numbers and static geometry.

Checks: gradients against central differences (Richardson-extrapolated, float64, rtol 1e-6), jit
and vmap against the plain calls (1e-12 absolute on probabilities of order 1 and on e^2/h),
jacfwd against jacrev (1e-10), on the dense and the Krylov path; the named ``sensitivities``
against ``jax.jacfwd``; the float64 scoping (the caller's config untouched, a float32 trace
refused with a clear error); and the errors that stay clear under a trace. Every transformation
runs inside ``jax.enable_x64(True)`` (thread-local), as ``core.precision`` asks. A test group of its
own (one pytest process): its compilations would lengthen the ``tests/solve`` process, which XLA's
compiler once crashed after about 13 minutes of them (docs/performance.md).
"""

import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsge import JunctionParams, Layer, SideLead, Stack, VerticalLead, junction, solve, transmissions
from jaxsge.observables.scan import conversion_scan
from jaxsge.observables.sensitivity import sensitivities

ROOT = pathlib.Path(__file__).resolve().parents[2]
P = JunctionParams(Lx=4, Ly=4, Lz=3, W=2, n_barrier=1, theta=1.1, phi=0.3)
GRAD_RTOL = 1e-6  # AD against central differences
SAME = 1e-12  # jit / vmap against the plain call, absolute
JAC = 1e-10  # jacfwd against jacrev, absolute (derivatives of order 1)


def central(f, x, h):
    """df/dx by central differences with one Richardson step (error O(h^4) plus rounding ~1e-16 / h)."""
    d = [(f(x + s) - f(x - s)) / (2 * s) for s in (h, h / 2)]
    return (4 * d[1] - d[0]) / 3


def spin_mix(T):
    """A scalar that every parameter moves: spin-resolved transmissions out of M into L and R, one
    of them spin-flipped, and a reflection."""
    return T[0, 0, 4, 0] + 0.7 * T[1, 1, 4, 0] - 0.3 * T[4, 0, 4, 1] + 0.2 * T[2, 0, 0, 1]


def junction_of(x):
    return P.replace(alpha3=x["alpha3"], dxc=x["dxc"], mu=x["mu"], theta=x["theta"], phi=x["phi"])


X0 = {"alpha3": -0.2, "dxc": -0.6, "mu": 1.1, "theta": 1.1, "phi": 0.3}


@pytest.mark.parametrize("path", ["dense", "krylov"])
def test_grad_of_transmissions_matches_central_differences(path):
    with jax.enable_x64(True):
        def f(x):
            return spin_mix(transmissions(junction_of(x), path=path).T)

        grads = jax.grad(f)(X0)
        for name, x0 in X0.items():
            fd = central(lambda v: float(f({**X0, name: v})), x0, 1e-3)
            assert abs(fd) > 1e-4, f"{name}: the check needs a derivative that is not zero"
            np.testing.assert_allclose(float(grads[name]), fd, rtol=GRAD_RTOL, err_msg=name)


def small_stack(**changes):
    """A three-layer stack with side leads on two layers, exchange, Rashba and a magnetic side lead."""
    layers = (Layer(onsite=4.0, alpha3=-0.15, dxc=-0.1, tz=1.0),
              Layer(onsite=5.5, alpha1=0.1, dxc=-0.3, tz=0.9),
              Layer(onsite=6.0, dxc=-0.4, tz=1.0))
    leads = (SideLead("L", "-x", layers=0, width=3, onsite=4.0), SideLead("R", "+x", layers=(0, 1), onsite=4.2),
             SideLead("F", "-y", layers=1, width=2, onsite=4.0, dxc=0.2, theta=0.4, phi=1.0))
    s = Stack(4, 4, layers, leads, top=VerticalLead("M", onsite=6.0, dxc=-0.6), theta=1.2, phi=0.5)
    return s.replace(**changes)


def stack_of(x):
    s = small_stack(theta=x["theta"], phi=x["phi"])
    layers = (s.layers[0].replace(onsite=x["onsite0"]), s.layers[1].replace(tz=x["tz1"], dxc=x["dxc1"]), s.layers[2])
    return s.replace(layers=layers)


S0 = {"onsite0": 4.0, "tz1": 0.9, "dxc1": -0.3, "theta": 1.2, "phi": 0.5, "energy": 1.3}


def test_grad_of_a_stack_matches_central_differences_energy_included():
    with jax.enable_x64(True):
        def f(x):
            T = solve(stack_of(x), x["energy"]).T
            return T[0, 0, 3, 1] + 0.5 * T[1, 1, 2, 0] + 0.2 * T[2, 0, 0, 1]

        grads = jax.grad(f)(S0)
        for name, x0 in S0.items():
            fd = central(lambda v: float(f({**S0, name: v})), x0, 1e-3)
            assert abs(fd) > 1e-5, f"{name}: the check needs a derivative that is not zero"
            np.testing.assert_allclose(float(grads[name]), fd, rtol=GRAD_RTOL, err_msg=name)


@pytest.mark.parametrize("path", ["dense", "krylov"])
def test_jit_and_vmap_equal_the_plain_calls(path):
    with jax.enable_x64(True):
        plain = transmissions(P, path=path)
        jitted = jax.jit(lambda a: transmissions(P.replace(alpha3=a), path=path).T)(-0.2)
        np.testing.assert_allclose(jitted, plain.T, atol=SAME, rtol=0)
        alphas = np.array([-0.3, -0.2, 0.1])
        mapped = jax.vmap(lambda a: transmissions(P.replace(alpha3=a), path=path))(jnp.asarray(alphas))
        assert mapped.T.shape == (3,) + plain.T.shape and mapped.plan.solver == path  # a pytree: the whole result
        for k, a in enumerate(alphas):
            np.testing.assert_allclose(mapped.T[k], transmissions(P.replace(alpha3=float(a)), path=path).T,
                                       atol=SAME, rtol=0)
        if path == "krylov":
            return  # its preconditioner is chosen from the energy, which must then stay concrete (test below)
        # angles and energies mapped: the plain call's own batch of points
        phis, energies = np.array([0.0, 0.4, 1.3]), np.array([1.05, 1.1, 1.25])
        s = junction(P)
        mapped = jax.vmap(lambda ph, e: solve(s.replace(phi=ph), e).T)(phis, energies)
        np.testing.assert_allclose(mapped, solve(s.replace(phi=phis), energies).T, atol=SAME, rtol=0)


def test_jit_of_a_whole_traced_stack_equals_the_plain_call():
    """Every number traced without a value: the conservative plan (every term present, every channel a
    candidate, a side lead's spin axis decided at run time) gives the plain call's numbers."""
    with jax.enable_x64(True):
        s = small_stack()
        plain = solve(s, 1.3)
        r = jax.jit(lambda s, e: solve(s, e))(s, 1.3)
        np.testing.assert_allclose(r.T, plain.T, atol=SAME, rtol=0)
        np.testing.assert_array_equal(r.n_open, plain.n_open)
        assert r.plan.side_magnetic == (None,) * 3 and plain.plan.side_magnetic == (False, False, True)
        assert sum(map(len, r.plan.side_channels)) > sum(map(len, plain.plan.side_channels))
        # the paper's junction with every parameter traced
        p = jax.jit(lambda p: transmissions(p).T)(P)
        np.testing.assert_allclose(p, transmissions(P).T, atol=SAME, rtol=0)


@pytest.mark.parametrize("path", ["dense", "krylov"])
def test_jacfwd_and_jacrev_agree(path):
    with jax.enable_x64(True):
        def f(v):
            return transmissions(P.replace(alpha3=v[0], dxc=v[1], phi=v[2]), path=path).T

        v = jnp.array([-0.2, -0.6, 0.3])
        forward, reverse = jax.jacfwd(f)(v), jax.jacrev(f)(v)
        assert forward.shape == (5, 2, 5, 2, 3) and np.abs(forward).max() > 1e-2
        np.testing.assert_allclose(forward, reverse, atol=JAC, rtol=0)


def test_conductances_under_transformations():
    with jax.enable_x64(True):
        p = P.replace(phi=np.array([0.0, 0.5, 1.0]))

        def g(a):
            return conversion_scan(p.replace(alpha3=a)).G["Gsc_x"]

        plain = conversion_scan(p)
        np.testing.assert_allclose(jax.jit(g)(-0.2), plain.Gsc_x, atol=SAME, rtol=0)
        slope = jax.jacfwd(g)(-0.2)
        fd = central(lambda a: np.asarray(g(a)), -0.2, 1e-3)
        assert np.abs(fd).max() > 1e-4
        np.testing.assert_allclose(slope, fd, rtol=GRAD_RTOL, atol=GRAD_RTOL * np.abs(fd).max())


def test_sensitivities_agree_with_jacfwd():
    """The named wrapper and the transformation of the public API: two routes to the same derivatives."""
    with jax.enable_x64(True):
        named = sensitivities(P, wrt=("alpha3", "dxc", "mu"))
        jac = jax.jacfwd(lambda v: transmissions(P.replace(alpha3=v[0], dxc=v[1], mu=v[2])).T)(
            jnp.array([-0.2, -0.6, 1.1]))
    for k, name in enumerate(("alpha3", "dxc", "mu")):
        np.testing.assert_allclose(named.derivatives["T"][name], jac[..., k], atol=1e-10, rtol=0, err_msg=name)


def test_float64_under_a_callers_jit_and_the_global_config_untouched():
    assert not jax.config.jax_enable_x64
    with jax.enable_x64(True):
        out = jax.jit(lambda a: transmissions(P.replace(alpha3=a)).T)(-0.2)
    assert not jax.config.jax_enable_x64, "the caller's configuration must stay as it was"
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, transmissions(P).T, atol=SAME, rtol=0)
    # A float32 trace would truncate the program's float64 when the transformation finishes: refused.
    for transform in (jax.grad, jax.jit):
        with pytest.raises(ValueError, match=r"transmissions: .*jax.enable_x64\(True\)"):
            transform(lambda a: transmissions(P.replace(alpha3=a)).T.sum())(-0.2)
    assert not jax.config.jax_enable_x64


def test_errors_stay_clear_under_transformations():
    with jax.enable_x64(True):
        # checked on the value a tracer carries (grad outside jit)
        with pytest.raises(ValueError, match=r"t = -1.0 must be > 0"):
            jax.grad(lambda t: transmissions(P.replace(t=t)).T.sum())(-1.0)
        with pytest.raises(ValueError, match=r"energy must be finite"):
            jax.grad(lambda e: solve(junction(P), e).T.sum())(np.nan)
        # the Krylov shell needs the lowest layer's numbers, which jit traces without a value
        with pytest.raises(ValueError, match=r"Krylov path chooses its preconditioner .* path dense"):
            jax.jit(lambda e: solve(junction(P), e, path="krylov").T)(1.1)
        with pytest.raises(ValueError, match=r"kT = 0.01 under a JAX transformation"):
            jax.grad(lambda a: conversion_scan(P.replace(alpha3=a), kT=0.01).G["Gsc_x"])(-0.2)
        with pytest.raises(ValueError, match=r"realizations must be concrete integers"):
            jax.jit(lambda r: solve(junction(P.replace(K0=0.3)), 1.1, realizations=r).T)(np.array([0, 1]))


def test_the_tutorial_fit_runs_and_finds_alpha3():
    """The fit of docs/tutorial.md ("Derivatives and fits with JAX"), run as written."""
    text = (ROOT / "docs" / "tutorial.md").read_text()
    code = text.split("## 9. Derivatives and fits with JAX", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    namespace = {}
    exec(compile(code, "docs/tutorial.md", "exec"), namespace)
    assert abs(float(namespace["alpha3"]) + 0.25) < 1e-3  # the value the data were made with
    assert float(namespace["value"]) < 1e-5
    assert not jax.config.jax_enable_x64
