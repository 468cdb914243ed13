"""The in-place LU factorisation: solves, transposed solves, batching, derivatives, and its memory."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxsge.core.linalg import lu_factor, lu_solve

RNG = np.random.default_rng(0)
A = RNG.normal(size=(40, 40)) + 1j * RNG.normal(size=(40, 40))
B = RNG.normal(size=(40, 3)) + 1j * RNG.normal(size=(40, 3))


def test_solves_and_transposed_solves():
    with jax.enable_x64(True):
        x, y = (np.asarray(v) for v in jax.jit(lambda a, b: (lu_solve(lu_factor(a), b),
                                                              lu_solve(lu_factor(a), b, transpose=True)))(A, B))
    np.testing.assert_allclose(A @ x, B, atol=1e-12)
    np.testing.assert_allclose(A.T @ y, B, atol=1e-12)


def test_vmap_and_singular_flag():
    with jax.enable_x64(True):
        xs = np.asarray(jax.vmap(lambda a: lu_solve(lu_factor(a), B))(jnp.stack([A, A + 1])))
        info = lu_factor(jnp.zeros((4, 4), complex))[2]
    np.testing.assert_allclose((A + 1) @ xs[1], B, atol=1e-12)
    assert int(info) > 0


def test_derivatives_forward_and_reverse_equal_finite_differences():
    def f(s):
        return jnp.sum(jnp.abs(lu_solve(lu_factor(A + s * np.eye(40)), B)) ** 2)

    with jax.enable_x64(True):
        grad, (_, tangent) = jax.grad(f)(0.3), jax.jvp(f, (0.3,), (1.0,))
        h = 1e-6
        fd = (f(0.3 + h) - f(0.3 - h)) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-7)
    np.testing.assert_allclose(tangent, grad, rtol=1e-12)


def test_factorisation_keeps_one_matrix():
    """XLA's own memory analysis: the assembled matrix is factorised in its own buffer."""
    n = 300
    with jax.enable_x64(True):
        compiled = jax.jit(lambda d, b: lu_solve(lu_factor(jnp.diag(d).astype(complex) + 0.1), b)).lower(
            jnp.ones(n), jnp.ones((n, 2), complex)).compile()
    temp = compiled.memory_analysis().temp_size_in_bytes
    assert temp < 1.2 * 16 * n * n  # jax.scipy.linalg.lu_factor keeps two (2.0)
