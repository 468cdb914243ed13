"""Double precision for jaxsge without touching the user's global JAX configuration: every public
entry point is wrapped in :func:`x64`, so arrays are float64 / complex128 inside jaxsge whatever the
caller's default is."""

from __future__ import annotations

import functools

import jax


def x64(fn):
    """Run ``fn`` with 64-bit JAX types enabled (thread-locally, for this call only)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with jax.enable_x64(True):
            return fn(*args, **kwargs)

    return wrapper
