"""Scattering matrix and spin-resolved transmissions of the layered junction.

The scattering region is a stack of layers (each 2 Lx Ly orbitals) coupled by -t along z, with
the side leads on layer 0 and lead M on top. The solver is a block elimination along z from
the top (block Gauss / Thomas algorithm) that carries the source vectors of M's channels
along, so that only one dense linear system, on layer 0, is left:

* M and every clean, laterally uniform layer above the highest disordered one are folded
  mode by mode (``leads.fold_clean_layers``): no dense algebra at all;
* the remaining upper layers (disordered ones) are eliminated by the block recursive Green's
  function g_z = (E - H_z - t^2 g_{z+1})^-1. Above the 2DEG nothing couples the two spin
  states along n (no spin-orbit coupling, exchange along n), so this is done per spin block:
  two dense inversions of order Lx Ly per layer;
* layer 0 is solved once, by one LU, for all incoming channels at once.

With the elimination written as x_z = g_z (b_z + t x_{z-1}) for a source b in M, the top-layer
amplitude needed for the S-matrix is U^dagger x_top = c + P x_0, with P and c accumulated on
the way down (see :func:`_eliminate_dense_layer`). The S-matrix follows from the Fisher-Lee
relation S = -1 + i Gamma^1/2 G Gamma^1/2 in the basis of open channels (all leads are
uniform, so their Gamma is diagonal in their transverse-mode basis), and the transmission
probabilities are |S|^2 summed over the channels of each lead and spin.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from .leads import (BAND_EDGE_TOLERANCE, Channels, chain_broadening, chain_self_energy, fold_clean_layers,
                    magnetic_lead_onsite, mode_to_spin_blocks, open_channels, side_lead_sites, side_mode_onsite)
from .model import (SIDE_LEADS, JunctionParams, _concrete, cubic_rashba_hoppings, disorder_potential, exchange_profile,
                    layer_hamiltonian, layer_onsite, magnetization, nearest_neighbour_hoppings,
                    orbital_layer_hamiltonian, sine_modes,
                    spin_along, validate)
from .precision import x64

PATHS = ("auto", "folded", "recursive")
# Peak memory of one evaluation in units of one dense layer matrix (16 (2 Lx Ly)^2 bytes),
# measured at the paper size (docs/performance.md), with a margin.
LAYER_MATRICES_PER_EVALUATION = {"folded": 8, "recursive": 10}
DEFAULT_MEMORY_BUDGET_GIB = 4.0


@dataclasses.dataclass(frozen=True)
class Transmissions:
    """Spin-resolved transmission probabilities between the five leads L, R, F, B, M.

    ``T[..., a, sa, b, sb]`` is the probability summed over channels from lead b with spin sb
    into lead a with spin sa (a = b: reflection). Spin index 0/1 is +/- along n for lead M and
    up/down along z for the normal leads. ``n_open[..., a, s]`` counts open channels (zero for
    an absent side lead); ``S`` is the scattering matrix over the candidate channels (order:
    ``Channels.lead_and_spin``, rows and columns of channels closed at that energy are zero),
    or None when not asked for. Leading axes, if any, are batch axes.
    """

    T: jnp.ndarray
    S: object
    n_open: jnp.ndarray
    path: str = "folded"

    @x64
    def from_M(self) -> jnp.ndarray:
        """T(alpha, s <- M), shape (..., 4, 2): side lead alpha (L, R, F, B), M spin s (+, -)."""
        return self.T[..., :4, :, 4, :].sum(axis=-2)

    @x64
    def to_M(self) -> jnp.ndarray:
        """T(M, s <- alpha), shape (..., 4, 2): side lead alpha (L, R, F, B), M spin s (+, -)."""
        return self.T[..., 4, :, :4, :].sum(axis=-1).swapaxes(-1, -2)

    @x64
    def conservation_residual(self) -> jnp.ndarray:
        """max over incoming (lead, spin) of |sum of outgoing probabilities - open channels|."""
        total = self.T.sum(axis=(-4, -3))
        return jnp.abs(total - self.n_open).max(axis=(-2, -1))

    def __getitem__(self, index) -> "Transmissions":
        """Select along the batch axes."""
        return Transmissions(self.T[index], None if self.S is None else self.S[index], self.n_open[index], self.path)


jax.tree_util.register_dataclass(Transmissions, data_fields=["T", "S", "n_open"], meta_fields=["path"])


def dense_layers(p: JunctionParams, path: str = "auto") -> int:
    """Number k of upper layers (1..k) to eliminate densely; the layers above k are folded.

    "auto" picks the smallest exact choice: k is the highest disordered layer (0 when the
    layers above the 2DEG are clean). "folded" requires clean upper layers; "recursive" treats
    every upper layer densely (k = Lz - 1), which must give the same numbers.
    """
    if path not in PATHS:
        raise ValueError(f"path = {path!r} must be one of {PATHS}")
    top = p.Lz - 1
    if p.disorder is not None:
        dis = _concrete(p.disorder)
        if dis is None:
            auto = top
        else:
            layers = np.flatnonzero(np.any(dis != 0, axis=(-2, -1)).reshape(-1, p.Lz).any(axis=0))
            auto = int(layers.max()) if layers.size else 0
    else:
        k0 = _concrete(p.K0)
        clean = k0 is not None and not np.any(k0)
        auto = 0 if (clean or p.disorder_layers == "2deg") else top
    if path == "folded":
        if auto > 0:
            raise ValueError(f"path='folded' needs clean layers above the 2DEG, but layer {auto} is disordered; "
                             "use path='auto' or 'recursive'")
        return 0
    if path == "recursive":
        return top
    return auto


def path_name(Lz: int, k: int) -> str:
    if k == 0:
        return "folded"
    if k == Lz - 1:
        return "recursive"
    return f"hybrid: layers 1..{k} recursive, {k + 1}..{Lz - 1} folded"


def _side_channel_vectors(p: JunctionParams, channels: Channels) -> np.ndarray:
    """Unit source vectors on layer 0 of the open side-lead channels, shape (N, n_side)."""
    phi_w = sine_modes(p.W)[0]
    sites = side_lead_sites(p.Lx, p.Ly, p.W)
    modes = np.asarray(channels.side_modes, dtype=int)
    vec = np.zeros((p.N, len(channels.side_leads) * 2 * modes.size))
    col = 0
    for lead in (SIDE_LEADS[i] for i in channels.side_leads):
        for m in modes:
            for spin in (0, 1):
                vec[2 * sites[lead] + spin, col] = phi_w[:, m]
                col += 1
    return vec


def _add_side_self_energies(a0, p: JunctionParams, energy):
    """a0 - Sigma_L - Sigma_R - Sigma_F - Sigma_B (all transverse modes, open and evanescent)."""
    phi_w = sine_modes(p.W)[0]
    sigma_w = (phi_w * chain_self_energy(energy, side_mode_onsite(p.t, p.W), p.t)) @ phi_w.T
    block = jnp.kron(sigma_w, jnp.eye(2))
    for name, sites in side_lead_sites(p.Lx, p.Ly, p.W).items():
        if name not in p.side_leads:
            continue
        orb = (2 * sites[:, None] + np.arange(2)).reshape(-1)
        a0 = a0.at[orb[:, None], orb[None, :]].add(-block)
    return a0


def _eliminate_dense_layer(state, h_z, energy, t):
    """One block-elimination step along z through a dense layer with Hamiltonian ``h_z``.

    state = (sigma, b, P, c): self-energy on this layer from above, the sources of M's channels
    moved down to this layer, the projector giving M's channel amplitudes from this layer's
    solution, and the direct term. g = (E - H_z - sigma)^-1 is the recursive Green's function.
    """
    sigma, b, proj, direct = state
    g = jnp.linalg.inv(energy * jnp.eye(h_z.shape[-1]) - h_z - sigma)
    return t ** 2 * g, t * (g @ b), t * (proj @ g), direct + proj @ (g @ b)


def _upper_state(p: JunctionParams, energy, channels: Channels, n_dense: int):
    """M and every layer above the 2DEG eliminated, in spin blocks along n (traceable).

    Independent of the direction of n (in the basis of spin along n the exchange is -s Dxc/2
    whatever the angle), so a scan over angles computes it once per energy and realization.
    Returns (sigma_s, b_s, proj_s, direct): the self-energy on layer 0 per spin block, the
    sources of M's channels moved down to layer 0, the projector onto M's channel amplitudes
    and the direct term (see :func:`_eliminate_dense_layer`).
    """
    Lx, Ly, Lz = p.Lx, p.Ly, p.Lz
    onsite, dxc_z = layer_onsite(p), exchange_profile(p)
    potential = disorder_potential(p)
    phix, phiy = sine_modes(Lx)[0], sine_modes(Ly)[0]

    # Fold M and the clean layers above the dense ones, mode by mode.
    sigma_q, amp_q, direct_q = fold_clean_layers(p, energy, range(Lz - 1, n_dense, -1))
    top = np.asarray(channels.top_modes, dtype=int).reshape(-1, 3)
    sel = (top[:, 0], top[:, 1], top[:, 2])

    # Above the 2DEG every layer (hopping, potential, exchange along n) and lead M are block
    # diagonal in the basis of spin along n, so the state is carried as two spin blocks of
    # order Lx Ly: each dense layer costs two inversions of order N/2 instead of one of order
    # N (a quarter of the work). A channel of M has one spin, so its source lives in one block.
    orbital = (phix[:, top[:, 0]][:, None, :] * phiy[:, top[:, 1]][None, :, :]).reshape(Lx * Ly, -1)
    in_block = (np.arange(2)[:, None] == top[None, :, 2]).astype(float)  # (spin block, channel)
    weights = in_block * amp_q[sel][None, :]
    state = (mode_to_spin_blocks(phix, phiy, sigma_q), orbital[None, :, :] * weights[:, None, :],
             weights[:, :, None] * orbital.T[None, :, :], jnp.diag(direct_q[sel]))

    # Dense block-recursive elimination through the disordered upper layers, spin block by block.
    # Both spin blocks go through one batched inversion: two independent batched LAPACK calls
    # can run concurrently on XLA:CPU's small thread pool and deadlock it (jaxlib 0.10.2).
    s_sign = jnp.array([1.0, -1.0])[:, None, None]
    eye = jnp.eye(Lx * Ly)
    for z in range(n_dense, 0, -1):
        h_s = orbital_layer_hamiltonian(Lx, Ly, onsite[z], potential[z], p.t)[None] - s_sign * dxc_z[z] / 2 * eye
        sigma_s, b_s, proj_s, direct = state
        sigma_s, b_s, proj_s, through = _eliminate_dense_layer((sigma_s, b_s, proj_s, 0.0), h_s, energy, p.t)
        state = (sigma_s, b_s, proj_s, direct + through.sum(0))
    return state


def _scattering_matrix(p: JunctionParams, energy, channels: Channels, n_dense: int, upper=None):
    """S-matrix over the candidate channels at ``energy``, and their open mask (traceable).

    ``upper``: the result of :func:`_upper_state` if already computed. Rows and columns of
    candidates closed at this energy (Gamma = 0) are zeroed.
    """
    Lx, Ly, N = p.Lx, p.Ly, p.N
    onsite, dxc_z = layer_onsite(p), exchange_profile(p)
    potential = disorder_potential(p)
    nvec, chi = magnetization(p.theta, p.phi), spin_along(p.theta, p.phi)
    top = np.asarray(channels.top_modes, dtype=int).reshape(-1, 3)
    sel = (top[:, 0], top[:, 1], top[:, 2])
    sigma_s, b_s, proj_s, direct = _upper_state(p, energy, channels, n_dense) if upper is None else upper
    # Back to the sigma_z basis of layer 0: orbital-major, spin-minor (index 2 site + spin).
    sigma_above = jnp.einsum("sij,as,bs->iajb", sigma_s, chi, chi.conj()).reshape(N, N)
    b_top = jnp.einsum("sic,as->iac", b_s, chi).reshape(N, -1)
    proj_top = jnp.einsum("sci,as->cia", proj_s, chi.conj()).reshape(-1, N)

    # Layer 0: one LU for every incoming channel.
    hop0 = nearest_neighbour_hoppings(p.t)
    for d, block in cubic_rashba_hoppings(p.alpha3).items():
        hop0[d] = hop0.get(d, 0) + block
    h0 = layer_hamiltonian(Lx, Ly, onsite[0], -dxc_z[0] / 2 * nvec, potential[0], hop0)
    a0 = _add_side_self_energies(energy * jnp.eye(N) - h0 - sigma_above, p, energy)
    u_side = _side_channel_vectors(p, channels)
    x0 = jnp.linalg.solve(a0, jnp.concatenate([u_side + 0j, b_top], axis=1))

    n_side = u_side.shape[1]
    out_side = u_side.T @ x0
    out_top = proj_top @ x0 + jnp.concatenate([jnp.zeros((top.shape[0], n_side)), direct], axis=1)
    amplitudes = jnp.concatenate([out_side, out_top], axis=0)

    side_onsite = side_mode_onsite(p.t, p.W)[np.asarray(channels.side_modes, dtype=int)]
    gamma_side = jnp.tile(jnp.repeat(chain_broadening(energy, side_onsite, p.t), 2), len(channels.side_leads))
    gamma = jnp.concatenate([gamma_side, chain_broadening(energy, magnetic_lead_onsite(p)[sel], p.t)])
    is_open = gamma > 0
    # sqrt has an infinite derivative at 0: keep closed channels (Gamma = 0) off its argument.
    root = jnp.where(is_open, jnp.sqrt(jnp.where(is_open, gamma, 1.0)), 0.0)
    s_matrix = -jnp.eye(root.shape[0]) + 1j * root[:, None] * amplitudes * root[None, :]
    return jnp.where(is_open[:, None] & is_open[None, :], s_matrix, 0.0), is_open


def _channel_onehot(channels: Channels) -> np.ndarray:
    lead, spin = channels.lead_and_spin()
    onehot = np.zeros((lead.size, 10))
    onehot[np.arange(lead.size), 2 * lead + spin] = 1.0
    return onehot


def _evaluate(p: JunctionParams, theta, phi, energy, channels: Channels, n_dense: int, smatrix: bool, upper=None):
    """T (5, 2, 5, 2), n_open (5, 2) and optionally S at one angle and energy."""
    s, is_open = _scattering_matrix(p.replace(theta=theta, phi=phi), energy, channels, n_dense, upper)
    onehot = _channel_onehot(channels)
    # |S|^2 as re^2 + im^2: the derivative of abs is undefined at the zero entries of closed channels.
    t = jnp.einsum("ia,ij,jb->ab", onehot, jnp.real(s) ** 2 + jnp.imag(s) ** 2, onehot).reshape(5, 2, 5, 2)
    n_open = (is_open.astype(float) @ onehot).reshape(5, 2)
    return t, n_open, (s if smatrix else None)


@functools.partial(jax.jit, static_argnames=("channels", "n_dense", "smatrix"))
def _evaluate_batch(p, theta, phi, energy, channels: Channels, n_dense: int, smatrix: bool, upper=None):
    """vmap over the leading axis of theta and phi, and of energy unless it is a scalar.

    A scalar energy stays unbatched, so everything that depends on the energy but not on the
    angles (lead self-energies, the upper layers) is computed once per chunk, or not at all
    when ``upper`` (:func:`_upper_state`, computed once per energy of the scan) is given.
    """
    in_axes = (0, 0, None if jnp.ndim(energy) == 0 else 0)
    return jax.vmap(lambda th, ph, e: _evaluate(p, th, ph, e, channels, n_dense, smatrix, upper), in_axes=in_axes)(
        theta, phi, energy)


_upper_state_jit = jax.jit(_upper_state, static_argnames=("channels", "n_dense"))


def chunk_size_for(p: JunctionParams, n_dense: int, memory_budget_gib=None, copies: int = 1) -> int:
    """Evaluations per vmapped chunk so that a chunk stays within the memory budget (GiB).

    ``copies``: how many times one evaluation's large arrays are held (1 + the number of
    tangents for forward-mode derivatives).
    """
    per_eval = copies * LAYER_MATRICES_PER_EVALUATION["folded" if n_dense == 0 else "recursive"] * 16 * p.N ** 2 / 2 ** 30
    return evaluations_per_chunk(per_eval, memory_budget_gib, f"at Lx = {p.Lx}, Ly = {p.Ly}")


def evaluations_per_chunk(per_eval_gib: float, memory_budget_gib=None, where: str = "") -> int:
    """How many evaluations of ``per_eval_gib`` each fit the budget (default 4 GiB); at least one must."""
    budget = DEFAULT_MEMORY_BUDGET_GIB if memory_budget_gib is None else float(memory_budget_gib)
    if not budget >= per_eval_gib:
        raise ValueError(f"memory_budget_gib = {budget} is too small for one evaluation {where} "
                         f"(needs about {per_eval_gib:.2f} GiB)")
    return max(1, int(budget // per_eval_gib))


def run_in_chunks(theta, phi, energy, chunk_limit, upper_at, evaluate, progress: bool = False):
    """Evaluate (T, n_open, S) over broadcast arrays of angles and energies, in vmapped chunks.

    The layers eliminated before the angle-dependent part depend on the energy but not on the
    angles: when several angles share an energy, ``upper_at(energy)`` is computed once per energy
    and ``evaluate(theta, phi, energy, upper)`` does only the rest for a chunk of angles.
    Otherwise (every element at its own energy) the energy is vmapped with ``upper`` None.
    ``chunk_limit(shared)``: the largest chunk the memory budget allows. Returns (T, n_open, S)
    as NumPy arrays with the broadcast shape as leading axes (S None if not computed).
    """
    theta, phi, energy = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (theta, phi, energy)))
    shape, flat = theta.shape, [jnp.asarray(v.reshape(-1)) for v in (theta, phi, energy)]
    total = flat[0].shape[0]
    energies, inverse = np.unique(flat[2], return_inverse=True)
    shared = energies.size < total
    groups = [np.flatnonzero(inverse == k) for k in range(energies.size)] if shared else [np.arange(total)]
    chunk = min(max(g.size for g in groups), chunk_limit(shared))
    work = [(k, group[start:start + chunk]) for k, group in enumerate(groups) for start in range(0, group.size, chunk)]
    if progress:
        from tqdm.auto import tqdm

        work = tqdm(work, unit="chunk", desc=f"{total} evaluations")
    pieces, order, upper, upper_of = [], [], None, None
    for k, sel in work:
        idx = np.concatenate([sel, np.full(chunk - sel.size, sel[-1])])  # the last chunk is padded, then trimmed
        if shared and upper_of != k:
            upper, upper_of = upper_at(energies[k]), k
        out = evaluate(flat[0][idx], flat[1][idx], energies[k] if shared else flat[2][idx], upper)
        pieces.append(jax.tree_util.tree_map(lambda a: a[: sel.size], out))
        order.append(sel)
    order = np.argsort(np.concatenate(order))
    arrays = (None if pieces[0][i] is None else np.concatenate([np.asarray(piece[i]) for piece in pieces])[order]
              for i in range(3))
    return tuple(None if a is None else a.reshape(shape + a.shape[1:]) for a in arrays)


@x64
def transmissions(p: JunctionParams, *, energy=None, path: str = "auto", allow_closed: bool = False,
                  smatrix: bool = True, memory_budget_gib=None, progress: bool = False,
                  edge_tolerance: float = BAND_EDGE_TOLERANCE) -> Transmissions:
    """All spin-resolved transmissions of the junction, at the Fermi energy ``p.mu`` by default.

    ``p.theta``, ``p.phi`` and ``energy`` may be arrays (broadcast together): the evaluation is
    then vmapped over them, in chunks that fit ``memory_budget_gib`` (default 4 GiB), and the
    result has their broadcast shape as leading axes. Nothing that is independent of the
    batched values is recomputed per element (vmap leaves unbatched operations unbatched).
    ``path`` chooses the treatment of the upper layers ("auto", "folded", "recursive"; see
    :func:`dense_layers`). A lead without an open channel at one of the energies is an error
    unless ``allow_closed`` (its transmissions are then zero); so is an energy within
    ``edge_tolerance`` x 2t of a subband edge (quadratures that cluster nodes at the edges on
    purpose pass 0). ``smatrix=False`` drops the S-matrices (large for long scans);
    ``progress`` shows a progress bar over chunks. The arrays of the result are NumPy
    float64/complex128; derivatives go through the traceable core :func:`_evaluate`
    (``sensitivity``).
    """
    validate(p)
    energy = p.mu if energy is None else energy
    if not np.all(np.isfinite(np.asarray(energy, dtype=float))):
        raise ValueError("energy must be finite")
    channels = open_channels(p, np.unique(energy), allow_closed=allow_closed, edge_tolerance=edge_tolerance)
    n_dense = dense_layers(p, path)
    base = p.replace(theta=0.0, phi=0.0)
    t, n_open, s = run_in_chunks(
        p.theta, p.phi, energy,
        chunk_limit=lambda shared: chunk_size_for(p, 0 if shared else n_dense, memory_budget_gib),
        upper_at=lambda e: _upper_state_jit(base, e, channels, n_dense),
        evaluate=lambda th, ph, e, upper: _evaluate_batch(base, th, ph, e, channels, n_dense, smatrix, upper),
        progress=progress)
    return Transmissions(T=t, S=s, n_open=n_open, path=path_name(p.Lz, n_dense))
