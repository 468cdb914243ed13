"""The traceable core: spin-resolved transmissions of a stack at one angle, energy and realization.

Everything is written in the basis of hard-wall sine modes of each layer, (mx, my, spin), with
index ``(z_in_slice, mx, my, spin)`` inside a slice of layers. There the vertical leads and the
folded layers are diagonal (``core.chains.fold_mode_chains``), so M's self-energy is added to
the lowest layer mode by mode and never stored as a dense matrix; every other term is a
broadcast product of small factors (``core.lattice.table_in_modes``), so a slice matrix
E - H - Sigma is written once, into its own buffer, and factorised in place
(``core.linalg.lu_factor``): one dense matrix of order 2 Lx Ly alive at the paper's junction.

The elimination runs from the top down (block Gauss along z): the top lead and the folded
layers, then the spin-block layers (:func:`upper_state`, independent of the magnetization
angles, so scans and ensembles compute it once per energy and realization), then the dense
slices by the recursive Green's function g = (E - H - Sigma)^-1, carrying the sources of the
channels above and the read-outs that give their outgoing amplitudes, and the lowest slice by
one LU. With x the solution for a unit source in channel j, the amplitude in channel i is
c_ij + <out_i | x_j> (c: the part that never reaches the lowest slice), and the S-matrix is
the Fisher-Lee relation S = -1 + i Gamma^1/2 (amplitudes) Gamma^1/2 in the leads' mode bases
[D. S. Fisher, P. A. Lee, PRB 23, 6851 (1981)]; T(a, s <- b, s') sums |S|^2 over the channels
of each lead and spin [Eq. (1) of G. Fleury, M. Barth, C. Gorini, PRB 108, L081402 (2023)].

Right-hand sides. The transmissions between a side lead and anything need only the side
leads' channels as sources: x = G u for them, and y = G^T v for their read-outs v give
<v | G | top source> = y^T (top source). So without ``reflection`` the lowest slice is solved
for twice the side channels (160 at the paper's size) instead of every channel (538), and the
top lead's spin-resolved self-reflection, the one block this leaves out, is filled from
unitarity (:func:`_reflection_from_unitarity`): its row and column sums are exact; how the
reflected electrons split between spin flip and no flip is not resolved.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from ..core.chains import chain_broadening, chain_self_energy, fold_mode_chains
from ..core.lattice import band_energies, disorder_realization, potential_in_modes, sine_modes, spin_along, \
    table_in_modes
from ..core.linalg import lu_factor, lu_solve
from ..model.stack import (SPIN_SIGN, Stack, direction, in_plane_table, layer_profile, layer_scalar_onsite,
                           side_lead_chains, side_lead_extent, side_lead_modes, side_lead_sites, site_block,
                           table_entries, vertical_lead_chains)
from ..plan.plan import Plan
from . import krylov
from .krylov import LayerOperator

I2 = np.eye(2)


# ---------------------------------------------------------------------------------------------
# Channel groups: sources and read-outs of a set of channels in a slice


class ModeChannels(NamedTuple):
    """Channels living on single sine modes of one layer (a vertical lead's, through folded layers).

    ``rows``: the mode index (z_in_slice * Lx Ly + mx * Ly + my) of each channel; ``src``,
    ``out``: the spinor (2,) of its source and of its read-out (amp chi_s and amp conj(chi_s)).
    """

    cols: np.ndarray
    rows: np.ndarray
    src: jnp.ndarray
    out: jnp.ndarray

    def source(self, m: int):
        nt = self.rows.size
        return jnp.zeros((m // 2, 2, nt), complex).at[self.rows, :, np.arange(nt)].set(self.src).reshape(m, nt)

    def readout(self, x):
        return jnp.einsum("cs,csk->ck", self.out, x.reshape(-1, 2, x.shape[-1])[self.rows])

    def source_t(self, y):
        """y^T (sources), shape (k, nt)."""
        return jnp.einsum("csk,cs->kc", y.reshape(-1, 2, y.shape[-1])[self.rows], self.src)

    def readout_matrix(self, m: int):
        nt = self.rows.size
        return jnp.zeros((nt, m // 2, 2), complex).at[np.arange(nt), self.rows, :].set(self.out).reshape(nt, m)


class DenseChannels(NamedTuple):
    """Channels with dense sources (m, k) and read-outs (k, m) in a slice."""

    cols: np.ndarray
    src: jnp.ndarray
    out: jnp.ndarray

    def source(self, m: int):
        return self.src

    def readout(self, x):
        return self.out @ x

    def source_t(self, y):
        return y.T @ self.src

    def readout_matrix(self, m: int):
        return self.out


def _on_top_layer(group, nl: int, N: int):
    """A group defined on one layer (N orbitals), moved to the top layer of a slice of nl layers."""
    if nl == 1:
        return group
    if isinstance(group, ModeChannels):
        return group._replace(rows=group.rows + (nl - 1) * (N // 2))
    pad = (nl - 1) * N
    return group._replace(src=jnp.pad(group.src, ((pad, 0), (0, 0))), out=jnp.pad(group.out, ((0, 0), (pad, 0))))


# ---------------------------------------------------------------------------------------------
# Channel layout


def channel_layout(s: Stack, pl: Plan):
    """Column ranges of every lead's channels in the S-matrix order (side leads, top, bottom),
    and the (lead index, spin) of every channel."""
    cols, lead, spin, start = {}, [], [], 0
    groups = [(k, ch) for k, ch in enumerate(pl.side_channels)]
    index = len(s.side_leads)
    for where, channels in (("top", pl.top_channels), ("bottom", pl.bottom_channels)):
        if getattr(s, where) is not None:
            groups.append((where, channels))
    for key, channels in groups:
        cols[key] = np.arange(start, start + len(channels))
        start += len(channels)
        if isinstance(key, int):
            lead += [key] * len(channels)
        else:
            lead += [index] * len(channels)
            index += 1
        spin += [c[2] for c in channels]
    return cols, np.asarray(lead, dtype=int), np.asarray(spin, dtype=int)


# ---------------------------------------------------------------------------------------------
# Vertical leads and the layers folded into them; the angle-independent upper state


class DiagState(NamedTuple):
    """A vertical lead and its folded layers seen from the next layer: per mode (Lx, Ly, 2), spin
    along the lead's axis: the self-energy, the amplitude of a unit source in the lead's mode
    reaching the next layer, and the direct term of its reflection."""

    sigma: jnp.ndarray
    amp: jnp.ndarray
    direct: jnp.ndarray


class BlockState(NamedTuple):
    """The upper state after the spin-block layers, in spin blocks along the top axis (n = Lx Ly):
    sigma (2, n, n), sources b (2, n, nt) and read-outs P (2, nt, n) of the top channels, and
    their direct term c (nt, nt)."""

    sigma: jnp.ndarray
    b: jnp.ndarray
    proj: jnp.ndarray
    c: jnp.ndarray


def draw_disorder(s: Stack, realization, pl: Plan):
    """The standard-normal draw (Lz, Lx, Ly) of this realization, or None when no layer draws."""
    return disorder_realization(s.seed, realization, (s.Lz, s.Lx, s.Ly)) if pl.any_disorder else None


def _vertical_fold(s: Stack, energy, where: str, pl: Plan) -> DiagState:
    lead = getattr(s, where)
    layers = pl.top_fold if where == "top" else pl.bottom_fold
    if lead is None:
        sigma = jnp.zeros((s.Lx, s.Ly, 2), complex)
    else:
        sigma = chain_self_energy(energy, vertical_lead_chains(s, lead), lead.t)
    chains = []
    for z in layers:
        layer = s.layers[z]
        e_q = (layer_scalar_onsite(layer) + band_energies(s.Lx, s.Ly, layer.t))[:, :, None] \
            - SPIN_SIGN * pl.signs[z] * layer.dxc / 2
        # The hopping to the next layer inwards carries the source amplitude (H[z, z +- 1] = -tz).
        chains.append((e_q, -s.layers[z - 1].tz if where == "top" else -layer.tz))
    return DiagState(*fold_mode_chains(energy, sigma, chains))


def _orbital_layer(s: Stack, z: int, draw, pl: Plan):
    """Spin-independent part of layer z in its sine modes (Lx Ly, Lx Ly): onsite, hopping, potential."""
    layer = s.layers[z]
    diag = (layer_scalar_onsite(layer) + band_energies(s.Lx, s.Ly, layer.t)).reshape(-1)
    h = jnp.diag(diag).astype(complex)
    profile = layer_profile(s, z, draw, pl.disordered[z])
    return h if profile is None else h + potential_in_modes(profile)


def upper_state(s: Stack, energy, realization, pl: Plan):
    """The top lead, its folded layers and the spin-block layers eliminated (angle-independent).

    In the basis of spin along the top lead's axis every one of these layers is -s Dxc/2 plus a
    spin-independent part, whatever the direction of the axis, so this is computed once per
    energy and realization for any number of angles. Returns a DiagState (no spin-block layer)
    or a BlockState.
    """
    state = _vertical_fold(s, energy, "top", pl)
    if not pl.blocks:
        return state
    n = s.Lx * s.Ly
    q = np.asarray(pl.top_channels, dtype=int).reshape(-1, 3)
    flat, spin, cols = q[:, 0] * s.Ly + q[:, 1], q[:, 2], np.arange(q.shape[0])
    amp = state.amp[q[:, 0], q[:, 1], q[:, 2]]
    sigma = jax.vmap(jnp.diag)(jnp.moveaxis(state.sigma, -1, 0).reshape(2, n))
    b = jnp.zeros((2, n, cols.size), complex).at[spin, flat, cols].set(amp)
    proj = jnp.zeros((2, cols.size, n), complex).at[spin, cols, flat].set(amp)
    c = jnp.diag(state.direct[q[:, 0], q[:, 1], q[:, 2]])
    draw = draw_disorder(s, realization, pl)
    eye = jnp.eye(n)
    for z in pl.blocks:
        layer = s.layers[z]
        h = _orbital_layer(s, z, draw, pl)[None] - (SPIN_SIGN * pl.signs[z] * layer.dxc / 2)[:, None, None] * eye
        g = jnp.linalg.inv(energy * eye - h - sigma)  # both spin blocks in one (batched) call
        gb = g @ b
        c = c + jnp.einsum("scn,snk->ck", proj, gb)
        tz = s.layers[z - 1].tz
        sigma, b, proj = tz ** 2 * g, -tz * gb, -tz * (proj @ g)
    return BlockState(sigma, b, proj, c)


def _axis_spinors(lead, theta, phi):
    """Spinors of a vertical lead's axis (the stack's direction when it has none)."""
    if lead is None:
        return spin_along(theta, phi)
    return spin_along(*direction(lead, theta, phi))


def _mode_channels(s: Stack, state: DiagState, channels, chi, cols, layer_in_slice: int) -> ModeChannels:
    q = np.asarray(channels, dtype=int).reshape(-1, 3)
    amp = state.amp[q[:, 0], q[:, 1], q[:, 2]]
    spinor = chi[:, q[:, 2]].T
    rows = layer_in_slice * s.Lx * s.Ly + q[:, 0] * s.Ly + q[:, 1]
    return ModeChannels(cols, rows, amp[:, None] * spinor, amp[:, None] * jnp.conj(spinor))


def _diag_sigma(state: DiagState, chi):
    """sum_s sigma(q, s) chi_s chi_s^dagger per mode: (Lx, Ly, 2, 2) in the sigma_z basis."""
    return jnp.einsum("xys,as,bs->xyab", state.sigma, chi, jnp.conj(chi))


# ---------------------------------------------------------------------------------------------
# Slice matrices


def _place(nl: int, i: int, j: int, term):
    """A (Lx, Ly, 2, Lx, Ly, 2)-broadcastable term on the (i, j) layer block of an 8-D slice tensor."""
    mask = np.zeros((nl, nl))
    mask[i, j] = 1.0
    return mask[:, None, None, None, :, None, None, None] * jnp.expand_dims(term, (0, 4))


def _mode_diagonal(Lx: int, Ly: int, blocks):
    """delta(mode, mode') blocks(mode)[a, b] as a broadcastable 6-D term; blocks: (Lx, Ly, 2, 2) or (2, 2)."""
    blocks = jnp.asarray(blocks)
    if blocks.ndim == 2:
        blocks = blocks[None, None]
    return (np.eye(Lx)[:, None, None, :, None, None] * np.eye(Ly)[None, :, None, None, :, None]
            * blocks[:, :, :, None, None, :])


class SideTerms(NamedTuple):
    term: jnp.ndarray       # -Sigma as an 8-D broadcastable slice term
    vectors: jnp.ndarray    # channel sources (m, n_channels)
    gamma: jnp.ndarray      # broadening of each channel


def _side_lead(s: Stack, k: int, first: int, nl: int, theta, phi, energy, pl: Plan) -> SideTerms:
    """Self-energy, channel vectors and broadenings of side lead k in a slice starting at layer ``first``.

    The lead's mode (m, l) is phi_W[:, m] across its width times U[:, l] across its layers; its
    interface sites lie on one edge column (x fixed for the -x and +x edges), so in the slice's
    sine modes the coupling vector is phi_x[x_edge, mx] Psi[my, m] U[z, l], Psi = phi_y^T phi_W
    on the lead's sites: separable, and so is the self-energy sum_(m, l, s) sigma C C^T chi chi^dagger.
    """
    lead = s.side_leads[k]
    offset, width = side_lead_extent(s, lead)
    u, _ = side_lead_modes(s, lead)
    z0, z1 = lead.layers
    u_slice = jnp.zeros((nl, u.shape[1])).at[z0 - first:z1 - first + 1].set(u)
    chains = side_lead_chains(s, lead)
    sigma = chain_self_energy(energy, chains, lead.t)  # (width, layers, 2)
    if pl.side_magnetic[k]:
        chi = spin_along(*direction(lead, theta, phi))
    else:
        chi = spin_along(*lead.spin_axis)
    across_x = lead.edge in ("-x", "+x")
    L_across, L_along = (s.Lx, s.Ly) if across_x else (s.Ly, s.Lx)
    edge_index = 0 if lead.edge in ("-x", "-y") else L_across - 1
    edge = sine_modes(L_across)[0][edge_index]  # (L_across,)
    psi = sine_modes(L_along)[0][offset:offset + width].T @ sine_modes(width)[0]  # (L_along, width)
    spin_proj = jnp.einsum("as,bs->sab", chi, jnp.conj(chi))
    ks = jnp.einsum("zl,am,mls,wl,bm,scd->zacwbd", u_slice, psi, sigma, u_slice, psi, spin_proj)
    # ks: (z, along, spin, z', along', spin'); put the edge factor on the across axes.
    if across_x:
        term = -(edge[None, :, None, None, None, None, None, None] * edge[None, None, None, None, None, :, None, None]
                 * ks[:, None, :, :, :, None, :, :])
    else:
        term = -(edge[None, None, :, None, None, None, None, None] * edge[None, None, None, None, None, None, :, None]
                 * ks[:, :, None, :, :, :, None, :])
    ch = np.asarray(pl.side_channels[k], dtype=int).reshape(-1, 3)
    along = psi[:, ch[:, 0]] * 1.0  # (L_along, nch)
    layer = u_slice[:, ch[:, 1]]  # (nl, nch)
    spinor = chi[:, ch[:, 2]]  # (2, nch)
    if across_x:
        vec = layer[:, None, None, None, :] * edge[None, :, None, None, None] * along[None, None, :, None, :]
    else:
        vec = layer[:, None, None, None, :] * along[None, :, None, None, :] * edge[None, None, :, None, None]
    vec = (vec * spinor[None, None, None, :, :]).reshape(nl * s.N, -1)
    gamma = chain_broadening(energy, chains[ch[:, 0], ch[:, 1], ch[:, 2]], lead.t)
    return SideTerms(term, vec, gamma)


def _slice_matrix(s: Stack, first: int, last: int, theta, phi, energy, draw, pl: Plan, extra_terms,
                  mode_blocks=None):
    """E - H of layers first..last in their sine modes, plus ``extra_terms`` (8-D, e.g. -Sigma), (m, m).

    ``mode_blocks``: a self-energy on the top layer that is diagonal in its modes, (Lx, Ly, 2, 2),
    subtracted with the layer's own diagonal (one full-size term less).
    """
    Lx, Ly, nl = s.Lx, s.Ly, last - first + 1
    total = 0.0
    for i, z in enumerate(range(first, last + 1)):
        layer = s.layers[z]
        th, ph = direction(layer, theta, phi)
        dq = energy - layer_scalar_onsite(layer) - band_energies(Lx, Ly, layer.t)
        blocks = dq[:, :, None, None] * I2 - site_block(layer, th, ph)
        if i == nl - 1 and mode_blocks is not None:  # the folded stack above, diagonal in the same modes
            blocks = blocks - mode_blocks
        term = _mode_diagonal(Lx, Ly, blocks)
        table = in_plane_table(layer, pl.spin_orbit[z])
        if table:
            term = term - table_in_modes(Lx, Ly, table)
        profile = layer_profile(s, z, draw, pl.disordered[z])
        if profile is not None:
            term = term - potential_in_modes(profile).reshape(Lx, Ly, Lx, Ly)[:, :, None, :, :, None] \
                * I2[None, None, :, None, None, :]
        total = total + _place(nl, i, i, term)
        if z < last:
            up = table_entries(layer.up, "up")
            hop = table_in_modes(Lx, Ly, up, hermitian=False) if up else -layer.tz * _mode_diagonal(Lx, Ly, I2)
            total = total - _place(nl, i, i + 1, hop) - _place(nl, i + 1, i, jnp.conj(jnp.transpose(hop, (3, 4, 5, 0, 1, 2))))
    for term in extra_terms:
        total = total + term
    m = nl * s.N
    return jnp.broadcast_to(total, (nl, Lx, Ly, 2, nl, Lx, Ly, 2)).reshape(m, m)


def _interlayer(s: Stack, z: int):
    """H[layer z, layer z + 1] in sine modes: the scalar -tz, or an (N, N) matrix from ``up``."""
    up = table_entries(s.layers[z].up, "up")
    if not up:
        return -s.layers[z].tz
    return table_in_modes(s.Lx, s.Ly, up, hermitian=False).reshape(s.N, s.N)


# ---------------------------------------------------------------------------------------------
# The evaluation


def _incoming(s: Stack, upper, chi, cols_top, pl: Plan):
    """The upper state as seen by the highest dense slice: (sigma term kind, value), top channels, c block."""
    if isinstance(upper, DiagState):
        return ("diag", _diag_sigma(upper, chi)), _mode_channels(s, upper, pl.top_channels, chi, cols_top, 0), \
            jnp.diag(upper.direct[tuple(np.asarray(pl.top_channels, dtype=int).reshape(-1, 3).T)])
    N = s.N
    sigma = jnp.einsum("sij,as,bs->iajb", upper.sigma, chi, jnp.conj(chi)).reshape(N, N)
    src = jnp.einsum("sic,as->iac", upper.b, chi).reshape(N, -1)
    out = jnp.einsum("sci,as->cia", upper.proj, jnp.conj(chi)).reshape(-1, N)
    return ("dense", sigma), DenseChannels(cols_top, src, out), upper.c


def evaluate(s: Stack, theta, phi, energy, realization, pl: Plan, upper, reflection: bool, smatrix: bool):
    """T (n_leads, 2, n_leads, 2), n_open (n_leads, 2), S (or None) and the Krylov statistics
    (iterations, relative residual; zeros on the dense path) at one angle, energy, realization.

    ``upper``: :func:`upper_state` at this energy and realization. ``reflection``: solve the
    lowest slice for the top lead's channels too (exact spin-resolved reflection of the top
    lead, and the S-matrix when ``smatrix``); otherwise that block comes from unitarity.
    """
    Lx, Ly, N = s.Lx, s.Ly, s.N
    draw = draw_disorder(s, realization, pl)
    cols, lead_of, spin_of = channel_layout(s, pl)
    nch = lead_of.size
    n_leads = len(s.lead_names)
    chi_top = _axis_spinors(s.top, theta, phi)
    sigma_in, top_group, c_top = _incoming(s, upper, chi_top, cols.get("top", np.zeros(0, int)), pl)
    c = jnp.zeros((nch, nch), complex)
    if "top" in cols:
        c = c.at[np.ix_(cols["top"], cols["top"])].add(c_top)
    carried = [top_group] if "top" in cols else []
    gammas = {}

    for k_slice, (first, last) in enumerate(pl.slices):
        nl, lowest = last - first + 1, k_slice == len(pl.slices) - 1
        m = nl * N
        kind, value = sigma_in
        terms = [] if kind == "diag" else [_place(nl, nl - 1, nl - 1, -value.reshape(Lx, Ly, 2, Lx, Ly, 2))]
        groups = [_on_top_layer(g, nl, N) for g in carried]
        for k, lead in enumerate(s.side_leads):
            if first <= lead.layers[0] <= last:
                side = _side_lead(s, k, first, nl, theta, phi, energy, pl)
                terms.append(side.term)
                gammas[k] = side.gamma
                groups.append(DenseChannels(cols[k], side.vectors, jnp.conj(side.vectors).T))
        if lowest and (s.bottom is not None or pl.bottom_fold):
            bottom = _vertical_fold(s, energy, "bottom", pl)
            chi_bottom = _axis_spinors(s.bottom, theta, phi)
            terms.append(_place(nl, 0, 0, -_mode_diagonal(Lx, Ly, _diag_sigma(bottom, chi_bottom))))
            if "bottom" in cols:
                groups.append(_mode_channels(s, bottom, pl.bottom_channels, chi_bottom, cols["bottom"], 0))
                b_idx = tuple(np.asarray(pl.bottom_channels, dtype=int).reshape(-1, 3).T)
                c = c.at[np.ix_(cols["bottom"], cols["bottom"])].add(jnp.diag(bottom.direct[b_idx]))
        # Without reflection the top lead's channels are left out of the right-hand sides, when
        # they are a group of their own (no dense slice above mixed them with side channels).
        lean = "top" in cols and not reflection and len(pl.slices) == 1
        if lowest and pl.krylov is not None:  # matrix-free: the slice matrix is never formed
            operator = _layer_operator(s, first, theta, phi, energy, draw, pl, value)
            amplitudes, stats = _solve_lowest(_krylov_solver(operator, chi_top, pl), groups, c, m, lean, top_group)
            break
        a = _slice_matrix(s, first, last, theta, phi, energy, draw, pl, terms, value if kind == "diag" else None)
        if lowest:
            amplitudes, stats = _solve_lowest(_dense_solver(a), groups, c, m, lean, top_group)
            break
        # An upper dense slice: eliminate it and pass its state to the layer below (first - 1).
        g = jnp.linalg.inv(a)
        src = jnp.concatenate([grp.source(m) for grp in groups], axis=1)
        out = jnp.concatenate([grp.readout_matrix(m) for grp in groups], axis=0)
        all_cols = np.concatenate([grp.cols for grp in groups])
        gsrc = g @ src
        c = c.at[np.ix_(all_cols, all_cols)].add(out @ gsrc)
        v = _interlayer(s, first - 1)  # H[layer first - 1, layer first]
        bottom_rows = slice(0, N)
        if jnp.ndim(v) == 0:
            sigma_next = v * jnp.conj(v) * g[bottom_rows, bottom_rows]
            src_next, out_next = v * gsrc[bottom_rows], (out @ g)[:, bottom_rows] * jnp.conj(v)
        else:
            sigma_next = v @ g[bottom_rows, bottom_rows] @ v.conj().T
            src_next, out_next = v @ gsrc[bottom_rows], (out @ g)[:, bottom_rows] @ v.conj().T
        sigma_in = ("dense", sigma_next)
        carried = [DenseChannels(all_cols, src_next, out_next)]
        top_group = carried[0]

    gamma = jnp.zeros(nch)
    for k, value in gammas.items():
        gamma = gamma.at[cols[k]].set(value)
    for where in ("top", "bottom"):
        if where in cols:
            lead = getattr(s, where)
            q = np.asarray(pl.top_channels if where == "top" else pl.bottom_channels, dtype=int).reshape(-1, 3)
            gamma = gamma.at[cols[where]].set(
                chain_broadening(energy, vertical_lead_chains(s, lead)[q[:, 0], q[:, 1], q[:, 2]], lead.t))
    is_open = gamma > 0
    # sqrt has an infinite derivative at 0: keep closed channels (Gamma = 0) off its argument.
    root = jnp.where(is_open, jnp.sqrt(jnp.where(is_open, gamma, 1.0)), 0.0)
    s_matrix = -jnp.eye(nch) + 1j * root[:, None] * amplitudes * root[None, :]
    s_matrix = jnp.where(is_open[:, None] & is_open[None, :], s_matrix, 0.0)
    onehot = np.zeros((nch, 2 * n_leads))
    onehot[np.arange(nch), 2 * lead_of + spin_of] = 1.0
    # |S|^2 as re^2 + im^2: the derivative of abs is undefined at the zero entries of closed channels.
    T = jnp.einsum("ia,ij,jb->ab", onehot, jnp.real(s_matrix) ** 2 + jnp.imag(s_matrix) ** 2, onehot)
    T = T.reshape(n_leads, 2, n_leads, 2)
    n_open = (is_open.astype(float) @ onehot).reshape(n_leads, 2)
    if lean:
        T = _reflection_from_unitarity(T, n_open, len(s.side_leads))
    return T, n_open, (s_matrix if smatrix else None), stats


def _solve_lowest(solve, groups, c, m: int, lean: bool, top_group):
    """Amplitudes c + <out|G|src> over the channel groups, and the solver's (iterations, residual).

    ``solve(b, transpose)`` gives (x, stats) with A x = b (A^T x = b) for the lowest slice's
    matrix A: one LU (:func:`_dense_solver`) or GMRES (:func:`_krylov_solver`). ``lean``: leave
    the top group out of the right-hand sides; its columns are then obtained from a transposed
    solve for the other groups' read-outs, and its own block stays at c.
    """
    if not lean:
        x, stats = solve(jnp.concatenate([grp.source(m) for grp in groups], axis=1), False)
        rows = np.concatenate([grp.cols for grp in groups])
        amplitudes = jnp.concatenate([grp.readout(x) for grp in groups], axis=0)
        return c.at[np.ix_(rows, rows)].add(amplitudes), stats
    small = [grp for grp in groups if grp is not top_group]
    small_cols = np.concatenate([grp.cols for grp in small])
    all_cols = np.concatenate([grp.cols for grp in groups])
    x, stats_x = solve(jnp.concatenate([grp.source(m) for grp in small], axis=1), False)
    c = c.at[np.ix_(all_cols, small_cols)].add(jnp.concatenate([grp.readout(x) for grp in groups], axis=0))
    rhs = jnp.concatenate([grp.readout_matrix(m) for grp in small], axis=0).T
    # The second solve waits for the first: two batched LAPACK calls must not run at once on CPU
    # (core.batching).
    x, rhs = jax.lax.optimization_barrier((x, rhs))
    y, stats_y = solve(rhs, True)
    return c.at[np.ix_(small_cols, top_group.cols)].add(top_group.source_t(y)), jnp.maximum(stats_x, stats_y)


def _dense_solver(a):
    """``solve(b, transpose)`` for :func:`_solve_lowest` by one in-place LU of ``a``."""
    factors = lu_factor(a)
    return lambda b, transpose: (lu_solve(factors, b, transpose=transpose), jnp.zeros(2))


def _krylov_solver(operator, chi, pl: Plan):
    """``solve(b, transpose)`` for :func:`_solve_lowest` by ``krylov.layer_solver`` (one preconditioner
    for both directions); stats = (iterations, relative residual)."""
    d = jnp.einsum("as,xyab,bs->xys", jnp.conj(chi), operator.diag, chi).reshape(-1)
    solve = krylov.layer_solver(operator, chi, d, pl.krylov)

    def run(b, transpose):
        x, iterations, residual = solve(b, transpose)
        return x, jnp.stack([iterations, residual]).astype(float)
    return run


def _layer_operator(s: Stack, z: int, theta, phi, energy, draw, pl: Plan, mode_blocks):
    """The lowest layer as a ``krylov.LayerOperator`` (the same terms as :func:`_slice_matrix`)."""
    Lx, Ly = s.Lx, s.Ly
    layer = s.layers[z]
    th, ph = direction(layer, theta, phi)
    dq = energy - layer_scalar_onsite(layer) - band_energies(Lx, Ly, layer.t)
    diag = dq[:, :, None, None] * I2 - site_block(layer, th, ph) - mode_blocks
    sides = []
    for k, lead in enumerate(s.side_leads):
        if lead.layers[0] != z:
            continue
        _, width = side_lead_extent(s, lead)
        phi_w = sine_modes(width)[0]
        sigma = chain_self_energy(energy, side_lead_chains(s, lead), lead.t)[:, 0, :]  # (width, 2)
        chi = spin_along(*direction(lead, theta, phi)) if pl.side_magnetic[k] else spin_along(*lead.spin_axis)
        block = jnp.einsum("im,ms,jm,as,bs->iajb", phi_w, sigma, phi_w, chi, jnp.conj(chi)).reshape(2 * width,
                                                                                                      2 * width)
        sides.append((*side_lead_sites(s, lead), block))
    return LayerOperator(diag, in_plane_table(layer, pl.spin_orbit[z]), layer_profile(s, z, draw, pl.disordered[z]),
                         tuple(sides), sine_modes(Lx)[0], sine_modes(Ly)[0])


def _reflection_from_unitarity(T, n_open, top: int):
    """Fill the top lead's 2x2 spin block of self-reflection from current conservation.

    Its row sums (into each spin of the top lead, from everything) and column sums (out of
    each spin) are fixed by unitarity of S; of the one-parameter family with these sums, the
    one with the least spin flip is stored. Every conversion conductance depends only on
    these sums (``observables.response``). The sums are added one term after the other, in a
    fixed order (a reduction's order may change with the number of devices of a process).
    """
    others = [(a, s) for a in range(T.shape[0]) if a != top for s in range(2)]
    col = [n_open[top, sp] - _ordered_sum([T[a, s, top, sp] for a, s in others]) for sp in range(2)]
    row = [n_open[top, s] - _ordered_sum([T[top, s, a, sp] for a, sp in others]) for s in range(2)]
    flip = jnp.maximum(0.0, row[0] - col[0])
    block = jnp.stack([jnp.stack([row[0] - flip, flip]), jnp.stack([col[0] - row[0] + flip, col[1] - flip])])
    return T.at[top, :, top, :].set(block)


def _ordered_sum(terms):
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total
