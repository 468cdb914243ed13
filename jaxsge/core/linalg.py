"""Dense LU factorisation in place, and solves with it (the one dense factorisation of the solver).

``jax.scipy.linalg.lu_factor`` keeps two matrices alive: LAPACK's getrf works in place, but
JAX's lowering then copies the factors to replace them by NaN when the matrix is singular. At
the sizes where memory is the limit (a layer of 2 L^2 orbitals: 6.4 GB at L = 100, 102 GB at
L = 200) that copy decides whether a system fits. :func:`lu_factor` calls the same getrf
kernel (LAPACK on CPU, cuSOLVER on CUDA GPUs) through ``jax.ffi`` with its output aliased to
its input, so XLA factorises the assembled matrix in its own buffer; a singular matrix gives
``info > 0`` instead of NaN factors. Derivatives go through JAX's own LU (custom JVP), and on
other platforms JAX's LU is used as it is.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

CUDA_GETRF = "cusolver_getrf_ffi"


def _getrf_call(target: str):
    def call(a):
        # Column-major matrices (major-to-minor order: batch axes, then column, then row).
        layout = tuple(range(a.ndim - 2)) + (a.ndim - 1, a.ndim - 2)
        out = (jax.ShapeDtypeStruct(a.shape, a.dtype), jax.ShapeDtypeStruct(a.shape[:-1], np.int32),
               jax.ShapeDtypeStruct(a.shape[:-2], np.int32))
        results = jax.ffi.ffi_call(target, out, input_output_aliases={0: 0}, input_layouts=[layout],
                                   output_layouts=[layout, None, None], vmap_method="broadcast_all")(a)
        # Inside shard_map the results vary over the same mesh axes as the matrix.
        axes = tuple(sorted(getattr(getattr(jax.typeof(a), "manual_axis_type", None), "varying", ())))
        lu, pivots, info = (jax.lax.pcast(r, axes, to="varying") for r in results) if axes else results
        return lu, pivots - 1, info  # 0-based pivots, as JAX's own LU
    return call


def _no_info(a):
    """A zero ``info`` computed from ``a``, so that it varies over the same mesh axes as ``a`` (shard_map)."""
    return (jnp.real(a[..., 0, 0]) * 0).astype(np.int32)


@jax.custom_jvp
def lu_factor(a):
    """(lu, pivots, info) of a square complex matrix: P A = L U with L unit lower triangular.

    ``pivots`` are 0-based row interchanges (LAPACK's ipiv - 1); ``info`` > 0 flags an exactly
    singular matrix (the factors are then unusable and the solves give inf or NaN). The kernel
    is chosen for the default backend when traced (not with ``lax.platform_dependent``, whose
    conditional forces the factors back to row-major order: one more matrix and a transpose).
    """
    backend = jax.default_backend()
    if backend == "cpu":
        from jaxlib import lapack

        return _getrf_call(lapack.prepare_lapack_call("getrf_ffi", np.dtype(a.dtype)))(a)
    if backend in ("gpu", "cuda"):
        return _getrf_call(CUDA_GETRF)(a)
    lu, pivots, _ = lax.linalg.lu(a)
    return lu, pivots, _no_info(a)


@lu_factor.defjvp
def _lu_factor_jvp(primals, tangents):
    # Under differentiation the factors come from JAX's LU, whose JVP rule is linear in the
    # tangent (so reverse mode works too); the in-place kernel only serves plain evaluation.
    (a,), (da,) = primals, tangents
    (lu, pivots, _), (dlu, _, _) = jax.jvp(lax.linalg.lu, (a,), (da,))
    info = _no_info(a)
    zero = np.zeros(pivots.shape, jax.dtypes.float0)
    return (lu, pivots, info), (dlu, zero, np.zeros(info.shape, jax.dtypes.float0))


def lu_solve(factors, b, transpose: bool = False):
    """x with A x = b (or A^T x = b when ``transpose``) from ``lu_factor(A)``; b is (n, k)."""
    lu, pivots, _ = factors
    perm = lax.linalg.lu_pivots_to_permutation(pivots, lu.shape[-1])
    solve = lax.linalg.triangular_solve
    if not transpose:
        x = solve(lu, jnp.asarray(b)[perm], left_side=True, lower=True, unit_diagonal=True)
        return solve(lu, x, left_side=True, lower=False)
    # A = P^T L U, so A^T = U^T L^T P and x = P^T L^-T U^-T b.
    x = solve(lu, b, left_side=True, lower=False, transpose_a=True)
    x = solve(lu, x, left_side=True, lower=True, unit_diagonal=True, transpose_a=True)
    return jnp.zeros_like(x).at[perm].set(x)
