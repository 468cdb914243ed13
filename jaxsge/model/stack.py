"""The layered junction: layers with their own terms, side leads anywhere, top and bottom leads.

A :class:`Stack` is a pile of ``Lz`` square layers of ``Lx x Ly`` sites (hard walls in x and y, lattice
constant 1); a site of layer z carries ``Layer.orbitals`` orbitals times spin, index ``orbital * 2 + s``
(spin inner, in the sigma_z basis: a 2x2 spin block per pair of orbitals). Every :class:`Layer` carries its
own Hamiltonian, term by term, discretised as ``kwant.continuum.discretize`` does (p -> sin k,
p^2 -> 2 - 2 cos k, p^3 -> sin^3 k; the terms are tabulated in ``docs/layered.md``). Leads [the
Landauer-Buttiker set-up of G. Fleury, M. Barth, C. Gorini, PRB 108, L081402 (2023), Eq. (1), with
any number of electrodes]: any number of :class:`SideLead`, an optional top and bottom
:class:`VerticalLead`, or leads of any other kind: every lead is a :class:`Lead`, the one protocol
through which the planner and the solver ask it for its channels, self-energy and coupling.
Angles None on a layer or a lead follow the stack's magnetization ``(Stack.theta, Stack.phi)``,
the angles that scans vary. Every physical number is a pytree leaf
(traced, batched, differentiated, changed without recompiling); geometry (sizes, lead placement,
names, the seed) is static.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from ..core.chains import chain_broadening, chain_self_energy, open_mask
from ..core.lattice import (add_tables, band_energies, cubic_rashba_table, dresselhaus_table, exchange_block,
                            is_upper_half, linear_rashba_table, mode_energies, sine_modes, spin_along)

EDGES = ("-x", "+x", "-y", "+y")
# The elimination along z is unrolled when compiled (one step per layer): deeper stacks would
# compile for minutes. 256 layers is far beyond any junction studied here.
MAX_LAYERS = 256
# Orbitals per site of one layer: beyond a few the dense layer matrix (order 2 n Lx Ly) outgrows any
# junction studied here; 16 leaves room for d shells with spin-orbit partners.
MAX_ORBITALS = 16
SPIN_SIGN = np.array([1.0, -1.0])  # s = + (parallel to the axis), s = - (antiparallel)
LAYER_NUMBERS = ("t", "K0", "dxc", "alpha1", "alpha3", "beta", "tz")  # a layer's fields that are one number
# Largest magnitude of any number of the model (energies in units of the hopping, angles in radians): beyond
# it a sum such as onsite + 4t keeps fewer than 10 digits of the hopping in float64, and no junction
# studied here comes near it.
MAGNITUDE_LIMIT = 1e6


def static(default=dataclasses.MISSING):
    """A dataclass field that is pytree metadata (geometry: changing it recompiles)."""
    return dataclasses.field(default=default, metadata={"static": True})


def pytree(cls):
    """``cls`` as a frozen dataclass with ``replace``, registered as a pytree whose leaves are its
    fields not marked :func:`static`."""
    cls.replace = dataclasses.replace
    return jax.tree_util.register_dataclass(dataclasses.dataclass(frozen=True)(cls))


@pytree
class Layer:
    """One layer of the stack, its terms set by name (tabulated in ``docs/layered.md``).

    ``onsite``: a number or an (Lx, Ly) profile (energy); ``t``: in-plane nearest-neighbour
    hopping; ``K0``: disorder strength (the potential is K0 w, w standard normal per site drawn from
    the stack's seed by ``core.lattice.disorder_realization``); ``dxc``, ``theta``,
    ``phi``: exchange -(dxc/2) n.sigma (angles None: the stack's magnetization); ``alpha1``,
    ``alpha3``, ``beta``: linear Rashba, cubic Rashba, Dresselhaus; ``hoppings``: extra in-plane
    table {(dx, dy): block}, entry d being H[r, r+d] (Kwant's orientation; the entry for -d, if
    absent, is the Hermitian conjugate; the (0, 0) entry is an onsite block); ``tz``: hopping -tz
    to the layer above; ``up``: a table {(dx, dy): block} replacing it, entry d being
    H[(r, z), (r + d, z + 1)].

    ``orbitals`` (static, n >= 1): orbitals per site; a site has 2 n states, index ``orbital * 2 + s``
    (spin inner). The named terms (onsite, t, K0, dxc, alpha1, alpha3, beta, tz) act on spin and as
    the identity on the orbitals. A table block is a number (times the identity), a 2x2 spin matrix
    (times the identity on the orbitals) or a full (2n x 2n) matrix; an ``up`` block between layers
    of different orbital counts is a full (2 n(z) x 2 n(z + 1)) matrix, and such layers must be
    coupled by ``up`` (``tz`` couples equal counts, orbital to orbital). ``orbital_names`` (static): one
    label per orbital (e.g. ("dyz", "dxz", "dxy")), or () for 0 .. n - 1: how the orbital-resolved
    transmissions (``Transmissions.resolved``) name the orbitals of the leads that continue this layer.
    """

    onsite: Any = 4.0
    t: Any = 1.0
    K0: Any = 0.0
    dxc: Any = 0.0
    theta: Any = None
    phi: Any = None
    alpha1: Any = 0.0
    alpha3: Any = 0.0
    beta: Any = 0.0
    hoppings: Any = dataclasses.field(default_factory=dict)
    tz: Any = 1.0
    up: Any = dataclasses.field(default_factory=dict)
    name: str = static("")
    orbitals: int = static(1)
    orbital_names: Tuple[str, ...] = static(())

    def __post_init__(self):
        if isinstance(self.orbital_names, list):  # a static field must be hashable
            object.__setattr__(self, "orbital_names", tuple(self.orbital_names))


class SiteCoupling(NamedTuple):
    """A lead's coupling to the sites it touches, in real space (:meth:`Lead.site_coupling`).

    ``z``, ``x``, ``y``: the k sites (integer arrays); ``sigma``: its self-energy on them, (k d, k d),
    site-major and state-minor (d = 2 n states per site of the layer); ``vectors``: (k d, channels) the
    coupling vectors w_j of its channels, orthonormal, with Gamma = i (Sigma - Sigma^dagger) =
    sum_j gamma_j w_j w_j^dagger; ``gamma``: (channels,) the broadenings gamma_j (0 for a closed channel)."""

    z: np.ndarray
    x: np.ndarray
    y: np.ndarray
    sigma: Any
    vectors: Any
    gamma: Any


def channel_index(channels):
    """A lead's channel labels (tuples of three integers, the last the spin index) as three index arrays."""
    return tuple(np.asarray(channels, dtype=int).reshape(-1, 3).T)


# What a lead's channels may be labelled by (the blocks of Kwant's ``conservation_law``), in the order of the
# axes of the resolved transmissions (``Transmissions.resolved``).
CONSERVED = ("orbital", "spin")


class LeadConservation(NamedTuple):
    """What the Hamiltonian of one lead conserves (:func:`lead_conservation`): ``quantities``, a subset of
    ``CONSERVED``; ``orbitals``, the label of each of its orbitals."""

    quantities: Tuple[str, ...]
    orbitals: Tuple[str, ...]


class Lead:
    """The lead protocol: what the planner, the kernel and the memory rule ask of any lead.

    As Kwant's solvers ask every lead for its modes or its self-energy, the solver never lists
    lead kinds: it asks each lead (``Stack.leads``) for its channels and their broadenings, its
    self-energy and its coupling vectors on the sites it touches, and how it resolves spin.
    ``where`` is the lead's place in the stack: its index in ``Stack.side_leads``, or "top" /
    "bottom". A lead is a frozen pytree dataclass (``pytree``) with a ``name``; its numbers are
    leaves (traced, differentiated), its geometry static.

    Two places, two roles (docs/model.md, "Writing a lead kind"):

    - In ``Stack.side_leads``: a lead attached to sites of the layers ``layers`` = (first, last), which
      lie in one dense slice. It gives :meth:`site_coupling` (its self-energy and coupling vectors in real
      space); the defaults of :meth:`slice_coupling` (the dense path) and :meth:`layer_coupling` (the
      Krylov path) turn it into the solver's terms. ``SideLead`` writes both directly in the slice's sine
      modes (separable factors, no dense real-space transform).
    - As ``Stack.top`` / ``Stack.bottom``: a lead diagonal in the sine modes of the layer it attaches to,
      one semi-infinite chain per mode, orbital and spin (:meth:`mode_chains`), into which the solver folds
      the uniform layers next to it (``solve.kernel``); its ``theta``, ``phi`` (None: the stack's) are its
      spin axis, along which ``plan.plan`` folds.

    Every channel label is a tuple of three integers, the last its spin index (0: along the lead's spin
    axis, :meth:`spinors`; 1: against it). Channels come from :meth:`channels` (by default the chains
    of :meth:`mode_chains` open at one of the energies), band edges from :meth:`subband_edges`.
    """

    # -- every lead

    def label(self, where) -> str:
        """How messages name the lead."""
        return f"lead {self.name!r}"

    def validate(self, stack, where) -> None:
        """ValueError naming a bad field (plain Python, on concrete values; tracers without a value pass)."""

    def mode_chains(self, stack, where):
        """(onsite energies (..., 2) of the semi-infinite chains (hopping -t) that its channels are, t), the
        last axis spin; None for a lead that is not a set of chains (then :meth:`channels` is its own)."""
        return None

    def channels(self, stack, where, energies, allow_closed: bool, tolerance: float) -> tuple:
        """Its candidate channels (labels): the chains open at any of ``energies``; an error if none is.

        Without values (``energies`` None, or the chains or t traced under ``jit`` or ``vmap``): every
        chain, since the kernel keeps only the open ones (broadening > 0) and a closed candidate
        contributes exactly zero; the checks for an open channel and for a band edge then cannot be made."""
        chain, t = self._chains(stack, where, "channels")
        values, t_value = known(chain), known(t)
        if energies is None or values is None or t_value is None:
            return tuple(tuple(int(i) for i in index) for index in np.ndindex(*np.shape(chain)))
        chain, t = values, float(t_value)
        what = self.label(where)
        mask = np.any([open_mask(energy, chain, t, what, tolerance) for energy in energies], axis=0)
        if not allow_closed and not mask.any():
            raise ValueError(f"{what} has no open channel at the energies asked for (its band is "
                             f"[{np.min(chain) - 2 * t:.4f}, {np.max(chain) + 2 * t:.4f}]); pass allow_closed=True "
                             "(--allow-closed) to get zero transmissions")
        return tuple(tuple(int(i) for i in index) for index in np.argwhere(mask))

    def subband_edges(self, stack, where) -> np.ndarray:
        """Energies at which one of its channels opens or closes (concrete numbers)."""
        chains = self.mode_chains(stack, where)
        if chains is None:
            return np.zeros(0)
        chain, t = np.asarray(chains[0]).ravel(), float(chains[1])
        return np.concatenate([chain + sign * 2 * t for sign in (-1, 1)])

    def edge_distance(self, stack, where, energies) -> float:
        """Smallest distance, in units of its 2t, from any of ``energies`` (1-D) to one of its band edges."""
        chains = self.mode_chains(stack, where)
        if chains is None:
            return np.inf
        chain, t = np.asarray(chains[0]).ravel(), float(chains[1])
        return float(np.abs(np.abs((energies[:, None] - chain[None, :]) / (2 * t)) - 1).min())

    def broadening(self, stack, where, energy, channels):
        """Gamma = 2 t sin k of each of ``channels`` (0 for an evanescent one), traceable."""
        chain, t = self._chains(stack, where, "broadening")
        return chain_broadening(energy, chain[channel_index(channels)], t)

    def spin_setup(self, varied):
        """A static choice the plan records for the lead's spin basis (``Plan.side_magnetic`` for a side lead),
        given its ``varied`` flags (a pytree like the lead, or None); handed back to :meth:`spinors`."""
        return True

    def spinors(self, theta, phi, setup):
        """Its spin basis as columns (2, 2) in the sigma_z basis: column 0 is spin index 0 (``spin_along``);
        by default along its exchange direction (its own angles, or the stack's ``theta``, ``phi``)."""
        return spin_along(*direction(self, theta, phi))

    def orbitals(self, stack, where) -> int:
        """Orbitals per site that its channel labels carry: a channel's middle index is (mode) * n + orbital."""
        return 1

    def conserved(self, stack, where) -> LeadConservation:
        """What its Hamiltonian conserves, so that its channels can be resolved by it (``Transmissions.resolved``),
        and the labels of its orbitals. By default orbital and spin (spin along :meth:`spinors`): a lead with
        spin-orbit coupling, or whose terms mix its orbitals, must leave that quantity out."""
        return LeadConservation(CONSERVED, tuple(str(o) for o in range(self.orbitals(stack, where))))

    # -- a lead in ``Stack.side_leads``

    def site_coupling(self, stack, where, theta, phi, energy, setup, channels) -> SiteCoupling:
        """Its self-energy, channel vectors and broadenings on the sites it touches (:class:`SiteCoupling`)."""
        raise NotImplementedError(f"{type(self).__name__} gives no site_coupling (needed in Stack.side_leads)")

    def slice_coupling(self, stack, where, first: int, nl: int, theta, phi, energy, setup, channels):
        """(-Sigma as an 8-D term (nl, Lx, Ly, d, nl, Lx, Ly, d) in the sine modes of the slice of layers
        first .. first + nl - 1, the coupling vectors (nl Lx Ly d, channels) there, the broadenings).

        By default :meth:`site_coupling` moved to the slice's sine modes by the (real) matrix P of the sites:
        P Sigma P^T, P w_j. That P is dense (slice order x sites), fine for a few sites; a lead on many sites
        writes this in separable factors (``SideLead``)."""
        c = self.site_coupling(stack, where, theta, phi, energy, setup, channels)
        Lx, Ly = stack.Lx, stack.Ly
        d = stack.layer_order(first) // (Lx * Ly)
        k = c.z.size
        phix, phiy = sine_modes(Lx)[0][c.x].T, sine_modes(Ly)[0][c.y].T  # (Lx, k), (Ly, k)
        place = jnp.eye(nl)[:, np.asarray(c.z) - first]  # (nl, k)
        p = place[:, None, None, :] * phix[None, :, None, :] * phiy[None, None, :, :]
        p = (p[:, :, :, None, :, None] * jnp.eye(d)[None, None, None, :, None, :]).reshape(nl * Lx * Ly * d, k * d)
        term = -(p @ c.sigma @ p.T).reshape(nl, Lx, Ly, d, nl, Lx, Ly, d)
        return term, p @ c.vectors, c.gamma

    def layer_coupling(self, stack, where, theta, phi, energy, setup, channels):
        """(x, y, Sigma) on the sites of the one layer it touches, Sigma (k d, k d) site-major: its part of the
        Krylov path's real-space operator (``solve.krylov.LayerOperator.sides``)."""
        c = self.site_coupling(stack, where, theta, phi, energy, setup, channels)
        return c.x, c.y, c.sigma

    def overlap(self, stack, other) -> Optional[str]:
        """Why it and the side lead ``other`` may not both be attached (they share sites), or None."""
        return None

    # -- a lead at the top or bottom

    def mode_self_energy(self, stack, where, energy):
        """Its retarded self-energy per sine mode, orbital and spin (Lx, Ly n, 2) on the layer it attaches to."""
        chain, t = self._chains(stack, where, "mode_self_energy")
        return chain_self_energy(energy, chain, t)

    def _chains(self, stack, where, method: str):
        """:meth:`mode_chains`, which the default ``method`` needs (an error naming it when there are none)."""
        chains = self.mode_chains(stack, where)
        if chains is None:
            raise NotImplementedError(f"{type(self).__name__} has no mode chains (mode_chains): it must give its "
                                      f"own {method}")
        return chains


@pytree
class SideLead(Lead):
    """A semi-infinite strip leaving the stack through an edge ("-x", "+x", "-y", "+y").

    It continues layers ``layers`` (an index or an inclusive (first, last) pair of adjacent
    layers) over ``width`` sites starting at ``offset`` along the edge (None: the whole edge,
    centred: (L - width)//2). Its cell: onsite ``onsite`` (a number, or one per layer; None:
    each layer's own onsite, which must then be a number), hopping -t along and across the
    strip (also to the stack), -tz between its layers, exchange -(dxc/2) n.sigma. Spin is
    resolved along n for a magnetic lead and along ``spin_axis`` = (theta, phi) (default z) for
    a normal one. On layers of n > 1 orbitals (all its layers must have the same count) the lead
    continues them, orbital to orbital: its hopping is the identity on the orbitals and
    ``orbital_onsite`` (n energies, None: zeros) is added to orbital o's onsite, so that each
    orbital is a copy of the one-orbital lead, shifted.
    """

    name: str = static()
    edge: str = static()
    layers: Any = static(0)
    width: Optional[int] = static(None)
    offset: Optional[int] = static(None)
    onsite: Any = None
    t: Any = 1.0
    tz: Any = 1.0
    dxc: Any = 0.0
    theta: Any = None
    phi: Any = None
    spin_axis: Tuple[float, float] = static((0.0, 0.0))
    orbital_onsite: Any = None

    def __post_init__(self):
        # Static fields only: data fields may hold tracers or placeholders when JAX rebuilds the pytree.
        if is_int(self.layers):
            object.__setattr__(self, "layers", (int(self.layers),) * 2)
        elif isinstance(self.layers, (tuple, list)) and len(self.layers) == 2:
            object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "spin_axis", tuple(self.spin_axis))

    def orbitals(self, stack, where) -> int:
        return side_lead_orbitals(stack, self)

    def conserved(self, stack, where) -> LeadConservation:
        """Orbital and spin. Spin: a lead has no spin-orbit coupling; its one spin-dependent term is the
        exchange -(dxc/2) n.sigma, diagonal along the axis its spin is counted along (n, or a normal lead's
        ``spin_axis``). Orbital: it continues the orbitals of its layers one by one (hopping the identity on
        them, onsite energies diagonal: its own or the layers' scalar onsite plus ``orbital_onsite``); a
        layer's onsite block and tables (orbital mixing, atomic L.S) are not continued into it. Labels: the
        layers' ``orbital_names`` (``orbital_labels``)."""
        return LeadConservation(CONSERVED, orbital_labels(stack.layers[self.layers[0]:self.layers[1] + 1]))

    def label(self, where) -> str:
        return f"side lead {self.name!r}"

    def validate(self, s, where) -> None:
        where = self.label(where)
        if self.edge not in EDGES:
            raise ValueError(f"{where}: edge = {self.edge!r} must be one of {EDGES}")
        z0, z1 = self.layers if isinstance(self.layers, tuple) and len(self.layers) == 2 else (None, None)
        if not (is_int(z0) and is_int(z1) and 0 <= z0 <= z1 < s.Lz):
            raise ValueError(f"{where}: layers = {self.layers!r} must satisfy 0 <= first <= last < Lz = {s.Lz} "
                             "(a layer index or a (first, last) pair)")
        check_integers(self, [n for n in ("width", "offset") if getattr(self, n) is not None], where=f"{where}: ")
        length = s.Ly if self.edge in ("-x", "+x") else s.Lx
        offset, width = side_lead_extent(s, self)
        if not (1 <= width and 0 <= offset and offset + width <= length):
            raise ValueError(f"{where}: offset = {offset}, width = {width} must satisfy 1 <= width and "
                             f"0 <= offset <= offset + width <= {length} (the edge length)")
        _check_fields(where, self, ("t", "tz", "dxc"), positive=("t", "tz"))
        counts = sorted({s.layers[z].orbitals for z in range(z0, z1 + 1)})
        if len(counts) > 1:
            raise ValueError(f"{where}: layers {z0} .. {z1} have different orbital counts {counts}; a side lead "
                             "continues layers of one orbital count")
        if self.orbital_onsite is not None:
            check_real(f"{where}.orbital_onsite", self.orbital_onsite, shapes=((counts[0],),),
                       note=f"give one energy per orbital of layers {z0} .. {z1} ({counts[0]})")
        if not (len(self.spin_axis) == 2 and all(np.isfinite(float(v)) for v in self.spin_axis)):
            raise ValueError(f"{where}: spin_axis = {self.spin_axis!r} must be a pair (theta, phi) of finite numbers")
        if self.onsite is not None:
            check_real(f"{where}.onsite", self.onsite, shapes=((), (z1 - z0 + 1,)),
                       note=f"give one number or one per layer ({z1 - z0 + 1})")
        for z in range(z0, z1 + 1) if self.onsite is None else ():
            if np.ndim(s.layers[z].onsite):
                raise ValueError(f"{where}: layer {z} has an onsite profile; give the lead its own onsite")

    def overlap(self, s, other) -> Optional[str]:
        """Two side leads on the same edge must not share a site of a layer (they would attach to it twice)."""
        if not isinstance(other, SideLead) or self.edge != other.edge:
            return None
        (oa, wa), (ob, wb) = side_lead_extent(s, self), side_lead_extent(s, other)
        if max(self.layers[0], other.layers[0]) <= min(self.layers[1], other.layers[1]) \
                and max(oa, ob) < min(oa + wa, ob + wb):
            return (f"both attach to edge {self.edge}, sites {max(oa, ob)} .. {min(oa + wa, ob + wb) - 1} of layers "
                    f"{max(self.layers[0], other.layers[0])} .. {min(self.layers[1], other.layers[1])}; leads must "
                    "attach to distinct sites (change offset, width, layers or edge)")
        return None

    def mode_chains(self, stack, where):
        return side_lead_chains(stack, self), self.t

    def spin_setup(self, varied) -> Optional[bool]:
        """Whether it resolves spin along its exchange direction: its dxc is non-zero, or varied by a
        derivative (``sensitivities``: the labels must not jump where dxc passes 0); None when its dxc is
        traced without a value (:meth:`spinors` then decides from dxc != 0). Otherwise along ``spin_axis``."""
        if varied is not None and any(bool(v) for v in jax.tree_util.tree_leaves(varied.dxc)):
            return True
        value = known(self.dxc)
        return None if value is None else bool(np.any(value))

    def spinors(self, theta, phi, magnetic):
        """Spinors of its spin axis: its exchange direction (``magnetic``), else its ``spin_axis``; ``magnetic``
        None (its dxc traced without a value, :meth:`spin_setup`): chosen here by dxc != 0, the rule of a plain
        call (at dxc = 0 the self-energy is the same in either basis)."""
        if magnetic is None:
            return jnp.where(self.dxc != 0, self.spinors(theta, phi, True), self.spinors(theta, phi, False))
        if not magnetic:
            return spin_along(*self.spin_axis)
        return spin_along(*direction(self, theta, phi))

    def slice_coupling(self, s, where, first: int, nl: int, theta, phi, energy, magnetic, channels):
        """In a slice starting at layer ``first``: -Sigma (an 8-D broadcastable slice term), the channel
        sources (m, n_channels) and the channels' broadenings.

        The lead's mode (m, l) is phi_W[:, m] across its width times U[:, l] across its layers; its
        interface sites lie on one edge column (x fixed for the -x and +x edges), so in the slice's
        sine modes the coupling vector is phi_x[x_edge, mx] Psi[my, m] U[z, l], Psi = phi_y^T phi_W
        on the lead's sites: separable, and so is the self-energy sum_(m, l, s) sigma C C^T chi chi^dagger.
        On layers of n > 1 orbitals each mode is also one orbital o (the lead is orbital-diagonal), its
        channels (m, l * n + o, s) and its self-energy diagonal in o.
        """
        offset, width = side_lead_extent(s, self)
        n = side_lead_orbitals(s, self)
        u, _ = side_lead_modes(s, self)
        z0, z1 = self.layers
        u_slice = jnp.zeros((nl, u.shape[1])).at[z0 - first:z1 - first + 1].set(u)
        chains = side_lead_chains(s, self)
        sigma = chain_self_energy(energy, chains, self.t)  # (width, layers, 2)
        chi = self.spinors(theta, phi, magnetic)
        across_x = self.edge in ("-x", "+x")
        L_across, L_along = (s.Lx, s.Ly) if across_x else (s.Ly, s.Lx)
        edge = sine_modes(L_across)[0][0 if self.edge[0] == "-" else -1]  # (L_across,)
        psi = sine_modes(L_along)[0][offset:offset + width].T @ sine_modes(width)[0]  # (L_along, width)
        spin_proj = jnp.einsum("as,bs->sab", chi, jnp.conj(chi))
        if n == 1:
            ks = jnp.einsum("zl,am,mls,wl,bm,scd->zacwbd", u_slice, psi, sigma, u_slice, psi, spin_proj)
        else:  # diagonal in the orbital o: (orbital, spin) is the site index
            ks = jnp.einsum("zl,am,mlos,wl,bm,scd,op->zaocwbpd", u_slice, psi, sigma.reshape(width, -1, n, 2),
                            u_slice, psi, spin_proj, jnp.eye(n)).reshape(nl, L_along, 2 * n, nl, L_along, 2 * n)
        # ks: (z, along, site state, z', along', site state'); put the edge factor on the across axes (x: 1 and 5,
        # y: 2 and 6).
        axis = 1 if across_x else 2
        term = -(edge.reshape([-1 if i == axis else 1 for i in range(8)])
                 * edge.reshape([-1 if i == axis + 4 else 1 for i in range(8)]) * jnp.expand_dims(ks, (axis, axis + 4)))
        width_mode, layer_orbital, spin = q = channel_index(channels)
        layer_mode = layer_orbital // n
        along = psi[:, width_mode]  # (L_along, nch)
        x_factor, y_factor = (edge[:, None], along) if across_x else (along, edge[:, None])
        # (layer, x, y, spin, channel)
        vec = (u_slice[:, layer_mode][:, None, None, None, :] * x_factor[None, :, None, None, :]
               * y_factor[None, None, :, None, :] * chi[:, spin][None, None, None, :, :])
        if n > 1:  # (layer, x, y, orbital, spin, channel): each channel on its own orbital
            vec = vec[:, :, :, None] * np.eye(n)[:, layer_orbital % n][None, None, None, :, None, :]
        return term, vec.reshape(nl * s.layer_order(first), -1), chain_broadening(energy, chains[q], self.t)

    def layer_coupling(self, s, where, theta, phi, energy, magnetic, channels):
        """Its self-energy on its sites of one layer, in real space, by its width modes."""
        n = side_lead_orbitals(s, self)
        width = side_lead_extent(s, self)[1]
        phi_w = sine_modes(width)[0]
        sigma = chain_self_energy(energy, side_lead_chains(s, self), self.t)  # (width, n, 2): one layer
        if n == 1:
            sigma = sigma[:, 0, :]  # (width, 2)
        chi = self.spinors(theta, phi, magnetic)
        if n == 1:
            block = jnp.einsum("im,ms,jm,as,bs->iajb", phi_w, sigma, phi_w, chi, jnp.conj(chi))
        else:
            block = jnp.einsum("im,mos,jm,as,bs,op->ioajpb", phi_w, sigma, phi_w, chi, jnp.conj(chi), jnp.eye(n))
        return (*side_lead_sites(s, self), block.reshape(2 * n * width, 2 * n * width))



@pytree
class VerticalLead(Lead):
    """A semi-infinite lead along z above the top layer (or below layer 0), cross-section Lx x Ly.

    Onsite ``onsite``, hopping -t in every direction (also to the stack), exchange
    -(dxc/2) n.sigma (angles None: the stack's magnetization). Spin is resolved along n. It has
    the orbitals of the layer it attaches to, orbital to orbital (hopping the identity on them),
    with ``orbital_onsite`` (one energy per orbital, None: zeros) added to each orbital's onsite.
    """

    name: str = static("M")
    onsite: Any = 6.0
    t: Any = 1.0
    dxc: Any = 0.0
    theta: Any = None
    phi: Any = None
    orbital_onsite: Any = None

    def orbitals(self, stack, where) -> int:
        return vertical_lead_orbitals(stack, where)

    def conserved(self, stack, where) -> LeadConservation:
        """Orbital and spin, for the reasons of :meth:`SideLead.conserved`; labels: those of the layer it
        attaches to."""
        return LeadConservation(CONSERVED, orbital_labels([stack.layers[-1 if where == "top" else 0]]))

    def label(self, where) -> str:
        return f"the {where} lead {self.name!r}"

    def validate(self, s, where) -> None:
        _check_fields(f"{where} lead {self.name!r}", self, ("onsite", "t", "dxc"), positive=("t",))
        if self.orbital_onsite is not None:
            n = vertical_lead_orbitals(s, where)
            check_real(f"{where} lead {self.name!r}.orbital_onsite", self.orbital_onsite, shapes=((n,),),
                       note=f"give one energy per orbital of the layer it attaches to ({n})")

    def mode_chains(self, stack, where):
        return vertical_lead_chains(stack, self, where), self.t


@pytree
class Stack:
    """A layered junction: layers bottom to top, its leads, the magnetization angles, the seed.

    ``theta``, ``phi``: the magnetization followed by every layer and lead whose own angles are
    None (the angles that scans vary). ``seed`` draws the disorder of the layers with K0 > 0.
    """

    Lx: int = static()
    Ly: int = static()
    layers: Tuple[Layer, ...]
    side_leads: Tuple[SideLead, ...] = ()
    top: Optional[VerticalLead] = None
    bottom: Optional[VerticalLead] = None
    theta: Any = math.pi / 2
    phi: Any = 0.0
    seed: int = static(0)

    def __post_init__(self):
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "side_leads", tuple(self.side_leads))

    @property
    def Lz(self) -> int:
        return len(self.layers)

    @property
    def N(self) -> int:
        """States in the largest layer, 2 n Lx Ly (n its orbitals per site; 2 Lx Ly with one orbital)."""
        return max(self.layer_order(z) for z in range(self.Lz))

    def layer_order(self, z: int) -> int:
        """States in layer z, 2 n Lx Ly (n = ``layers[z].orbitals``)."""
        return 2 * self.layers[z].orbitals * self.Lx * self.Ly

    @property
    def lead_names(self) -> Tuple[str, ...]:
        """Leads in the order of the transmission arrays: side leads, then top, then bottom."""
        return tuple(lead.name for _, lead in self.leads)

    @property
    def leads(self):
        """(where, lead) for every lead in the order of the transmission arrays: (k, side lead k), then
        ("top", top) and ("bottom", bottom) where they exist (``Lead``: what the solver asks of each)."""
        return tuple(enumerate(self.side_leads)) + self.vertical_leads

    @property
    def vertical_leads(self):
        """(where, lead) for the top and bottom leads that exist."""
        return tuple((where, lead) for where, lead in (("top", self.top), ("bottom", self.bottom)) if lead is not None)

    def to_dict(self) -> dict:
        """Every field of the stack, its layers and leads as JSON-able values (``io.describe.stack_dict``);
        :meth:`from_dict` turns it back into an equal stack."""
        from ..io.describe import stack_dict

        return stack_dict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Stack":
        """The stack described by ``d`` (:meth:`to_dict`, or the ``stack`` of a result file's attributes)."""
        def obj(kind, fields):
            return None if fields is None else kind(**{k: decoded(k, v) for k, v in fields.items()})

        return cls(Lx=d["Lx"], Ly=d["Ly"], layers=tuple(obj(Layer, x) for x in d["layers"]),
                   side_leads=tuple(obj(SideLead, x) for x in d["side_leads"]), top=obj(VerticalLead, d["top"]),
                   bottom=obj(VerticalLead, d["bottom"]), theta=decoded("theta", d["theta"]),
                   phi=decoded("phi", d["phi"]), seed=d["seed"])


def decoded(name: str, value):
    """A field's value from its JSON-able form (``io.describe.plain``): hopping tables back to {(dx, dy): value},
    {"re", "im"} back to complex, lists of numbers to arrays, "nan"/"inf" text back to floats."""
    if name in ("hoppings", "up"):
        return {tuple(json.loads(k)): decoded("", v) for k, v in value.items()}
    if name in ("layers", "spin_axis", "name", "edge", "width", "offset", "orbital_names") or value is None:
        return tuple(value) if isinstance(value, list) else value
    if isinstance(value, dict) and set(value) == {"re", "im"}:
        return np.asarray(value["re"]) + 1j * np.asarray(value["im"])
    if isinstance(value, str):
        return float(value)
    return np.asarray(value, dtype=float) if isinstance(value, list) else value


# ---------------------------------------------------------------------------------------------
# Validation (plain Python, on concrete values, before anything is traced)


def concrete(value) -> Optional[np.ndarray]:
    """The value as a NumPy array, or None when it is a tracer: for the decisions that must hold at
    every value a transformation may give it (a traced alpha1 that is 0 now still counts as present)."""
    return None if isinstance(value, jax.core.Tracer) else np.asarray(value)


def known(value) -> Optional[np.ndarray]:
    """The value as a NumPy array, also of a tracer that carries one (the primal under ``jax.grad``,
    ``jax.jacfwd``, ``jax.jacrev`` outside ``jit``); None for a tracer without a value yet (under
    ``jax.jit`` or ``jax.vmap``). What the input checks and the channel choice read."""
    if isinstance(value, jax.core.Tracer):
        value = getattr(value, "to_concrete_value", lambda: None)()
        return None if value is None else np.asarray(value)
    return np.asarray(value)


def is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_integers(obj, names, positive=(), where: str = "") -> None:
    """ValueError unless the fields ``names`` of ``obj`` are integers, those in ``positive`` >= 1 and
    a ``seed`` in [0, 2**63)."""
    for name in names:
        value = getattr(obj, name)
        if not is_int(value):
            raise ValueError(f"{where}{name} = {value!r} must be an integer")
        if name in positive and value < 1:
            raise ValueError(f"{where}{name} = {value} must be a positive integer (>= 1)")
        if name == "seed" and not 0 <= value < 2 ** 63:
            raise ValueError(f"seed = {value} must satisfy 0 <= seed < 2**63")


def check_real(where: str, value, shapes=((),), note: str = "it must be one number") -> None:
    """ValueError unless ``value`` is real, finite and at most ``MAGNITUDE_LIMIT`` in magnitude, with one of
    the ``shapes`` (None: any shape; ``note`` says which). A tracer is checked on its value when it carries one
    (:func:`known`) and passes otherwise (under ``jit`` or ``vmap`` it has no value to check)."""
    arr = known(value)
    if arr is None:
        return
    number = arr.ndim == 0
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{where} = {arr.tolist()!r} must be a real number" if number
                         else f"{where} must hold real numbers (got an array of {arr.dtype})")
    if shapes is not None and arr.shape not in shapes:
        raise ValueError(f"{where} has shape {arr.shape}; {note}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{where} = {arr.tolist()!r} must be finite (got NaN or infinity)" if number
                         else f"{where} must hold finite numbers (got NaN or infinity)")
    if np.any(np.abs(arr) > MAGNITUDE_LIMIT):
        raise ValueError(f"{where} = {arr.tolist()!r} must satisfy |{where}| <= {MAGNITUDE_LIMIT:g}" if number
                         else f"{where} must hold numbers of magnitude <= {MAGNITUDE_LIMIT:g} (largest: "
                         f"{float(np.abs(arr).max()):g})")


def check_sign(where: str, value, strict: bool = True, note: str = "") -> None:
    """ValueError unless the number ``value`` is > 0 (>= 0 when not ``strict``); ``note`` says what it is
    (a tracer as in :func:`check_real`)."""
    arr = known(value)
    if arr is not None and not np.all(arr > 0 if strict else arr >= 0):
        raise ValueError(f"{where} = {arr.tolist()!r} must be {'>' if strict else '>='} 0{note}")


def _check_fields(where: str, owner, names, positive=()) -> None:
    """The numbers ``names`` of a layer or lead (those in ``positive`` > 0) and its direction."""
    if (owner.theta is None) != (owner.phi is None):
        raise ValueError(f"{where}: give both theta and phi, or neither (None follows the stack's magnetization)")
    for name in names + (("theta", "phi") if owner.theta is not None else ()):
        check_real(f"{where}.{name}", getattr(owner, name))
    for name in positive:
        check_sign(f"{where}.{name}", getattr(owner, name))


def orbital_identity(block, n: int):
    """A spin operator (2x2, or a table of them) on a site of n orbitals: block x 1_orbitals in the basis
    ``orbital * 2 + s`` (the block itself for one orbital)."""
    return block if n == 1 else jnp.kron(jnp.eye(n), block)


def table_entries(table, where: str, orbitals=(1, 1)) -> dict:
    """A hopping table as {(dx, dy): complex block}, between sites of ``orbitals`` = (n, n') orbitals:
    numbers promoted to multiples of the identity and 2x2 spin blocks to ``orbital_identity`` when
    n = n'; other blocks are kept as given (``validate_stack`` checks their shapes).

    Works on traced values; the offsets must be pairs of integers.
    """
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise ValueError(f"{where} must be a dict {{(dx, dy): block or number}}, got {type(table).__name__}")
    n, n2 = orbitals
    out = {}
    for offset, block in table.items():
        if not (isinstance(offset, tuple) and len(offset) == 2 and all(is_int(v) for v in offset)):
            raise ValueError(f"{where}: offset {offset!r} must be a pair (dx, dy) of integers")
        b = jnp.asarray(block, dtype=complex)
        if n == n2 and b.ndim == 0:
            b = b * jnp.eye(2 * n)
        elif n == n2 and b.shape == (2, 2):
            b = orbital_identity(b, n)
        out[offset] = b
    return out


def _check_table(where: str, table, shape, in_plane: bool, orbitals=(1, 1)) -> None:
    n, n2 = orbitals
    values = {d: known(b) for d, b in table_entries(table, where, orbitals).items()}
    for d, b in values.items():
        if b is None:
            continue
        if b.shape != (2 * n, 2 * n2):
            allowed = ("a number or a 2x2 matrix" + (f" (times the identity on the {n} orbitals) or a {2 * n}x{2 * n} "
                                                     "matrix" if n > 1 else "")) if n == n2 else \
                f"a {2 * n}x{2 * n2} matrix (rows: the {n} orbitals x spin of this layer, columns: the {n2} of the " \
                "next)"
            raise ValueError(f"{where}: the block at offset {d} must be {allowed}, got shape {b.shape}")
        if not np.all(np.isfinite(b)) or np.any(np.abs(b) > MAGNITUDE_LIMIT):
            raise ValueError(f"{where}: the block at offset {d} must be finite, of magnitude <= {MAGNITUDE_LIMIT:g}")
        if abs(d[0]) >= shape[0] or abs(d[1]) >= shape[1]:
            raise ValueError(f"{where}: offset {d} does not fit in a {shape[0]} x {shape[1]} layer")
    for d, b in values.items() if in_plane else ():
        neg = (-d[0], -d[1])
        if b is not None and values.get(neg) is not None and not np.allclose(values[neg], b.conj().T, atol=1e-14):
            raise ValueError(f"{where}: the (0, 0) entry must be Hermitian" if d == neg else f"{where}: entries {d} "
                             f"and {neg} must be conjugate transposes (the layer must be Hermitian)")


def side_lead_extent(stack: Stack, lead: SideLead) -> Tuple[int, int]:
    """(offset, width) of a side lead along its edge (defaults resolved)."""
    length = stack.Ly if lead.edge in ("-x", "+x") else stack.Lx
    width = length if lead.width is None else int(lead.width)
    offset = (length - width) // 2 if lead.offset is None else int(lead.offset)
    return offset, width


def validate_stack(s: Stack) -> None:
    """Raise ValueError naming the offending parameter, its value and what is allowed."""
    if not isinstance(s, Stack):
        raise ValueError(f"expected a Stack, got {type(s).__name__}")
    check_integers(s, ("Lx", "Ly", "seed"), positive=("Lx", "Ly"))
    if s.Lz < 1 or not all(isinstance(layer, Layer) for layer in s.layers):
        raise ValueError("layers must be a non-empty sequence of Layer")
    if s.Lz > MAX_LAYERS:
        raise ValueError(f"the stack has {s.Lz} layers; at most {MAX_LAYERS} are supported")
    check_real("theta", s.theta, shapes=None)
    check_real("phi", s.phi, shapes=None)
    for z, layer in enumerate(s.layers):
        where = f"layers[{z}]"
        check_integers(layer, ("orbitals",), positive=("orbitals",), where=f"{where}.")
        if layer.orbitals > MAX_ORBITALS:
            raise ValueError(f"{where}.orbitals = {layer.orbitals} must be at most {MAX_ORBITALS}")
        names = layer.orbital_names
        if names != () and not (isinstance(names, tuple) and len(names) == layer.orbitals
                                and all(isinstance(v, str) and v for v in names) and len(set(names)) == len(names)):
            raise ValueError(f"{where}.orbital_names = {names!r} must be {layer.orbitals} distinct non-empty "
                             "string(s), one per orbital, or () (the orbitals are then named 0 .. n - 1)")
    for z, layer in enumerate(s.layers):
        where = f"layers[{z}]"
        n = layer.orbitals
        check_real(f"{where}.onsite", layer.onsite, shapes=((), (s.Lx, s.Ly)),
                   note=f"a profile must have shape (Lx, Ly) = ({s.Lx}, {s.Ly})")
        _check_fields(where, layer, LAYER_NUMBERS)
        check_sign(f"{where}.K0", layer.K0, strict=False, note=" (disorder strength, energy units)")
        _check_table(f"{where}.hoppings", layer.hoppings, (s.Lx, s.Ly), in_plane=True, orbitals=(n, n))
        if layer.up and z == s.Lz - 1:
            raise ValueError(f"{where}.up: the top layer has no layer above it (couple the top lead through its t)")
        if z < s.Lz - 1:
            n_above = s.layers[z + 1].orbitals
            _check_table(f"{where}.up", layer.up, (s.Lx, s.Ly), in_plane=False, orbitals=(n, n_above))
            if n != n_above and not layer.up:
                raise ValueError(f"{where} has {n} orbital(s) per site and layers[{z + 1}] {n_above}: tz couples equal "
                                 f"orbital counts (orbital to orbital); give {where}.up, a table of "
                                 f"{2 * n}x{2 * n_above} blocks")
    names = s.lead_names
    if len(names) < 2:
        raise ValueError(f"a stack needs at least two leads (side_leads, top or bottom) for a current to flow "
                         f"between them; it has {len(names)}{': ' + repr(names[0]) if names else ''}")
    for name in names:
        if not isinstance(name, str) or not name:
            raise ValueError(f"every lead needs a name (a non-empty string), got {name!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"lead names {names} must be distinct")
    for lead in s.side_leads:
        if not isinstance(lead, Lead):
            raise ValueError("side_leads must be a sequence of leads (SideLead, or another kind of Lead)")
    for where, lead in s.vertical_leads:
        if not isinstance(lead, Lead):
            raise ValueError(f"{where} must be a VerticalLead (or another kind of Lead) or None")
    for where, lead in s.leads:
        lead.validate(s, where)
    _check_overlaps(s)
    _check_connected(s)


def _check_overlaps(s: Stack) -> None:
    """Two side leads must not attach to the same sites where they say so (``Lead.overlap``)."""
    for k, a in enumerate(s.side_leads):
        for b in s.side_leads[k + 1:]:
            clash = a.overlap(s, b)
            if clash:
                raise ValueError(f"side leads {a.name!r} and {b.name!r} overlap: {clash}")


def _coupled(layer: Layer) -> Optional[bool]:
    """Whether a layer is coupled to the one above (tz != 0, or a non-zero entry of its ``up`` table); None
    when that is traced."""
    if layer.up:
        blocks = [known(b) for b in table_entries(layer.up, "up").values()]
        return None if any(b is None for b in blocks) else any(np.any(b != 0) for b in blocks)
    tz = known(layer.tz)
    return None if tz is None else bool(np.any(tz != 0))


def _check_connected(s: Stack) -> None:
    """Every lead must be reachable from every other through the layers: a cut (tz = 0 and no ``up``
    table between two layers) that no side lead spans splits the junction into parts that exchange no
    current."""
    for z in range(s.Lz - 1):
        if _coupled(s.layers[z]) is not False:
            continue
        if any(lead.layers[0] <= z < lead.layers[1] for lead in s.side_leads):
            continue  # a side lead across both layers couples them through its own tz
        below = [lead.name for lead in s.side_leads if lead.layers[1] <= z] + ([s.bottom.name] if s.bottom else [])
        above = [lead.name for lead in s.side_leads if lead.layers[0] > z] + ([s.top.name] if s.top else [])
        what = (f"leads {below} (below) and {above} (above) exchange no current" if below and above else
                f"layers {'0 .. ' + str(z) if not below else str(z + 1) + ' .. ' + str(s.Lz - 1)} are coupled to no "
                "lead")
        raise ValueError(f"layers[{z}].tz = {float(known(s.layers[z].tz)):g}"
                         + (" and its up table is zero" if s.layers[z].up else "")
                         + f": layers {z} and {z + 1} are not coupled, so {what}; couple them (tz != 0) or remove "
                         "the layers that no lead reaches")


# ---------------------------------------------------------------------------------------------
# The terms of the Hamiltonian (traceable)


def direction(owner, theta, phi):
    """(theta, phi) of a layer or lead: its own angles, or the given stack angles when None."""
    return (theta, phi) if owner.theta is None else (owner.theta, owner.phi)


SPIN_ORBIT_TABLES = {"alpha1": linear_rashba_table, "alpha3": cubic_rashba_table, "beta": dresselhaus_table}


def in_plane_table(layer: Layer, spin_orbit=("alpha1", "alpha3", "beta")) -> dict:
    """Half table of the layer's in-plane hoppings beyond the nearest-neighbour -t: the spin-orbit
    terms named in ``spin_orbit`` (the others are zero) and the stored half of the user's table
    (dx > 0, or dx = 0 and dy > 0; its (0, 0) entry apart), where an entry given only for -d
    contributes its conjugate transpose to d."""
    n = layer.orbitals
    soc = add_tables(*(SPIN_ORBIT_TABLES[name](getattr(layer, name)) for name in spin_orbit))
    soc = {d: orbital_identity(b, n) for d, b in soc.items()}
    table = table_entries(layer.hoppings, "hoppings", (n, n))
    half = {(d if is_upper_half(d) else (-d[0], -d[1])): (b if is_upper_half(d) else jnp.conj(b).T)
            for d, b in table.items() if is_upper_half(d) or (d != (0, 0) and (-d[0], -d[1]) not in table)}
    return add_tables(soc, half)


def bloch_hamiltonian(layer: Layer, kx, ky, theta=0.0, phi=0.0):
    """The (2n x 2n) Bloch Hamiltonian H(k) = sum_d H[r, r + d] e^(i k.d) of an infinite, uniform layer (its
    scalar onsite energy, the nearest-neighbour -t, the spin-orbit terms, the exchange along the layer's
    direction or (theta, phi), and its hopping table), built from the same tables as the solver's
    (``in_plane_table``, ``site_block``): the bulk bands of a layer's model. ``kx``, ``ky`` broadcast;
    returns shape (..., 2n, 2n)."""
    n = layer.orbitals
    kx, ky = jnp.broadcast_arrays(jnp.asarray(kx, dtype=float), jnp.asarray(ky, dtype=float))
    th, ph = direction(layer, theta, phi)
    scalar = layer_scalar_onsite(layer) - 2 * layer.t * (jnp.cos(kx) + jnp.cos(ky))
    h = scalar[..., None, None] * jnp.eye(2 * n) + site_block(layer, th, ph)
    for (dx, dy), block in in_plane_table(layer).items():
        phase = jnp.exp(1j * (kx * dx + ky * dy))[..., None, None]
        h = h + phase * block + jnp.conj(phase) * jnp.conj(block).T
    return h


def site_block(layer: Layer, theta, phi):
    """The (2n x 2n) block on every site of a layer of n orbitals: exchange along its direction (times the
    identity on the orbitals) plus the table's (0, 0) entry."""
    n = layer.orbitals
    block = orbital_identity(exchange_block(layer.dxc, theta, phi), n)
    own = table_entries(layer.hoppings, "hoppings", (n, n)).get((0, 0))
    return block if own is None else block + own


def layer_profile(stack: Stack, z: int, draw, disordered: bool):
    """The non-uniform part of layer z's onsite energy, (Lx, Ly): its profile (if any) plus K0 w_z.

    ``draw``: the standard-normal realization (Lz, Lx, Ly) (None when no layer is disordered);
    ``disordered`` (static, from the plan) says whether layer z draws. Returns None when the
    layer is uniform (a scalar onsite and no disorder).
    """
    layer = stack.layers[z]
    profile = jnp.asarray(layer.onsite, dtype=float) if np.ndim(layer.onsite) == 2 else None
    if disordered:
        profile = layer.K0 * draw[z] if profile is None else profile + layer.K0 * draw[z]
    return profile


def layer_scalar_onsite(layer: Layer):
    """The uniform part of a layer's onsite energy (0 when it is a profile, which ``layer_profile`` carries)."""
    onsite = jnp.asarray(layer.onsite, dtype=float)
    return onsite if onsite.ndim == 0 else jnp.zeros(())


def side_lead_sites(stack: Stack, lead: SideLead) -> Tuple[np.ndarray, np.ndarray]:
    """(x, y) coordinates of the lead's interface sites in each of its layers, in order along the edge."""
    offset, width = side_lead_extent(stack, lead)
    along = offset + np.arange(width)
    across = np.full(width, 0 if lead.edge[0] == "-" else (stack.Lx if lead.edge[1] == "x" else stack.Ly) - 1)
    return (across, along) if lead.edge[1] == "x" else (along, across)


def side_lead_onsite(stack: Stack, lead: SideLead):
    """Onsite energy of each layer of the lead's cell, shape (number of layers,) (traceable)."""
    z0, z1 = lead.layers
    if lead.onsite is None:
        return jnp.stack([jnp.asarray(stack.layers[z].onsite, dtype=float) for z in range(z0, z1 + 1)])
    return jnp.broadcast_to(jnp.asarray(lead.onsite, dtype=float), (z1 - z0 + 1,))


def side_lead_modes(stack: Stack, lead: SideLead):
    """Transverse modes of a side lead's cell: (U, mu) with the cell = sum_(m, l) (t eps_m + mu_l) ``|m l><m l|``.

    Across its width the cell is a hard-wall chain (sine modes of ``core.lattice.sine_modes``,
    energies t eps_m); across its layers, the matrix diag(onsite_z) - tz (hopping between
    layers), with eigenvectors U[:, l] and eigenvalues mu_l (distinct: a tridiagonal matrix with
    non-zero off-diagonal has a simple spectrum, so derivatives are well defined). Traceable.
    """
    onsite = side_lead_onsite(stack, lead)
    n_layers = onsite.shape[0]
    if n_layers == 1:
        return jnp.ones((1, 1)), onsite
    chain = np.eye(n_layers, k=1) + np.eye(n_layers, k=-1)
    mu, u = jnp.linalg.eigh(jnp.diag(onsite) - lead.tz * chain)
    return u, mu


def side_lead_orbitals(stack: Stack, lead: SideLead) -> int:
    """Orbitals per site of the layers a side lead continues (one count: ``validate_stack``)."""
    return stack.layers[lead.layers[0]].orbitals


def side_lead_chains(stack: Stack, lead: SideLead):
    """Onsite energies of the lead's mode chains, (width, layers x orbitals, 2): t eps_m + mu_l + e_o - s dxc/2,
    the second index l * n + o (layer mode l, orbital o of n, e_o its ``orbital_onsite``; l alone for one orbital)."""
    _, mu = side_lead_modes(stack, lead)
    n = side_lead_orbitals(stack, lead)
    if n > 1 or lead.orbital_onsite is not None:
        shift = jnp.zeros(n) if lead.orbital_onsite is None else jnp.asarray(lead.orbital_onsite, dtype=float)
        mu = (mu[:, None] + shift[None, :]).reshape(-1)
    e_w = mode_energies(side_lead_extent(stack, lead)[1])
    return (lead.t * e_w[:, None, None] + mu[None, :, None]) - SPIN_SIGN[None, None, :] * lead.dxc / 2


def vertical_lead_orbitals(stack: Stack, where: str) -> int:
    """Orbitals per site of the top (``where`` "top") or bottom lead: those of the layer it attaches to."""
    return stack.layers[-1 if where == "top" else 0].orbitals


def lead_conservation(stack: Stack) -> Tuple[LeadConservation, ...]:
    """Per lead (``Stack.lead_names`` order), the quantities its Hamiltonian conserves, so that its channels
    (and the transmissions) can be resolved by them, as Kwant resolves a lead by its ``conservation_law``:
    each lead says so itself (:meth:`Lead.conserved`)."""
    return tuple(lead.conserved(stack, where) for where, lead in stack.leads)


def orbital_labels(layers) -> Tuple[str, ...]:
    """The labels of the orbitals of a lead continuing ``layers``: their ``orbital_names`` where they agree
    on them, else "0" .. "n-1"."""
    names = {layer.orbital_names for layer in layers}
    return names.pop() if len(names) == 1 and () not in names else tuple(str(o) for o in range(layers[0].orbitals))


def orbital_modes(energies, shift):
    """Mode energies (Lx, Ly) plus orbital energies ``shift`` (n,): (Lx, Ly n), the second index my * n + o, so
    that mode (mx, my) and orbital o have the flat index (mx Ly + my) n + o of a layer's basis (spin apart)."""
    Lx, Ly = energies.shape
    shift = jnp.asarray(shift, dtype=float)
    return (energies[:, :, None] + shift[None, None, :]).reshape(Lx, Ly * shift.shape[0])


def vertical_lead_chains(stack: Stack, lead: VerticalLead, where: str):
    """Onsite energies of a vertical lead's mode chains, (Lx, Ly n, 2): onsite + t (eps_mx + eps_my) + e_o - s dxc/2
    (n orbitals, e_o its ``orbital_onsite``, the second index my * n + o: ``orbital_modes``)."""
    n = vertical_lead_orbitals(stack, where)
    energies = lead.onsite + band_energies(stack.Lx, stack.Ly, lead.t)
    if n > 1 or lead.orbital_onsite is not None:
        energies = orbital_modes(energies, jnp.zeros(n) if lead.orbital_onsite is None else lead.orbital_onsite)
    return energies[:, :, None] - SPIN_SIGN * lead.dxc / 2


def layer_mode_energies(layer: Layer, Lx: int, Ly: int):
    """A laterally uniform layer's energies per sine mode (Lx, Ly) (one orbital, no table) or per mode and
    orbital (Lx, Ly n) (``orbital_modes``): onsite, hopping -t and the orbital energies of its onsite block
    (``layer_orbital_energies``). What a folded layer's chains and the Krylov diagonal hold."""
    energies = layer_scalar_onsite(layer) + band_energies(Lx, Ly, layer.t)
    shift = layer_orbital_energies(layer)
    if layer.orbitals == 1 and shift is None:
        return energies
    return orbital_modes(energies, jnp.zeros(layer.orbitals) if shift is None else shift)


def layer_orbital_energies(layer: Layer):
    """Orbital energies (n,) of a layer's onsite block (the spin-up diagonal of its table's (0, 0) entry), or
    None without one: what a folded layer adds per orbital (``plan.plan`` folds a layer with a table only
    when that table is an orbital-diagonal, spin-independent onsite block)."""
    n = layer.orbitals
    block = table_entries(layer.hoppings, "hoppings", (n, n)).get((0, 0))
    return None if block is None else jnp.real(jnp.diagonal(block))[::2]
