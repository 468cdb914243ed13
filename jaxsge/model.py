"""The layered junction of ``shared/model.md``: parameters, layer profiles and layer Hamiltonians.

Conventions (``shared/model.md``): lattice constant a = 1, energies in units of the hopping t,
sites (x, y, z) with 0 <= x < Lx, 0 <= y < Ly, 0 <= z < Lz and hard walls in x and y, two spin
orbitals per site in the sigma_z basis (up first). Inside a layer the orbital index is
``(x * Ly + y) * 2 + spin``.

Layers, bottom to top: the 2DEG (z = 0, onsite 4t, cubic Rashba), transition layers (onsite
6t), then ``n_barrier`` barrier layers (onsite 6t + U0). Every site carries the exchange
``-(Dxc(z)/2) n.sigma`` with ``Dxc(z) = dxc exp(-(Lz - z)/xi)`` [Fleury, Barth, Gorini,
PRB 108, L081402 (2023), text below Eq. (7)] unless a layer-by-layer profile is given.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np

SIGMA_0 = np.eye(2, dtype=complex)
SIGMA_X = np.array([[0, 1], [1, 0]], dtype=complex)
SIGMA_Y = np.array([[0, -1j], [1j, 0]], dtype=complex)
SIGMA_Z = np.array([[1, 0], [0, -1]], dtype=complex)
PAULI = np.stack([SIGMA_X, SIGMA_Y, SIGMA_Z])

DISORDER_LAYERS = ("all", "2deg")
SIDE_LEADS = ("L", "R", "F", "B")
LEADS = SIDE_LEADS + ("M",)


@dataclasses.dataclass(frozen=True)
class JunctionParams:
    """Parameters of the five-terminal junction, named as in ``shared/model.md``.

    Defaults are the paper's Fig. 3(b) junction (clean, xi = 1.2 Lz, theta = pi/2, phi = 0).

    Geometry (static: changing it recompiles): ``Lx, Ly, Lz`` sites, side-lead width ``W``,
    ``n_barrier`` barrier layers at the top of the stack, ``seed`` of the disorder draw and
    ``disorder_layers`` ("all": every layer of the scattering region, as in the paper;
    "2deg": the z = 0 layer only) and ``side_leads``, the side leads present (default all four
    of L, R, F, B; ("L", "R") is the three-terminal set-up of the paper's Fig. 1).

    Physical parameters (array leaves: can be traced, batched with vmap, differentiated):
    ``t, mu, alpha3, dxc, U0, xi, theta, phi, K0``; ``dxc_profile`` (optional, shape (Lz,))
    replaces the exponential exchange profile layer by layer; ``disorder`` (optional, shape
    (Lz, Lx, Ly)) is an explicit on-site potential V(x, y, z) in units of energy, used instead
    of the ``K0``-scaled Gaussian draw so that one realization can be reproduced elsewhere.
    """

    Lx: int = 50
    Ly: int = 50
    Lz: int = 6
    W: int = 30
    n_barrier: int = 2
    t: Any = 1.0
    mu: Any = 1.1
    alpha3: Any = -0.2
    dxc: Any = -0.6
    U0: Any = 1.9
    xi: Any = 7.2
    theta: Any = math.pi / 2
    phi: Any = 0.0
    K0: Any = 0.0
    seed: int = 0
    disorder_layers: str = "all"
    side_leads: tuple = SIDE_LEADS
    dxc_profile: Optional[Any] = None
    disorder: Optional[Any] = None

    def replace(self, **changes) -> "JunctionParams":
        return dataclasses.replace(self, **changes)

    @property
    def N(self) -> int:
        """Number of orbitals in one layer, 2 Lx Ly."""
        return 2 * self.Lx * self.Ly


GEOMETRY_FIELDS = ("Lx", "Ly", "Lz", "W", "n_barrier", "seed", "disorder_layers", "side_leads")
PHYSICAL_FIELDS = ("t", "mu", "alpha3", "dxc", "U0", "xi", "theta", "phi", "K0", "dxc_profile", "disorder")

jax.tree_util.register_dataclass(JunctionParams, data_fields=list(PHYSICAL_FIELDS), meta_fields=list(GEOMETRY_FIELDS))


def _concrete(value) -> Optional[np.ndarray]:
    """The value as a NumPy array, or None when it is a tracer (validation then happens elsewhere)."""
    if isinstance(value, jax.core.Tracer):
        return None
    return np.asarray(value)


def validate(p: JunctionParams) -> None:
    """Raise ValueError naming the offending parameter and its allowed range.

    Called in plain Python at every public entry point, before anything is traced.
    """
    for name in ("Lx", "Ly", "Lz", "W", "n_barrier", "seed"):
        value = getattr(p, name)
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"{name} = {value!r} must be an integer")
    for name in ("Lx", "Ly", "Lz", "W"):
        if getattr(p, name) < 1:
            raise ValueError(f"{name} = {getattr(p, name)} must be a positive integer (>= 1)")
    if p.W > min(p.Lx, p.Ly):
        raise ValueError(f"W = {p.W} must satisfy 1 <= W <= min(Lx, Ly) = {min(p.Lx, p.Ly)}")
    if not 0 <= p.n_barrier < p.Lz:
        raise ValueError(f"n_barrier = {p.n_barrier} must satisfy 0 <= n_barrier < Lz = {p.Lz}")
    if p.seed < 0:
        raise ValueError(f"seed = {p.seed} must be a non-negative integer")
    if p.disorder_layers not in DISORDER_LAYERS:
        raise ValueError(f"disorder_layers = {p.disorder_layers!r} must be one of {DISORDER_LAYERS}")
    leads = tuple(p.side_leads) if isinstance(p.side_leads, (tuple, list)) else None
    if not leads or len(set(leads)) != len(leads) or not set(leads) <= set(SIDE_LEADS):
        raise ValueError(f"side_leads = {p.side_leads!r} must be a non-empty selection, without repeats, of {SIDE_LEADS}")
    for name in ("t", "mu", "alpha3", "dxc", "U0", "xi", "theta", "phi", "K0"):
        value = _concrete(getattr(p, name))
        if value is None:
            continue
        if not np.issubdtype(value.dtype, np.number) or np.iscomplexobj(value):
            raise ValueError(f"{name} = {value!r} must be a real number")
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{name} = {value} must be finite (got NaN or infinity)")
    checks = {"t": (lambda v: v > 0, "t must be > 0"), "xi": (lambda v: v > 0, "xi must be > 0 (decay length of the exchange profile, in lattice constants)"),
              "K0": (lambda v: v >= 0, "K0 must be >= 0 (disorder strength in units of t)")}
    for name, (ok, message) in checks.items():
        value = _concrete(getattr(p, name))
        if value is not None and not np.all(ok(value)):
            raise ValueError(f"{name} = {value}: {message}")
    if p.dxc_profile is not None:
        prof = _concrete(p.dxc_profile)
        if prof is not None:
            if prof.shape[-1:] != (p.Lz,):
                raise ValueError(f"dxc_profile has shape {prof.shape}; it must have shape (Lz,) = ({p.Lz},)")
            if np.iscomplexobj(prof) or not np.all(np.isfinite(prof)):
                raise ValueError("dxc_profile must hold finite real numbers")
    if p.disorder is not None:
        dis = _concrete(p.disorder)
        if dis is not None:
            if dis.shape[-3:] != (p.Lz, p.Lx, p.Ly):
                raise ValueError(
                    f"disorder array has shape {dis.shape}; it must have shape (Lz, Lx, Ly) = ({p.Lz}, {p.Lx}, {p.Ly})")
            if np.iscomplexobj(dis) or not np.all(np.isfinite(dis)):
                raise ValueError("disorder array must hold finite real numbers")


def layer_onsite(p: JunctionParams) -> jnp.ndarray:
    """Spin-independent onsite energy eps_z + U(z) of each layer, shape (Lz,)."""
    z = np.arange(p.Lz)
    base = jnp.where(z == 0, 4.0, 6.0) * p.t
    return base + jnp.where(z >= p.Lz - p.n_barrier, 1.0, 0.0) * p.U0


def exchange_profile(p: JunctionParams) -> jnp.ndarray:
    """Dxc(z) for z = 0 .. Lz-1: ``dxc * exp(-(Lz - z)/xi)`` or the explicit ``dxc_profile``."""
    if p.dxc_profile is not None:
        return jnp.asarray(p.dxc_profile, dtype=float)
    z = jnp.arange(p.Lz, dtype=float)
    return p.dxc * jnp.exp(-(p.Lz - z) / p.xi)


def magnetization(theta, phi) -> jnp.ndarray:
    """Unit vector n = (sin th cos ph, sin th sin ph, cos th), shape (..., 3)."""
    return jnp.stack([jnp.sin(theta) * jnp.cos(phi), jnp.sin(theta) * jnp.sin(phi), jnp.cos(theta)], axis=-1)


def spin_along(theta, phi) -> jnp.ndarray:
    """Spinors of n.sigma = +1 and -1 as columns, shape (2, 2): chi[:, 0] is s = +, chi[:, 1] is s = -."""
    c, s = jnp.cos(theta / 2), jnp.sin(theta / 2)
    e = jnp.exp(1j * phi)
    plus = jnp.stack([c + 0j, e * s])
    minus = jnp.stack([-jnp.conj(e) * s + 0j, c + 0j])
    return jnp.stack([plus, minus], axis=1)


def disorder_realization(seed: int, index, shape) -> jnp.ndarray:
    """Standard-normal w(x, y, z) for realization ``index`` of ``seed`` (JAX threefry PRNG).

    The key is ``fold_in(PRNGKey(seed), index)``, so a realization does not depend on how
    realizations are batched.
    """
    key = jax.random.fold_in(jax.random.PRNGKey(seed), index)
    return jax.random.normal(key, shape, dtype=jnp.float64)


def disorder_potential(p: JunctionParams, index=0) -> jnp.ndarray:
    """On-site disorder V(x, y, z), shape (Lz, Lx, Ly).

    The explicit ``disorder`` array if given; otherwise ``K0 * t * w`` with w standard normal
    (``shared/model.md``), on every layer or (``disorder_layers="2deg"``) on z = 0 only. The
    2DEG-only draw is the z = 0 slice of the all-layer draw with the same seed.
    """
    if p.disorder is not None:
        return jnp.asarray(p.disorder, dtype=float)
    w = disorder_realization(p.seed, index, (p.Lz, p.Lx, p.Ly))
    if p.disorder_layers == "2deg":
        w = w * (jnp.arange(p.Lz) == 0)[:, None, None]
    return p.K0 * p.t * w


def cubic_rashba_hoppings(alpha3) -> dict:
    """Hoppings H[r, r+d] of alpha3 (p_x^2 - p_y^2)(sigma_x p_y - sigma_y p_x), one per offset d.

    Discretised term by term as ``kwant.continuum.discretize`` does (p -> sin k, p^2 -> 2 - 2cos k,
    p^3 -> sin^3 k), i.e. the lattice symbol of ``shared/model.md``
        alpha3 ( sigma_x [(2 - 2cos kx) sin ky - sin^3 ky] - sigma_y [sin^3 kx - (2 - 2cos ky) sin kx] )
    with H(k) = sum_d H[r, r+d] exp(i k.d). Only half of the offsets are returned (dx > 0, or
    dx = 0 and dy > 0); the other half is their Hermitian conjugate.
    """
    sx, sy = jnp.asarray(SIGMA_X), jnp.asarray(SIGMA_Y)
    # Fourier coefficients c_d of the two scalar symbols f_x (multiplying sigma_x) and f_y
    # (multiplying -sigma_y): f_x = (2 - 2cos kx) sin ky - sin^3 ky and f_y is f_x with x <-> y
    # and an overall minus sign.
    fx = {(0, 1): -5j / 8, (1, 1): 0.5j, (1, -1): -0.5j, (0, 3): -1j / 8, (1, 0): 0.0, (3, 0): 0.0}
    fy = {(1, 0): 5j / 8, (1, 1): -0.5j, (1, -1): -0.5j, (3, 0): 1j / 8, (0, 1): 0.0, (0, 3): 0.0}
    return {d: alpha3 * (fx[d] * sx - fy[d] * sy) for d in fx}


def nearest_neighbour_hoppings(t) -> dict:
    """Spin-independent hopping -t to the +x and +y neighbours (half of the offsets)."""
    eye = jnp.asarray(SIGMA_0)
    return {(1, 0): -t * eye, (0, 1): -t * eye}


def _shift(L: int, d: int) -> np.ndarray:
    """L x L matrix with ones at [i, i + d] (hard walls: no wrap-around)."""
    return np.eye(L, k=d)


def layer_hamiltonian(Lx: int, Ly: int, onsite, exchange, potential, hoppings: dict) -> jnp.ndarray:
    """Dense Hamiltonian of one layer, shape (2 Lx Ly, 2 Lx Ly).

    ``onsite``: spin-independent energy (scalar); ``exchange``: vector b with the term b.sigma on
    every site (shape (3,)); ``potential``: V(x, y), shape (Lx, Ly) or scalar; ``hoppings``: a
    table offset d -> 2x2 block H[r, r+d] over half the offsets (the rest by Hermiticity).
    Built by broadcasting, no loop over sites.
    """
    site_block = onsite * jnp.eye(2) + jnp.einsum("i,ijk->jk", exchange, PAULI)
    pot = jnp.broadcast_to(jnp.asarray(potential, dtype=float), (Lx, Ly)).reshape(-1)
    h = jnp.kron(jnp.eye(Lx * Ly), site_block) + jnp.diag(jnp.repeat(pot, 2))
    hop = table_matrix(Lx, Ly, hoppings)
    return h + hop + hop.conj().T


def table_matrix(Lx: int, Ly: int, table: dict) -> jnp.ndarray:
    """sum_d S_d x block_d over a table offset d -> 2x2 block H[r, r+d] (S_d: ones at [r, r+d],
    hard walls, no wrap-around), shape (2 Lx Ly, 2 Lx Ly). Built by broadcasting, no loop over sites."""
    n = 2 * Lx * Ly
    out = jnp.zeros((n, n), dtype=complex)
    for (dx, dy), block in table.items():
        out = out + (_shift(Lx, dx)[:, None, None, :, None, None] * _shift(Ly, dy)[None, :, None, None, :, None]
                     * jnp.asarray(block)[None, None, :, None, None, :]).reshape(n, n)
    return out


def orbital_layer_hamiltonian(Lx: int, Ly: int, onsite, potential, t) -> jnp.ndarray:
    """Spin-independent part of a layer without spin-orbit coupling, shape (Lx Ly, Lx Ly).

    onsite + V(x, y) on the sites and -t to the nearest neighbours: in the basis of spin along
    n, a layer with exchange along n is this matrix minus s Dxc / 2 for each spin s.
    """
    pot = jnp.broadcast_to(jnp.asarray(potential, dtype=float), (Lx, Ly)).reshape(-1)
    hop = np.kron(_shift(Lx, 1), np.eye(Ly)) + np.kron(np.eye(Lx), _shift(Ly, 1))
    return onsite * jnp.eye(Lx * Ly) + jnp.diag(pot) - t * (hop + hop.T)


def sine_modes(L: int):
    """Hard-wall transverse modes of a chain of L sites with hopping -1.

    Returns (phi, energies): phi[j, m] = sqrt(2/(L+1)) sin(pi (j+1)(m+1)/(L+1)) (orthonormal
    columns, real and symmetric) and energies[m] = -2 cos(pi (m+1)/(L+1)) in units of t.
    """
    j = np.arange(L)
    phi = np.sqrt(2.0 / (L + 1)) * np.sin(np.pi * np.outer(j + 1, j + 1) / (L + 1))
    return phi, -2.0 * np.cos(np.pi * (j + 1) / (L + 1))
