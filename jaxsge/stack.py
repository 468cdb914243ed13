"""The general layered junction: layers with their own terms, side leads anywhere, top and bottom leads.

A :class:`Stack` is a pile of ``Lz`` square layers of ``Lx x Ly`` sites (hard walls in x and y,
two spin orbitals per site in the sigma_z basis, orbital index ``(x * Ly + y) * 2 + spin``
inside a layer, lattice constant 1). Every :class:`Layer` carries its own Hamiltonian, written
term by term the way a Kwant user writes a continuum model and discretised exactly as
``kwant.continuum.discretize`` does (p -> sin k, p^2 -> 2 - 2 cos k, p^3 -> sin^3 k):

    H_layer = onsite(x, y) + V(x, y) - t (nearest-neighbour hopping)
              - (dxc / 2) n.sigma                                  exchange, n = n(theta, phi)
              + alpha1 (sigma_x p_y - sigma_y p_x)                 linear Rashba
              + alpha3 (p_x^2 - p_y^2)(sigma_x p_y - sigma_y p_x)  cubic Rashba (shared/model.md)
              + beta (sigma_x p_x - sigma_y p_y)                   Dresselhaus
              + sum_d hoppings[d]                                  any table offset -> 2x2, H[r, r+d]

with V = K0 w, w standard normal per site (the same draw as ``model.disorder_realization``
with the stack's ``seed``). A layer is coupled to the layer above by ``-tz`` on every site, or
by the table ``up`` (offset d -> 2x2 block H[(r, z), (r + d, z + 1)]) when given.

Leads [Landauer-Buttiker set-up of G. Fleury, M. Barth, C. Gorini, PRB 108, L081402 (2023),
Eq. (1), with any number of electrodes]: any number of :class:`SideLead` (a strip continuing
a layer or a range of adjacent layers through an edge, at a chosen offset and width, normal or
magnetic), an optional top :class:`VerticalLead` above layer ``Lz - 1`` (cross-section the whole
layer) and an optional bottom one below layer 0.

Directions: ``theta = phi = None`` on a layer or a lead means "along the stack's magnetization"
``(Stack.theta, Stack.phi)``, the angles that scans vary; explicit angles fix a direction, so
non-collinear stacks are written layer by layer. Units and names follow ``shared/model.md``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from .model import (PAULI, SIGMA_X, SIGMA_Y, _concrete, cubic_rashba_hoppings, disorder_realization, magnetization,
                    table_matrix)

EDGES = ("-x", "+x", "-y", "+y")


def _hashable_table(table) -> tuple:
    """A hopping table {offset: 2x2} as a sorted tuple of (offset, 2x2 tuple), hashable."""
    if table is None:
        return ()
    items = table.items() if isinstance(table, dict) else table
    out = []
    for offset, block in items:
        d = tuple(int(v) for v in offset)
        if len(d) != 2:
            raise ValueError(f"hopping offset {offset!r} must be a pair (dx, dy) of integers")
        b = np.asarray(block, dtype=complex)
        b = b * np.eye(2) if b.ndim == 0 else b
        if b.shape != (2, 2) or not np.all(np.isfinite(b)):
            raise ValueError(f"hopping block at offset {d} must be a finite number or a 2x2 matrix, got {block!r}")
        out.append((d, tuple(map(tuple, b.tolist()))))
    return tuple(sorted(out))


@dataclasses.dataclass(frozen=True)
class Layer:
    """One layer of the stack, its terms set by name (see the module docstring).

    ``onsite``: a number or an (Lx, Ly) profile (energy); ``t``: in-plane nearest-neighbour
    hopping; ``K0``: disorder strength (standard deviation of V, energy); ``dxc``, ``theta``,
    ``phi``: exchange -(dxc/2) n.sigma (angles None: the stack's magnetization); ``alpha1``,
    ``alpha3``, ``beta``: linear Rashba, cubic Rashba, Dresselhaus; ``hoppings``: extra in-plane
    table {(dx, dy): 2x2 or number}, entry d being H[r, r+d] (Kwant's orientation; the entry for
    -d, if absent, is the Hermitian conjugate); ``tz``: hopping -tz to the layer above; ``up``: a
    table {(dx, dy): 2x2} replacing it, entry d being H[(r, z), (r + d, z + 1)].
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
    hoppings: Any = ()
    tz: Any = 1.0
    up: Any = ()
    name: str = ""

    def __post_init__(self):
        object.__setattr__(self, "hoppings", _hashable_table(self.hoppings))
        object.__setattr__(self, "up", _hashable_table(self.up))

    def replace(self, **changes) -> "Layer":
        return dataclasses.replace(self, **changes)


@dataclasses.dataclass(frozen=True)
class SideLead:
    """A semi-infinite strip leaving the stack through an edge ("-x", "+x", "-y", "+y").

    It continues layers ``layers`` (an index or an inclusive (first, last) pair of adjacent
    layers) over ``width`` sites starting at ``offset`` along the edge (None: centred, as
    (L - width)//2). Its cell: onsite ``onsite`` (a number, or one per layer; None: each
    layer's own onsite, which must then be a number), hopping -t along and across the strip,
    -tz between its layers, exchange -(dxc/2) n.sigma. Spin is resolved along n for a magnetic
    lead and along ``spin_axis`` = (theta, phi) (default z) for a normal one.
    """

    name: str
    edge: str
    layers: Any = 0
    width: Optional[int] = None
    offset: Optional[int] = None
    onsite: Any = None
    t: float = 1.0
    tz: float = 1.0
    dxc: float = 0.0
    theta: Any = None
    phi: Any = None
    spin_axis: Tuple[float, float] = (0.0, 0.0)

    def __post_init__(self):
        layers = (self.layers, self.layers) if np.ndim(self.layers) == 0 else tuple(self.layers)
        if len(layers) != 2:
            raise ValueError(f"SideLead {self.name!r}: layers = {self.layers!r} must be an index or a (first, last) pair")
        object.__setattr__(self, "layers", tuple(int(v) for v in layers))
        if self.onsite is not None and np.ndim(self.onsite) > 0:
            object.__setattr__(self, "onsite", tuple(float(v) for v in np.asarray(self.onsite).ravel()))
        object.__setattr__(self, "spin_axis", tuple(float(v) for v in self.spin_axis))

    @property
    def magnetic(self) -> bool:
        return float(self.dxc) != 0.0


@dataclasses.dataclass(frozen=True)
class VerticalLead:
    """A semi-infinite lead along z above the top layer (or below layer 0), cross-section Lx x Ly.

    Onsite ``onsite``, hopping -t in every direction (also to the stack), exchange
    -(dxc/2) n.sigma (angles None: the stack's magnetization). Spin is resolved along n.
    """

    name: str = "M"
    onsite: float = 6.0
    t: float = 1.0
    dxc: float = 0.0
    theta: Any = None
    phi: Any = None


@dataclasses.dataclass(frozen=True)
class Stack:
    """A layered junction: layers bottom to top, its leads, the magnetization angles, the seed.

    ``theta``, ``phi`` (the magnetization followed by every layer and lead whose own angles are
    None) may be arrays: transmissions are then vmapped over them. ``seed`` draws the disorder
    of the layers with ``K0`` > 0 (realization ``index`` 0 unless asked otherwise).
    """

    Lx: int
    Ly: int
    layers: Tuple[Layer, ...]
    side_leads: Tuple[SideLead, ...] = ()
    top: Optional[VerticalLead] = None
    bottom: Optional[VerticalLead] = None
    theta: Any = math.pi / 2
    phi: Any = 0.0
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "side_leads", tuple(self.side_leads))

    @property
    def Lz(self) -> int:
        return len(self.layers)

    @property
    def N(self) -> int:
        """Orbitals in one layer, 2 Lx Ly."""
        return 2 * self.Lx * self.Ly

    def replace(self, **changes) -> "Stack":
        return dataclasses.replace(self, **changes)

    @property
    def lead_names(self) -> Tuple[str, ...]:
        """Leads in the order of the transmission arrays: side leads, then top, then bottom."""
        names = [lead.name for lead in self.side_leads]
        names += [lead.name for lead in (self.top, self.bottom) if lead is not None]
        return tuple(names)


def _check_real(name: str, value, allow_array: bool = False):
    value = _concrete(value)
    if value is None:
        return
    if value.ndim > 0 and not allow_array:
        raise ValueError(f"{name} = {value!r} must be a real number")
    if not np.issubdtype(value.dtype, np.number) or np.iscomplexobj(value) or not np.all(np.isfinite(value)):
        raise ValueError(f"{name} = {value!r} must be a finite real number")


def _check_direction(where: str, theta, phi):
    if (theta is None) != (phi is None):
        raise ValueError(f"{where}: give both theta and phi, or neither (None follows the stack's magnetization)")
    if theta is not None:
        _check_real(f"{where}.theta", theta)
        _check_real(f"{where}.phi", phi)


def _hermitian_half(table: tuple, where: str) -> dict:
    """Half of a full hopping table (dx > 0, or dx = 0 and dy > 0), the rest being its conjugate.

    The (0, 0) entry, if any, is returned under (0, 0) and must be Hermitian. An entry for -d
    given together with d must be d's conjugate transpose, otherwise the layer is not Hermitian.
    """
    full = {d: np.asarray(b, dtype=complex) for d, b in table}
    half = {}
    for d, b in full.items():
        if d == (0, 0):
            if not np.allclose(b, b.conj().T, atol=1e-14):
                raise ValueError(f"{where}: the (0, 0) entry of the hopping table must be Hermitian")
            half[d] = b
            continue
        neg = (-d[0], -d[1])
        if neg in full and not np.allclose(full[neg], b.conj().T, atol=1e-14):
            raise ValueError(f"{where}: hopping table entries {d} and {neg} must be conjugate transposes")
        if d[0] > 0 or (d[0] == 0 and d[1] > 0):
            half[d] = b
        elif neg not in full:
            half[neg] = b.conj().T
    return half


def side_lead_extent(stack: Stack, lead: SideLead) -> Tuple[int, int]:
    """(offset, width) of a side lead along its edge (defaults resolved)."""
    length = stack.Ly if lead.edge in ("-x", "+x") else stack.Lx
    width = length if lead.width is None else int(lead.width)
    offset = (length - width) // 2 if lead.offset is None else int(lead.offset)
    return offset, width


def validate_stack(s: Stack) -> None:
    """Raise ValueError naming the offending parameter and its allowed range (plain Python, before jit)."""
    for name in ("Lx", "Ly", "seed"):
        value = getattr(s, name)
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"{name} = {value!r} must be an integer")
    if s.Lx < 1 or s.Ly < 1:
        raise ValueError(f"Lx = {s.Lx}, Ly = {s.Ly} must be positive integers (>= 1)")
    if s.seed < 0:
        raise ValueError(f"seed = {s.seed} must be a non-negative integer")
    if s.Lz < 1 or not all(isinstance(layer, Layer) for layer in s.layers):
        raise ValueError("layers must be a non-empty sequence of Layer")
    _check_real("theta", s.theta, allow_array=True)
    _check_real("phi", s.phi, allow_array=True)
    for z, layer in enumerate(s.layers):
        where = f"layers[{z}]"
        onsite = _concrete(layer.onsite)
        if onsite is not None and onsite.ndim > 0 and onsite.shape != (s.Lx, s.Ly):
            raise ValueError(f"{where}.onsite has shape {onsite.shape}; a profile must have shape (Lx, Ly) = ({s.Lx}, {s.Ly})")
        _check_real(f"{where}.onsite", layer.onsite, allow_array=True)
        for name in ("t", "K0", "dxc", "alpha1", "alpha3", "beta", "tz"):
            _check_real(f"{where}.{name}", getattr(layer, name))
        k0 = _concrete(layer.K0)
        if k0 is not None and k0 < 0:
            raise ValueError(f"{where}.K0 = {float(k0)} must be >= 0 (disorder strength, energy units)")
        _check_direction(where, layer.theta, layer.phi)
        _hermitian_half(layer.hoppings, f"{where}.hoppings")
        for d, _ in layer.hoppings:
            if abs(d[0]) >= s.Lx or abs(d[1]) >= s.Ly:
                raise ValueError(f"{where}.hoppings offset {d} does not fit in a {s.Lx} x {s.Ly} layer")
        if layer.up and z == s.Lz - 1:
            raise ValueError(f"{where}.up: the top layer has no layer above it (couple lead 'top' through its t)")
    names = s.lead_names
    if not names:
        raise ValueError("a stack needs at least one lead (side_leads, top or bottom)")
    if len(set(names)) != len(names):
        raise ValueError(f"lead names {names} must be distinct")
    for lead in s.side_leads:
        where = f"side lead {lead.name!r}"
        if lead.edge not in EDGES:
            raise ValueError(f"{where}: edge = {lead.edge!r} must be one of {EDGES}")
        z0, z1 = lead.layers
        if not 0 <= z0 <= z1 < s.Lz:
            raise ValueError(f"{where}: layers = {lead.layers} must satisfy 0 <= first <= last < Lz = {s.Lz}")
        length = s.Ly if lead.edge in ("-x", "+x") else s.Lx
        offset, width = side_lead_extent(s, lead)
        if not (1 <= width and 0 <= offset and offset + width <= length):
            raise ValueError(f"{where}: offset = {offset}, width = {width} must satisfy 1 <= width and "
                             f"0 <= offset <= offset + width <= {length} (the edge length)")
        for name in ("t", "tz", "dxc"):
            _check_real(f"{where}.{name}", getattr(lead, name))
        if float(lead.t) <= 0 or float(lead.tz) <= 0:
            raise ValueError(f"{where}: t = {lead.t}, tz = {lead.tz} must be > 0")
        _check_direction(where, lead.theta, lead.phi)
        if lead.onsite is None:
            for z in range(z0, z1 + 1):
                if np.ndim(_concrete(s.layers[z].onsite)) > 0:
                    raise ValueError(f"{where}: layer {z} has an onsite profile; give the lead its own onsite")
        elif np.ndim(lead.onsite) > 0 and len(lead.onsite) != z1 - z0 + 1:
            raise ValueError(f"{where}: onsite has {len(lead.onsite)} values for {z1 - z0 + 1} layers")
    for where, lead in (("top", s.top), ("bottom", s.bottom)):
        if lead is None:
            continue
        if not isinstance(lead, VerticalLead):
            raise ValueError(f"{where} must be a VerticalLead or None")
        for name in ("onsite", "t", "dxc"):
            _check_real(f"{where} lead {lead.name!r}.{name}", getattr(lead, name))
        if float(lead.t) <= 0:
            raise ValueError(f"{where} lead {lead.name!r}: t = {lead.t} must be > 0")
        _check_direction(f"{where} lead {lead.name!r}", lead.theta, lead.phi)


def direction(stack: Stack, theta, phi):
    """(theta, phi) of a layer or lead: its own angles, or the stack's when None."""
    return (stack.theta, stack.phi) if theta is None else (theta, phi)


def linear_rashba_hoppings(alpha1) -> dict:
    """H[r, r+d] of alpha1 (sigma_x p_y - sigma_y p_x), p -> sin k: half of the offsets.

    Symbol alpha1 (sigma_x sin ky - sigma_y sin kx) with H(k) = sum_d H[r, r+d] exp(i k.d).
    """
    return {(1, 0): 0.5j * alpha1 * jnp.asarray(SIGMA_Y), (0, 1): -0.5j * alpha1 * jnp.asarray(SIGMA_X)}


def dresselhaus_hoppings(beta) -> dict:
    """H[r, r+d] of beta (sigma_x p_x - sigma_y p_y), p -> sin k: half of the offsets."""
    return {(1, 0): -0.5j * beta * jnp.asarray(SIGMA_X), (0, 1): 0.5j * beta * jnp.asarray(SIGMA_Y)}


def in_plane_table(layer: Layer) -> dict:
    """Half table (see :func:`_hermitian_half`) of every in-plane hopping of a layer."""
    eye = jnp.eye(2)
    table = {(1, 0): -layer.t * eye, (0, 1): -layer.t * eye}
    terms = [linear_rashba_hoppings(layer.alpha1), cubic_rashba_hoppings(layer.alpha3),
             dresselhaus_hoppings(layer.beta), _hermitian_half(layer.hoppings, "hoppings")]
    for term in terms:
        for d, block in term.items():
            if d != (0, 0):
                table[d] = table.get(d, 0) + block
    return table


def layer_potential(stack: Stack, z: int, index=0, disordered=None) -> jnp.ndarray:
    """onsite(x, y) + K0 w(x, y) of layer z, shape (Lx, Ly); w is slice z of the stack's draw.

    ``disordered`` (static) skips the draw when False; None decides from a concrete K0.
    """
    layer = stack.layers[z]
    onsite = jnp.broadcast_to(jnp.asarray(layer.onsite, dtype=float), (stack.Lx, stack.Ly))
    if disordered is None:
        k0 = _concrete(layer.K0)
        disordered = k0 is None or bool(np.any(k0))
    if not disordered:
        return onsite
    w = disorder_realization(stack.seed, index, (stack.Lz, stack.Lx, stack.Ly))[z]
    return onsite + layer.K0 * w


def layer_matrix(stack: Stack, z: int, theta, phi, potential) -> jnp.ndarray:
    """Dense Hamiltonian of layer z in the sigma_z basis, (2 Lx Ly, 2 Lx Ly), at the stack angles theta, phi.

    ``potential``: the scalar onsite energy of every site, :func:`layer_potential`.
    """
    layer = stack.layers[z]
    th, ph = (theta, phi) if layer.theta is None else (layer.theta, layer.phi)
    site = -(layer.dxc / 2) * jnp.einsum("i,ijk->jk", magnetization(th, ph), PAULI)
    site = site + jnp.asarray(_hermitian_half(layer.hoppings, "hoppings").get((0, 0), np.zeros((2, 2))))
    pot = jnp.asarray(potential).reshape(-1)
    n_sites = stack.Lx * stack.Ly
    h = jnp.kron(jnp.eye(n_sites), site) + jnp.diag(jnp.repeat(pot, 2)).astype(complex)
    hop = table_matrix(stack.Lx, stack.Ly, in_plane_table(layer))
    return h + hop + hop.conj().T


def interlayer_matrix(stack: Stack, z: int):
    """H[layer z, layer z + 1]: the scalar -tz (times the identity) or a dense matrix from ``up``."""
    layer = stack.layers[z]
    if not layer.up:
        return -layer.tz
    return table_matrix(stack.Lx, stack.Ly, {d: np.asarray(b) for d, b in layer.up})


def side_lead_sites(stack: Stack, lead: SideLead) -> np.ndarray:
    """In-layer site indices (x * Ly + y) of the lead's interface, in order along the edge."""
    offset, width = side_lead_extent(stack, lead)
    j = offset + np.arange(width)
    Lx, Ly = stack.Lx, stack.Ly
    return {"-x": 0 * Ly + j, "+x": (Lx - 1) * Ly + j, "-y": j * Ly + 0, "+y": j * Ly + Ly - 1}[lead.edge]


def side_lead_onsite(stack: Stack, lead: SideLead) -> np.ndarray:
    """Onsite energy of each layer of the lead's cell, shape (number of layers,)."""
    z0, z1 = lead.layers
    if lead.onsite is None:
        return np.array([float(np.asarray(stack.layers[z].onsite)) for z in range(z0, z1 + 1)])
    return np.broadcast_to(np.asarray(lead.onsite, dtype=float), (z1 - z0 + 1,)).copy()


def side_lead_cross_section(stack: Stack, lead: SideLead) -> np.ndarray:
    """Spin-independent cell Hamiltonian of a side lead, (layers x width) square, order (layer, site)."""
    _, width = side_lead_extent(stack, lead)
    n_layers = lead.layers[1] - lead.layers[0] + 1
    along = -lead.t * (np.eye(width, k=1) + np.eye(width, k=-1))
    across = -lead.tz * (np.eye(n_layers, k=1) + np.eye(n_layers, k=-1))
    return (np.kron(np.diag(side_lead_onsite(stack, lead)), np.eye(width)) + np.kron(np.eye(n_layers), along)
            + np.kron(across, np.eye(width)))


def layer_is_uniform(layer: Layer) -> bool:
    """No onsite profile, disorder, spin-orbit coupling or extra hoppings (concrete values)."""
    values = [_concrete(getattr(layer, name)) for name in ("onsite", "K0", "alpha1", "alpha3", "beta")]
    if any(v is None for v in values):
        return False
    onsite, *soc = values
    return onsite.ndim == 0 and not any(np.any(v) for v in soc) and not layer.hoppings


jax.tree_util.register_dataclass(
    Layer, data_fields=["onsite", "t", "K0", "dxc", "theta", "phi", "alpha1", "alpha3", "beta", "tz"],
    meta_fields=["hoppings", "up", "name"])
jax.tree_util.register_dataclass(Stack, data_fields=["layers", "theta", "phi"],
                                 meta_fields=["Lx", "Ly", "side_leads", "top", "bottom", "seed"])

__all__ = ["Layer", "SideLead", "VerticalLead", "Stack", "validate_stack", "EDGES"]
