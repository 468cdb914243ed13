"""The layered junction: layers with their own terms, side leads anywhere, top and bottom leads.

A :class:`Stack` is a pile of ``Lz`` square layers of ``Lx x Ly`` sites (hard walls in x and y,
two spin orbitals per site in the sigma_z basis, lattice constant 1). Every :class:`Layer`
carries its own Hamiltonian, written term by term the way a Kwant user writes a continuum
model and discretised exactly as ``kwant.continuum.discretize`` does (p -> sin k,
p^2 -> 2 - 2 cos k, p^3 -> sin^3 k):

    H_layer = onsite(x, y) + V(x, y) - t (nearest-neighbour hopping)
              - (dxc / 2) n.sigma                                  exchange, n = n(theta, phi)
              + alpha1 (sigma_x p_y - sigma_y p_x)                 linear Rashba
              + alpha3 (p_x^2 - p_y^2)(sigma_x p_y - sigma_y p_x)  cubic Rashba (docs/model.md)
              + beta (sigma_x p_x - sigma_y p_y)                   Dresselhaus
              + sum_d hoppings[d]                                  any table offset -> 2x2, H[r, r+d]

with V = K0 w, w standard normal per site: realization r of the stack's ``seed``
(``core.lattice.disorder_realization``). A layer is coupled to the layer above by ``-tz`` on
every site, or by the table ``up`` (offset d -> 2x2 block H[(r, z), (r + d, z + 1)]).

Leads [the Landauer-Buttiker set-up of G. Fleury, M. Barth, C. Gorini, PRB 108, L081402
(2023), Eq. (1), with any number of electrodes]: any number of :class:`SideLead` (a strip
continuing a layer or a range of adjacent layers through an edge, at a chosen offset and
width, normal or magnetic), an optional top :class:`VerticalLead` above layer ``Lz - 1``
(cross-section the whole layer) and an optional bottom one below layer 0.

Directions: ``theta = phi = None`` on a layer or a lead means "along the stack's magnetization"
``(Stack.theta, Stack.phi)``, the angles that scans vary; explicit angles fix a direction, so
non-collinear stacks are written layer by layer.

Every physical number (onsite energies and profiles, hoppings and hopping tables, exchange
magnitudes and directions, alpha1, alpha3, beta, K0, every lead's parameters) is a pytree
leaf: it can be traced, batched, differentiated and changed without recompiling. Geometry
(sizes, lead placement, names, the seed) is static.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from ..core.lattice import (add_tables, band_energies, cubic_rashba_table, dresselhaus_table, exchange_block, is_upper_half,
                            linear_rashba_table, mode_energies)

EDGES = ("-x", "+x", "-y", "+y")
# The elimination along z is unrolled when compiled (one step per layer): deeper stacks would
# compile for minutes. 256 layers is far beyond any junction studied here.
MAX_LAYERS = 256


@dataclasses.dataclass(frozen=True)
class Layer:
    """One layer of the stack, its terms set by name (see the module docstring).

    ``onsite``: a number or an (Lx, Ly) profile (energy); ``t``: in-plane nearest-neighbour
    hopping; ``K0``: disorder strength (standard deviation of V, energy); ``dxc``, ``theta``,
    ``phi``: exchange -(dxc/2) n.sigma (angles None: the stack's magnetization); ``alpha1``,
    ``alpha3``, ``beta``: linear Rashba, cubic Rashba, Dresselhaus; ``hoppings``: extra in-plane
    table {(dx, dy): 2x2 or number}, entry d being H[r, r+d] (Kwant's orientation; the entry for
    -d, if absent, is the Hermitian conjugate); ``tz``: hopping -tz to the layer above; ``up``: a
    table {(dx, dy): 2x2 or number} replacing it, entry d being H[(r, z), (r + d, z + 1)].
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
    name: str = ""

    def replace(self, **changes) -> "Layer":
        return dataclasses.replace(self, **changes)


@dataclasses.dataclass(frozen=True)
class SideLead:
    """A semi-infinite strip leaving the stack through an edge ("-x", "+x", "-y", "+y").

    It continues layers ``layers`` (an index or an inclusive (first, last) pair of adjacent
    layers) over ``width`` sites starting at ``offset`` along the edge (None: the whole edge,
    centred: (L - width)//2). Its cell: onsite ``onsite`` (a number, or one per layer; None:
    each layer's own onsite, which must then be a number), hopping -t along and across the
    strip (also to the stack), -tz between its layers, exchange -(dxc/2) n.sigma. Spin is
    resolved along n for a magnetic lead and along ``spin_axis`` = (theta, phi) (default z) for
    a normal one.
    """

    name: str
    edge: str
    layers: Any = 0
    width: Optional[int] = None
    offset: Optional[int] = None
    onsite: Any = None
    t: Any = 1.0
    tz: Any = 1.0
    dxc: Any = 0.0
    theta: Any = None
    phi: Any = None
    spin_axis: Tuple[float, float] = (0.0, 0.0)

    def __post_init__(self):
        # Static fields only: data fields may hold tracers or placeholders when JAX rebuilds the pytree.
        layers = self.layers
        if isinstance(layers, (int, np.integer)) and not isinstance(layers, bool):
            layers = (int(layers), int(layers))
        elif isinstance(layers, (tuple, list)) and len(layers) == 2:
            layers = tuple(layers)
        object.__setattr__(self, "layers", layers)
        object.__setattr__(self, "spin_axis", tuple(self.spin_axis))

    def replace(self, **changes) -> "SideLead":
        return dataclasses.replace(self, **changes)


@dataclasses.dataclass(frozen=True)
class VerticalLead:
    """A semi-infinite lead along z above the top layer (or below layer 0), cross-section Lx x Ly.

    Onsite ``onsite``, hopping -t in every direction (also to the stack), exchange
    -(dxc/2) n.sigma (angles None: the stack's magnetization). Spin is resolved along n.
    """

    name: str = "M"
    onsite: Any = 6.0
    t: Any = 1.0
    dxc: Any = 0.0
    theta: Any = None
    phi: Any = None

    def replace(self, **changes) -> "VerticalLead":
        return dataclasses.replace(self, **changes)


@dataclasses.dataclass(frozen=True)
class Stack:
    """A layered junction: layers bottom to top, its leads, the magnetization angles, the seed.

    ``theta``, ``phi``: the magnetization followed by every layer and lead whose own angles are
    None (the angles that scans vary). ``seed`` draws the disorder of the layers with K0 > 0.
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

    @property
    def vertical_leads(self):
        """(where, lead) for the top and bottom leads that exist."""
        return tuple((where, lead) for where, lead in (("top", self.top), ("bottom", self.bottom)) if lead is not None)


jax.tree_util.register_dataclass(
    Layer, data_fields=["onsite", "t", "K0", "dxc", "theta", "phi", "alpha1", "alpha3", "beta", "hoppings", "tz", "up"],
    meta_fields=["name"])
jax.tree_util.register_dataclass(
    SideLead, data_fields=["onsite", "t", "tz", "dxc", "theta", "phi"],
    meta_fields=["name", "edge", "layers", "width", "offset", "spin_axis"])
jax.tree_util.register_dataclass(VerticalLead, data_fields=["onsite", "t", "dxc", "theta", "phi"], meta_fields=["name"])
jax.tree_util.register_dataclass(Stack, data_fields=["layers", "side_leads", "top", "bottom", "theta", "phi"],
                                 meta_fields=["Lx", "Ly", "seed"])


# ---------------------------------------------------------------------------------------------
# Validation (plain Python, on concrete values, before anything is traced)


def concrete(value) -> Optional[np.ndarray]:
    """The value as a NumPy array, or None when it is a tracer (it is then checked where it was made)."""
    if isinstance(value, jax.core.Tracer):
        return None
    return np.asarray(value)


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _check_real(where: str, value, allow_array: bool = False):
    arr = concrete(value)
    if arr is None:
        return
    if arr.dtype == object or arr.dtype == bool or not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise ValueError(f"{where} = {_show(value)} must be a real number")
    if arr.ndim > 0 and not allow_array:
        raise ValueError(f"{where} = {_show(value)} must be a real number, not an array of shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{where} = {_show(value)} must be finite (got NaN or infinity)")


def _show(value) -> str:
    """A value for a message: numbers plainly, arrays by shape (never a NumPy repr)."""
    arr = np.asarray(value) if not isinstance(value, (str, bytes)) else None
    if arr is None or arr.dtype == object:
        return repr(value)
    if arr.ndim == 0:
        return f"{arr.item()!r}"
    return f"an array of shape {arr.shape}"


def _check_direction(where: str, theta, phi):
    if (theta is None) != (phi is None):
        raise ValueError(f"{where}: give both theta and phi, or neither (None follows the stack's magnetization)")
    if theta is not None:
        _check_real(f"{where}.theta", theta)
        _check_real(f"{where}.phi", phi)


def table_entries(table, where: str) -> dict:
    """A hopping table as {(dx, dy): 2x2 complex}, numbers promoted to multiples of the identity.

    Works on traced values; the offsets must be pairs of integers.
    """
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise ValueError(f"{where} must be a dict {{(dx, dy): 2x2 block or number}}, got {type(table).__name__}")
    out = {}
    for offset, block in table.items():
        if not (isinstance(offset, tuple) and len(offset) == 2 and all(_is_int(v) for v in offset)):
            raise ValueError(f"{where}: offset {offset!r} must be a pair (dx, dy) of integers")
        b = jnp.asarray(block, dtype=complex)
        out[offset] = b * jnp.eye(2) if b.ndim == 0 else b
    return out


def hermitian_half(table: dict) -> dict:
    """The stored half of a full in-plane table (dx > 0, or dx = 0 and dy > 0), the (0, 0) entry apart.

    An entry given only for -d contributes its conjugate transpose to d (traceable).
    """
    half = {}
    for d, b in table.items():
        if d == (0, 0):
            continue
        neg = (-d[0], -d[1])
        if is_upper_half(d):
            half[d] = b
        elif neg not in table:
            half[neg] = jnp.conj(b).T
    return half


def _check_table(where: str, table, shape, in_plane: bool) -> None:
    entries = table_entries(table, where)
    values = {d: concrete(b) for d, b in entries.items()}
    for d, b in values.items():
        if b is None:
            continue
        if b.shape != (2, 2):
            raise ValueError(f"{where}: the block at offset {d} must be a number or a 2x2 matrix, got shape {b.shape}")
        if not np.all(np.isfinite(b)):
            raise ValueError(f"{where}: the block at offset {d} must be finite")
        if abs(d[0]) >= shape[0] or abs(d[1]) >= shape[1]:
            raise ValueError(f"{where}: offset {d} does not fit in a {shape[0]} x {shape[1]} layer")
    if not in_plane:
        return
    for d, b in values.items():
        if b is None:
            continue
        if d == (0, 0) and not np.allclose(b, b.conj().T, atol=1e-14):
            raise ValueError(f"{where}: the (0, 0) entry must be Hermitian")
        neg = (-d[0], -d[1])
        if d != (0, 0) and neg in values and values[neg] is not None and not np.allclose(values[neg], b.conj().T,
                                                                                        atol=1e-14):
            raise ValueError(f"{where}: entries {d} and {neg} must be conjugate transposes (the layer must be Hermitian)")


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
    for name in ("Lx", "Ly", "seed"):
        value = getattr(s, name)
        if not _is_int(value):
            raise ValueError(f"{name} = {value!r} must be an integer")
    if s.Lx < 1 or s.Ly < 1:
        raise ValueError(f"Lx = {s.Lx}, Ly = {s.Ly} must be positive integers (>= 1)")
    if not 0 <= s.seed < 2 ** 63:
        raise ValueError(f"seed = {s.seed} must satisfy 0 <= seed < 2**63")
    if s.Lz < 1 or not all(isinstance(layer, Layer) for layer in s.layers):
        raise ValueError("layers must be a non-empty sequence of Layer")
    if s.Lz > MAX_LAYERS:
        raise ValueError(f"the stack has {s.Lz} layers; at most {MAX_LAYERS} are supported")
    _check_real("theta", s.theta, allow_array=True)
    _check_real("phi", s.phi, allow_array=True)
    for z, layer in enumerate(s.layers):
        where = f"layers[{z}]"
        onsite = concrete(layer.onsite)
        if onsite is not None and onsite.ndim > 0 and onsite.shape != (s.Lx, s.Ly):
            raise ValueError(f"{where}.onsite has shape {onsite.shape}; a profile must have shape (Lx, Ly) = "
                             f"({s.Lx}, {s.Ly})")
        _check_real(f"{where}.onsite", layer.onsite, allow_array=True)
        for name in ("t", "K0", "dxc", "alpha1", "alpha3", "beta", "tz"):
            _check_real(f"{where}.{name}", getattr(layer, name))
        k0 = concrete(layer.K0)
        if k0 is not None and k0 < 0:
            raise ValueError(f"{where}.K0 = {float(k0)} must be >= 0 (disorder strength, energy units)")
        _check_direction(where, layer.theta, layer.phi)
        _check_table(f"{where}.hoppings", layer.hoppings, (s.Lx, s.Ly), in_plane=True)
        _check_table(f"{where}.up", layer.up, (s.Lx, s.Ly), in_plane=False)
        if layer.up and z == s.Lz - 1:
            raise ValueError(f"{where}.up: the top layer has no layer above it (couple the top lead through its t)")
    names = s.lead_names
    if not names:
        raise ValueError("a stack needs at least one lead (side_leads, top or bottom)")
    for name in names:
        if not isinstance(name, str) or not name:
            raise ValueError(f"every lead needs a name (a non-empty string), got {name!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"lead names {names} must be distinct")
    for lead in s.side_leads:
        if not isinstance(lead, SideLead):
            raise ValueError("side_leads must be a sequence of SideLead")
        where = f"side lead {lead.name!r}"
        if lead.edge not in EDGES:
            raise ValueError(f"{where}: edge = {lead.edge!r} must be one of {EDGES}")
        if not (isinstance(lead.layers, tuple) and len(lead.layers) == 2 and all(_is_int(v) for v in lead.layers)):
            raise ValueError(f"{where}: layers = {lead.layers!r} must be a layer index or a (first, last) pair")
        z0, z1 = lead.layers
        if not 0 <= z0 <= z1 < s.Lz:
            raise ValueError(f"{where}: layers = {lead.layers} must satisfy 0 <= first <= last < Lz = {s.Lz}")
        for name in ("width", "offset"):
            value = getattr(lead, name)
            if value is not None and not _is_int(value):
                raise ValueError(f"{where}: {name} = {value!r} must be an integer")
        length = s.Ly if lead.edge in ("-x", "+x") else s.Lx
        offset, width = side_lead_extent(s, lead)
        if not (1 <= width and 0 <= offset and offset + width <= length):
            raise ValueError(f"{where}: offset = {offset}, width = {width} must satisfy 1 <= width and "
                             f"0 <= offset <= offset + width <= {length} (the edge length)")
        for name in ("t", "tz", "dxc"):
            _check_real(f"{where}.{name}", getattr(lead, name))
        for name in ("t", "tz"):
            value = concrete(getattr(lead, name))
            if value is not None and not value > 0:
                raise ValueError(f"{where}: {name} = {float(value)} must be > 0")
        _check_direction(where, lead.theta, lead.phi)
        if not (len(lead.spin_axis) == 2 and all(np.isfinite(float(v)) for v in lead.spin_axis)):
            raise ValueError(f"{where}: spin_axis = {lead.spin_axis!r} must be a pair (theta, phi) of finite numbers")
        n_layers = z1 - z0 + 1
        if lead.onsite is None:
            for z in range(z0, z1 + 1):
                onsite = concrete(s.layers[z].onsite)
                if onsite is not None and onsite.ndim > 0:
                    raise ValueError(f"{where}: layer {z} has an onsite profile; give the lead its own onsite")
        else:
            _check_real(f"{where}.onsite", lead.onsite, allow_array=True)
            onsite = concrete(lead.onsite)
            if onsite is not None and onsite.ndim > 0 and onsite.shape != (n_layers,):
                raise ValueError(f"{where}: onsite has shape {onsite.shape}; give one number or one per layer "
                                 f"({n_layers})")
    for where, lead in s.vertical_leads:
        if not isinstance(lead, VerticalLead):
            raise ValueError(f"{where} must be a VerticalLead or None")
        for name in ("onsite", "t", "dxc"):
            _check_real(f"{where} lead {lead.name!r}.{name}", getattr(lead, name))
        t = concrete(lead.t)
        if t is not None and not t > 0:
            raise ValueError(f"{where} lead {lead.name!r}: t = {float(t)} must be > 0")
        _check_direction(f"{where} lead {lead.name!r}", lead.theta, lead.phi)


# ---------------------------------------------------------------------------------------------
# The terms of the Hamiltonian (traceable)


def direction(owner, theta, phi):
    """(theta, phi) of a layer or lead: its own angles, or the given stack angles when None."""
    return (theta, phi) if owner.theta is None else (owner.theta, owner.phi)


SPIN_ORBIT_TABLES = {"alpha1": linear_rashba_table, "alpha3": cubic_rashba_table, "beta": dresselhaus_table}


def in_plane_table(layer: Layer, spin_orbit=("alpha1", "alpha3", "beta")) -> dict:
    """Half table of the layer's in-plane hoppings beyond the nearest-neighbour -t: the spin-orbit
    terms named in ``spin_orbit`` (the others are zero) and the user's table (its (0, 0) entry apart)."""
    soc = add_tables(*(SPIN_ORBIT_TABLES[name](getattr(layer, name)) for name in spin_orbit))
    return add_tables(soc, hermitian_half(table_entries(layer.hoppings, "hoppings")))


def site_block(layer: Layer, theta, phi):
    """The 2x2 block on every site of a layer: exchange along its direction plus the table's (0, 0) entry."""
    block = exchange_block(layer.dxc, theta, phi)
    own = table_entries(layer.hoppings, "hoppings").get((0, 0))
    return block if own is None else block + own


def layer_profile(stack: Stack, z: int, draw, disordered: bool):
    """The non-uniform part of layer z's onsite energy, (Lx, Ly): its profile (if any) plus K0 w_z.

    ``draw``: the standard-normal realization (Lz, Lx, Ly) (None when no layer is disordered);
    ``disordered`` (static, from the plan) says whether layer z draws. Returns None when the
    layer is uniform (a scalar onsite and no disorder).
    """
    layer = stack.layers[z]
    onsite = jnp.asarray(layer.onsite, dtype=float)
    profile = onsite if onsite.ndim == 2 else None
    if disordered:
        random = layer.K0 * draw[z]
        profile = random if profile is None else profile + random
    return profile


def layer_scalar_onsite(layer: Layer):
    """The uniform part of a layer's onsite energy (0 when it is a profile, which ``layer_profile`` carries)."""
    onsite = jnp.asarray(layer.onsite, dtype=float)
    return onsite if onsite.ndim == 0 else jnp.zeros(())


def side_lead_sites(stack: Stack, lead: SideLead) -> Tuple[np.ndarray, np.ndarray]:
    """(x, y) coordinates of the lead's interface sites in each of its layers, in order along the edge."""
    offset, width = side_lead_extent(stack, lead)
    j = offset + np.arange(width)
    edge = lead.edge
    x = {"-x": np.zeros(width, int), "+x": np.full(width, stack.Lx - 1), "-y": j, "+y": j}[edge]
    y = {"-x": j, "+x": j, "-y": np.zeros(width, int), "+y": np.full(width, stack.Ly - 1)}[edge]
    return x, y


def side_lead_onsite(stack: Stack, lead: SideLead):
    """Onsite energy of each layer of the lead's cell, shape (number of layers,) (traceable)."""
    z0, z1 = lead.layers
    if lead.onsite is None:
        return jnp.stack([jnp.asarray(stack.layers[z].onsite, dtype=float) for z in range(z0, z1 + 1)])
    return jnp.broadcast_to(jnp.asarray(lead.onsite, dtype=float), (z1 - z0 + 1,))


__all__ = ["Layer", "SideLead", "VerticalLead", "Stack", "validate_stack", "EDGES"]


SPIN_SIGN = np.array([1.0, -1.0])  # s = + (parallel to the axis), s = - (antiparallel)


def side_lead_modes(stack: Stack, lead: SideLead):
    """Transverse modes of a side lead's cell: (U, mu) with the cell = sum_(m, l) (t eps_m + mu_l) |m l><m l|.

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


def side_lead_chains(stack: Stack, lead: SideLead):
    """Onsite energies of the lead's mode chains, (width, layers, 2): t eps_m + mu_l - s dxc/2."""
    _, width = side_lead_extent(stack, lead)
    _, mu = side_lead_modes(stack, lead)
    e_w = mode_energies(width)
    return (lead.t * e_w[:, None, None] + mu[None, :, None]) - SPIN_SIGN[None, None, :] * lead.dxc / 2


def vertical_lead_chains(stack: Stack, lead: VerticalLead):
    """Onsite energies of a vertical lead's mode chains, (Lx, Ly, 2): onsite + t (eps_mx + eps_my) - s dxc/2."""
    return (lead.onsite + band_energies(stack.Lx, stack.Ly, lead.t))[:, :, None] - SPIN_SIGN * lead.dxc / 2
