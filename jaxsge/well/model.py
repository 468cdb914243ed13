"""Magnetic quantum well with interfacial Rashba coupling: Fermi-level bound states and the
current-driven (inverse spin galvanic) spin density.

Model of A. Hariri, M. Alawein, A. Manchon, arXiv:1907.07116 (I/F/I trilayer), Eqs. (1)-(4):

    H = p^2/2m + V(z) + Delta(z) sigma_z + alpha_L (z x p).sigma delta(z) - alpha_R (z x p).sigma delta(z - d)

(conventions, units and derivations: docs/quantum_well.md). Energies in eV, lengths in nm,
alpha in eV nm^2 with (z x p)/hbar = z x k, the reading under which the paper's Eq. (5) is
dimensionally consistent. States are computed for k along x, in the spin basis rotated by pi/2
about z, where the z-problem is real:

    H_z(k) = -c d^2/dz^2 + V(z) + c k^2 + Delta(z) sigma_z + k sigma_x [alpha_L delta(z) - alpha_R delta(z - d)],

c = hbar^2/2m. Every array named ``sigma_y`` below is the laboratory sigma_y, which is
sigma_x in this working basis; the laboratory sigma_x vanishes for real states.

Bound states at E_F are the roots k_n of the matching condition of Eq. (5) at both interfaces
(:func:`matching_determinant`). The spin density is the Kubo formula of Eq. (6) with the
angular integral done analytically (:func:`fermi_states`):

    S_y(z) = -(tau e E / hbar) (1 / 8 pi^2) sum_n k_n sign(d eps_n/dk) s_n(z),

s_n(z) = psi_n^dagger sigma_y psi_n (normalised, in 1/nm), so S_y(z) / (tau e E / hbar) is in
nm^-2 and its z-integral in nm^-1. All public functions take and return float64.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np

from ..core.batching import padded_chunks
from ..core.precision import x64

# CODATA 2018 (hbar from the exact h; e exact since the 2019 SI).
HBAR_J_S = 1.054571817e-34
ELECTRON_MASS_KG = 9.1093837015e-31
ELEMENTARY_CHARGE_C = 1.602176634e-19
HBAR_EV_S = HBAR_J_S / ELEMENTARY_CHARGE_C
#: hbar^2 / (2 m_e) in eV nm^2 (0.0380998...).
HBAR2_2ME = HBAR_J_S ** 2 / (2 * ELECTRON_MASS_KG) / ELEMENTARY_CHARGE_C * 1e18
#: Prefactor of Eq. (6) after the angular integral: S_y = KUBO_PREFACTOR (tau e E / hbar) sum k sign(v) s(z).
KUBO_PREFACTOR = -1.0 / (8 * math.pi ** 2)

SPIN = np.array([1.0, -1.0])  # sigma_z of the (up, down) components; up is along m = +z
SIGMA_X = np.array([[0.0, 1.0], [1.0, 0.0]])
PARAM_FIELDS = ("d", "V_L", "V_R", "E_F", "Delta", "alpha_L", "alpha_R", "Delta_L", "Delta_R", "mass")
UNITS = {**dict.fromkeys(PARAM_FIELDS, "eV"), "d": "nm", "alpha_L": "eV nm^2", "alpha_R": "eV nm^2", "mass": "m_e"}
K_CAP = 10.0  # default k_max is at most K_CAP k_top (resolve_numerics)
#: Largest absolute value of an energy (eV), a Rashba parameter (eV nm^2), d (nm) and mass or 1/mass (m_e) accepted:
#: Eq. (1) is non-relativistic (energies far below m_e c^2 = 511 keV), and the bound keeps the products in
#: the matching determinant far inside the float64 range.
MAGNITUDE_LIMIT = 1e4
#: Largest k_max d accepted: the root grid needs about 4 (k_max d)^2 / pi^2 points per parameter point
#: (about 1e6 here, some 100 MB per point of a batch chunk), the states about k_max d / pi slots.
KD_LIMIT = 1600.0
#: Largest n_k accepted (twice the default at k_max d = KD_LIMIT).
MAX_K_GRID = 2 ** 21
_SERIES = 1e-3  # |x z^2| below which cosh/cos are replaced by their Taylor series (error < 1e-17)


@dataclasses.dataclass(frozen=True)
class WellParams:
    """Parameters of the quantum well (eV, nm, eV nm^2); defaults are the paper's Fig. 2(a).

    ``d`` width of the ferromagnet, ``V_L``, ``V_R`` barrier heights (the well bottom is 0),
    ``E_F`` Fermi energy, ``Delta`` exchange in the well (H contains +Delta sigma_z, so spin up
    along m = +z is the minority spin for Delta > 0), ``Delta_L``, ``Delta_R`` exchange in the
    barriers (0: exchange inside the ferromagnet only), ``alpha_L``, ``alpha_R`` interfacial
    Rashba parameters with the signs of Eq. (3), ``mass`` the effective mass in units of m_e.
    Every field is an array leaf: it can be batched, traced and differentiated.
    """

    d: Any = 2.2
    V_L: Any = 5.0
    V_R: Any = 5.0
    E_F: Any = 3.0
    Delta: Any = 0.25
    alpha_L: Any = 0.046
    alpha_R: Any = 0.0
    Delta_L: Any = 0.0
    Delta_R: Any = 0.0
    mass: Any = 1.0

    replace = dataclasses.replace  # p.replace(d=3.0): a copy with some fields changed

    def as_dict(self) -> dict:
        """Plain floats (or lists for batched fields), for result files."""
        return {name: np.asarray(getattr(self, name), dtype=float).tolist() for name in PARAM_FIELDS}


jax.tree_util.register_dataclass(WellParams, data_fields=list(PARAM_FIELDS), meta_fields=[])


@dataclasses.dataclass(frozen=True)
class WellNumerics:
    """Static numerical settings (changing them recompiles); None means chosen by :func:`resolve_numerics`.

    ``k_max``: roots are searched on [0, k_max] (1/nm); ``n_k``: grid points, uniform in k^2,
    for bracketing; ``n_slots``: capacity for roots (an error is raised if exceeded);
    ``n_quad``: Gauss-Legendre nodes for integrals across the well; ``bisect_steps``:
    bisection steps per bracket (64 reach the float64 resolution of any bracket).
    """

    k_max: Optional[float] = None
    n_k: Optional[int] = None
    n_slots: Optional[int] = None
    n_quad: Optional[int] = None
    bisect_steps: int = 64


def _entry(value, bad=None) -> str:
    """The first entry of ``value`` where ``bad`` holds (or its first entry), as plain text for messages."""
    arr = np.asarray(value)
    mask = np.ones(arr.shape, bool) if bad is None else np.broadcast_to(bad, arr.shape)
    i = int(np.argmax(mask.ravel()))
    first = arr.ravel()[i]
    first = first.item() if isinstance(first, np.generic) else first
    text = repr(first) if isinstance(first, str) else str(first)
    if arr.ndim == 0:
        return text
    index = [int(j) for j in np.unravel_index(i, arr.shape)]
    return f"{text} (entry {index[0] if len(index) == 1 else index} of the batch)"


def validate(p: WellParams) -> None:
    """Raise ValueError naming the offending parameter, its value and the allowed range (plain Python, before jit).

    Eq. (1) needs d > 0 and mass > 0, and states at E_F must be bound: E_F below both barriers
    for both spins (``V - |Delta_side| > E_F``) and above the band bottom ``-|Delta|`` of the
    ferromagnet. Energies, Rashba parameters, d and the mass (and 1/mass) are bounded by
    :data:`MAGNITUDE_LIMIT`, far beyond any solid, so that no grid or product overflows.
    """
    values = {}
    for name in PARAM_FIELDS:
        if isinstance(getattr(p, name), jax.core.Tracer):
            continue
        value = np.asarray(getattr(p, name))
        if value.size == 0:
            raise ValueError(f"{name} is an empty array; give a number ({UNITS[name]})")
        if value.dtype == bool or not np.issubdtype(value.dtype, np.number) or np.iscomplexobj(value):
            raise ValueError(f"{name} = {_entry(value)} must be a real number ({UNITS[name]})")
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{name} = {_entry(value, ~np.isfinite(value))} must be finite (got NaN or infinity)")
        values[name] = value.astype(float)
    limit = MAGNITUDE_LIMIT
    ranges = {  # name: (out of range, what is allowed); the other fields must be within +/- limit
        "d": (lambda v: (v <= 0) | (v > limit), f"> 0 and at most {limit:g} (width of the ferromagnet, nm)"),
        "mass": (lambda v: (v < 1 / limit) | (v > limit),
                 f"between {1 / limit:g} and {limit:g} (effective mass in units of m_e)")}
    for name in sorted(values, key=lambda n: n not in ranges):  # d and mass first, then PARAM_FIELDS order
        out_of_range, allowed = ranges.get(name, (lambda v: np.abs(v) > limit, f"within +/-{limit:g} {UNITS[name]} "
                                                  "(Eq. (1) is a non-relativistic effective-mass model)"))
        bad = out_of_range(values[name])
        if np.any(bad):
            raise ValueError(f"{name} = {_entry(values[name], bad)} must be {allowed}")
    if not set(PARAM_FIELDS) <= set(values):
        return
    try:
        shape = np.broadcast_shapes(*(value.shape for value in values.values()))
    except ValueError:
        shapes = ", ".join(f"{name} {value.shape}" for name, value in values.items() if value.ndim)
        raise ValueError(f"the parameter arrays do not broadcast together: {shapes}") from None
    v = {name: np.broadcast_to(value, shape) for name, value in values.items()}
    bound = ": states at the Fermi energy must be bound (evanescent in both barriers for both spins)"
    floors = [(f"V_{s}", v["E_F"] + np.abs(v[f"Delta_{s}"]), f"exceed E_F + |Delta_{s}|", bound) for s in "LR"]
    floors.append(("E_F", -np.abs(v["Delta"]), "be above the bottom of the ferromagnet's band, -|Delta|", ""))
    for name, floor, what, why in floors:  # each value must exceed its floor
        bad = v[name] <= floor
        if np.any(bad):
            raise ValueError(f"{name} = {_entry(v[name], bad)} must {what} = {_entry(floor, bad)} eV{why}")


def resolve_numerics(p: WellParams, numerics: Optional[WellNumerics] = None) -> tuple[WellNumerics, bool]:
    """Fill the unset fields of ``numerics`` for the (possibly batched, concrete) parameters ``p``.

    Returns the settings and whether [0, k_max] provably holds every root. The default k_max is
    the bound ``c k^2 (1 - A^2/4c^2) <= E_F + |Delta|``, ``A = |alpha_L| + |alpha_R|`` (docs/quantum_well.md,
    "k_max"), capped at K_CAP k_top (``k_top^2 = (E_F + |Delta|)/c``); where the cap applies (A within
    0.5 % of 2c or beyond) a root beyond the cap is not excluded (near A = 2c one root runs to infinity).
    """
    numerics = numerics or WellNumerics()
    a = {name: np.asarray(getattr(p, name), dtype=float) for name in PARAM_FIELDS}
    c = HBAR2_2ME / a["mass"]
    k_top = np.sqrt((a["E_F"] + np.abs(a["Delta"])) / c)
    reduction = 1 - ((np.abs(a["alpha_L"]) + np.abs(a["alpha_R"])) / (2 * c)) ** 2
    bound = np.where(reduction > 0, k_top / np.sqrt(np.where(reduction > 0, reduction, 1.0)), np.inf)
    rigorous = bool(np.all(bound <= K_CAP * k_top))
    k_max = float(np.max(np.minimum(bound, K_CAP * k_top)) * (1 + 1e-6))
    if numerics.k_max is not None:
        k_max = numerics.k_max
        if not (np.isfinite(k_max) and k_max > 0):
            raise ValueError(f"k_max = {k_max} must be a finite number > 0 (1/nm)")
        rigorous = bool(np.all(k_max >= bound))
    d_max = float(np.max(a["d"]))
    # Checked before any grid is sized: a large k_max d would otherwise fail only when the grids
    # are allocated (or overflow the integer conversion below).
    if not k_max * d_max <= KD_LIMIT:
        raise ValueError(f"k_max d = {k_max * d_max:.4g} (k_max = {k_max:.4g} 1/nm, d up to {d_max:g} nm) must be "
                         f"at most {KD_LIMIT:g}: the root grid needs about 4 (k_max d)^2 / pi^2 points; reduce d, or "
                         "k_max: it grows with E_F + |Delta| and the mass, and with |alpha_L| + |alpha_R| towards "
                         f"hbar^2/m (up to {K_CAP:g} times the Fermi momentum)")
    n_k = numerics.n_k or max(512, int(np.ceil(4 * k_max ** 2 * d_max ** 2 / np.pi ** 2)) + 1)
    # Levels below E_F per spin (finite well) plus room for interface-bound states.
    levels = 2 * (int(float(np.max(k_top)) * d_max / np.pi) + 1) + 8
    n_slots = numerics.n_slots or 4 * -(-levels // 4)
    n_quad = numerics.n_quad or 32 + int(np.ceil(1.5 * k_max * d_max))
    for name, value, low in (("n_k", n_k, 16), ("n_slots", n_slots, 2), ("n_quad", n_quad, 8)):
        if int(value) != value or value < low:
            raise ValueError(f"{name} = {value} must be an integer >= {low}")
    if n_k > MAX_K_GRID:
        raise ValueError(f"n_k = {n_k} must be at most {MAX_K_GRID} (grid points of the root search)")
    return WellNumerics(k_max, int(n_k), int(n_slots), int(n_quad), numerics.bisect_steps), rigorous


# --- Solutions in each region ---

def _coefficients(p: WellParams, E, k):
    """Per spin: x = lambda^2 in the well (u'' = x u), decay constants q_L, q_R, and the
    derivative jumps g_L = alpha_L k / c, g_R = alpha_R k / c of Eq. (5)."""
    c = HBAR2_2ME / p.mass
    ck2 = c * k * k
    x = (ck2 + SPIN * p.Delta - E) / c
    q_L = jnp.sqrt((p.V_L + SPIN * p.Delta_L + ck2 - E) / c)
    q_R = jnp.sqrt((p.V_R + SPIN * p.Delta_R + ck2 - E) / c)
    return x, q_L, q_R, p.alpha_L * k / c, p.alpha_R * k / c


def _series(x, z):
    """y = x z^2, whether |y| < _SERIES, r = sqrt(|x|) (1 where small), and the Taylor series of C(z), S(z),
    the solutions of u'' = x u with C(0) = S'(0) = 1, C'(0) = S(0) = 0 (S' = C, C' = x S)."""
    y = x * z * z
    small = jnp.abs(y) < _SERIES
    r = jnp.sqrt(jnp.where(small, 1.0, jnp.abs(x)))
    return y, small, r, 1 + y / 2 + y ** 2 / 24 + y ** 3 / 720, z * (1 + y / 6 + y ** 2 / 120 + y ** 3 / 5040)


def _scaled_propagator(x, d):
    """C(d), S(d), C'(d) of :func:`_series` divided by N = cosh(sqrt(max(x, 0)) d), and 1/N.

    The scaling keeps the determinant finite for evanescent components (x d^2 >> 1) without
    changing its sign or its roots.
    """
    y, small, r, c_series, s_series = _series(x, d)
    rd = r * d
    n_series = jnp.where(y > 0, c_series, 1.0)
    e = jnp.exp(-2 * jnp.where(x > 0, rd, 0.0))
    tanh, sech = (1 - e) / (1 + e), 2 * jnp.sqrt(e) / (1 + e)
    C = jnp.where(small, c_series / n_series, jnp.where(x > 0, 1.0, jnp.cos(rd)))
    S = jnp.where(small, s_series / n_series, jnp.where(x > 0, tanh, jnp.sin(rd)) / r)
    inv_n = jnp.where(small, 1 / n_series, jnp.where(x > 0, sech, 1.0))
    return C, S, x * S, inv_n


def _interface_matrices(p, E, k):
    x, q_L, q_R, g_L, g_R = _coefficients(p, E, k)
    B = jnp.diag(q_L) + g_L * SIGMA_X   # psi'(0+) = B psi(0)
    K = jnp.diag(q_R) - g_R * SIGMA_X   # bound state iff psi'(d-) + K psi(d) = 0
    return x, B, K


def matching_determinant(p: WellParams, E, k):
    """Real quantization function D(E, k) of the paper's Eq. (5) applied at z = 0 and z = d.

    With a = psi(0) the left barrier solution (decaying as exp(q_L z)), psi'(0+) = B a with
    B = diag(q_L) + g_L sigma_x; the spin-diagonal well propagates (psi, psi') to z = d-, and
    the right condition psi'(d-) + K psi(d) = 0 with K = diag(q_R) - g_R sigma_x gives M a = 0,
    M = P1 + K P0 (P1 = C' + S' B, P0 = C + S B). D = det(M) / (N_up N_down), expanded by
    Cauchy-Binet over [I K] [P1; P0]: the two same-spin minors equal -det(e_s, B_s) by the
    Wronskian C S' - S C' = 1, so every term is bounded. Real because H_z(k) is real.
    """
    x, B, K = _interface_matrices(p, E, k)
    C, S, Cp, inv_n = _scaled_propagator(x, p.d)
    eye = jnp.eye(2)
    rows = jnp.concatenate([Cp[:, None] * eye + C[:, None] * B, C[:, None] * eye + S[:, None] * B])
    G = jnp.concatenate([eye, K], axis=1)
    total = 0.0
    for i in range(4):
        for j in range(i + 1, 4):
            g = G[0, i] * G[1, j] - G[0, j] * G[1, i]
            if j == i + 2:  # rows (P1_s, P0_s) of the same spin s = i
                r = -(eye[i, 0] * B[i, 1] - eye[i, 1] * B[i, 0]) * inv_n[0] * inv_n[1]
            else:
                r = rows[i, 0] * rows[j, 1] - rows[i, 1] * rows[j, 0]
            total = total + g * r
    return total


def _spin_up_factor(p, E, k):
    """The (up, up) element of M / N_up: the quantization function when nothing couples the spins."""
    x, B, K = _interface_matrices(p, E, k)
    C, S, Cp, _ = _scaled_propagator(x, p.d)
    return Cp[0] + C[0] * B[0, 0] + K[0, 0] * (C[0] + S[0] * B[0, 0])


def _well_basis(x, d, z):
    """Two solutions of u'' = x u bounded by O(1) on [0, d], and their derivatives, at z.

    cos/sin for x d^2 < -1, exp(-lambda z) and exp(lambda (z - d)) for x d^2 > 1, and
    C(z), S(z)/d of :func:`_series` between (where the two exponentials would be nearly dependent;
    |x| z^2 <= 1 there, so cosh needs no overflow guard, and the series keeps x -> 0 exact and differentiable).
    """
    y = x * d * d
    osc, evan = y < -1, y > 1
    x_mid = jnp.where(osc | evan, 0.0, x)
    r_osc = jnp.sqrt(jnp.where(osc, -x, 1.0))
    r_ev = jnp.sqrt(jnp.where(evan, x, 1.0))
    _, small, r, c_series, s_series = _series(x_mid, z)
    C = jnp.where(small, c_series, jnp.where(x_mid > 0, jnp.cosh(r * z), jnp.cos(r * z)))
    S = jnp.where(small, s_series, jnp.where(x_mid > 0, jnp.sinh(r * z), jnp.sin(r * z)) / r)
    cos, sin = jnp.cos(r_osc * z), jnp.sin(r_osc * z)
    e0, e1 = jnp.exp(-r_ev * z), jnp.exp(r_ev * (z - d))
    f0 = jnp.where(osc, cos, jnp.where(evan, e0, C))
    f1 = jnp.where(osc, sin, jnp.where(evan, e1, S / d))
    g0 = jnp.where(osc, -r_osc * sin, jnp.where(evan, -r_ev * e0, x_mid * S))
    g1 = jnp.where(osc, r_osc * cos, jnp.where(evan, r_ev * e1, C / d))
    return f0, f1, g0, g1


def matching_matrix(p: WellParams, E, k):
    """The 8 x 8 matching system of Eq. (5) in bounded bases, for the wave functions.

    Unknowns, per spin block s (up: 0-3, down: 4-7): the left barrier amplitude psi_s(0), the
    two well coefficients, the right barrier amplitude psi_s(d). Rows per block: continuity
    and derivative jump at z = 0, then at z = d. The Rashba jumps couple the blocks.
    """
    x, q_L, q_R, g_L, g_R = _coefficients(p, E, k)
    A = jnp.zeros((8, 8))
    for s in (0, 1):
        o, t = 4 * s, 4 * (1 - s)
        f0, f1, g0, g1 = _well_basis(x[s], p.d, 0.0)
        h0, h1, j0, j1 = _well_basis(x[s], p.d, p.d)
        A = A.at[o, o:o + 3].set(jnp.stack([-1.0, f0, f1]))
        A = A.at[o + 1, o:o + 3].set(jnp.stack([-q_L[s], g0, g1])).at[o + 1, t].set(-g_L)
        A = A.at[o + 2, o + 1:o + 4].set(jnp.stack([-h0, -h1, 1.0]))
        A = A.at[o + 3, o + 1:o + 4].set(jnp.stack([-j0, -j1, -q_R[s]])).at[o + 3, t + 3].set(g_R)
    return A


def _null_vector(A):
    """A vector v with A v = 0 for a (numerically) singular square A, differentiable in A.

    The pivot (the largest component of the SVD null vector) and the dropped equation (the
    largest component of the left null vector) are chosen without gradient; the other
    components solve the remaining square system.
    """
    n = A.shape[0]
    u, _, vh = jnp.linalg.svd(jax.lax.stop_gradient(A))
    j = jnp.argmax(jnp.abs(vh[-1]))
    i = jnp.argmax(jnp.abs(u[:, -1]))
    rows = jnp.argsort(jnp.arange(n) == i, stable=True)[:n - 1]
    cols = jnp.argsort(jnp.arange(n) == j, stable=True)[:n - 1]
    sol = jnp.linalg.solve(A[rows][:, cols], -A[rows, j])
    return jnp.zeros(n).at[cols].set(sol).at[j].set(1.0)


# --- Roots: bracket on a grid, refine by bisection, differentiate implicitly ---

def _bisect(f, lo, hi, steps):
    """Bisection for a sign change of f on [lo, hi] (signs tested as f >= 0)."""
    f_lo = f(lo) >= 0

    def body(_, bracket):
        a, b = bracket
        m = (a + b) / 2
        same = (f(m) >= 0) == f_lo
        return jnp.where(same, m, a), jnp.where(same, b, m)

    a, b = jax.lax.fori_loop(0, steps, body, (lo, hi))
    return (a + b) / 2


def _root(f, lo, hi, steps):
    """Root of f in [lo, hi]; its derivative with respect to whatever f closes over is the
    implicit one, dk = -(df/dp dp) / (df/dk) (jax.lax.custom_root)."""
    return jax.lax.custom_root(f, (lo + hi) / 2, lambda g, _: _bisect(g, lo, hi, steps),
                               lambda g, y: y / g(1.0))


def _find_roots(f, k_max, num: WellNumerics):
    """All roots of the scalar function f on [0, k_max], in increasing order, padded.

    Sign changes on a grid uniform in k^2 are bracketed. Two roots inside one grid interval
    leave no sign change; they show as a local minimum of |f| without sign change, where the
    extremum of f is located (bisection on f') and, if f changes sign there, both roots are
    bracketed on either side. Returns (k, valid, n_roots, overflow).
    """
    n = num.n_slots
    grid = k_max * jnp.sqrt(jnp.linspace(0.0, 1.0, num.n_k))
    values = jax.lax.stop_gradient(jax.vmap(f)(grid))
    sign = values >= 0
    change = sign[:-1] != sign[1:]
    a = jnp.abs(values)
    dip = (a[1:-1] < a[:-2]) & (a[1:-1] <= a[2:]) & ~change[:-1] & ~change[1:]
    (i_change,) = jnp.nonzero(change, size=n, fill_value=0)
    i_dip = jnp.nonzero(dip, size=n, fill_value=0)[0] + 1
    n_change, n_dip = change.sum(), dip.sum()
    slope = jax.grad(f)
    lo, mid, hi = grid[i_dip - 1], grid[i_dip], grid[i_dip + 1]
    turns = (jax.vmap(slope)(lo) >= 0) != (jax.vmap(slope)(hi) >= 0)
    k_ext = jax.vmap(lambda u, v: _bisect(slope, u, v, num.bisect_steps))(lo, hi)
    split = (jnp.arange(n) < n_dip) & turns & ((jax.vmap(f)(k_ext) >= 0) != (values[i_dip] >= 0))
    split = jax.lax.stop_gradient(split)
    k_ext = jax.lax.stop_gradient(jnp.where(split, k_ext, mid))
    brackets_lo = jnp.concatenate([grid[i_change], lo, k_ext])
    brackets_hi = jnp.concatenate([grid[i_change + 1], k_ext, hi])
    valid = jnp.concatenate([jnp.arange(n) < n_change, split, split])
    roots = jax.vmap(lambda u, v: _root(f, u, v, num.bisect_steps))(brackets_lo, brackets_hi)
    order = jnp.argsort(jnp.where(valid, brackets_lo, jnp.inf))[:n]
    n_roots = valid.sum()
    # Padding slots sit at a harmless finite momentum so that masked arithmetic stays finite.
    k = jnp.where(valid[order], roots[order], 0.5 * k_max)
    return k, valid[order], n_roots, (n_change > n) | (n_dip > n) | (n_roots > n)


# --- States and the Kubo spin density ---

def _in_well(p, x, v, z):
    """The two spin components (2, n_z) inside the well at z from the amplitudes v (unknowns of matching_matrix)."""
    f0, f1, _, _ = jax.vmap(lambda xs: _well_basis(xs, p.d, z))(x)
    coef = v[jnp.array([[1, 2], [5, 6]])]
    return coef[:, :1] * f0 + coef[:, 1:] * f1


def _state(p, E, k, n_quad, block=None):
    """Normalisation, spin integrals and Hellmann-Feynman slope of the bound state at (E, k).

    ``block`` (0 or 1) restricts the state to one spin (spin-degenerate problems).
    """
    c = HBAR2_2ME / p.mass
    x, q_L, q_R, _, _ = _coefficients(p, E, k)
    A = matching_matrix(p, E, k)
    if block is None:
        v = _null_vector(A)
    else:
        sl = slice(4 * block, 4 * block + 4)
        v = jnp.zeros(8).at[sl].set(_null_vector(A[sl, sl]))
    left, right = v[jnp.array([0, 4])], v[jnp.array([3, 7])]
    t, w = np.polynomial.legendre.leggauss(n_quad)
    z, w = p.d * (t + 1) / 2, p.d * w / 2                         # Gauss-Legendre nodes and weights on [0, d]
    psi = _in_well(p, x, v, z)                                    # (2, n_quad), unnormalised
    norm_L, norm_R = jnp.sum(left ** 2 / (2 * q_L)), jnp.sum(right ** 2 / (2 * q_R))
    norm_W = jnp.sum(w * psi ** 2)
    norm = norm_L + norm_W + norm_R
    sy_L = 2 * left[0] * left[1] / (q_L[0] + q_L[1])
    sy_R = 2 * right[0] * right[1] / (q_R[0] + q_R[1])
    sy_W = 2 * jnp.sum(w * psi[0] * psi[1])
    sz = (jnp.sum(SPIN * left ** 2 / (2 * q_L)) + jnp.sum(SPIN * right ** 2 / (2 * q_R))
          + jnp.sum(SPIN[:, None] * w * psi ** 2))
    slope = 2 * c * k + (p.alpha_L * 2 * left[0] * left[1] - p.alpha_R * 2 * right[0] * right[1]) / norm
    return {"amplitudes": v / jnp.sqrt(norm), "dE_dk": slope, "sigma_y_well": sy_W / norm,
            "sigma_y_total": (sy_L + sy_W + sy_R) / norm, "sigma_z": sz / norm, "weight_well": norm_W / norm}


def _solve_point(p: WellParams, k_max, num: WellNumerics, degenerate: bool = False) -> dict:
    """Fermi-level states and spin density for one scalar parameter set (traceable; ``num.k_max`` is not used)."""
    E = p.E_F
    if degenerate:
        half = dataclasses.replace(num, n_slots=num.n_slots // 2)
        k, valid, n_roots, overflow = _find_roots(lambda q: _spin_up_factor(p, E, q), k_max, half)
        states = [jax.vmap(lambda q, b=b: _state(p, E, q, num.n_quad, block=b))(k) for b in (0, 1)]
        order = jnp.argsort(jnp.where(jnp.concatenate([valid, valid]), jnp.concatenate([k, k]), jnp.inf))
        st = {key: jnp.concatenate([s[key] for s in states])[order] for key in states[0]}
        k, valid, n_roots = jnp.concatenate([k, k])[order], jnp.concatenate([valid, valid])[order], 2 * n_roots
    else:
        k, valid, n_roots, overflow = _find_roots(lambda q: matching_determinant(p, E, q), k_max, num)
        st = jax.vmap(lambda q: _state(p, E, q, num.n_quad))(k)
    weight = jnp.where(valid, KUBO_PREFACTOR * k * jnp.sign(st["dE_dk"]), 0.0)
    return {"k": k, "valid": valid, "n_states": n_roots, "overflow": overflow, **st, "weight": weight,
            "S_state_well": weight * st["sigma_y_well"], "S_state_total": weight * st["sigma_y_total"],
            "S_well": jnp.sum(weight * st["sigma_y_well"]), "S_total": jnp.sum(weight * st["sigma_y_total"])}


def _profile_point(p: WellParams, k, weight, amplitudes, z):
    """S_y(z) per state (n_slots, n_z), from the normalised amplitudes of :func:`_state`."""
    def one(q, v):
        x, q_L, q_R, _, _ = _coefficients(p, p.E_F, q)
        inside = _in_well(p, x, v, jnp.clip(z, 0.0, p.d))
        left = v[jnp.array([0, 4])][:, None] * jnp.exp(q_L[:, None] * jnp.minimum(z, 0.0))
        right = v[jnp.array([3, 7])][:, None] * jnp.exp(-q_R[:, None] * jnp.maximum(z - p.d, 0.0))
        psi = jnp.where(z < 0, left, jnp.where(z > p.d, right, inside))
        return 2 * psi[0] * psi[1]
    return weight[:, None] * jax.vmap(one)(k, amplitudes)


_solve_batch = jax.jit(jax.vmap(_solve_point, in_axes=(0, None, None, None)), static_argnums=(2, 3))
_profile_batch = jax.jit(jax.vmap(_profile_point, in_axes=(0, 0, 0, 0, None)))


# --- Public API ---

@dataclasses.dataclass(frozen=True)
class WellStates:
    """Fermi-level bound states and their Kubo spin densities, arrays of shape batch + (n_slots,).

    ``k`` Fermi momenta (1/nm, increasing, padded where ``valid`` is False), ``dE_dk`` the
    slope d eps_n/dk (eV nm; group velocity v = dE_dk / hbar, ``velocity`` in m/s),
    ``sigma_y_well`` / ``sigma_y_total`` the state's <sigma_y> integrated over the well / all
    z for k along x, ``sigma_z``, ``weight_well`` (probability in the well), ``S_state_well``
    and ``S_state_total`` the contributions to S_y = int S_y(z) dz over the well / all z, in
    units of tau e E / hbar times nm^-1, ``chirality`` the sign of ``S_state_well`` (the
    the paper's definition). ``S_well``, ``S_total``: sums (shape batch). ``n_states``: roots found.
    """

    params: WellParams
    numerics: WellNumerics
    k_max_rigorous: bool
    k: np.ndarray
    valid: np.ndarray
    n_states: np.ndarray
    dE_dk: np.ndarray
    sigma_y_well: np.ndarray
    sigma_y_total: np.ndarray
    sigma_z: np.ndarray
    weight_well: np.ndarray
    weight: np.ndarray
    amplitudes: np.ndarray
    S_state_well: np.ndarray
    S_state_total: np.ndarray
    S_well: np.ndarray
    S_total: np.ndarray

    @property
    def velocity(self) -> np.ndarray:
        """Group velocity d eps/dk / hbar in m/s."""
        return self.dE_dk / HBAR_EV_S * 1e-9

    @property
    def chirality(self) -> np.ndarray:
        """+1 / -1 for states adding to / subtracting from S_well, 0 for none (or padding)."""
        scale = np.max(np.abs(self.S_state_well), axis=-1, keepdims=True)
        tiny = np.abs(self.S_state_well) <= 1e-12 * np.maximum(scale, 1e-300)
        return np.where(self.valid & ~tiny, np.sign(self.S_state_well), 0).astype(int)

    @property
    def kappa(self) -> np.ndarray:
        """Quantized wave vector across the well, kappa_n = sqrt(2 m E_F / hbar^2 - k_n^2) (1/nm);
        negative values -sqrt(k_n^2 - 2 m E_F/hbar^2) mark states evanescent in the well."""
        c = HBAR2_2ME / np.asarray(self.params.mass, dtype=float)[..., None]
        kz2 = np.asarray(self.params.E_F, dtype=float)[..., None] / c - self.k ** 2
        return np.sign(kz2) * np.sqrt(np.abs(kz2))

    def profile(self, z) -> np.ndarray:
        """S_y(z) per state, shape batch + (n_slots, n_z), units tau e E / hbar times nm^-2."""
        return spin_profile(self, z)


def _flatten(p: WellParams):
    shape = np.broadcast_shapes(*(np.shape(getattr(p, name)) for name in PARAM_FIELDS))
    return jax.tree.map(lambda a: np.broadcast_to(np.asarray(a, dtype=float), shape).ravel(), p), shape


def _degenerate(flat: WellParams) -> np.ndarray:
    return np.all([np.asarray(getattr(flat, name)) == 0 for name in
                   ("Delta", "Delta_L", "Delta_R", "alpha_L", "alpha_R")], axis=0)


@x64
def fermi_states(p: WellParams, numerics: Optional[WellNumerics] = None, *, chunk: int = 64,
                 progress: bool = False, pad: bool = False, label: str = "well states") -> WellStates:
    """Every bound state at E_F and its contribution to the Kubo spin density (Eq. (6)).

    The fields of ``p`` may be arrays (broadcast together): the batch is vmapped in chunks of
    ``chunk`` (a tqdm bar named ``label`` with ``progress``). A batch smaller than ``chunk`` is one
    chunk of its own size, unless ``pad``: then every chunk has ``chunk`` points (the last padded),
    so that every call with the same static numerics reuses one compiled program (compiling it takes
    longer than solving a chunk of a few hundred k points: ``well.figures``). Exactly spin-degenerate
    points (Delta = Delta_L = Delta_R = alpha_L = alpha_R = 0) have double roots; they are solved per
    spin instead.
    """
    validate(p)
    flat, shape = _flatten(p)
    num, rigorous = resolve_numerics(flat, numerics)
    size = int(np.prod(shape, dtype=int))
    degenerate = _degenerate(flat)
    parts = {}
    static = dataclasses.replace(num, k_max=None)  # k_max is traced: one compilation serves every k_max
    from tqdm.auto import tqdm
    with tqdm(total=size, desc=label, unit="pt", disable=not progress) as bar:
        for flag in (False, True):
            index = np.flatnonzero(degenerate == flag)
            for positions, padded in padded_chunks(index.size, chunk if pad else min(chunk, size)):
                sel = index[positions]
                batch = jax.tree.map(lambda a: a[index[padded]], flat)
                out = jax.device_get(_solve_batch(batch, num.k_max, static, flag))
                for key, value in out.items():
                    parts.setdefault(key, np.empty((size,) + np.shape(value)[1:], dtype=np.asarray(value).dtype))
                    parts[key][sel] = np.asarray(value)[:sel.size]
                bar.update(sel.size)
    if np.any(parts["overflow"]):
        raise ValueError(f"more roots or candidate root pairs than n_slots = {num.n_slots}; "
                         "pass WellNumerics(n_slots=...) larger")
    fields = {key: value.reshape(shape + value.shape[1:]) for key, value in parts.items() if key != "overflow"}
    return WellStates(params=jax.tree.map(lambda a: a.reshape(shape), flat), numerics=num, k_max_rigorous=rigorous,
                      **fields)


@x64
def spin_profile(states: WellStates, z) -> np.ndarray:
    """S_y(z) per state, shape batch + (n_slots, n_z), in units of tau e E / hbar times nm^-2.

    Sum over the state axis for the total profile of Eq. (6) (padding slots are zero).
    """
    z = jnp.asarray(z, dtype=float)
    flat, shape = _flatten(states.params)
    n = states.k.shape[-1]
    out = _profile_batch(flat, states.k.reshape(-1, n), states.weight.reshape(-1, n),
                         states.amplitudes.reshape(-1, n, 8), z)
    return np.asarray(out).reshape(shape + (n, z.shape[0]))


_total_and_gradient = jax.jit(jax.value_and_grad(lambda p, k_max, num, which: _solve_point(p, k_max, num)[which]),
                              static_argnums=(2, 3))


@x64
def spin_derivatives(p: WellParams, names=("alpha_L", "d"), numerics: Optional[WellNumerics] = None,
                     which: str = "S_well") -> dict:
    """dS/d(name) by automatic differentiation through the roots (implicit function theorem).

    ``p`` scalar. Returns {name: derivative} in units of tau e E / hbar nm^-1 per unit of the
    parameter, plus "value". Exact derivative of the smooth branch: across a state gain or
    loss S jumps and the derivative does not see the jump.
    """
    validate(p)
    if bool(_degenerate(_flatten(p)[0])[0]):
        raise ValueError("spin_derivatives: the spin-degenerate point (Delta = alpha = 0) is not supported")
    unknown = set(names) - set(PARAM_FIELDS)
    if unknown:
        raise ValueError(f"spin_derivatives: unknown parameter(s) {sorted(unknown)}; allowed: {PARAM_FIELDS}")
    num, _ = resolve_numerics(p, numerics)
    base = WellParams(**{n: jnp.asarray(getattr(p, n), dtype=float) for n in PARAM_FIELDS})
    value, grads = _total_and_gradient(base, num.k_max, dataclasses.replace(num, k_max=None), which)
    return {"value": float(value), **{n: float(getattr(grads, n)) for n in names}}
