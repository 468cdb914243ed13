"""The paper's junction as a preset of the layered model, built with jax.numpy only.

The five-terminal junction of G. Fleury, M. Barth, C. Gorini, PRB 108, L081402 (2023)
(``docs/model.md``): a 2DEG (z = 0, onsite 4t, cubic Rashba alpha3), transition layers
(onsite 6t), ``n_barrier`` barrier layers on top (onsite 6t + U0), the exchange
``-(Dxc(z)/2) n.sigma`` on every site with ``Dxc(z) = dxc exp(-(Lz - z)/xi)`` (text below
Eq. (7)) unless a layer-by-layer profile is given, side leads L (-x), R (+x), F (-y), B (+y) of
width W on the 2DEG and the magnetic lead M on top (onsite 6t, exchange dxc, no U0).
:func:`junction` turns :class:`JunctionParams` into a :class:`~jaxsge.model.stack.Stack`; it
is traceable in every physical parameter, so derivatives with respect to xi, dxc, U0, alpha3,
K0, t, mu, theta, phi reach the one solver.

``alpha1`` (0 in the paper's junction) adds a linear Rashba term to the barrier layers: the
paper's Fig. 2 mechanisms are :func:`mechanism` "barrier" (alpha1 only), "2deg" (alpha3 only)
and "both".
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np

from ..core.precision import x64
from .stack import MAX_LAYERS, Layer, SideLead, Stack, VerticalLead, concrete

DISORDER_LAYERS = ("all", "2deg")
SIDE_LEADS = ("L", "R", "F", "B")
LEADS = SIDE_LEADS + ("M",)
SIDE_EDGES = {"L": "-x", "R": "+x", "F": "-y", "B": "+y"}
MECHANISMS = ("barrier", "2deg", "both")


@dataclasses.dataclass(frozen=True)
class JunctionParams:
    """Parameters of the paper's junction, named as in ``docs/model.md``.

    Defaults are the paper's Fig. 3(b) junction (clean, xi = 1.2 Lz, theta = pi/2, phi = 0).

    Geometry (static: changing it recompiles): ``Lx, Ly, Lz`` sites, side-lead width ``W``,
    ``n_barrier`` barrier layers at the top of the stack, ``seed`` of the disorder draw,
    ``disorder_layers`` ("all": every layer, as in the paper; "2deg": the z = 0 layer only) and
    ``side_leads``, the side leads present (default L, R, F, B; ("L", "R") is the
    three-terminal set-up of the paper's Fig. 1).

    Physical parameters (array leaves: traced, batched, differentiated): ``t, mu, alpha3,
    alpha1, dxc, U0, xi, theta, phi, K0``; ``dxc_profile`` (optional, shape (Lz,)) replaces the
    exponential exchange profile layer by layer; ``disorder`` (optional, shape (Lz, Lx, Ly)) is
    an explicit on-site potential V(x, y, z) in units of energy, used instead of the K0-scaled
    Gaussian draw so that one realization can be reproduced elsewhere.
    """

    Lx: int = 50
    Ly: int = 50
    Lz: int = 6
    W: int = 30
    n_barrier: int = 2
    t: Any = 1.0
    mu: Any = 1.1
    alpha3: Any = -0.2
    alpha1: Any = 0.0
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


GEOMETRY_FIELDS = ("Lx", "Ly", "Lz", "W", "n_barrier", "seed", "disorder_layers", "side_leads")
NUMBER_FIELDS = ("t", "mu", "alpha3", "alpha1", "dxc", "U0", "xi", "theta", "phi", "K0")
ARRAY_FIELDS = ("dxc_profile", "disorder")

jax.tree_util.register_dataclass(JunctionParams, data_fields=list(NUMBER_FIELDS + ARRAY_FIELDS),
                                 meta_fields=list(GEOMETRY_FIELDS))


def _real_array(name: str, value, shape) -> None:
    arr = concrete(value)
    if arr is None:
        return
    if arr.dtype == object or arr.dtype == bool or not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise ValueError(f"{name} must hold real numbers (got an array of {arr.dtype})")
    if arr.shape != shape:
        raise ValueError(f"{name} has shape {arr.shape}; it must have shape {shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must hold finite numbers (got NaN or infinity)")


def validate(p: JunctionParams) -> None:
    """Raise ValueError naming the offending parameter, its value and the allowed range.

    Called in plain Python at every public entry point, before anything is traced.
    """
    if not isinstance(p, JunctionParams):
        raise ValueError(f"expected JunctionParams, got {type(p).__name__}")
    for name in ("Lx", "Ly", "Lz", "W", "n_barrier", "seed"):
        value = getattr(p, name)
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"{name} = {value!r} must be an integer")
    for name in ("Lx", "Ly", "Lz", "W"):
        if getattr(p, name) < 1:
            raise ValueError(f"{name} = {getattr(p, name)} must be a positive integer (>= 1)")
    if p.Lz > MAX_LAYERS:
        raise ValueError(f"Lz = {p.Lz} must be at most {MAX_LAYERS} (layers of the stack)")
    if p.W > min(p.Lx, p.Ly):
        raise ValueError(f"W = {p.W} must satisfy 1 <= W <= min(Lx, Ly) = {min(p.Lx, p.Ly)}")
    if not 0 <= p.n_barrier < p.Lz:
        raise ValueError(f"n_barrier = {p.n_barrier} must satisfy 0 <= n_barrier < Lz = {p.Lz}")
    if not 0 <= p.seed < 2 ** 63:
        raise ValueError(f"seed = {p.seed} must satisfy 0 <= seed < 2**63")
    if p.disorder_layers not in DISORDER_LAYERS:
        raise ValueError(f"disorder_layers = {p.disorder_layers!r} must be one of {DISORDER_LAYERS}")
    leads = tuple(p.side_leads) if isinstance(p.side_leads, (tuple, list)) else None
    if not leads or len(set(leads)) != len(leads) or not set(leads) <= set(SIDE_LEADS):
        raise ValueError(f"side_leads = {p.side_leads!r} must be a non-empty selection, without repeats, of {SIDE_LEADS}")
    for name in NUMBER_FIELDS:
        value = concrete(getattr(p, name))
        if value is None:
            continue
        if value.dtype == object or value.dtype == bool or not np.issubdtype(value.dtype, np.number) \
                or np.iscomplexobj(value):
            raise ValueError(f"{name} = {getattr(p, name)!r} must be a real number")
        if value.ndim > 0 and name not in ("theta", "phi", "mu"):
            raise ValueError(f"{name} must be one number, got an array of shape {value.shape}")
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{name} = {value.tolist()} must be finite (got NaN or infinity)")
    checks = {"t": (lambda v: v > 0, "must be > 0 (the hopping, the unit of energy)"),
              "xi": (lambda v: v > 0, "must be > 0 (decay length of the exchange profile, in lattice constants)"),
              "K0": (lambda v: v >= 0, "must be >= 0 (disorder strength in units of t)")}
    for name, (ok, message) in checks.items():
        value = concrete(getattr(p, name))
        if value is not None and not np.all(ok(value)):
            raise ValueError(f"{name} = {value.tolist()} {message}")
    alpha1 = concrete(p.alpha1)
    if alpha1 is not None and np.any(alpha1) and p.n_barrier < 1:
        raise ValueError(f"alpha1 = {alpha1.tolist()} is the linear Rashba coupling of the barrier layers, but "
                         "n_barrier = 0; set n_barrier >= 1 or alpha1 = 0")
    if p.dxc_profile is not None:
        _real_array("dxc_profile", p.dxc_profile, (p.Lz,))
    if p.disorder is not None:
        _real_array("disorder", p.disorder, (p.Lz, p.Lx, p.Ly))


def layer_onsite(p: JunctionParams):
    """Spin-independent onsite energy eps_z + U(z) of each layer, shape (Lz,)."""
    z = np.arange(p.Lz)
    base = jnp.where(z == 0, 4.0, 6.0) * p.t
    return base + jnp.where(z >= p.Lz - p.n_barrier, 1.0, 0.0) * p.U0


def exchange_profile(p: JunctionParams):
    """Dxc(z) for z = 0 .. Lz-1: ``dxc * exp(-(Lz - z)/xi)`` or the explicit ``dxc_profile``."""
    if p.dxc_profile is not None:
        return jnp.asarray(p.dxc_profile, dtype=float)
    z = jnp.arange(p.Lz, dtype=float)
    return p.dxc * jnp.exp(-(p.Lz - z) / p.xi)


def _explicit_layers(p: JunctionParams):
    """Per layer, whether the explicit disorder array puts a potential on it (all layers when traced)."""
    if p.disorder is None:
        return [False] * p.Lz
    values = concrete(p.disorder)
    if values is None:
        return [True] * p.Lz
    return [bool(np.any(values[z])) for z in range(p.Lz)]


@x64
def junction(p: JunctionParams) -> Stack:
    """The junction of ``docs/model.md`` as a Stack (three terminals when ``p.side_leads`` = ("L", "R")).

    Side leads named L, R, F, B (those present) and the magnetic top lead M; layers named
    2deg, transition, barrier. Disorder: layer K0 = p.K0 t on the disordered layers, so
    realization r is K0 t w with w = ``disorder_realization(seed, r, (Lz, Lx, Ly))`` (on the 2DEG
    only, the z = 0 slice of the same draw); an explicit ``disorder`` array is added to the
    onsite energy of the layers it touches instead. Traceable in every physical parameter.
    """
    onsite, dxc_z = layer_onsite(p), exchange_profile(p)
    explicit = _explicit_layers(p)
    layers = []
    for z in range(p.Lz):
        drawn = p.disorder is None and (z == 0 or p.disorder_layers == "all")
        barrier = z >= p.Lz - p.n_barrier
        layer_onsite_z = onsite[z] + jnp.asarray(p.disorder, dtype=float)[z] if explicit[z] else onsite[z]
        layers.append(Layer(
            onsite=layer_onsite_z, t=p.t, tz=p.t, dxc=dxc_z[z], K0=p.K0 * p.t if drawn else 0.0,
            alpha3=p.alpha3 if z == 0 else 0.0, alpha1=p.alpha1 if barrier else 0.0,
            name="2deg" if z == 0 else ("barrier" if barrier else "transition")))
    side = tuple(SideLead(name, SIDE_EDGES[name], layers=0, width=p.W, onsite=4.0 * p.t, t=p.t)
                 for name in SIDE_LEADS if name in p.side_leads)
    return Stack(p.Lx, p.Ly, tuple(layers), side, top=VerticalLead("M", onsite=6.0 * p.t, t=p.t, dxc=p.dxc),
                 theta=p.theta, phi=p.phi, seed=p.seed)


def three_terminal(p: JunctionParams = JunctionParams(), **changes) -> JunctionParams:
    """The set-up of the paper's Fig. 1: side leads L and R and the magnet M."""
    return p.replace(side_leads=("L", "R"), **changes)


def five_terminal(p: JunctionParams = JunctionParams(), **changes) -> JunctionParams:
    """The set-up of the paper's Fig. 3: side leads L, R, F, B and the magnet M."""
    return p.replace(side_leads=SIDE_LEADS, **changes)


def mechanism(kind: str, p: JunctionParams = JunctionParams(), alpha1: float = 0.2) -> JunctionParams:
    """A Fig. 2 mechanism of the paper: spin-orbit coupling in the "barrier" only (linear Rashba
    ``alpha1`` in the barrier layers, none in the 2DEG), in the "2deg" only (the cubic Rashba
    ``p.alpha3``), or in "both"."""
    if kind not in MECHANISMS:
        raise ValueError(f"mechanism = {kind!r} must be one of {MECHANISMS}")
    if kind != "2deg" and p.n_barrier < 1:
        raise ValueError(f"n_barrier = {p.n_barrier} must be >= 1 for spin-orbit coupling in the barrier")
    return p.replace(alpha3=0.0 if kind == "barrier" else p.alpha3, alpha1=0.0 if kind == "2deg" else alpha1)


def params_dict(p: JunctionParams) -> dict:
    """The parameters as plain JSON-able values (arrays as lists), for result files."""
    out = {}
    for field in dataclasses.fields(p):
        value = getattr(p, field.name)
        if value is None:
            continue
        if field.name in GEOMETRY_FIELDS:
            out[field.name] = list(value) if isinstance(value, tuple) else value
        else:
            arr = np.asarray(value)
            out[field.name] = arr.tolist() if arr.ndim else float(arr)
    return out
