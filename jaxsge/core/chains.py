"""One-dimensional chains: the closed-form leads and the folding of uniform layers.

Every lead of a layered junction is uniform with hard walls, so in the basis of its transverse
modes it is a set of independent semi-infinite chains (onsite e, hopping -t), whose surface
Green's function is known in closed form (:func:`chain_self_energy`). A stack of laterally
uniform layers between such a lead and the rest is diagonal in the same basis, and folds into
the lead mode by mode (:func:`fold_mode_chains`). :func:`decimation_self_energy` is the
general numerical self-energy of any lead cell, the independent check of the closed forms.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

# Distance in units of 2t from a band edge below which an energy counts as a channel opening.
BAND_EDGE_TOLERANCE = 1e-9


@jax.custom_jvp
def chain_root(z):
    """lambda(z) = z - sqrt(z - 1) sqrt(z + 1), the root of lambda^2 - 2 z lambda + 1 = 0 that
    decays outside the band and is retarded (Im lambda < 0) inside it."""
    return z - jnp.sqrt(z - 1) * jnp.sqrt(z + 1)


@chain_root.defjvp
def _chain_root_jvp(primals, tangents):
    # Differentiating lambda^2 - 2 z lambda + 1 = 0 gives lambda' = lambda / (lambda - z) on the
    # branch chosen by the primal, so the tangent can never switch branch; it diverges only at
    # the band edges z = +-1 (lambda = z), which are channel openings (refused by the
    # sensitivities).
    (z,), (dz,) = primals, tangents
    lam = chain_root(z)
    return lam, lam / (lam - z) * dz


def chain_self_energy(energy, onsite, t):
    """Retarded self-energy t^2 g_s of a semi-infinite chain (onsite ``onsite``, hopping -t).

    With z = (E - onsite)/(2t) the surface Green's function obeys t g = 1/(2z - t g), so
    Sigma = t lambda with lambda = z - sqrt(z - 1) sqrt(z + 1) (principal square roots): this
    single expression is the decaying root ``|lambda| < 1`` outside the band and the retarded
    root lambda = exp(-i k) (Im Sigma = -t sin k < 0) inside it.
    """
    z = (energy - onsite) / (2 * t) + 0j
    return t * chain_root(z)


def chain_broadening(energy, onsite, t):
    """Gamma = -2 Im Sigma = 2 t sin k (the channel velocity), zero for evanescent modes."""
    return -2.0 * jnp.imag(chain_self_energy(energy, onsite, t))


def fold_mode_chains(energy, sigma, layers):
    """Fold uniform layers into a lead, mode by mode (block elimination along a chain).

    ``sigma``: the lead's self-energy per mode, or zeros without a lead; ``layers``: (e(q), h)
    from the lead inwards, e the layer's mode-chain onsite energies and h the hopping matrix
    element from this layer to the next one inwards. Each layer gives g = 1/(E - e - sigma),
    then sigma <- h^2 g. Alongside, for a unit source in the lead's mode q, it carries the
    amplitude that reaches the next layer (amp <- h g amp) and the direct term
    (direct += amp g amp: the part of the lead's reflection that never reaches the layers
    below). Returns (sigma, amp, direct), each shaped like ``sigma``.
    """
    amp = jnp.ones_like(sigma)
    direct = jnp.zeros_like(sigma)
    for e_q, hop in layers:
        g = 1.0 / (energy - e_q - sigma)
        direct = direct + amp * g * amp
        amp = hop * g * amp
        sigma = hop ** 2 * g
    return sigma, amp, direct


def open_mask(energy: float, onsite: np.ndarray, t: float, what: str, tolerance: float) -> np.ndarray:
    """Mode chains (onsite e, hopping -t) open at ``energy``; a ValueError at a subband edge."""
    z = (energy - onsite) / (2 * t)
    edge = np.abs(np.abs(z) - 1.0) < tolerance
    if np.any(edge):
        raise ValueError(
            f"energy {float(energy):.10g} lies at a channel opening of {what} (within {tolerance:g} x 2t "
            "of a subband edge), where transmissions are singular; shift the energy slightly")
    return np.abs(z) < 1.0


def decimation_self_energy(h0, v, energy, eta=1e-8, tol=1e-15, max_iter=200, newton_steps=3):
    """Self-energy v g_s v^dagger of a semi-infinite lead, for any unit cell, numerically.

    ``h0`` is the cell Hamiltonian and ``v`` = H[n, n+1] the hopping from a cell to the next
    one away from the scattering region (also the coupling of the first cell to the region).
    The surface Green's function g_s solves g (E - h0 - v g v^dagger) = 1. Iterative
    decimation [M. P. Lopez Sancho, J. M. Lopez Sancho, J. Rubio, J. Phys. F 15, 851 (1985)]
    at E + i eta selects the retarded root; Newton steps on the equation at eta = 0 then remove
    the O(eta) bias and the roundoff accumulated by the decimation (quadratic convergence).
    The Newton Jacobian is dense of order n^2 for an n-orbital cell: this is the reference for
    small cells (tests, cross-checks); the solver uses the closed forms above.
    """
    h0, v = jnp.asarray(h0, dtype=complex), jnp.asarray(v, dtype=complex)
    n = h0.shape[0]
    eye = jnp.eye(n)
    vh = v.conj().T
    e = (energy + 1j * eta) * eye

    def body(state):
        eps_s, eps, alpha, beta, i = state
        g = jnp.linalg.inv(e - eps)
        agb, bga = alpha @ g @ beta, beta @ g @ alpha
        return eps_s + agb, eps + agb + bga, alpha @ g @ alpha, beta @ g @ beta, i + 1

    def cond(state):
        _, _, alpha, beta, i = state
        return (jnp.maximum(jnp.abs(alpha).max(), jnp.abs(beta).max()) > tol) & (i < max_iter)

    eps_s, *_ = jax.lax.while_loop(cond, body, (h0, h0, v, vh, 0))
    g = jnp.linalg.inv(e - eps_s)
    for _ in range(newton_steps):
        # F(g) = g A(g) - 1 with A = E - h0 - v g v^dagger; dF = dg A - g v dg v^dagger.
        a = energy * eye - h0 - v @ g @ vh
        jac = jnp.kron(eye, a.T) - jnp.kron(g @ v, vh.T)  # row-major vec: vec(X B) = (1 x B^T) vec X
        step = jnp.linalg.solve(jac, (g @ a - eye).reshape(-1)).reshape(n, n)
        g = g - step
    return v @ g @ vh
