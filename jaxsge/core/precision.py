"""Double precision for jaxsge without touching the user's global JAX configuration: every public
entry point is wrapped in :func:`x64`, so arrays are float64 / complex128 inside jaxsge whatever the
caller's default is.

Under a caller's transformation (``jax.jit``, ``jax.grad``, ``jax.vmap``, ``jax.jacfwd``, ...) the
entry point is traced inside :func:`x64`, so the program it adds to the caller's is written in
float64, and :func:`promoted` lifts the caller's traced numbers to float64 on the way in. But a
transformation finishes after the entry point returns, in the caller's context: ``jax.grad``
transposes the program, ``jax.jit`` lowers and compiles it. In a float32 context these steps
truncate the program's float64 and 64-bit integer types (a reverse-mode derivative fails with
mismatched types, a compiled disorder draw with wrong integer widths), so :func:`x64` refuses
traced arguments unless the caller's trace is in double precision too: transform inside
``with jax.enable_x64(True):`` (thread-local: the global configuration stays as it is), as the
tests and ``docs/tutorial.md`` do.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

# What :func:`x64` says when a transformation traces a jaxsge function in a float32 context.
TRANSFORM_X64 = ("jaxsge computes in float64, and a JAX transformation (jit, grad, vmap, jacfwd, jacrev) of it "
                 "finishes after jaxsge returns, in the caller's context, which is float32 here: apply the "
                 "transformation inside `with jax.enable_x64(True):` (thread-local; the global JAX configuration "
                 "stays as it is)")


def is_traced(tree) -> bool:
    """Whether any leaf of a pytree is a JAX tracer (the call runs under a transformation)."""
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(tree))


def x64(fn):
    """Run ``fn`` with 64-bit JAX types enabled (thread-locally, for this call only); a ValueError
    (``TRANSFORM_X64``) when it is traced by a transformation in a float32 context."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if not jax.config.jax_enable_x64 and is_traced((args, kwargs)):
            raise ValueError(f"{fn.__name__}: {TRANSFORM_X64}")
        with jax.enable_x64(True):
            return fn(*args, **kwargs)

    return wrapper


def promoted(tree):
    """``tree`` with every traced leaf in double precision (float64, complex128; call inside :func:`x64`):
    a float32 tracer (a caller's ``jnp.float32`` input) would otherwise stay float32 through the
    operations that combine it only with Python numbers. Concrete leaves are left as they are (they
    are converted where they are used)."""
    def lift(leaf):
        if isinstance(leaf, jax.core.Tracer):
            return leaf.astype(jnp.promote_types(leaf.dtype, jnp.float64))
        return leaf

    return jax.tree_util.tree_map(lift, tree)
