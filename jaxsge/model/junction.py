"""The paper's junction as a preset of the layered model, built with jax.numpy only.

The five-terminal junction of G. Fleury, M. Barth, C. Gorini, PRB 108, L081402 (2023)
(``docs/model.md``): a 2DEG (z = 0, onsite 4t, cubic Rashba alpha3), transition layers (onsite 6t),
``n_barrier`` barrier layers on top (onsite 6t + U0, linear Rashba ``alpha1``: 0 in the paper, set by
the Fig. 2 mechanisms of :func:`mechanism`), the exchange ``-(Dxc(z)/2) n.sigma`` on every site with
``Dxc(z) = dxc exp(-(Lz - z)/xi)`` (text below Eq. (7)) or a given profile, side leads L (-x), R (+x),
F (-y), B (+y) of width W on the 2DEG and the magnetic lead M on top (onsite 6t, exchange dxc, no U0).
:func:`junction` is traceable in every physical parameter, so derivatives reach the one solver.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np

from ..core.lattice import T2G_ORBITALS, spin_orbit_ls
from ..core.precision import x64
from .stack import (MAX_LAYERS, Layer, SideLead, Stack, VerticalLead, check_integers, check_real, check_sign, concrete,
                    known, pytree, static)

DISORDER_LAYERS = ("all", "2deg")
SIDE_LEADS = ("L", "R", "F", "B")
LEADS = SIDE_LEADS + ("M",)
SIDE_EDGES = {"L": "-x", "R": "+x", "F": "-y", "B": "+y"}
MECHANISMS = ("barrier", "2deg", "both")
MODELS = ("two_band", "t2g")
# The numbers of the t2g 2DEG (model = "t2g", :func:`t2g`), in units of t = t_l, and their defaults
# (``docs/model.md``, "The t2g junction", for the sources and the conversion to eV).
T2G_FIELDS = ("t_h", "delta_E", "lam", "gamma", "gate")
T2G_DEFAULTS = {"t_h": 0.1, "delta_E": 0.2, "lam": 0.04, "gamma": 0.08, "gate": 0.1}
T2G_COUPLINGS = ("dxy", "orbital")


@pytree
class JunctionParams:
    """Parameters of the paper's junction, named as in ``docs/model.md``; the defaults are its Fig. 3(b)
    junction (clean, xi = 1.2 Lz, theta = pi/2, phi = 0).

    Static geometry: ``Lx, Ly, Lz``, side-lead width ``W``, ``n_barrier``, ``seed`` of the disorder
    draw, ``disorder_layers`` ("all", as in the paper, or "2deg": z = 0 only) and ``side_leads``
    (default L, R, F, B; ("L", "R") is the three-terminal set-up of Fig. 1). Array leaves (traced,
    batched, differentiated): ``t, mu, alpha3, alpha1, dxc, U0, xi, theta, phi, K0``; ``dxc_profile``
    (optional, (Lz,)) replaces the exponential exchange profile; ``disorder`` (optional, (Lz, Lx, Ly))
    is an explicit potential V(x, y, z) (energy) used instead of the K0-scaled Gaussian draw, so that
    one realization can be reproduced elsewhere. ``model`` (static): "two_band" (the paper's 2DEG) or
    "t2g" (:func:`t2g`: the three-orbital 2DEG, with the traced ``t_h, delta_E, lam, gamma, gate``, None
    otherwise, and the static ``t2g_coupling``).
    """

    Lx: int = static(50)
    Ly: int = static(50)
    Lz: int = static(6)
    W: int = static(30)
    n_barrier: int = static(2)
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
    seed: int = static(0)
    disorder_layers: str = static("all")
    side_leads: tuple = static(SIDE_LEADS)
    dxc_profile: Optional[Any] = None
    disorder: Optional[Any] = None
    model: str = static("two_band")
    t2g_coupling: str = static("dxy")
    t_h: Optional[Any] = None
    delta_E: Optional[Any] = None
    lam: Optional[Any] = None
    gamma: Optional[Any] = None
    gate: Optional[Any] = None


NUMBER_FIELDS = ("t", "mu", "alpha3", "alpha1", "dxc", "U0", "xi", "theta", "phi", "K0")


def number_fields(p: "JunctionParams") -> tuple:
    """The traced numbers of a junction: ``NUMBER_FIELDS``, and ``T2G_FIELDS`` for the t2g model."""
    return NUMBER_FIELDS + (T2G_FIELDS if p.model == "t2g" else ())


def validate(p: JunctionParams) -> None:
    """Raise ValueError naming the offending parameter, its value and the allowed range (plain Python,
    at every public entry point, before anything is traced)."""
    if not isinstance(p, JunctionParams):
        raise ValueError(f"expected JunctionParams, got {type(p).__name__}")
    check_integers(p, ("Lx", "Ly", "Lz", "W", "n_barrier", "seed"), positive=("Lx", "Ly", "Lz", "W"))
    if p.Lz > MAX_LAYERS:
        raise ValueError(f"Lz = {p.Lz} must be at most {MAX_LAYERS} (layers of the stack)")
    if p.W > min(p.Lx, p.Ly):
        raise ValueError(f"W = {p.W} must satisfy 1 <= W <= min(Lx, Ly) = {min(p.Lx, p.Ly)}")
    if not 0 <= p.n_barrier < p.Lz:
        raise ValueError(f"n_barrier = {p.n_barrier} must satisfy 0 <= n_barrier < Lz = {p.Lz}")
    if p.disorder_layers not in DISORDER_LAYERS:
        raise ValueError(f"disorder_layers = {p.disorder_layers!r} must be one of {DISORDER_LAYERS}")
    leads = tuple(p.side_leads) if isinstance(p.side_leads, (tuple, list)) else None
    if not leads or len(set(leads)) != len(leads) or not set(leads) <= set(SIDE_LEADS):
        raise ValueError(f"side_leads = {p.side_leads!r} must be a non-empty selection, without repeats, "
                         f"of {SIDE_LEADS}")
    if p.model not in MODELS:
        raise ValueError(f"model = {p.model!r} must be one of {MODELS}")
    if p.t2g_coupling not in T2G_COUPLINGS:
        raise ValueError(f"t2g_coupling = {p.t2g_coupling!r} must be one of {T2G_COUPLINGS}")
    for name in T2G_FIELDS:
        given = getattr(p, name) is not None
        if given != (p.model == "t2g"):
            raise ValueError(f"{name} = {getattr(p, name)!r}: the t2g parameters {T2G_FIELDS} are set exactly when "
                             f"model = 't2g' (here model = {p.model!r}); use jaxsge.model.junction.t2g(...) or "
                             "preset = \"t2g\"")
    for name in number_fields(p):
        # mu enters the t2g 2DEG's onsite energy (its bands follow the Fermi level at fixed gate): one number there
        batched = name in ("theta", "phi") or (name == "mu" and p.model != "t2g")
        check_real(name, getattr(p, name), shapes=None if batched else ((),))
    if p.model == "t2g":
        check_sign("t_h", p.t_h, note=" (the heavy hopping of the t2g orbitals, units of t = t_l)")
    check_sign("t", p.t, note=" (the hopping, the unit of energy)")
    check_sign("xi", p.xi, note=" (decay length of the exchange profile, in lattice constants)")
    check_sign("K0", p.K0, strict=False, note=" (disorder strength in units of t)")
    alpha1 = known(p.alpha1)
    if alpha1 is not None and np.any(alpha1) and p.n_barrier < 1:
        raise ValueError(f"alpha1 = {alpha1.tolist()} is the linear Rashba coupling of the barrier layers, but "
                         "n_barrier = 0; set n_barrier >= 1 or alpha1 = 0")
    for name, shape in (("dxc_profile", (p.Lz,)), ("disorder", (p.Lz, p.Lx, p.Ly))):
        if getattr(p, name) is not None:
            check_real(name, getattr(p, name), shapes=(shape,), note=f"it must have shape {shape}")


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


@x64
def junction(p: JunctionParams) -> Stack:
    """The junction of ``docs/model.md`` as a Stack (three terminals when ``p.side_leads`` = ("L", "R")).

    Side leads named L, R, F, B (those present) and the magnetic top lead M; layers named
    2deg, transition, barrier. Disorder: layer K0 = p.K0 t on the disordered layers, so
    realization r is K0 t w with w = ``disorder_realization(seed, r, (Lz, Lx, Ly))`` (on the 2DEG
    only, the z = 0 slice of the same draw); an explicit ``disorder`` array is added to the
    onsite energy of the layers it touches instead. With ``model = "t2g"`` the 2DEG is the t2g
    layer of :func:`t2g_layer` and the side leads continue its three orbitals (:func:`t2g`).
    Traceable in every physical parameter; under a caller's ``jax.jit`` the numbers that are not traced
    stay concrete (``jax.ensure_compile_time_eval``), so that the plan reads them as numbers
    (``solve.transmissions.plan_for``).
    """
    with jax.ensure_compile_time_eval():
        return _junction(p)


def _junction(p: JunctionParams) -> Stack:
    onsite, dxc_z = layer_onsite(p), exchange_profile(p)
    values = None if p.disorder is None else concrete(p.disorder)
    t2g_model = p.model == "t2g"
    orbitals = 3 if t2g_model and p.t2g_coupling == "orbital" else 1
    layers = []
    for z in range(p.Lz):
        drawn = p.disorder is None and (z == 0 or p.disorder_layers == "all")
        barrier = z >= p.Lz - p.n_barrier
        # The explicit disorder array is added where it puts a potential (on every layer when traced).
        explicit = p.disorder is not None and (values is None or np.any(values[z]))
        potential = jnp.asarray(p.disorder, dtype=float)[z] if explicit else 0.0
        if z == 0 and t2g_model:
            layers.append(t2g_layer(p, dxc_z[0], potential, drawn))
            continue
        layers.append(Layer(
            onsite=onsite[z] + potential if explicit else onsite[z], t=p.t, tz=p.t, dxc=dxc_z[z],
            K0=p.K0 * p.t if drawn else 0.0, alpha3=p.alpha3 if z == 0 else 0.0, alpha1=p.alpha1 if barrier else 0.0,
            name="2deg" if z == 0 else ("barrier" if barrier else "transition"), orbitals=orbitals))
    if t2g_model:
        # The side leads continue the 2DEG's orbitals with its band bottoms: mu - gate for dyz, dxz (the
        # light hopping t along the lead), mu - gate - delta_E for dxy.
        shift = jnp.stack([jnp.zeros(()), jnp.zeros(()), -jnp.asarray(p.delta_E, dtype=float)])
        side_onsite, lead_orbitals = 4.0 * p.t + p.mu - p.gate, dict(orbital_onsite=shift)
    else:
        side_onsite, lead_orbitals = 4.0 * p.t, {}
    side = tuple(SideLead(name, SIDE_EDGES[name], layers=0, width=p.W, onsite=side_onsite, t=p.t, **lead_orbitals)
                 for name in SIDE_LEADS if name in p.side_leads)
    top = VerticalLead("M", onsite=6.0 * p.t, t=p.t, dxc=p.dxc,
                       orbital_onsite=jnp.zeros(3) if orbitals == 3 else None)
    return Stack(p.Lx, p.Ly, tuple(layers), side, top=top, theta=p.theta, phi=p.phi, seed=p.seed)


def t2g_blocks(t, t_h, delta_E, lam, gamma) -> dict:
    """The t2g part of the 2DEG's hopping table beyond the named nearest-neighbour hopping -t (= -t_l) on
    every orbital: (6 x 6) blocks H[r, r + d] in the basis (dyz, dxz, dxy) x spin (``docs/model.md``,
    "The t2g junction").

    With H(k) = sum_d H[r, r + d] e^(i k.d) and the onsite 4t of the layer this is the model of
    G. Khalsa, B. Lee, A. H. MacDonald, PRB 88, 041302 (2013) (arXiv:1301.2784), Eqs. of its tight-binding
    Hamiltonian, in the form of Z. Zhong, A. Toth, K. Held, PRB 87, 161102 (2013) (arXiv:1209.4705):

    - eps_yz(k) = 2 t_h (1 - cos kx) + 2 t (1 - cos ky), eps_xz(k) = 2 t (1 - cos kx) + 2 t_h (1 - cos ky),
      eps_xy(k) = 2 t (2 - cos kx - cos ky) - delta_E (relative to the layer's onsite - 4t);
    - atomic spin-orbit coupling lam L.S (:func:`~jaxsge.core.lattice.spin_orbit_ls`);
    - the inversion-breaking orbital-changing hopping, odd in the bond direction: H[r, r + x] has gamma on
      (dyz <- dxy) and -gamma on (dxy <- dyz), H[r, r + y] the same between dxz and dxy, so that
      H(k)_(yz, xy) = 2 i gamma sin kx and H(k)_(xz, xy) = 2 i gamma sin ky, i.e. the orbital Rashba term
      2 gamma (L_y sin kx - L_x sin ky). Along an x bond the mirror y -> -y survives the polar distortion:
      dxz (even in y) cannot mix with dxy (odd), dyz (odd in y, odd in z) mixes with dxy (odd in y, even in z).
    """
    eye2 = jnp.eye(2)

    def unit(a, b):
        return jnp.zeros((3, 3)).at[a, b].set(1.0)

    heavy = t - t_h  # added to the named -t, so that the heavy direction hops with -t_h
    levels = jnp.stack([-2 * heavy, -2 * heavy, -jnp.asarray(delta_E, dtype=float)])
    onsite = jnp.kron(jnp.diag(levels), eye2) + spin_orbit_ls(lam)
    along_x = heavy * unit(0, 0) + gamma * (unit(0, 2) - unit(2, 0))
    along_y = heavy * unit(1, 1) + gamma * (unit(1, 2) - unit(2, 1))
    return {(0, 0): onsite, (1, 0): jnp.kron(along_x, eye2), (0, 1): jnp.kron(along_y, eye2)}


def t2g_layer(p: JunctionParams, dxc, potential, drawn: bool) -> Layer:
    """The t2g 2DEG (z = 0) of the junction: three orbitals (dyz, dxz, dxy) with spin, onsite
    4t + mu - gate (so that the dxz/dyz band bottom lies ``gate`` below the Fermi energy mu without
    spin-orbit coupling), the blocks of :func:`t2g_blocks`, the exchange tail and the disorder as on the
    paper's 2DEG, and ``p.alpha3`` (0 in the preset) on every orbital. Coupled to the layer above
    (``p.t2g_coupling``): "dxy", the paper's one-orbital transition layer above, reached from dxy only
    by -t (an up block (6 x 2)); "orbital", three-orbital layers above, -t orbital to orbital."""
    up = {}
    if p.t2g_coupling == "dxy":
        up = {(0, 0): -p.t * jnp.kron(jnp.array([[0.0], [0.0], [1.0]]), jnp.eye(2))}
    return Layer(onsite=4.0 * p.t + p.mu - p.gate + potential, t=p.t, tz=p.t, dxc=dxc,
                 K0=p.K0 * p.t if drawn else 0.0, alpha3=p.alpha3, name="2deg", orbitals=3, orbital_names=T2G_ORBITALS,
                 up=up,
                 hoppings=t2g_blocks(p.t, p.t_h, p.delta_E, p.lam, p.gamma))


def t2g(p: JunctionParams = JunctionParams(), **changes) -> JunctionParams:
    """The t2g junction (``preset = "t2g"``): the paper's five-terminal junction whose 2DEG carries the
    three t2g orbitals (:func:`t2g_layer`); the t2g numbers default to ``T2G_DEFAULTS`` (units of t = t_l),
    the cubic Rashba ``alpha3`` to 0 (the t2g bands make their own spin-orbit splitting). ``changes``
    override any field."""
    defaults = {name: value for name, value in T2G_DEFAULTS.items() if getattr(p, name) is None}
    return p.replace(model="t2g", **{"alpha3": 0.0, **defaults, **changes})


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
    fields = {f.name: (f.metadata.get("static"), getattr(p, f.name)) for f in dataclasses.fields(p)}
    return {name: (list(value) if isinstance(value, tuple) else value) if is_static else plain(value)
            for name, (is_static, value) in fields.items() if value is not None}


def plain(value):
    """A number or array as a float or nested lists (JSON-able)."""
    arr = np.asarray(value)
    return arr.tolist() if arr.ndim else float(arr)
