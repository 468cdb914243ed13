"""Lead self-energies and channels.

The side leads (L, R, F, B: strips of width W continuing the 2DEG) and the magnetic lead M
(semi-infinite along +z, cross-section Lx x Ly) are uniform with hard walls: their transverse
modes are sine modes (``model.sine_modes``), each mode a one-dimensional chain whose surface
Green's function is known in closed form (:func:`chain_self_energy`). M has spin quantised
along n, so its modes are labelled (mx, my, s).

The clean, laterally uniform barrier and transition layers between the 2DEG and M are
diagonal in the same (mx, my, s) basis: :func:`fold_clean_layers` folds them into M's
self-energy mode by mode (a scalar continued fraction per mode).

:func:`decimation_self_energy` is the general numerical self-energy of any lead unit cell,
used to cross-check the closed forms.
"""

from __future__ import annotations

import dataclasses
from typing import Tuple

import jax
import jax.numpy as jnp
import numpy as np

from .model import PAULI, SIDE_LEADS, JunctionParams, exchange_profile, layer_onsite, sine_modes
# Distance in units of 2t from a band edge below which an energy counts as a channel opening.
BAND_EDGE_TOLERANCE = 1e-9


@jax.custom_jvp
def _chain_root(z):
    """lambda(z) = z - sqrt(z - 1) sqrt(z + 1), the root of lambda^2 - 2 z lambda + 1 = 0 that
    decays outside the band and is retarded (Im lambda < 0) inside it."""
    return z - jnp.sqrt(z - 1) * jnp.sqrt(z + 1)


@_chain_root.defjvp
def _chain_root_jvp(primals, tangents):
    # Differentiating lambda^2 - 2 z lambda + 1 = 0 gives lambda' = lambda / (lambda - z) on the
    # branch chosen by the primal, so the tangent can never switch branch; it diverges only at
    # the band edges z = +-1 (lambda = z), which are channel openings (see sensitivity.py).
    (z,), (dz,) = primals, tangents
    lam = _chain_root(z)
    return lam, lam / (lam - z) * dz


def chain_self_energy(energy, onsite, t):
    """Retarded self-energy t^2 g_s of a semi-infinite chain (onsite ``onsite``, hopping -t).

    With z = (E - onsite)/(2t) the surface Green's function obeys t g = 1/(2z - t g), so
    Sigma = t lambda with lambda = z - sqrt(z - 1) sqrt(z + 1) (principal square roots): this
    single expression is the decaying root |lambda| < 1 outside the band and the retarded
    root lambda = exp(-i k) (Im Sigma = -t sin k < 0) inside it. Its derivative follows the
    same branch (custom JVP rule of ``_chain_root``).
    """
    z = (energy - onsite) / (2 * t) + 0j
    return t * _chain_root(z)


def chain_broadening(energy, onsite, t):
    """Gamma = -2 Im Sigma = 2 t sin k (the channel velocity), zero for evanescent modes."""
    return -2.0 * jnp.imag(chain_self_energy(energy, onsite, t))


def side_lead_sites(Lx: int, Ly: int, W: int) -> dict:
    """Layer-0 site indices (x * Ly + y) of each side lead's interface, in transverse order.

    L (-x) and R (+x) cover y in [(Ly-W)//2, (Ly-W)//2 + W); F (-y) and B (+y) cover x in
    [(Lx-W)//2, (Lx-W)//2 + W) (``shared/model.md``).
    """
    j = np.arange(W)
    y0, x0 = (Ly - W) // 2, (Lx - W) // 2
    return {"L": 0 * Ly + y0 + j, "R": (Lx - 1) * Ly + y0 + j, "F": (x0 + j) * Ly + 0, "B": (x0 + j) * Ly + Ly - 1}


def side_mode_onsite(t, W: int):
    """Onsite energy of each transverse mode chain of a side strip: 4t + eps_m."""
    return t * (4.0 + sine_modes(W)[1])


def mode_chain_onsite(Lx: int, Ly: int, onsite, t, dxc):
    """Mode-chain onsite energies of a laterally uniform layer, shape (Lx, Ly, 2) for s = +, -.

    e(mx, my, s) = onsite + t (eps_mx + eps_my) - s dxc / 2, the layer Hamiltonian (hopping -t,
    exchange -(dxc/2) n.sigma) in the basis of sine modes times spinors along n (spin s means
    n.sigma = s).
    """
    ex, ey = sine_modes(Lx)[1], sine_modes(Ly)[1]
    perp = t * (ex[:, None] + ey[None, :])
    s = np.array([1.0, -1.0])
    return (onsite + perp)[:, :, None] - s[None, None, :] * dxc / 2


def top_mode_onsite(p: JunctionParams, layer_onsite_value, layer_dxc):
    """:func:`mode_chain_onsite` of a layer of the paper's junction (hopping p.t)."""
    return mode_chain_onsite(p.Lx, p.Ly, layer_onsite_value, p.t, layer_dxc)


def magnetic_lead_onsite(p: JunctionParams):
    """Mode-chain onsite energies of lead M (onsite 6t, exchange dxc, no U0), shape (Lx, Ly, 2)."""
    return top_mode_onsite(p, 6.0 * p.t, p.dxc)


@dataclasses.dataclass(frozen=True)
class Channels:
    """Static description of the candidate channels (hashable: a jit static argument).

    ``side_leads``: indices (in LEADS) of the side leads present; ``side_modes``: transverse
    modes m of the side strips open at one of the energies considered (the same for every side
    lead); ``top_modes``: modes (mx, my, s) of lead M open at one of them, s = 0 for + and 1
    for -. A candidate closed at a given energy is masked out there (see ``solve``).
    """

    side_leads: Tuple[int, ...]
    side_modes: Tuple[int, ...]
    top_modes: Tuple[Tuple[int, int, int], ...]

    def lead_and_spin(self) -> Tuple[np.ndarray, np.ndarray]:
        """Lead index (order of LEADS) and spin index of every channel, in S-matrix order.

        Side-lead channels: for each lead present, each mode, spin up then down (sigma_z).
        M channels: one per (mx, my, s), spin index s (0: parallel to n, 1: antiparallel).
        """
        m = len(self.side_modes)
        lead = np.concatenate([np.repeat(np.asarray(self.side_leads, dtype=int), 2 * m),
                               np.full(len(self.top_modes), 4)]).astype(int)
        spin = np.concatenate([np.tile([0, 1], len(self.side_leads) * m),
                               np.array([s for _, _, s in self.top_modes], dtype=int)])
        return lead, spin


def open_mask(energy: float, onsite: np.ndarray, t: float, what: str, tolerance: float) -> np.ndarray:
    """Mode chains (onsite e, hopping -t) open at ``energy``; a ValueError at a subband edge."""
    z = (energy - onsite) / (2 * t)
    edge = np.abs(np.abs(z) - 1.0) < tolerance
    if np.any(edge):
        raise ValueError(
            f"energy {energy!r} lies at a channel opening of {what} (within {tolerance:g} x 2t of a "
            f"subband edge), where transmissions are singular; shift mu slightly")
    return np.abs(z) < 1.0


def open_channels(p: JunctionParams, energies=None, allow_closed: bool = False,
                  edge_tolerance: float = BAND_EDGE_TOLERANCE) -> Channels:
    """Channels of the side leads and of M open at any of ``energies`` (default mu), in plain Python.

    Raises ValueError if an energy sits on a subband edge (within ``edge_tolerance`` x 2t), or
    if a lead has no open channel at one of the energies (unless ``allow_closed``: its
    transmissions there are then zero).
    """
    energies = np.atleast_1d(np.asarray(p.mu if energies is None else energies, dtype=float)).reshape(-1)
    t, dxc = float(np.asarray(p.t)), float(np.asarray(p.dxc))
    side_onsite = np.asarray(side_mode_onsite(t, p.W))
    top_onsite = np.asarray(magnetic_lead_onsite(p.replace(t=t, dxc=dxc)))
    side, top = np.zeros(side_onsite.shape, bool), np.zeros(top_onsite.shape, bool)
    for energy in energies:
        side_e = open_mask(energy, side_onsite, t, "the side leads", edge_tolerance)
        top_e = open_mask(energy, top_onsite, t, "the magnetic lead M", edge_tolerance)
        if not allow_closed:
            if not side_e.any():
                raise ValueError(f"no open channel in the side leads at energy {energy} (their band is "
                                 f"[{side_onsite.min() - 2 * t:.4f}, {side_onsite.max() + 2 * t:.4f}]); "
                                 "pass allow_closed=True to get zero transmissions")
            if not top_e.any():
                raise ValueError(f"no open channel in the magnetic lead M at energy {energy} (its band is "
                                 f"[{top_onsite.min() - 2 * t:.4f}, {top_onsite.max() + 2 * t:.4f}]); "
                                 "pass allow_closed=True to get zero transmissions")
        side |= side_e
        top |= top_e
    present = tuple(SIDE_LEADS.index(name) for name in SIDE_LEADS if name in p.side_leads)
    return Channels(present, tuple(int(m) for m in np.flatnonzero(side)),
                    tuple((int(a), int(b), int(c)) for a, b, c in np.argwhere(top)))


def subband_edges(p: JunctionParams) -> np.ndarray:
    """Sorted energies at which a channel of a side lead or of M opens or closes.

    Each transverse mode is a 1D chain of onsite e and hopping -t, so its band is
    [e - 2t, e + 2t]; transmissions are non-analytic (square-root onsets) only there.
    """
    t, dxc = float(np.asarray(p.t)), float(np.asarray(p.dxc))
    onsite = np.concatenate([np.asarray(side_mode_onsite(t, p.W)).ravel(),
                             np.asarray(magnetic_lead_onsite(p.replace(t=t, dxc=dxc))).ravel()])
    return np.unique(np.concatenate([onsite - 2 * t, onsite + 2 * t]))


def fold_clean_layers(p: JunctionParams, energy, layers):
    """Fold lead M and the clean uniform layers ``layers`` (top to bottom) mode by mode.

    Block elimination of a chain along z, one scalar chain per mode q = (mx, my, s). Starting
    from M's surface self-energy, each layer z gives g_z = 1/(E - e_z(q) - sigma), then
    sigma <- t^2 g_z. Alongside it carries, for a unit source in M's mode q, the amplitude p
    that reaches the layer below (p <- t g_z p) and the direct term c += p g_z p (the part of
    M's reflection that never reaches the layers below; see ``solve``).

    Returns (sigma, p, c), each of shape (Lx, Ly, 2): sigma is the self-energy on the layer just
    below the folded ones.
    """
    onsite, dxc_z = layer_onsite(p), exchange_profile(p)
    sigma = chain_self_energy(energy, magnetic_lead_onsite(p), p.t)
    return fold_mode_chains(energy, sigma, [(top_mode_onsite(p, onsite[z], dxc_z[z]), p.t) for z in layers])


def fold_mode_chains(energy, sigma, layers):
    """Fold uniform layers into a lead, mode by mode: the recursion of :func:`fold_clean_layers`.

    ``sigma``: the lead's self-energy per mode (Lx, Ly, 2), or zeros without a lead; ``layers``:
    (e(q), h) from the lead inwards, e the layer's mode-chain onsite energies
    (:func:`mode_chain_onsite`) and h the factor carrying a source to the next layer (the
    hopping, up to a sign convention; sigma <- h^2 g). Returns (sigma, amp, direct).
    """
    amp = jnp.ones_like(sigma)
    direct = jnp.zeros_like(sigma)
    for e_q, hop in layers:
        g = 1.0 / (energy - e_q - sigma)
        direct = direct + amp * g * amp
        amp = hop * g * amp
        sigma = hop ** 2 * g
    return sigma, amp, direct


def mode_to_real_space(phix, phiy, values, nvec):
    """Layer operator sum_q values(q) |q><q| in real space, q = (mx, my, s) with s along n.

    ``values`` has shape (Lx, Ly, 2) (s = +, -). With chi_s the spinors along n,
    sum_s v_s chi_s chi_s^dagger = (v+ + v-)/2 + (v+ - v-)/2 n.sigma, so only two real-space
    orbital matrices are needed, and the angle enters through the final 2x2 factor.
    Returns shape (2 Lx Ly, 2 Lx Ly).
    """
    Lx, Ly = phix.shape[0], phiy.shape[0]
    avg = (values[..., 0] + values[..., 1]) / 2
    diff = (values[..., 0] - values[..., 1]) / 2
    both = jnp.stack([avg, diff])
    real = jnp.einsum("am,bn,kmn,cm,dn->kabcd", phix, phiy, both, phix, phiy, optimize=True)
    real = real.reshape(2, Lx * Ly, Lx * Ly)
    spin = jnp.stack([jnp.eye(2) + 0j, jnp.einsum("i,ijk->jk", nvec, PAULI)])
    return jnp.einsum("kij,kab->iajb", real, spin).reshape(2 * Lx * Ly, 2 * Lx * Ly)


def mode_to_spin_blocks(phix, phiy, values):
    """The same operator as :func:`mode_to_real_space` in the basis of spin along n.

    It is block diagonal there: block s is sum_(mx, my) values(mx, my, s) |mx my><mx my|.
    Returns shape (2, Lx Ly, Lx Ly), block 0 for s = +, 1 for s = -.
    """
    Lx, Ly = phix.shape[0], phiy.shape[0]
    real = jnp.einsum("am,bn,mns,cm,dn->sabcd", phix, phiy, values, phix, phiy, optimize=True)
    return real.reshape(2, Lx * Ly, Lx * Ly)


def decimation_self_energy(h0, v, energy, eta=1e-8, tol=1e-15, max_iter=200, newton_steps=3):
    """Self-energy v g_s v^dagger of a semi-infinite lead, for any unit cell, numerically.

    ``h0`` is the cell Hamiltonian and ``v`` = H[n, n+1] the hopping from a cell to the next
    one away from the scattering region (also the coupling of the first cell to the region).
    The surface Green's function g_s solves g (E - h0 - v g v^dagger) = 1. Iterative
    decimation [M. P. Lopez Sancho, J. M. Lopez Sancho, J. Rubio, J. Phys. F 15, 851 (1985)]
    at E + i eta selects the retarded root; Newton steps on the equation at eta = 0 then remove
    the O(eta) bias and the roundoff accumulated by the decimation (quadratic convergence).
    The Newton Jacobian is dense of order n^2 for an n-orbital cell: this is the reference for
    small cells (tests, cross-checks); production leads use the closed forms above.
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
