"""Conversion conductances of any junction over magnetization angles and Fermi energies, at any temperature.

One call evaluates every (theta, phi, energy) point through the one solver (the
angle-independent upper layers once per energy) and turns the transmissions into
G_sc^x, G_sc^y, G_cs^x, G_cs^y (``observables.response``).

Finite temperature: G = int d eps (-df/d eps) T(eps), by a quadrature split at the subband edges.
The substitution u = tanh((eps - mu)/2kT) turns the thermal window into
int_{-1}^{1} du/2 T(mu + 2 kT artanh u). T is analytic in eps except at the subband edges of
the leads, where channels open with square-root onsets; so [-1, 1] is split at the edges
inside the window, and each piece is integrated by Gauss-Legendre in s after the map
u = a + (b - a) sin^2(pi s / 2), s in [0, 1], under which sqrt(u - a) and sqrt(b - u) become
analytic in s. The quadrature then converges exponentially; its order is doubled until the
conductances change by less than the requested tolerance. The transmissions (so the conductances) are
averaged first and the conversion formulas applied to them, as in the paper (text below its Eq. (1)).
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

import numpy as np

from ..core.precision import is_traced, x64
from ..model.junction import JunctionParams
from ..model.system import System, junction_system
from ..plan.plan import subband_edges
from ..solve.transmissions import plan_for, point_grid, solve, solver_report
from . import response

CONDUCTANCES = ("Gsc_x", "Gsc_y", "Gcs_x", "Gcs_y")
# Beyond |eps - mu| = 30 kT the thermal weight -df/d eps integrates to 2 / (1 + e^30) < 2e-13; the
# window must end before u = tanh(15) rounds to 1.
THERMAL_WINDOW_KT = 30.0
# The largest temperature, as a fraction of the leads' bandwidth (the span of their subband edges, outside
# which every transmission vanishes): at 0.1 the thermal window (30 kT each side) already covers three
# bandwidths and the Fermi window's half-width (1.76 kT) a sixth of the band; hotter, the lattice
# model no longer describes a metal and the quadrature only averages the whole band.
KT_MAX_FRACTION = 0.1
# The most energies per Fermi energy at the highest quadrature order (pieces between the subband edges
# in the window x max_order), so that the run's length is bounded before it starts.
MAX_THERMAL_NODES = 2 ** 16


@dataclasses.dataclass(frozen=True)
class ConversionScan:
    """Conversion conductances on a grid of angles and energies (e^2/h), shape of the broadcast grid.

    ``G``: name -> array for the conductances the leads allow (``response.conversions``);
    ``T``, ``n_open``: the (thermally averaged) transmissions; ``quadrature_nodes``: thermal
    energy nodes of the final order (summed over the distinct energies; 0 at kT = 0) and
    ``quadrature_error``: change from the previous order; ``solver``: the path and, for the
    Krylov path, the largest iteration count and residual (``solve.transmissions.solver_report``).
    """

    theta: np.ndarray
    phi: np.ndarray
    energy: np.ndarray
    kT: float
    G: dict
    T: np.ndarray
    n_open: np.ndarray
    leads: Tuple[str, ...]
    path: str
    quadrature_nodes: int = 0
    quadrature_error: float = 0.0
    solver: Optional[dict] = None

    def __getattr__(self, name):
        if name in CONDUCTANCES:
            if name not in self.G:
                raise ValueError(f"{name} is not defined for the leads {self.leads}")
            return self.G[name]
        raise AttributeError(name)

    @property
    def g_sc(self) -> np.ndarray:
        """sqrt(Gx^2 + Gy^2) normalised by its maximum over the scan [Fig. 3 of the paper]; a
        ValueError when G_sc vanishes everywhere (no spin-charge conversion to normalise)."""
        return normalised_amplitude(*spin_charge_pair(self.G), axis=None)


# Conductances below this (e^2/h) are rounding noise: transmissions are exact to about 1e-14.
ZERO_CONDUCTANCE = 1e-12


def spin_charge_pair(G: dict, prefix: str = ""):
    """(G_sc^x, G_sc^y) from a dict of conductances keyed ``prefix + "Gsc_x"``, ...: zeros for the axis whose
    lead pair the junction lacks (side leads F, B only: no x axis), so that ``|G_sc|`` is defined for either."""
    present = [G[prefix + key] for key in ("Gsc_x", "Gsc_y") if prefix + key in G]
    if not present:
        raise ValueError("no spin-charge conductance: the junction needs the injector M and the pair L, R or B, F")
    zero = np.zeros_like(np.asarray(present[0], dtype=float))
    return tuple(np.asarray(G[prefix + key]) if prefix + key in G else zero for key in ("Gsc_x", "Gsc_y"))


def normalised_amplitude(gx, gy, axis=-1) -> np.ndarray:
    """g_sc = sqrt(Gx^2 + Gy^2) / its maximum (over ``axis``, default the last; None: all); refuses a maximum at
    rounding level (``ZERO_CONDUCTANCE``), where the normalised curve would be noise."""
    amplitude = np.hypot(gx, gy)
    top = amplitude.max(axis=axis, keepdims=axis is not None)
    if np.any(top <= ZERO_CONDUCTANCE) or not np.all(np.isfinite(top)):
        raise ValueError("g_sc is undefined: G_sc vanishes at every angle (no spin-charge conversion to normalise)")
    return amplitude / top


def anisotropy(amplitude, axis=-1) -> np.ndarray:
    """(max - min) / mean of a non-negative curve such as ``|G_sc|(phi)`` over ``axis`` (default the last): how
    much the angle changes it, relative to its angle average; NaN where the mean is at rounding level
    (``ZERO_CONDUCTANCE``), where the ratio would be noise."""
    amplitude = np.asarray(amplitude, dtype=float)
    mean = amplitude.mean(axis=axis)
    spread = amplitude.max(axis=axis) - amplitude.min(axis=axis)
    return np.where(mean > ZERO_CONDUCTANCE, spread / np.where(mean > ZERO_CONDUCTANCE, mean, 1.0), np.nan)


def thermal_nodes(mu: float, kT: float, edges, order: int):
    """Energies and weights of int d eps (-df/d eps) F(eps) for one Fermi energy ``mu``.

    ``order`` Gauss-Legendre nodes on each piece of u = tanh((eps - mu)/2kT) in [-1, 1] between
    the ``edges`` (subband edges) inside the window ``|eps - mu| < 30 kT``, after the sin^2 map of
    the module docstring. The weights sum to 1 - 2e-13 (the weight outside the window is dropped).
    """
    edges = np.asarray(edges, dtype=float)
    inside = edges[np.abs(edges - mu) < THERMAL_WINDOW_KT * kT]
    end = np.tanh(THERMAL_WINDOW_KT / 2)
    breaks = np.unique(np.concatenate([[-end, end], np.tanh((inside - mu) / (2 * kT))]))
    x, w = np.polynomial.legendre.leggauss(order)
    s = (x + 1) / 2
    a, b = breaks[:-1, None], breaks[1:, None]
    u = a + (b - a) * np.sin(np.pi * s / 2) ** 2
    # du = (b - a) (pi/2) sin(pi s) ds, ds = dx/2, and the thermal measure is du/2.
    weight = (b - a) * (np.pi / 2) * np.sin(np.pi * s) * (w / 2) / 2
    return (mu + 2 * kT * np.arctanh(u)).ravel(), weight.ravel()


def refine_thermal_order(evaluate, rtol: float, max_order: int):
    """The thermal quadrature refined: ``evaluate(order)`` -> (values, result) at 4, 8, 16, ... nodes per
    piece (:func:`thermal_nodes`) until the values change by at most ``rtol`` of their largest magnitude
    between two successive orders; returns (result, last change). A ValueError when ``max_order`` would be
    passed (the one refinement rule of the conductances and the densities)."""
    order, previous, error = 4, None, np.inf
    while True:
        values, result = evaluate(order)
        if previous is not None:
            error = float(np.abs(values - previous).max())
            if error <= rtol * max(np.abs(values).max(), 1e-300):
                return result, error
        if 2 * order > max_order:
            raise ValueError(f"the thermal quadrature did not converge to rtol = {rtol} with {max_order} nodes per "
                             f"piece (last change {error:.3g}); raise max_order or rtol")
        previous, order = values, 2 * order


def check_temperature(stack, energies, kT, max_order: int = 128) -> float:
    """kT as a float; a ValueError unless 0 <= kT <= KT_MAX_FRACTION x the leads' bandwidth and the thermal
    quadrature of every Fermi energy in ``energies`` needs at most MAX_THERMAL_NODES energies at order
    ``max_order``."""
    try:  # one real number (a bool is not a temperature)
        value = None if isinstance(kT, (bool, np.bool_, str)) or np.ndim(kT) else float(kT)
    except (TypeError, ValueError):
        value = None
    if value is None or not (np.isfinite(value) and value >= 0):
        raise ValueError(f"kT = {kT!r} must be a finite number >= 0 (temperature in units of t)")
    kT = value
    if kT == 0:
        return kT
    edges = subband_edges(stack)
    bandwidth = float(edges.max() - edges.min())
    if kT > KT_MAX_FRACTION * bandwidth:
        raise ValueError(f"kT = {kT:g} must be <= {KT_MAX_FRACTION:g} x the leads' bandwidth = "
                         f"{KT_MAX_FRACTION * bandwidth:.4g} (the span of their subband edges, {bandwidth:.4g}); "
                         "hotter, the thermal average covers the whole band")
    for mu in np.unique(np.asarray(energies, dtype=float)):
        pieces = int(np.sum(np.abs(edges - mu) < THERMAL_WINDOW_KT * kT)) + 1
        if pieces * max_order > MAX_THERMAL_NODES:
            raise ValueError(f"kT = {kT:g}: the thermal window |E - {mu:g}| < {THERMAL_WINDOW_KT:g} kT holds "
                             f"{pieces - 1} subband edges, so the quadrature could need {pieces} x {max_order} "
                             f"energies, more than {MAX_THERMAL_NODES}; lower kT or max_order")
    return kT


def as_system(system) -> System:
    """A System from ``JunctionParams`` or a System; a ValueError for anything else."""
    if isinstance(system, JunctionParams):
        return junction_system(system)
    if isinstance(system, System):
        return system
    raise ValueError(f"expected JunctionParams or a System, got {type(system).__name__}")


def _conductances(T, n_open, leads) -> dict:
    """The conversion conductances: NumPy arrays, or JAX arrays under a transformation."""
    G = response.conversions(T, n_open, leads)
    return G if is_traced((T, n_open)) else {k: np.asarray(v) for k, v in G.items()}


@x64
def conversion_scan(system, *, theta=None, phi=None, energy=None, kT: float = 0.0, fold: bool = True,
                    path: str = "auto", precision: str = "auto", rtol: float = 1e-6, max_order: int = 128,
                    memory_budget_gib=None, progress=False) -> ConversionScan:
    """G_sc and G_cs over the arrays ``theta``, ``phi`` and ``energy`` (defaults: the system's values).

    ``system``: ``JunctionParams`` or a ``model.system.System``. ``kT`` > 0 averages over the
    thermal window with the quadrature of :func:`thermal_nodes`, refined until the
    conductances agree to ``rtol`` (relative to their largest value) between two successive
    orders (nodes per piece between subband edges: 4, 8, 16, ...); a ValueError if
    ``max_order`` is passed. ``fold``, ``path``, ``precision``: as in ``solve.transmissions.solve``;
    ``progress``: its progress bar (True, or a text naming what is computed), at kT > 0 one per
    Fermi energy and quadrature order.

    At ``kT`` = 0 it runs under JAX transformations as ``solve`` does (``jax.grad`` of a conductance
    with respect to a traced number of ``JunctionParams`` or of a System's values, the angles or the
    energy; return the arrays, e.g. ``.G["Gsc_x"]``, from a transformed function: the result object is
    not a pytree). At ``kT`` > 0 the quadrature chooses its nodes and its order from the values of
    the energy and of the leads, which a transformation does not have: refused there (differentiate
    ``solve`` over energies and weight them instead).
    """
    system = as_system(system)
    given = {"theta": theta, "phi": phi, system.energy_name: energy}
    theta, phi, energy = point_grid(**{k: system.values[k] if v is None else v for k, v in given.items()})
    stack = system.stack()
    if not response.conversion_axes(stack.lead_names):
        raise ValueError(f"a conversion scan needs the injector M and the side leads L, R (and B, F for the y axis): "
                         f"this junction's leads are {stack.lead_names}")
    zero = isinstance(kT, (int, float, np.integer, np.floating)) and not isinstance(kT, bool) and kT == 0
    if not zero and is_traced((system.values, theta, phi, energy, kT)):
        raise ValueError(f"kT = {kT!r} under a JAX transformation: the thermal quadrature chooses its energies and its "
                         "order from concrete numbers; use kT = 0 there (or weight solve's T(E) yourself)")
    kT = check_temperature(stack, energy, kT, max_order)
    common = dict(fold=fold, path=path, precision=precision, memory_budget_gib=memory_budget_gib, reflection=False)
    label = progress if isinstance(progress, str) else "conversion scan"
    if kT == 0:
        r = solve(stack.replace(theta=theta, phi=phi), energy, progress=progress, **common)
        return ConversionScan(theta, phi, energy, 0.0, _conductances(r.T, r.n_open, r.leads), r.T, r.n_open,
                              r.leads, r.path, solver=r.solver_report)
    # the Fermi energies themselves need open channels
    plan_for(stack, np.unique(energy), fold=fold, path=path, precision=precision)
    edges, n = subband_edges(stack), len(stack.lead_names)

    def at_order(order):
        T, n_open = np.empty(theta.shape + (n, 2, n, 2)), np.empty(theta.shape + (n, 2))
        nodes, stats = 0, []
        for value in np.unique(energy):
            at = energy == value
            eps, weights = thermal_nodes(value, kT, edges, order)
            nodes += eps.size
            what = f"{label}, {system.energy_name} = {value:.4g}, thermal quadrature order {order}"
            r = solve(stack.replace(theta=theta[at][:, None], phi=phi[at][:, None]), eps[None, :], allow_closed=True,
                      edge_tolerance=0.0, progress=what if progress else False, **common)
            stats.append(np.zeros((1, 2)) if r.krylov is None else r.krylov.reshape(-1, 2))
            T[at] = np.einsum("nk...,k->n...", r.T, weights)
            n_open[at] = np.einsum("nk...,k->n...", r.n_open, weights)
        G = _conductances(T, n_open, r.leads)
        return np.stack([G[k] for k in sorted(G)]), (G, T, n_open, r, nodes, stats)

    (G, T, n_open, r, nodes, stats), error = refine_thermal_order(at_order, rtol, max_order)
    return ConversionScan(theta, phi, energy, float(kT), G, T, n_open, r.leads, r.path, nodes, error,
                          solver_report(r.plan, np.concatenate(stats)))
