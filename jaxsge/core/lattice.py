"""The square lattice of one layer: spin matrices, hard-wall sine modes and hopping tables.

Conventions (``docs/model.md``): lattice constant 1, hard walls in x and y, two spin states
per orbital in the sigma_z basis (up first), n orbitals per site (``model.stack.Layer.orbitals``,
site index ``orbital * 2 + spin``). The solver works in the basis of hard-wall sine
modes of a layer, (mx, my) with index ``((mx * Ly + my) * n + orbital) * 2 + spin``: the nearest-neighbour
hopping, every uniform onsite term and the vertical leads are diagonal there, so a folded
stack is a diagonal self-energy and never a dense matrix. Every other term (spin-orbit
coupling, any hopping table, a potential profile) is a dense matrix in that basis, built by
broadcasting separable factors (so XLA writes it in one pass, into the matrix being
assembled).

A hopping table is a dict ``offset (dx, dy) -> 2x2 block H[r, r + d]`` (Kwant's orientation,
``kwant.continuum.discretize``), holding half of the offsets (dx > 0, or dx = 0 and dy > 0):
the other half is the Hermitian conjugate.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

SIGMA_X = np.array([[0, 1], [1, 0]], dtype=complex)
SIGMA_Y = np.array([[0, -1j], [1j, 0]], dtype=complex)
SIGMA_Z = np.array([[1, 0], [0, -1]], dtype=complex)
PAULI = np.stack([SIGMA_X, SIGMA_Y, SIGMA_Z])


# The t2g orbitals in the order of a three-orbital layer (``docs/layered.md``): the t2g preset's
# ``Layer.orbital_names``.
T2G_ORBITALS = ("dyz", "dxz", "dxy")
# Orbital angular momentum of the t2g orbitals (dyz, dxz, dxy) (an effective l = 1): (L_k)_ab = -i eps_kab,
# the order of the orbitals of a three-orbital layer in ``docs/layered.md``.
T2G_L = -1j * np.array([[[0, 0, 0], [0, 0, 1], [0, -1, 0]],
                        [[0, 0, -1], [0, 0, 0], [1, 0, 0]],
                        [[0, 1, 0], [-1, 0, 0], [0, 0, 0]]], dtype=complex)
T2G_L.flags.writeable = False


def spin_orbit_ls(lam) -> np.ndarray:
    """Atomic spin-orbit coupling lam L.S = (lam / 2) sum_k L_k x sigma_k on the t2g orbitals, a (6 x 6) onsite
    block in the basis orbital * 2 + spin (``Layer.hoppings[(0, 0)]`` of a three-orbital layer)."""
    return (lam / 2) * sum(np.kron(T2G_L[k], PAULI[k]) for k in range(3))


def magnetization(theta, phi):
    """Unit vector n = (sin th cos ph, sin th sin ph, cos th), shape (..., 3)."""
    return jnp.stack([jnp.sin(theta) * jnp.cos(phi), jnp.sin(theta) * jnp.sin(phi), jnp.cos(theta)], axis=-1)


def spin_along(theta, phi):
    """Spinors of n.sigma = +1 and -1 as columns, shape (2, 2): chi[:, 0] is s = +, chi[:, 1] is s = -."""
    c, s, e = jnp.cos(theta / 2) + 0j, jnp.sin(theta / 2), jnp.exp(1j * phi)
    return jnp.array([[c, -jnp.conj(e) * s], [e * s, c]])


def exchange_block(dxc, theta, phi):
    """The 2x2 exchange term -(dxc/2) n.sigma."""
    return -(dxc / 2) * jnp.einsum("i,ijk->jk", magnetization(theta, phi), PAULI)


def mode_energies(L: int) -> np.ndarray:
    """Energies -2 cos(pi (m+1)/(L+1)) of the hard-wall modes of a chain of L sites (hopping -1)."""
    return -2.0 * np.cos(np.pi * np.arange(1, L + 1) / (L + 1))


@functools.lru_cache(maxsize=None)
def sine_modes(L: int):
    """Hard-wall transverse modes of a chain of L sites with hopping -1.

    Returns (phi, energies): phi[j, m] = sqrt(2/(L+1)) sin(pi (j+1)(m+1)/(L+1)) (orthonormal
    columns, real and symmetric) and ``mode_energies(L)``. Read-only NumPy arrays (cached: they
    are static data of a geometry).
    """
    j = np.arange(L)
    phi = np.sqrt(2.0 / (L + 1)) * np.sin(np.pi * np.outer(j + 1, j + 1) / (L + 1))
    energies = mode_energies(L)
    phi.flags.writeable = energies.flags.writeable = False
    return phi, energies


@functools.lru_cache(maxsize=None)
def mode_shift(L: int, d: int) -> np.ndarray:
    """phi^T S_d phi, with S_d the L x L matrix with ones at [i, i + d] (hard walls: no wrap-around)."""
    phi = sine_modes(L)[0]
    out = phi.T @ np.eye(L, k=d) @ phi
    out.flags.writeable = False
    return out


def band_energies(Lx: int, Ly: int, t) -> jnp.ndarray:
    """t (eps_mx + eps_my): the nearest-neighbour hopping -t of a layer in its sine modes, (Lx, Ly)."""
    return t * (mode_energies(Lx)[:, None] + mode_energies(Ly)[None, :])


def linear_rashba_table(alpha1) -> dict:
    """H[r, r+d] of alpha1 (sigma_x p_y - sigma_y p_x), p -> sin k: half of the offsets.

    Lattice symbol alpha1 (sigma_x sin ky - sigma_y sin kx) with H(k) = sum_d H[r, r+d] exp(i k.d).
    """
    return {(1, 0): 0.5j * alpha1 * jnp.asarray(SIGMA_Y), (0, 1): -0.5j * alpha1 * jnp.asarray(SIGMA_X)}


def cubic_rashba_table(alpha3) -> dict:
    """H[r, r+d] of alpha3 (p_x^2 - p_y^2)(sigma_x p_y - sigma_y p_x), one per offset d (half of them).

    Discretised term by term as ``kwant.continuum.discretize`` does (p -> sin k, p^2 -> 2 - 2cos k,
    p^3 -> sin^3 k), i.e. the lattice symbol of ``docs/model.md``::

        alpha3 ( sigma_x [(2 - 2cos kx) sin ky - sin^3 ky] - sigma_y [sin^3 kx - (2 - 2cos ky) sin kx] )

    with H(k) = sum_d H[r, r+d] exp(i k.d) [cubic Rashba of G. Fleury, M. Barth, C. Gorini,
    PRB 108, L081402 (2023), Eq. (7)].
    """
    sx, sy = jnp.asarray(SIGMA_X), jnp.asarray(SIGMA_Y)
    # Fourier coefficients c_d of the two scalar symbols f_x (multiplying sigma_x) and f_y
    # (multiplying -sigma_y): f_x = (2 - 2cos kx) sin ky - sin^3 ky and f_y is f_x with x <-> y
    # and an overall minus sign.
    fx = {(0, 1): -5j / 8, (1, 1): 0.5j, (1, -1): -0.5j, (0, 3): -1j / 8}
    fy = {(1, 0): 5j / 8, (1, 1): -0.5j, (1, -1): -0.5j, (3, 0): 1j / 8}
    return {d: alpha3 * (fx.get(d, 0.0) * sx - fy.get(d, 0.0) * sy) for d in sorted(set(fx) | set(fy))}


def dresselhaus_table(beta) -> dict:
    """H[r, r+d] of beta (sigma_x p_x - sigma_y p_y), p -> sin k: half of the offsets."""
    return {(1, 0): -0.5j * beta * jnp.asarray(SIGMA_X), (0, 1): 0.5j * beta * jnp.asarray(SIGMA_Y)}


def is_upper_half(d) -> bool:
    """Whether offset d belongs to the stored half of a table (dx > 0, or dx = 0 and dy > 0)."""
    return d[0] > 0 or (d[0] == 0 and d[1] > 0)


def add_tables(*tables) -> dict:
    """Entry-wise sum of hopping tables."""
    out = {}
    for table in tables:
        for d, block in table.items():
            out[d] = out[d] + block if d in out else block
    return out


def table_in_modes(Lx: int, Ly: int, table: dict, hermitian: bool = True):
    """sum_d S_d x block_d (+ its Hermitian conjugate) in the sine-mode basis, shape (Lx, Ly, a, Lx, Ly, b).

    ``table``: offset -> (a x b) block H[r, r+d] (2x2 for one orbital per site; 2n x 2n' between
    sites of n and n' orbitals, index orbital * 2 + spin). The terms are grouped by dx, so that the result is
    a sum of Kronecker products phi^T S_dx phi x (small (Ly, 2, Ly, 2) factor), one broadcast
    expression with one full-size product per distinct dx (five for the cubic Rashba term,
    conjugates included). ``hermitian=False`` leaves out the conjugate (for the inter-layer
    table ``up``, an off-diagonal block).
    """
    factors = {}
    for (dx, dy), block in table.items():
        inner = mode_shift(Ly, dy)[:, None, :, None] * jnp.asarray(block)[None, :, None, :]
        factors = add_tables(factors, {dx: inner})
        if hermitian:
            factors = add_tables(factors, {-dx: jnp.conj(jnp.transpose(inner, (2, 3, 0, 1)))})
    rows, cols = next(iter(factors.values())).shape[1::2]  # 2 x orbitals of the two layers
    out = jnp.zeros((Lx, Ly, rows, Lx, Ly, cols), dtype=complex)
    for dx, inner in sorted(factors.items()):
        out = out + mode_shift(Lx, dx)[:, None, None, :, None, None] * inner[None, :, :, None, :, :]
    return out


def potential_in_modes(potential):
    """A site potential V(x, y) in the sine-mode basis, (Lx Ly, Lx Ly), real:
    V'[(mx, my), (kx, ky)] = sum_xy phi_x[x, mx] phi_x[x, kx] phi_y[y, my] phi_y[y, ky] V(x, y)."""
    Lx, Ly = potential.shape
    phix, phiy = sine_modes(Lx)[0], sine_modes(Ly)[0]
    along_x = jnp.einsum("xm,xk,xy->mky", phix, phix, potential)
    return jnp.einsum("mky,yn,yl->mnkl", along_x, phiy, phiy).reshape(Lx * Ly, Lx * Ly)


def disorder_realization(seed: int, index, shape):
    """Standard-normal w(z, x, y) for realization ``index`` of ``seed`` (JAX threefry PRNG).

    The key is ``fold_in(PRNGKey(seed), index)``: a realization depends on (seed, index) alone,
    not on how realizations are batched, sharded or distributed over processes.
    """
    key = jax.random.fold_in(jax.random.PRNGKey(seed), index)
    return jax.random.normal(key, shape, dtype=jnp.float64)
