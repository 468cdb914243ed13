"""Spin-resolved transmissions of a general layered junction (``stack.Stack``), by the cheapest exact path.

The Hamiltonian is block tridiagonal along z. The solver splits the stack in three parts and
says which it chose, and why (:func:`plan`, :meth:`Plan.explain`):

* **folded**: runs of layers at the top (above the highest layer that needs dense algebra)
  and at the bottom that are laterally uniform (scalar onsite, no disorder, no spin-orbit
  coupling, no extra hoppings, no side lead) with exchange collinear with their vertical lead's
  spin axis and plain vertical hopping. There the hard-wall sine modes times spin along the axis
  are exact eigenstates of every layer, so the lead and these layers fold into a self-energy
  mode by mode (a scalar continued fraction per mode): no dense algebra.
* **spin blocks**: next, going down, layers without spin-orbit coupling or side leads, whose
  exchange is collinear with the top axis (disorder and onsite profiles allowed). In the basis
  of spin along the axis they are block diagonal: each costs two inversions of order Lx Ly.
* **dense**: the remaining layers, grouped into slices (a side lead spanning several layers puts
  them in one slice), eliminated top-down by the block recursive Green's function
  g = (E - H - Sigma)^-1; the lowest slice is solved by one LU for every incoming channel.

Everything above the dense part is independent of the magnetization direction (in the basis
of spin along the axis the exchange is -s dxc/2), so angle scans compute it once per energy.
The elimination carries the sources of every channel and the functionals that read every
channel's outgoing amplitude, so the S-matrix comes out directly through the Fisher-Lee
relation S = -1 + i Gamma^1/2 G Gamma^1/2 in the mode basis of the leads [D. S. Fisher,
P. A. Lee, PRB 23, 6851 (1981)], as in ``solve``; T(a, s <- b, s') sums |S|^2 over the channels
of each lead and spin [Landauer-Buttiker, Eq. (1) of G. Fleury, M. Barth, C. Gorini, PRB 108,
L081402 (2023)].
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from .leads import (BAND_EDGE_TOLERANCE, chain_broadening, chain_self_energy, fold_mode_chains, mode_chain_onsite,
                    mode_to_spin_blocks, open_mask)
from .model import magnetization, orbital_layer_hamiltonian, sine_modes, spin_along
from .precision import x64
from .solve import evaluations_per_chunk, run_in_chunks
from .stack import (Stack, VerticalLead, _concrete, interlayer_matrix, layer_matrix, layer_potential,
                    side_lead_cross_section, side_lead_onsite, side_lead_sites, validate_stack)

PATHS = ("auto", "recursive")
# Peak memory of one evaluation in dense slice matrices (16 m^2 bytes for a slice of order m).
SLICE_MATRICES_PER_EVALUATION = 10


# ----------------------------------------------------------------------------------------------
# Plan: every static decision, made in plain Python from concrete values.
# ----------------------------------------------------------------------------------------------

def _axis_key(theta, phi):
    """A direction as a static key: None for the stack's magnetization, else the unit vector."""
    if theta is None:
        return None
    return tuple(float(v) for v in np.asarray(magnetization(float(theta), float(phi))))


def _collinear_sign(layer_key, axis_key, dxc) -> Optional[int]:
    """+1 or -1 when the layer's exchange is along +-axis (or absent), None otherwise."""
    if _concrete(dxc) is not None and not np.any(_concrete(dxc)):
        return 1
    if layer_key is None or axis_key is None:
        return 1 if layer_key == axis_key else None
    dot = float(np.dot(layer_key, axis_key))
    return int(np.sign(dot)) if abs(abs(dot) - 1.0) < 1e-12 else None


@dataclasses.dataclass(frozen=True)
class Plan:
    """The solution path (hashable: a jit static argument).

    ``top_fold`` / ``bottom_fold``: layers folded into the top / bottom lead (top one
    descending, bottom one ascending); ``blocks``: layers eliminated in spin blocks (descending);
    ``slices``: dense slices (first, last), top to bottom, the last one solved by LU;
    ``signs``: per layer, +-1 when its exchange is along +-(top axis), 0 if not collinear (for
    the bottom fold: along the bottom axis); ``disordered``: per layer, whether K0 != 0;
    ``side_onsite``: each side lead's cell onsite per layer; ``side_channels``: per side lead,
    its candidate channels (mode, spin); ``top_channels`` / ``bottom_channels``: (mx, my, s).
    ``reasons``: one line per layer, for :meth:`explain`.
    """

    top_fold: Tuple[int, ...]
    blocks: Tuple[int, ...]
    slices: Tuple[Tuple[int, int], ...]
    bottom_fold: Tuple[int, ...]
    signs: Tuple[int, ...]
    disordered: Tuple[bool, ...]
    top_axis: Optional[tuple]
    bottom_axis: Optional[tuple]
    side_onsite: Tuple[Tuple[float, ...], ...]
    side_channels: Tuple[Tuple[Tuple[int, int], ...], ...]
    top_channels: Tuple[Tuple[int, int, int], ...]
    bottom_channels: Tuple[Tuple[int, int, int], ...]
    reasons: Tuple[str, ...]
    path: str

    @property
    def n_channels(self) -> int:
        return sum(len(c) for c in self.side_channels) + len(self.top_channels) + len(self.bottom_channels)

    def explain(self) -> str:
        """Which layers take which path, and why (one line per layer, top to bottom)."""
        lines = [f"path = {self.path!r}: {len(self.top_fold)} layer(s) folded from the top, "
                 f"{len(self.blocks)} in spin blocks, {sum(b - a + 1 for a, b in self.slices)} dense in "
                 f"{len(self.slices)} slice(s), {len(self.bottom_fold)} folded from the bottom"]
        lines += [f"  layer {z}: {self.reasons[z]}" for z in range(len(self.reasons) - 1, -1, -1)]
        return "\n".join(lines)


def _lead_layers(s: Stack) -> dict:
    """layer -> names of the side leads touching it."""
    out = {}
    for lead in s.side_leads:
        for z in range(lead.layers[0], lead.layers[1] + 1):
            out.setdefault(z, []).append(lead.name)
    return out


def _obstacles(s: Stack, z: int, touching: dict, axis_key, for_blocks: bool) -> list:
    """Why layer z cannot be folded (or, ``for_blocks``, handled in spin blocks along the axis)."""
    layer, why = s.layers[z], []
    values = {name: _concrete(getattr(layer, name)) for name in ("alpha1", "alpha3", "beta")}
    soc = [name for name, v in values.items() if v is None or np.any(v)]
    if soc:
        why.append("spin-orbit coupling (" + ", ".join(soc) + ")")
    if layer.hoppings:
        why.append("extra hopping table")
    if z in touching:
        why.append("side lead(s) " + ", ".join(touching[z]))
    if layer.up or (z > 0 and s.layers[z - 1].up):
        why.append("inter-layer hopping table")
    key = None if layer.theta is None else _axis_key(layer.theta, layer.phi)
    if _collinear_sign(key, axis_key, layer.dxc) is None:
        why.append("exchange not collinear with the lead's spin axis")
    if not for_blocks:
        k0, onsite = _concrete(layer.K0), _concrete(layer.onsite)
        if k0 is None or np.any(k0):
            why.append("disorder")
        if onsite is None or onsite.ndim > 0:
            why.append("onsite profile")
    return why


def _candidates(energies, chain, t, what: str, allow_closed: bool, tolerance: float) -> np.ndarray:
    """Mode chains (onsite ``chain``, hopping -t) open at any of the energies; an error if none is."""
    mask = np.zeros(np.shape(chain), bool)
    for energy in energies:
        mask |= open_mask(energy, chain, t, what, tolerance)
    if not allow_closed and not mask.any():
        raise ValueError(f"{what} has no open channel at the energies asked for (its band is "
                         f"[{np.min(chain) - 2 * t:.4f}, {np.max(chain) + 2 * t:.4f}]); "
                         "pass allow_closed=True to get zero transmissions")
    return mask


def side_modes(s: Stack, k: int, onsite=None):
    """Transverse modes of side lead k: (phi, e) with cell = phi diag(e) phi^T (phi real, orthonormal)."""
    lead = s.side_leads[k]
    cell = side_lead_cross_section(s, lead) if onsite is None else _cross_section(s, lead, onsite)
    e, phi = np.linalg.eigh(cell)
    return phi, e


def _cross_section(s: Stack, lead, onsite) -> np.ndarray:
    return side_lead_cross_section(s, dataclasses.replace(lead, onsite=tuple(onsite)))


def _spin_shift(dxc) -> np.ndarray:
    """Exchange energy of spin s = +, - along the lead's axis: -s dxc/2."""
    return -np.array([1.0, -1.0]) * dxc / 2


def vertical_mode_onsite(s: Stack, lead: VerticalLead) -> np.ndarray:
    """Mode-chain onsite energies of a vertical lead, (Lx, Ly, 2): onsite + t (eps_mx + eps_my) - s dxc/2."""
    return mode_chain_onsite(s.Lx, s.Ly, lead.onsite, lead.t, lead.dxc)


def plan(s: Stack, energies, path: str = "auto", allow_closed: bool = False,
         edge_tolerance: float = BAND_EDGE_TOLERANCE) -> Plan:
    """Decide the solution path and the candidate channels (plain Python, before jit).

    ``path="recursive"`` treats every layer densely (single-layer slices where possible), which
    must give the same numbers as "auto" (a check of the folding).
    """
    validate_stack(s)
    if path not in PATHS:
        raise ValueError(f"path = {path!r} must be one of {PATHS}")
    energies = np.atleast_1d(np.asarray(energies, dtype=float)).ravel()
    if not np.all(np.isfinite(energies)):
        raise ValueError("energy must be finite")
    Lz, touching = s.Lz, _lead_layers(s)
    top_key = None if s.top is None or s.top.theta is None else _axis_key(s.top.theta, s.top.phi)
    bottom_key = None if s.bottom is None or s.bottom.theta is None else _axis_key(s.bottom.theta, s.bottom.phi)
    reasons = [""] * Lz

    top_fold, bottom_fold, blocks = [], [], []
    if path == "auto":
        for z in range(Lz - 1, 0, -1):
            why = _obstacles(s, z, touching, top_key, for_blocks=False)
            if why:
                break
            top_fold.append(z)
            reasons[z] = "folded into the top lead (laterally uniform, spin along its axis)"
        lowest_free = min(top_fold, default=Lz)
        for z in range(0, lowest_free - 1):
            if _obstacles(s, z, touching, bottom_key, for_blocks=False) or (z + 1 < Lz and s.layers[z].up):
                break
            bottom_fold.append(z)
            reasons[z] = "folded into the bottom lead (laterally uniform, spin along its axis)"
        first = len(bottom_fold)
        for z in range(lowest_free - 1, first, -1):
            if _obstacles(s, z, touching, top_key, for_blocks=True):
                break
            blocks.append(z)
            reasons[z] = "spin blocks along the top axis (no spin-orbit coupling, collinear exchange)"
    dense_top = min(blocks + top_fold, default=Lz) - 1
    dense_bottom = len(bottom_fold)

    # Dense slices: one per layer, merged where a side lead spans several layers (its
    # self-energy couples them, so they must share a diagonal block).
    group = list(range(dense_bottom, dense_top + 1))
    slices = []
    for z in group:
        joined = any(lead.layers[0] < z <= lead.layers[1] for lead in s.side_leads)
        if slices and joined:
            slices[-1] = (slices[-1][0], z)
        else:
            slices.append((z, z))
    slices = tuple(reversed(slices))
    for z in group:
        if not reasons[z]:
            why = _obstacles(s, z, touching, top_key, for_blocks=True) if path == "auto" else ["path='recursive'"]
            below = " (lowest: solved by one LU)" if z <= slices[-1][1] else ""
            reasons[z] = "dense" + below + ": " + ("; ".join(why) if why else "between dense layers")

    signs = []
    for z, layer in enumerate(s.layers):
        key = None if layer.theta is None else _axis_key(layer.theta, layer.phi)
        sign = _collinear_sign(key, bottom_key if z in bottom_fold else top_key, layer.dxc)
        signs.append(0 if sign is None else sign)
    disordered = tuple(bool(_concrete(layer.K0) is None or np.any(_concrete(layer.K0))) for layer in s.layers)

    side_onsite, side_channels = [], []
    for k, lead in enumerate(s.side_leads):
        onsite = tuple(float(v) for v in side_lead_onsite(s, lead))
        _, e = side_modes(s, k)
        chain = e[:, None] + _spin_shift(float(lead.dxc))[None, :]
        mask = _candidates(energies, chain, float(lead.t), f"side lead {lead.name!r}", allow_closed, edge_tolerance)
        side_onsite.append(onsite)
        side_channels.append(tuple((int(m), int(sp)) for m, sp in np.argwhere(mask)))
    vertical = []
    for where, lead in (("top", s.top), ("bottom", s.bottom)):
        if lead is None:
            vertical.append(())
            continue
        mask = _candidates(energies, vertical_mode_onsite(s, lead), float(lead.t), f"the {where} lead {lead.name!r}",
                           allow_closed, edge_tolerance)
        vertical.append(tuple((int(a), int(b), int(c)) for a, b, c in np.argwhere(mask)))
    return Plan(tuple(top_fold), tuple(blocks), slices, tuple(bottom_fold), tuple(signs), disordered, top_key,
                bottom_key, tuple(side_onsite), tuple(side_channels), vertical[0], vertical[1], tuple(reasons), path)


def subband_edges(s: Stack) -> np.ndarray:
    """Sorted energies at which a channel of any lead opens or closes (for thermal quadratures)."""
    edges = []
    for k, lead in enumerate(s.side_leads):
        chain = side_modes(s, k)[1][:, None] + _spin_shift(float(lead.dxc))[None, :]
        edges += [chain.ravel() - 2 * lead.t, chain.ravel() + 2 * lead.t]
    for lead in (s.top, s.bottom):
        if lead is not None:
            chain = vertical_mode_onsite(s, lead).ravel()
            edges += [chain - 2 * lead.t, chain + 2 * lead.t]
    return np.unique(np.concatenate(edges)) if edges else np.zeros(0)


# ----------------------------------------------------------------------------------------------
# Traceable core.
# ----------------------------------------------------------------------------------------------

def _axis_spinors(theta, phi, lead):
    """Spinors of the vertical lead's axis (the stack's direction when it has none or follows the stack)."""
    if lead is None or lead.theta is None:
        return spin_along(theta, phi)
    return spin_along(lead.theta, lead.phi)


def _side_spinors(theta, phi, lead):
    if lead.magnetic:
        th, ph = (theta, phi) if lead.theta is None else (lead.theta, lead.phi)
        return spin_along(th, ph)
    return spin_along(*lead.spin_axis)


def _channel_layout(pl: Plan):
    """Column offsets of each side lead's channels, then the top and bottom channels."""
    starts, col = [], 0
    for channels in pl.side_channels:
        starts.append(col)
        col += len(channels)
    return starts, col, col + len(pl.top_channels)


def _vertical_state(s: Stack, energy, lead, layers, signs, hops, channels):
    """A vertical lead and the uniform layers ``layers`` (from the lead inwards) folded mode by mode.

    ``hops[i]``: the hopping -tz from layer ``layers[i]`` to the next one inwards (whose sign the
    source amplitude carries: amp <- -tz g amp, ``leads.fold_mode_chains``). Returns the state on
    the next layer in spin blocks along the lead's axis: sigma (2, n, n), the sources b (2, n, nq)
    and read-outs P (2, nq, n) of the lead's channels, and the direct term c (nq, nq), n = Lx Ly.
    """
    if lead is None:
        sigma = jnp.zeros((s.Lx, s.Ly, 2), dtype=complex)
    else:
        sigma = chain_self_energy(energy, vertical_mode_onsite(s, lead), lead.t)
    chains = [(mode_chain_onsite(s.Lx, s.Ly, s.layers[z].onsite, s.layers[z].t, signs[z] * s.layers[z].dxc), hop)
              for z, hop in zip(layers, hops)]
    sigma_q, amp_q, direct_q = fold_mode_chains(energy, sigma, chains)
    phix, phiy = sine_modes(s.Lx)[0], sine_modes(s.Ly)[0]
    q = np.asarray(channels, dtype=int).reshape(-1, 3)
    orbital = (phix[:, q[:, 0]][:, None, :] * phiy[:, q[:, 1]][None, :, :]).reshape(s.Lx * s.Ly, -1)
    vec = orbital * amp_q[q[:, 0], q[:, 1], q[:, 2]][None, :]
    in_block = (np.arange(2)[:, None] == q[None, :, 2]).astype(float)  # a channel lives in its spin block
    b = (vec[None] * in_block[:, None, :]).astype(complex)
    proj = (vec.T[None] * in_block[:, :, None]).astype(complex)
    return (mode_to_spin_blocks(phix, phiy, sigma_q), b, proj, jnp.diag(direct_q[q[:, 0], q[:, 1], q[:, 2]]))


def _upper_state(s: Stack, energy, pl: Plan):
    """Top lead, folded layers and spin-block layers eliminated, in spin blocks along the top axis.

    Independent of the magnetization angles. Returns (sigma (2, n, n), b (2, n, n_top),
    P (2, n_top, n), c (n_top, n_top)) on the layer below the last one eliminated (n = Lx Ly):
    only the top lead's channels have sources up there, so only their columns are carried.
    """
    Lx, Ly = s.Lx, s.Ly
    hops = [-s.layers[z - 1].tz for z in pl.top_fold]
    sigma, b, proj, c = _vertical_state(s, energy, s.top, pl.top_fold, pl.signs, hops, pl.top_channels)

    # Both spin blocks go through one batched inversion (concurrent batched LAPACK calls can
    # deadlock XLA:CPU's thread pool, see solve.py).
    spin_sign = jnp.array([1.0, -1.0])[:, None, None]
    eye = jnp.eye(Lx * Ly)
    for z in pl.blocks:
        layer = s.layers[z]
        pot = layer_potential(s, z, disordered=pl.disordered[z])
        h = orbital_layer_hamiltonian(Lx, Ly, 0.0, pot, layer.t)[None] - spin_sign * pl.signs[z] * layer.dxc / 2 * eye
        g = jnp.linalg.inv(energy * eye - h - sigma)
        gb = g @ b
        c = c + jnp.einsum("scn,snk->ck", proj, gb)
        tz = s.layers[z - 1].tz
        sigma, b, proj = tz ** 2 * g, -tz * gb, -tz * (proj @ g)
    return sigma, b, proj, c


def _to_full(sigma, b, proj, chi):
    """Spin-block state (basis of spin along the axis, spinors chi) to the sigma_z basis (2 site + spin)."""
    n = sigma.shape[-1]
    sigma = jnp.einsum("sij,as,bs->iajb", sigma, chi, chi.conj()).reshape(2 * n, 2 * n)
    b = jnp.einsum("sic,as->iac", b, chi).reshape(2 * n, -1)
    proj = jnp.einsum("sci,as->cia", proj, chi.conj()).reshape(-1, 2 * n)
    return sigma, b, proj


def _slice_hamiltonian(s: Stack, first: int, last: int, theta, phi, pl: Plan):
    """Dense Hamiltonian of layers first..last (sigma_z basis, layer-major)."""
    N = s.N
    if first == last:
        return layer_matrix(s, first, theta, phi, layer_potential(s, first, disordered=pl.disordered[first]))
    m = (last - first + 1) * N
    h = jnp.zeros((m, m), dtype=complex)
    for z in range(first, last + 1):
        i = (z - first) * N
        pot = layer_potential(s, z, disordered=pl.disordered[z])
        h = h.at[i:i + N, i:i + N].set(layer_matrix(s, z, theta, phi, pot))
        if z < last:
            v = interlayer_matrix(s, z)
            v = v * jnp.eye(N) if jnp.ndim(v) == 0 else v
            h = h.at[i:i + N, i + N:i + 2 * N].set(v).at[i + N:i + 2 * N, i:i + N].set(v.conj().T)
    return h


def _side_lead_terms(s: Stack, k: int, first: int, theta, phi, energy, pl: Plan):
    """Slice indices, self-energy, channel vectors and Gamma of side lead k (slice starting at ``first``)."""
    lead = s.side_leads[k]
    phi_m, e = side_modes(s, k, pl.side_onsite[k])
    sites = side_lead_sites(s, lead)
    layers = np.arange(lead.layers[0], lead.layers[1] + 1)
    base = ((layers - first)[:, None] * s.N + 2 * sites[None, :]).ravel()  # cell order (layer, site)
    idx = (base[:, None] + np.arange(2)[None, :]).ravel()  # then spin
    chi = _side_spinors(theta, phi, lead)
    chain = e[:, None] + _spin_shift(float(lead.dxc))[None, :]
    sig = chain_self_energy(energy, chain, lead.t)  # (modes, 2)
    sigma = jnp.einsum("am,ms,bm,is,js->aibj", phi_m, sig, phi_m, chi, chi.conj()).reshape(idx.size, idx.size)
    ch = np.asarray(pl.side_channels[k], dtype=int).reshape(-1, 2)
    vectors = (phi_m[:, ch[:, 0]][:, None, :] * chi[:, ch[:, 1]][None, :, :]).reshape(idx.size, -1)
    gamma = chain_broadening(energy, chain[ch[:, 0], ch[:, 1]], lead.t)
    return idx, sigma, vectors, gamma


def _evaluate(s: Stack, theta, phi, energy, pl: Plan, upper):
    """S-matrix over the candidate channels, and their open mask, at one angle and energy."""
    N, nch = s.N, pl.n_channels
    starts, top0, bottom0 = _channel_layout(pl)
    sigma, b_top, proj_top = _to_full(*upper[:3], _axis_spinors(theta, phi, s.top))
    pad = (top0, nch - bottom0)  # the top lead's channels sit between the side and bottom ones
    b = jnp.pad(b_top, ((0, 0), pad))
    proj = jnp.pad(proj_top, (pad, (0, 0)))
    c = jnp.pad(upper[3], (pad, pad))
    gammas = [None] * len(s.side_leads)
    for k_slice, (first, last) in enumerate(pl.slices):
        m = (last - first + 1) * N
        top_rows = np.arange((last - first) * N, m)
        a = energy * jnp.eye(m) - _slice_hamiltonian(s, first, last, theta, phi, pl)
        if first == last:  # the state from above covers the whole slice
            a, src, out = a - sigma, b, proj
        else:
            a = a.at[top_rows[:, None], top_rows[None, :]].add(-sigma)
            src = jnp.zeros((m, nch), dtype=complex).at[top_rows].set(b)
            out = jnp.zeros((nch, m), dtype=complex).at[:, top_rows].set(proj)
        for k, lead in enumerate(s.side_leads):
            if not first <= lead.layers[0] <= last:
                continue
            idx, sig, vec, gamma = _side_lead_terms(s, k, first, theta, phi, energy, pl)
            gammas[k] = gamma
            a = a.at[idx[:, None], idx[None, :]].add(-sig)
            cols = np.arange(starts[k], starts[k] + vec.shape[1])
            src = src.at[idx[:, None], cols[None, :]].add(vec)
            out = out.at[cols[:, None], idx[None, :]].add(vec.T.conj())
        if k_slice == len(pl.slices) - 1:
            a, src, out, c = _add_bottom(s, energy, theta, phi, pl, a, src, out, c, bottom0)
            amplitudes = c + out @ jnp.linalg.solve(a, src)
            break
        g = jnp.linalg.inv(a)
        gsrc = g @ src
        c = c + out @ gsrc
        bottom_rows = np.arange(0, N)
        v = interlayer_matrix(s, first - 1)  # H[layer first - 1, layer first]
        if jnp.ndim(v) == 0:
            sigma = v * v.conjugate() * g[np.ix_(bottom_rows, bottom_rows)]
            b = v * gsrc[bottom_rows]
            proj = (out @ g)[:, bottom_rows] * jnp.conj(v)
        else:
            sigma = v @ g[np.ix_(bottom_rows, bottom_rows)] @ v.conj().T
            b = v @ gsrc[bottom_rows]
            proj = (out @ g)[:, bottom_rows] @ v.conj().T

    side_gamma = [gm for gm in gammas if gm is not None]
    vertical = []
    for lead, channels in ((s.top, pl.top_channels), (s.bottom, pl.bottom_channels)):
        if lead is None:
            continue
        q = np.asarray(channels, dtype=int).reshape(-1, 3)
        vertical.append(chain_broadening(energy, vertical_mode_onsite(s, lead)[q[:, 0], q[:, 1], q[:, 2]], lead.t))
    gamma = jnp.concatenate(side_gamma + vertical) if side_gamma + vertical else jnp.zeros(0)
    is_open = gamma > 0
    root = jnp.where(is_open, jnp.sqrt(jnp.where(is_open, gamma, 1.0)), 0.0)
    s_matrix = -jnp.eye(nch) + 1j * root[:, None] * amplitudes * root[None, :]
    return jnp.where(is_open[:, None] & is_open[None, :], s_matrix, 0.0), is_open


def _add_bottom(s: Stack, energy, theta, phi, pl: Plan, a, src, out, c, bottom0):
    """Add the folded bottom lead (self-energy, sources, read-out, direct term) to the lowest slice."""
    if s.bottom is None and not pl.bottom_fold:
        return a, src, out, c
    hops = [-s.layers[z].tz for z in pl.bottom_fold]
    sigma, b, proj, direct = _vertical_state(s, energy, s.bottom, pl.bottom_fold, pl.signs, hops, pl.bottom_channels)
    sigma, b, proj = _to_full(sigma, b, proj, _axis_spinors(theta, phi, s.bottom))
    rows = np.arange(2 * s.Lx * s.Ly)  # the lowest slice's bottom layer
    pad = (bottom0, 0)  # the bottom lead's channels come last
    c = c + jnp.pad(direct, (pad, pad))
    return (a.at[rows[:, None], rows[None, :]].add(-sigma), src.at[rows].add(jnp.pad(b, ((0, 0), pad))),
            out.at[:, rows].add(jnp.pad(proj, (pad, (0, 0)))), c)


def _channel_onehot(s: Stack, pl: Plan) -> np.ndarray:
    """(nch, 2 n_leads): lead and spin of every channel, in the order of the S-matrix."""
    lead, spin = [], []
    for k, channels in enumerate(pl.side_channels):
        lead += [k] * len(channels)
        spin += [sp for _, sp in channels]
    k = len(s.side_leads)
    for channels, present in ((pl.top_channels, s.top), (pl.bottom_channels, s.bottom)):
        if present is None:
            continue
        lead += [k] * len(channels)
        spin += [c[2] for c in channels]
        k += 1
    onehot = np.zeros((len(lead), 2 * k))
    onehot[np.arange(len(lead)), 2 * np.asarray(lead, dtype=int) + np.asarray(spin, dtype=int)] = 1.0
    return onehot


def _transmissions_one(s: Stack, theta, phi, energy, pl: Plan, upper, smatrix: bool):
    smat, is_open = _evaluate(s, theta, phi, energy, pl, upper)
    onehot = _channel_onehot(s, pl)
    n_leads = onehot.shape[1] // 2
    t = jnp.einsum("ia,ij,jb->ab", onehot, jnp.real(smat) ** 2 + jnp.imag(smat) ** 2, onehot)
    n_open = (is_open.astype(float) @ onehot).reshape(n_leads, 2)
    return t.reshape(n_leads, 2, n_leads, 2), n_open, (smat if smatrix else None)


_upper_jit = jax.jit(_upper_state, static_argnames=("pl",))


@functools.partial(jax.jit, static_argnames=("pl", "smatrix"))
def _evaluate_batch(s: Stack, theta, phi, energy, pl: Plan, upper, smatrix: bool):
    """vmap over angles (and energies, when ``upper`` is None: computed per element)."""
    if upper is None:
        fn = lambda th, ph, e: _transmissions_one(s, th, ph, e, pl, _upper_state(s, e, pl), smatrix)
        return jax.vmap(fn)(theta, phi, energy)
    fn = lambda th, ph: _transmissions_one(s, th, ph, energy, pl, upper, smatrix)
    return jax.vmap(fn)(theta, phi)


@dataclasses.dataclass(frozen=True)
class StackTransmissions:
    """T[..., a, sa, b, sb]: probability from lead b, spin sb into lead a, spin sa (leads in
    ``leads`` order: side leads, top, bottom). Spin 0/1 is +/- along the lead's axis (n for
    magnetic and vertical leads, ``spin_axis`` for normal side leads). ``n_open[..., a, s]``:
    open channels; ``S``: scattering matrices (or None); ``plan``: the path taken."""

    T: np.ndarray
    n_open: np.ndarray
    S: object
    leads: Tuple[str, ...]
    plan: Plan

    def conservation_residual(self) -> np.ndarray:
        """max over incoming (lead, spin) of |sum of outgoing probabilities - open channels|."""
        return np.abs(self.T.sum(axis=(-4, -3)) - self.n_open).max(axis=(-2, -1))

    def five_terminal(self):
        """(T, n_open) in the layout of ``solve.Transmissions`` (leads L, R, F, B, M; absent ones zero),
        for ``response.conversions``: the leads must be named among L, R, F, B, M."""
        order = ("L", "R", "F", "B", "M")
        unknown = set(self.leads) - set(order)
        if unknown:
            raise ValueError(f"five_terminal() needs leads named among {order}; got {sorted(unknown)}")
        batch = self.T.shape[:-4]
        T = np.zeros(batch + (5, 2, 5, 2))
        n_open = np.zeros(batch + (5, 2))
        pos = [order.index(name) for name in self.leads]
        for i, a in enumerate(pos):
            n_open[..., a, :] = self.n_open[..., i, :]
            for j, b in enumerate(pos):
                T[..., a, :, b, :] = self.T[..., i, :, j, :]
        return T, n_open


def chunk_size_for(s: Stack, pl: Plan, memory_budget_gib=None) -> int:
    """Evaluations per vmapped chunk within the memory budget (GiB), from the largest dense slice."""
    order = max([(b - a + 1) * s.N for a, b in pl.slices])
    per_eval = SLICE_MATRICES_PER_EVALUATION * 16 * order ** 2 / 2 ** 30
    return evaluations_per_chunk(per_eval, memory_budget_gib, f"of the largest dense slice (order {order})")


@x64
def stack_transmissions(s: Stack, *, energy, path: str = "auto", allow_closed: bool = False,
                        smatrix: bool = True, memory_budget_gib=None, progress: bool = False,
                        edge_tolerance: float = BAND_EDGE_TOLERANCE) -> StackTransmissions:
    """All spin-resolved transmissions between the leads of a general stack.

    ``s.theta``, ``s.phi`` and ``energy`` may be arrays (broadcast together; leading axes of the
    result). The path is chosen by :func:`plan` (``path="recursive"`` forces dense layers; the
    result's ``plan.explain()`` says what was done and why). Other arguments as in
    ``solve.transmissions``.
    """
    energy = np.asarray(energy, dtype=float)
    pl = plan(s, np.unique(energy), path=path, allow_closed=allow_closed, edge_tolerance=edge_tolerance)
    base = s.replace(theta=0.0, phi=0.0)
    T, n_open, S = run_in_chunks(
        s.theta, s.phi, energy, chunk_limit=lambda shared: chunk_size_for(s, pl, memory_budget_gib),
        upper_at=lambda e: _upper_jit(base, e, pl),
        evaluate=lambda th, ph, e, upper: _evaluate_batch(base, th, ph, e, pl, upper, smatrix),
        progress=progress)
    return StackTransmissions(T, n_open, S, s.lead_names, pl)


def explain(s: Stack, energy, path: str = "auto") -> str:
    """The path :func:`stack_transmissions` takes for this stack at ``energy``, and why, layer by layer."""
    return plan(s, energy, path=path, allow_closed=True).explain()
