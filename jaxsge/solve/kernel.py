"""The traceable core: spin-resolved transmissions of a stack at one angle, energy and realization.

Everything is written in the hard-wall sine modes of each layer, index ``(z_in_slice, mx, my,
orbital, spin)`` in a slice of layers (the layers of a slice have one orbital count n, and so
have a vertical lead and the layers folded into it or in spin blocks below it:
``model.stack.validate_stack`` and ``plan.plan``). There the vertical leads and the folded
layers are diagonal per mode and orbital, one chain each, indexed (mx, my * n + o, s)
(``model.stack.orbital_modes``; ``core.chains.fold_mode_chains``), so M's self-energy is added
mode by mode, never stored as a dense matrix; every other term is a broadcast product of small factors (``core.lattice.table_in_modes``),
so a slice matrix E - H - Sigma is written once, into its own buffer, and factorised in place
(``core.linalg.lu_factor``): one dense matrix of order 2 Lx Ly alive at the paper's junction.

The elimination runs from the top down (block Gauss along z): the top lead and the folded
layers, the spin-block layers (:func:`upper_state`, angle-independent: once per energy and
realization), the dense slices by the recursive Green's function g = (E - H - Sigma)^-1,
carrying the sources of the channels above and the read-outs of their outgoing amplitudes, and
the lowest slice by one LU. With x the solution for a unit source in channel j, the amplitude
in channel i is ``c_ij + <out_i | x_j>`` (c: the part that never reaches the lowest slice); the
S-matrix is the Fisher-Lee relation S = -1 + i Gamma^1/2 (amplitudes) Gamma^1/2 in the leads'
mode bases [D. S. Fisher, P. A. Lee, PRB 23, 6851 (1981)], and T(a, s <- b, s') sums ``|S|^2`` over
the channels of each lead and spin [Eq. (1) of G. Fleury, M. Barth, C. Gorini, PRB 108, L081402 (2023)].

Right-hand sides: x = G u for the side leads' sources u and y = G^T v for their read-outs v give
every transmission that involves a side lead (<v | G | top source> = y^T (top source)). So
without ``reflection`` the lowest slice is solved for twice the side channels (160 at the
paper's size) instead of every channel (538), and the top lead's spin-resolved self-reflection
is filled from unitarity (:func:`_reflection_from_unitarity`: its row and column sums are exact,
its split between spin flip and no flip is not resolved).
"""

from __future__ import annotations

import functools
import operator
from typing import NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from ..core.chains import fold_mode_chains
from ..core.lattice import band_energies, disorder_realization, potential_in_modes, sine_modes, spin_along, \
    table_in_modes
from ..core.linalg import lu_factor, lu_solve
from ..model.stack import (SPIN_SIGN, Stack, channel_index, direction, in_plane_table, layer_mode_energies,
                           layer_orbital_energies, layer_profile, layer_scalar_onsite, site_block, table_entries,
                           vertical_lead_orbitals)
from ..plan.plan import Plan
from . import krylov
from .krylov import LayerOperator

I2 = np.eye(2)


class LocalRequest(NamedTuple):
    """Local read-outs asked of :func:`evaluate` (static: hashable, part of the compiled program):
    ``layers``, the layers z whose densities are wanted, and ``operators``, the onsite operators
    as nested tuples of complex numbers, each a (d, d) block on one site (d = :func:`site_states`)."""

    layers: Tuple[int, ...]
    operators: tuple


class KernelOutput(NamedTuple):
    """What one evaluation returns (a pytree: batched, mapped and differentiated as a whole).

    ``T`` (n_leads, 2, n_leads, 2) and ``n_open`` (n_leads, 2): :func:`evaluate`; ``S``: the
    scattering matrix when asked, else None; ``stats``: the iterative solver's (iterations,
    relative residual), zeros on the dense path; ``densities``: when a :class:`LocalRequest` was
    given, (layers, n_leads, operators, Lx, Ly) the lead-resolved injectivities
    sum_(channels j of lead a) psi_j(r)^dagger O psi_j(r) (:func:`local_densities`), else None;
    ``T_orbital`` (n_leads, n, 2, n_leads, n, 2) and ``n_open_orbital`` (n_leads, n, 2): T and n_open
    resolved by the orbital too (:func:`_orbital_resolved`) when a lead has n > 1 orbitals, else None.
    """

    T: jnp.ndarray
    n_open: jnp.ndarray
    S: Optional[jnp.ndarray]
    stats: jnp.ndarray
    densities: Optional[jnp.ndarray] = None
    T_orbital: Optional[jnp.ndarray] = None
    n_open_orbital: Optional[jnp.ndarray] = None


def site_states(s: Stack, layers=None) -> int:
    """States on one site of ``layers`` (all of the stack when None): 2 n, the size of an onsite block; the one
    place the density code reads it from. A ValueError when the layers have different orbital counts (the
    operators of one request are blocks of one size)."""
    counts = sorted({s.layers[z].orbitals for z in (range(s.Lz) if layers is None else layers)})
    if len(counts) > 1:
        raise ValueError(f"layer = {list(layers) if layers is not None else 'all'}: these layers have different "
                         f"orbital counts {counts}, and an onsite operator is one block size; ask for the layers of "
                         "one orbital count at a time")
    return 2 * counts[0]


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


def channel_layout(s: Stack, pl: Plan):
    """Column ranges of every lead's channels in the S-matrix order (side leads, top, bottom),
    and the (lead index, spin) and the orbital of every channel (its middle index is (layer or
    transverse) mode * n + orbital on a lead of n orbitals, ``Lead.orbitals``)."""
    cols, lead, spin, orbital, start = {}, [], [], [], 0
    for index, (key, lead_object) in enumerate(s.leads):
        channels = pl.channels_at(key)
        n = lead_object.orbitals(s, key)
        cols[key] = np.arange(start, start + len(channels))
        start += len(channels)
        lead += [index] * len(channels)
        spin += [c[2] for c in channels]
        orbital += [c[1] % n for c in channels]
    return cols, np.asarray(lead, dtype=int), np.asarray(spin, dtype=int), np.asarray(orbital, dtype=int)


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
    n = vertical_lead_orbitals(s, where)
    sigma = jnp.zeros((s.Lx, s.Ly * n, 2), complex) if lead is None else lead.mode_self_energy(s, where, energy)
    # Per folded layer its mode energies per spin, and the hopping to the next layer inwards, which
    # carries the source amplitude (H[z, z +- 1] = -tz).
    # (A folded layer's onsite block is orbital-diagonal and spin-independent: ``plan.plan``.)
    chains = [(layer_mode_energies(s.layers[z], s.Lx, s.Ly)[:, :, None] - SPIN_SIGN * pl.signs[z] * s.layers[z].dxc / 2,
               -s.layers[z - 1 if where == "top" else z].tz) for z in getattr(pl, where + "_fold")]
    return DiagState(*fold_mode_chains(energy, sigma, chains))


def upper_state(s: Stack, energy, realization, pl: Plan):
    """The top lead, its folded layers and the spin-block layers eliminated: a DiagState (no spin-block
    layer) or a BlockState. In the basis of spin along the top axis each of these layers is -s Dxc/2
    plus a spin-independent part, whatever the axis, so this is angle-independent: computed once per
    energy and realization for any number of angles."""
    state = _vertical_fold(s, energy, "top", pl)
    if not pl.blocks:
        return state
    norb = vertical_lead_orbitals(s, "top")  # those of every layer down to the spin blocks (coupled by tz)
    n = s.Lx * s.Ly * norb
    mx, my, spin = q = channel_index(pl.top_channels)
    flat, cols = mx * state.amp.shape[1] + my, np.arange(mx.size)
    amp = state.amp[q]
    sigma = jax.vmap(jnp.diag)(jnp.moveaxis(state.sigma, -1, 0).reshape(2, n))
    b = jnp.zeros((2, n, cols.size), complex).at[spin, flat, cols].set(amp)
    proj = jnp.zeros((2, cols.size, n), complex).at[spin, cols, flat].set(amp)
    c = jnp.diag(state.direct[q])
    draw = draw_disorder(s, realization, pl)
    eye = jnp.eye(n)
    for z in pl.blocks:
        layer = s.layers[z]
        # The spin-independent part in sine modes (onsite, hopping, potential), then -s Dxc/2 per spin block.
        h = jnp.diag((layer_scalar_onsite(layer) + band_energies(s.Lx, s.Ly, layer.t)).reshape(-1)).astype(complex)
        profile = layer_profile(s, z, draw, pl.disordered[z])
        if profile is not None:
            h = h + potential_in_modes(profile)
        if norb > 1:  # the identity on the orbitals, plus the spin-independent onsite block on every mode
            h = _with_orbital_block(h, layer)
        h = h[None] - (SPIN_SIGN * pl.signs[z] * layer.dxc / 2)[:, None, None] * eye
        g = jnp.linalg.inv(energy * eye - h - sigma)  # both spin blocks in one (batched) call
        gb = g @ b
        c = c + jnp.einsum("scn,snk->ck", proj, gb)
        tz = s.layers[z - 1].tz
        sigma, b, proj = tz ** 2 * g, -tz * gb, -tz * (proj @ g)
    return BlockState(sigma, b, proj, c)


def _with_orbital_block(h, layer):
    """A mode matrix h (M, M) on a layer of n orbitals, (M n, M n) in the order (mode, orbital): h x 1_orbitals
    plus 1_modes x O, O the spin-up part of the layer's onsite block (spin-independent: ``plan.plan``)."""
    n = layer.orbitals
    h = h[:, None, :, None] * jnp.eye(n)[None, :, None, :]
    block = table_entries(layer.hoppings, "hoppings", (n, n)).get((0, 0))
    if block is not None:
        h = h + jnp.eye(h.shape[0])[:, None, :, None] * block[::2, ::2][None, :, None, :]
    return h.reshape(h.shape[0] * n, h.shape[0] * n)


def _axis_spinors(lead, theta, phi):
    """Spinors of a vertical lead's spin axis (``Lead.spinors``), or of the stack's magnetization where there is
    no lead (the axis its folded layers are resolved along)."""
    return spin_along(theta, phi) if lead is None else lead.spinors(theta, phi, True)


def _mode_channels(s: Stack, state: DiagState, channels, chi, cols):
    """A vertical lead's channels on the adjacent layer (ModeChannels) and their direct term (nt, nt)."""
    mx, my, spin = q = channel_index(channels)
    amp = state.amp[q]
    spinor = chi[:, spin].T
    # my is my * n + o with n orbitals: the row is the (mode, orbital) index (mx Ly + my) n + o.
    return (ModeChannels(cols, mx * state.amp.shape[1] + my, amp[:, None] * spinor, amp[:, None] * jnp.conj(spinor)),
            jnp.diag(state.direct[q]))


def _diag_sigma(state: DiagState, chi, Ly: int):
    """sum_s sigma(q, s) chi_s chi_s^dagger per mode: (Lx, Ly, 2, 2) in the sigma_z basis; (Lx, Ly, 2n, 2n),
    diagonal in the orbitals, for n orbitals."""
    blocks = jnp.einsum("xys,as,bs->xyab", state.sigma, chi, jnp.conj(chi))
    n = state.sigma.shape[1] // Ly
    if n == 1:
        return blocks
    blocks = blocks.reshape(blocks.shape[0], Ly, n, 2, 2)
    return jnp.einsum("xyoab,op->xyoapb", blocks, jnp.eye(n)).reshape(blocks.shape[0], Ly, 2 * n, 2 * n)


def _place(nl: int, i: int, j: int, term):
    """A (Lx, Ly, 2, Lx, Ly, 2)-broadcastable term on the (i, j) layer block of an 8-D slice tensor."""
    mask = np.zeros((nl, nl))
    mask[i, j] = 1.0
    return mask[:, None, None, None, :, None, None, None] * jnp.expand_dims(term, (0, 4))


def _mode_diagonal(Lx: int, Ly: int, blocks):
    """delta(mode, mode') blocks(mode)[a, b] as a broadcastable 6-D term; blocks: (Lx, Ly, 2, 2) or (1, 1, 2, 2).

    The identities are traced (``jnp.eye``: an iota compared with itself inside the program), never
    NumPy arrays: their product, of (Lx Ly)^2 numbers, would be evaluated eagerly and carried by the
    compiled program as a constant (50 MB at the paper's size, 13 GB at L = 200)."""
    blocks = jnp.asarray(blocks)
    return (jnp.eye(Lx)[:, None, None, :, None, None] * jnp.eye(Ly)[None, :, None, None, :, None]
            * blocks[:, :, :, None, None, :])


def _slice_matrix(s: Stack, first: int, last: int, theta, phi, energy, draw, pl: Plan, extra_terms,
                  mode_blocks=None):
    """E - H of layers first..last in their sine modes, plus ``extra_terms`` (8-D, e.g. -Sigma), (m, m).

    ``mode_blocks``: a self-energy on the top layer that is diagonal in its modes, (Lx, Ly, 2, 2),
    subtracted with the layer's own diagonal (one full-size term less). The layers of a slice have
    one orbital count n: a site block is (2n x 2n).
    """
    Lx, Ly, nl = s.Lx, s.Ly, last - first + 1
    n = s.layers[first].orbitals
    eye = I2 if n == 1 else np.eye(2 * n)
    total = 0.0
    for i, z in enumerate(range(first, last + 1)):
        layer = s.layers[z]
        dq = energy - layer_scalar_onsite(layer) - band_energies(Lx, Ly, layer.t)
        blocks = dq[:, :, None, None] * eye - site_block(layer, *direction(layer, theta, phi))
        if i == nl - 1 and mode_blocks is not None:  # the folded stack above, diagonal in the same modes
            blocks = blocks - mode_blocks
        term = _mode_diagonal(Lx, Ly, blocks)
        table = in_plane_table(layer, pl.spin_orbit[z])
        if table:
            term = term - table_in_modes(Lx, Ly, table)
        profile = layer_profile(s, z, draw, pl.disordered[z])
        if profile is not None:
            term = term - potential_in_modes(profile).reshape(Lx, Ly, Lx, Ly)[:, :, None, :, :, None] \
                * eye[None, None, :, None, None, :]
        total = total + _place(nl, i, i, term)
        if z < last:
            up = table_entries(layer.up, "up", (n, n))
            hop = (table_in_modes(Lx, Ly, up, hermitian=False) if up
                   else -layer.tz * _mode_diagonal(Lx, Ly, eye[None, None]))
            down = jnp.conj(jnp.transpose(hop, (3, 4, 5, 0, 1, 2)))
            total = total - _place(nl, i, i + 1, hop) - _place(nl, i + 1, i, down)
    total = functools.reduce(operator.add, extra_terms, total)
    m = nl * s.layer_order(first)
    return jnp.broadcast_to(total, (nl, Lx, Ly, 2 * n, nl, Lx, Ly, 2 * n)).reshape(m, m)


def _incoming(s: Stack, upper, chi, cols_top, pl: Plan):
    """The upper state as seen by the highest dense slice: its self-energy (mode-diagonal blocks
    (Lx, Ly, 2, 2), or a dense (N, N) matrix), the top channels and their c block."""
    if isinstance(upper, DiagState):
        return _diag_sigma(upper, chi, s.Ly), *_mode_channels(s, upper, pl.top_channels, chi, cols_top)
    N = 2 * upper.sigma.shape[-1]  # the spin-block layers' states: the dense layer below has their orbitals
    sigma = jnp.einsum("sij,as,bs->iajb", upper.sigma, chi, jnp.conj(chi)).reshape(N, N)
    src = jnp.einsum("sic,as->iac", upper.b, chi).reshape(N, -1)
    out = jnp.einsum("sci,as->cia", upper.proj, jnp.conj(chi)).reshape(-1, N)
    return sigma, DenseChannels(cols_top, src, out), upper.c


def evaluate(s: Stack, theta, phi, energy, realization, pl: Plan, upper, reflection: bool, smatrix: bool,
             local: Optional[LocalRequest] = None) -> KernelOutput:
    """A :class:`KernelOutput` at one angle, energy and realization: T (n_leads, 2, n_leads, 2),
    n_open (n_leads, 2), S (or None), the Krylov statistics (iterations, relative residual; zeros
    on the dense path) and, for a ``local`` request, the lead-resolved densities.

    ``upper``: :func:`upper_state` at this energy and realization. ``reflection``: solve the
    lowest slice for the top lead's channels too (exact spin-resolved reflection of the top
    lead, and the S-matrix when ``smatrix``); otherwise that block comes from unitarity.
    ``local``: the scattering states of every channel are kept where they are computed anyway
    (the solution x of the lowest slice for each channel's source) and carried up through the
    dense slices above by back-substitution (:func:`local_densities`); needs ``reflection`` (the
    top lead's states are solutions for its sources) and layers in dense slices (``plan``).
    Nothing of it is computed without ``local``.
    """
    Lx, Ly = s.Lx, s.Ly
    draw = draw_disorder(s, realization, pl)
    cols, lead_of, spin_of, orbital_of = channel_layout(s, pl)
    nch = lead_of.size
    n_leads = len(s.lead_names)
    chi_top = _axis_spinors(s.top, theta, phi)
    sigma_in, top_group, c_top = _incoming(s, upper, chi_top, cols.get("top", np.zeros(0, int)), pl)
    c = jnp.zeros((nch, nch), complex)
    if "top" in cols:
        c = c.at[np.ix_(cols["top"], cols["top"])].add(c_top)
    carried = [top_group] if "top" in cols else []
    gammas = {}
    if local is not None:
        check_local(s, pl, local)
        if lean_right_hand_sides(s, pl, reflection):
            raise ValueError("local read-outs need every channel as right-hand side: reflection=True")
    back = []  # per upper dense slice: (first, g src, g[:, :N] H[first, first - 1]) for the local read-outs

    for first, last in pl.slices:
        nl = last - first + 1
        N = s.layer_order(first)  # one orbital count per slice
        m = nl * N
        d = N // (Lx * Ly)
        mode_blocks = sigma_in if sigma_in.ndim == 4 else None
        terms = [] if mode_blocks is not None else [_place(nl, nl - 1, nl - 1, -sigma_in.reshape(Lx, Ly, d, Lx, Ly, d))]
        groups = [_on_top_layer(g, nl, N) for g in carried]
        for k, lead in enumerate(s.side_leads):
            if first <= lead.layers[0] <= last:
                term, vectors, gammas[k] = lead.slice_coupling(s, k, first, nl, theta, phi, energy, pl.side_magnetic[k],
                                                               pl.side_channels[k])
                terms.append(term)
                groups.append(DenseChannels(cols[k], vectors, jnp.conj(vectors).T))
        if (first, last) == pl.slices[-1]:
            break  # the lowest slice, solved below
        # An upper dense slice: eliminate it and pass its state to the layer below (first - 1).
        g = jnp.linalg.inv(_slice_matrix(s, first, last, theta, phi, energy, draw, pl, terms, mode_blocks))
        src = jnp.concatenate([grp.source(m) for grp in groups], axis=1)
        out = jnp.concatenate([grp.readout_matrix(m) for grp in groups], axis=0)
        all_cols = np.concatenate([grp.cols for grp in groups])
        gsrc = g @ src
        c = c.at[np.ix_(all_cols, all_cols)].add(out @ gsrc)
        # v = H[layer first - 1, layer first] in sine modes: an (N', N) matrix from ``up``, or the scalar -tz.
        below = s.layers[first - 1]
        up = table_entries(below.up, "up", (below.orbitals, s.layers[first].orbitals))
        if up:
            v = table_in_modes(Lx, Ly, up, hermitian=False).reshape(s.layer_order(first - 1), N)
            sigma_in = v @ g[:N, :N] @ v.conj().T
            src_next, out_next = v @ gsrc[:N], (out @ g)[:, :N] @ v.conj().T
            link = None if local is None else g[:, :N] @ v.conj().T
        else:
            v = -s.layers[first - 1].tz
            sigma_in = v * jnp.conj(v) * g[:N, :N]
            src_next, out_next = v * gsrc[:N], (out @ g)[:, :N] * jnp.conj(v)
            link = None if local is None else g[:, :N] * jnp.conj(v)
        if local is not None:
            back.append((first, jnp.zeros((m, nch), complex).at[:, all_cols].set(gsrc), link))
        carried = [DenseChannels(all_cols, src_next, out_next)]

    if s.bottom is not None or pl.bottom_fold:
        bottom = _vertical_fold(s, energy, "bottom", pl)
        chi_bottom = _axis_spinors(s.bottom, theta, phi)
        terms.append(_place(nl, 0, 0, -_mode_diagonal(Lx, Ly, _diag_sigma(bottom, chi_bottom, Ly))))
        if "bottom" in cols:
            group, c_bottom = _mode_channels(s, bottom, pl.bottom_channels, chi_bottom, cols["bottom"])
            groups.append(group)
            c = c.at[np.ix_(cols["bottom"], cols["bottom"])].add(c_bottom)
    lean = lean_right_hand_sides(s, pl, reflection)
    if pl.solver == "krylov":  # matrix-free: the slice matrix is never formed
        solver = krylov.layer_solver(_layer_operator(s, first, theta, phi, energy, draw, pl, mode_blocks), chi_top,
                                     pl.krylov)
    elif pl.precision == "mixed":
        # Cast inside the assembly, which XLA fuses into one pass: the complex128 matrix is never
        # written. The factors only precondition (the refinement is differentiated implicitly).
        single = _slice_matrix(s, first, last, theta, phi, energy, draw, pl, terms, mode_blocks).astype(jnp.complex64)
        solver = krylov.refined_solver(_layer_operator(s, first, theta, phi, energy, draw, pl, mode_blocks),
                                       lu_factor(jax.lax.stop_gradient(single)), pl.krylov)
    else:
        solver = _dense_solver(_slice_matrix(s, first, last, theta, phi, energy, draw, pl, terms, mode_blocks))
    amplitudes, stats, x, x_cols = _solve_lowest(solver, groups, c, m, lean)

    for where, lead in s.vertical_leads:
        gammas[where] = lead.broadening(s, where, energy, pl.channels_at(where))
    gamma = jnp.zeros(nch)
    for key, value in gammas.items():
        gamma = gamma.at[cols[key]].set(value)
    is_open = gamma > 0
    # sqrt has an infinite derivative at 0: keep closed channels (Gamma = 0) off its argument.
    root = jnp.where(is_open, jnp.sqrt(jnp.where(is_open, gamma, 1.0)), 0.0)
    s_matrix = -jnp.eye(nch) + 1j * root[:, None] * amplitudes * root[None, :]
    s_matrix = jnp.where(is_open[:, None] & is_open[None, :], s_matrix, 0.0)
    onehot = np.eye(2 * n_leads)[2 * lead_of + spin_of]
    # |S|^2 as re^2 + im^2: the derivative of abs is undefined at the zero entries of closed channels.
    T = jnp.einsum("ia,ij,jb->ab", onehot, jnp.real(s_matrix) ** 2 + jnp.imag(s_matrix) ** 2, onehot)
    T = T.reshape(n_leads, 2, n_leads, 2)
    n_open = (is_open.astype(float) @ onehot).reshape(n_leads, 2)
    T_orbital = n_open_orbital = None
    n_orbitals = max(lead.orbitals(s, where) for where, lead in s.leads)
    if n_orbitals > 1:  # a lead with orbitals: T and n_open resolved by them too
        T_orbital, n_open_orbital = _orbital_resolved(s_matrix, is_open, lead_of, orbital_of, spin_of, n_leads,
                                                      n_orbitals)
        if lean:  # not computed (its sums over orbitals are in T): zero, and Transmissions.resolved refuses it
            top = len(s.side_leads)
            T_orbital = T_orbital.at[top, :, :, top].set(0.0)
    if lean:
        T = _reflection_from_unitarity(T, n_open, len(s.side_leads))
    densities = None
    if local is not None:
        # x_j = G w_j on the lowest slice (w_j: channel j's coupling vector), so psi_j = sqrt(Gamma_j) x_j.
        states = {first: jnp.zeros((m, nch), complex).at[:, x_cols].set(x)}
        below = states[first]
        for top_first, direct, link in reversed(back):  # back-substitution up through the dense slices
            if top_first > max(local.layers):
                break  # nothing asked further up
            below = states[top_first] = direct + link @ below[-N:]
        densities = local_densities(s, local, states, root, lead_of, n_leads)
    return KernelOutput(T, n_open, s_matrix if smatrix else None, stats, densities, T_orbital, n_open_orbital)


def _orbital_resolved(s_matrix, is_open, lead_of, orbital_of, spin_of, n_leads: int, n: int):
    """T (n_leads, n, 2, n_leads, n, 2) and n_open (n_leads, n, 2) resolved by lead, orbital and spin (n: the
    most orbitals of any lead; a lead with fewer has zeros beyond them): the sums of ``|S|^2`` over the
    channels of each (lead, orbital, spin) block, as T sums them over each (lead, spin)."""
    onehot = np.eye(2 * n * n_leads)[(lead_of * n + orbital_of) * 2 + spin_of]
    T = jnp.einsum("ia,ij,jb->ab", onehot, jnp.real(s_matrix) ** 2 + jnp.imag(s_matrix) ** 2, onehot)
    return T.reshape(n_leads, n, 2, n_leads, n, 2), (is_open.astype(float) @ onehot).reshape(n_leads, n, 2)


def check_local(s: Stack, pl: Plan, local: LocalRequest) -> None:
    """ValueError unless every layer of ``local`` lies in a dense slice of the plan (plain Python).

    Folded layers (mode-diagonal chains) and layers in spin blocks are eliminated without
    keeping their states; ``fold=False`` solves every layer densely, and then their states are
    obtained by back-substitution."""
    for z in local.layers:
        if not (isinstance(z, (int, np.integer)) and 0 <= z < s.Lz):
            raise ValueError(f"layer = {z!r} must be a layer index 0 <= z < {s.Lz}")
        if not any(a <= z <= b for a, b in pl.slices):
            how = "folded into a vertical lead" if z in pl.top_fold + pl.bottom_fold else "eliminated in spin blocks"
            raise ValueError(f"layer = {z}: densities are available in the dense slices only, and this layer is "
                             f"{how} (path: {pl.summary}); pass fold=False to solve every layer densely")
    d = site_states(s, local.layers)
    for k, op in enumerate(local.operators):
        if np.shape(op) != (d, d):
            raise ValueError(f"operator {k} has shape {np.shape(op)}: an onsite operator is a ({d}, {d}) block")


def local_densities(s: Stack, local: LocalRequest, states: dict, root, lead_of, n_leads: int):
    """The lead-resolved densities (layers, n_leads, operators, Lx, Ly) of the scattering states.

    ``states``: per dense slice (keyed by its first layer), the solutions x (m, n_channels) for a
    unit source in every channel, in the slice's sine modes; psi_j = sqrt(Gamma_j) x_j is the
    scattering state of channel j normalised to unit flux (``root``: sqrt(Gamma), 0 for a closed
    channel), so that sum over the channels of lead a of psi_j psi_j^dagger = G Gamma_a G^dagger
    [the injectivity of lead a; M. Buttiker, H. Thomas, A. Pretre, Z. Phys. B 94, 133 (1994)].
    Returned: sum over the channels j of lead a of psi_j(r)^dagger O psi_j(r) at every site r,
    Kwant's ``operator.Density`` of ``kwant.wave_function(syst, E)(a)`` summed over its modes
    (docs/densities.md: the density per unit bias is this divided by 2 pi).
    """
    d = site_states(s, local.layers)
    operators = jnp.asarray(np.asarray(local.operators, dtype=complex))
    onehot = jnp.asarray(np.eye(n_leads)[lead_of])
    phix, phiy = sine_modes(s.Lx)[0], sine_modes(s.Ly)[0]
    out = []
    for z in local.layers:
        first = max(f for f in states if f <= z)
        start = sum(s.layer_order(k) for k in range(first, z))  # a slice holds its layers' states in turn
        psi = states[first][start:start + s.layer_order(z)] * root[None, :]
        psi = jnp.einsum("xm,yn,mnsj->xysj", phix, phiy, psi.reshape(s.Lx, s.Ly, d, -1))  # to real space
        out.append(jnp.real(jnp.einsum("xysj,ost,xytj,ja->aoxy", jnp.conj(psi), operators, psi, onehot)))
    return jnp.stack(out)


def lean_right_hand_sides(s: Stack, pl: Plan, reflection: bool) -> bool:
    """Whether the top lead's channels are left out of the lowest slice's right-hand sides (its
    spin-resolved self-reflection then comes from unitarity): without ``reflection``, when there is
    a top lead and its channels are a group of their own (no dense slice above mixed them with side
    channels)."""
    return not reflection and s.top is not None and len(pl.slices) == 1


def _solve_lowest(solve, groups, c, m: int, lean: bool):
    """Amplitudes c + <out|G|src> over the channel groups, the solver's (iterations, residual), and the
    solutions x (m, k) with the channels of their columns (the scattering states on the slice).

    ``solve(b, transpose)`` gives (x, stats) with A x = b (A^T x = b) for the lowest slice's
    matrix A: one LU (:func:`_dense_solver`), GMRES (``krylov.layer_solver``) or a complex64 LU
    refined by GMRES (``krylov.refined_solver``). ``lean``: leave
    the first group (the top lead's) out of the right-hand sides; its columns are then obtained
    from a transposed solve for the other groups' read-outs, and its own block stays at c.
    """
    small = groups[1:] if lean else groups
    small_cols = np.concatenate([grp.cols for grp in small])
    all_cols = np.concatenate([grp.cols for grp in groups])
    x, stats = solve(jnp.concatenate([grp.source(m) for grp in small], axis=1), False)
    c = c.at[np.ix_(all_cols, small_cols)].add(jnp.concatenate([grp.readout(x) for grp in groups], axis=0))
    if not lean:
        return c, stats, x, small_cols
    rhs = jnp.concatenate([grp.readout_matrix(m) for grp in small], axis=0).T
    # The second solve waits for the first: two batched LAPACK calls must not run at once on CPU
    # (core.batching).
    x, rhs = jax.lax.optimization_barrier((x, rhs))
    y, stats_y = solve(rhs, True)
    return (c.at[np.ix_(small_cols, groups[0].cols)].add(groups[0].source_t(y)), jnp.maximum(stats, stats_y), x,
            small_cols)


def _dense_solver(a):
    """``solve(b, transpose)`` for :func:`_solve_lowest` by one in-place LU of ``a``."""
    factors = lu_factor(a)
    return lambda b, transpose: (lu_solve(factors, b, transpose=transpose), jnp.zeros(2))


def _layer_operator(s: Stack, z: int, theta, phi, energy, draw, pl: Plan, mode_blocks):
    """The lowest layer as a ``krylov.LayerOperator`` (the same terms as :func:`_slice_matrix`).

    A site-resolved onsite energy (a profile, e.g. disorder read from a file) is split into its
    mean, on the mode-diagonal part (which the Krylov preconditioner inverts exactly), and the
    rest, applied in real space; a uniform onsite energy is its own mean. Likewise, on a layer of
    n > 1 orbitals, the onsite block: its orbital energies (the spin-up diagonal) on the mode-diagonal
    part, the rest (e.g. L.S) applied in real space as the table's (0, 0) entry."""
    Lx, Ly = s.Lx, s.Ly
    layer = s.layers[z]
    if layer.orbitals > 1:
        return _orbital_layer_operator(s, z, theta, phi, energy, draw, pl, mode_blocks)
    uniform = jnp.mean(jnp.asarray(layer.onsite, dtype=float))
    profile = layer_profile(s, z, draw, pl.disordered[z])
    if profile is not None and np.ndim(layer.onsite) == 2:
        profile = profile - uniform
    dq = energy - uniform - band_energies(Lx, Ly, layer.t)
    diag = dq[:, :, None, None] * I2 - site_block(layer, *direction(layer, theta, phi)) - mode_blocks
    sides = _layer_sides(s, z, theta, phi, energy, pl)
    return LayerOperator(diag, in_plane_table(layer, pl.spin_orbit[z]), profile, sides, sine_modes(Lx)[0],
                         sine_modes(Ly)[0])


def _layer_sides(s: Stack, z: int, theta, phi, energy, pl: Plan) -> tuple:
    """Per side lead on layer z, (x, y, Sigma) on its sites (``Lead.layer_coupling``)."""
    return tuple(lead.layer_coupling(s, k, theta, phi, energy, pl.side_magnetic[k], pl.side_channels[k])
                 for k, lead in enumerate(s.side_leads) if lead.layers[0] == z)


def _orbital_layer_operator(s: Stack, z: int, theta, phi, energy, draw, pl: Plan, mode_blocks):
    """:func:`_layer_operator` of a layer of n > 1 orbitals: site states (orbital, spin), blocks (2n x 2n)."""
    Lx, Ly = s.Lx, s.Ly
    layer = s.layers[z]
    n = layer.orbitals
    uniform = jnp.mean(jnp.asarray(layer.onsite, dtype=float))
    profile = layer_profile(s, z, draw, pl.disordered[z])
    if profile is not None and np.ndim(layer.onsite) == 2:
        profile = profile - uniform
    energies = layer_orbital_energies(layer)
    energies = jnp.zeros(n) if energies is None else energies
    # site_block holds the exchange and the whole onsite block; its orbital energies stay on the diagonal.
    exchange = site_block(layer.replace(hoppings={}), *direction(layer, theta, phi))
    dq = energy - uniform - band_energies(Lx, Ly, layer.t)
    diag = (dq[:, :, None, None] * np.eye(2 * n) - exchange - jnp.kron(jnp.diag(energies), jnp.eye(2))
            - mode_blocks)
    table = in_plane_table(layer, pl.spin_orbit[z])
    block = table_entries(layer.hoppings, "hoppings", (n, n)).get((0, 0))
    if block is not None:
        table = {**table, (0, 0): block - jnp.kron(jnp.diag(energies), jnp.eye(2))}
    return LayerOperator(diag, table, profile, _layer_sides(s, z, theta, phi, energy, pl), sine_modes(Lx)[0],
                         sine_modes(Ly)[0])


def _reflection_from_unitarity(T, n_open, top: int):
    """Fill the top lead's 2x2 spin block of self-reflection from current conservation.

    Its row sums (into each spin of the top lead, from everything) and column sums (out of
    each spin) are fixed by unitarity of S; of the one-parameter family with these sums, the
    one with the least spin flip is stored. Every conversion conductance depends only on
    these sums (``observables.response``). The sums are added one term after the other, in a
    fixed order (a reduction's order may change with the number of devices of a process).
    """
    others = [(a, s) for a in range(T.shape[0]) if a != top for s in range(2)]
    ordered_sum = functools.partial(functools.reduce, operator.add)
    col = [n_open[top, sp] - ordered_sum([T[a, s, top, sp] for a, s in others]) for sp in range(2)]
    row = [n_open[top, s] - ordered_sum([T[top, s, a, sp] for a, sp in others]) for s in range(2)]
    flip = jnp.maximum(0.0, row[0] - col[0])
    block = jnp.stack([jnp.stack([row[0] - flip, flip]), jnp.stack([col[0] - row[0] + flip, col[1] - flip])])
    return T.at[top, :, top, :].set(block)
