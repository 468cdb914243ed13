"""The memory rule against XLA's own figures: the estimate bounds the compiled kernels' peak, without waste."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsge import JunctionParams, junction, mechanism
from jaxsge.plan.plan import plan
from jaxsge.solve.transmissions import angles_at, evaluation_bytes, upper_at

CASES = {
    "folded": dict(),
    "spin_blocks": dict(K0=0.5),
    "dense_slices": dict(alpha1=0.3),
}


@pytest.mark.parametrize("reflection", [False, True])
@pytest.mark.parametrize("case", CASES)
def test_estimate_bounds_the_compiled_peak(case, reflection):
    p = JunctionParams(Lx=12, Ly=12, Lz=4, W=8, n_barrier=2, **CASES[case])
    stack = junction(p)
    with jax.enable_x64(True):
        pl = plan(stack, p.mu)
        base = stack.replace(theta=0.0, phi=0.0)
        upper_compiled = upper_at.lower(base, p.mu, 0, pl).compile()
        upper = upper_at(base, p.mu, 0, pl)
        angles = angles_at.lower(base, jnp.zeros(1), jnp.zeros(1), p.mu, 0, upper, pl, reflection, False).compile()
    measured = max(upper_compiled.memory_analysis().temp_size_in_bytes, angles.memory_analysis().temp_size_in_bytes)
    estimate = evaluation_bytes(stack, pl, reflection)
    assert measured <= estimate <= 2.0 * measured, (measured / (16 * stack.N ** 2), estimate / (16 * stack.N ** 2))


@pytest.mark.parametrize("reflection", [False, True])
@pytest.mark.parametrize("L", [12, 20])
def test_krylov_estimate_bounds_the_compiled_peak(L, reflection):
    p = JunctionParams(Lx=L, Ly=L, Lz=4, W=8, n_barrier=2, K0=0.5, disorder_layers="2deg")
    stack = junction(p)
    with jax.enable_x64(True):
        pl = plan(stack, p.mu, solver="krylov")
        base = stack.replace(theta=0.0, phi=0.0)
        upper = upper_at(base, p.mu, 0, pl)
        angles = angles_at.lower(base, jnp.zeros(1), jnp.zeros(1), p.mu, 0, upper, pl, reflection, False).compile()
    measured = angles.memory_analysis().temp_size_in_bytes
    estimate = evaluation_bytes(stack, pl, reflection)
    assert pl.solver == "krylov"
    assert measured <= estimate <= 1.5 * measured, estimate / measured
