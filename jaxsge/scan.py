"""Scans of the spin-charge and charge-spin conductances over magnetisation angles and energies.

One call evaluates every (theta, phi, energy) point with the batched, chunked solver
(``solve.transmissions``) and turns the transmissions into G_sc^x, G_sc^y, G_cs^x, G_cs^y
(``response``). At finite temperature the conductances G = int d eps (-df/d eps) T(eps)
are computed first and the conversion formulas applied to them, as in the paper (text below
Eq. (1)). The substitution u = tanh((eps - mu)/2kT) turns the thermal window into
int_{-1}^{1} du/2 T(mu + 2 kT artanh u). T is analytic in eps except at the subband edges
of the leads, where channels open with square-root onsets; so [-1, 1] is split at the edges
inside the window, and each piece is integrated by Gauss-Legendre in s after the map
u = a + (b - a) sin^2(pi s / 2), s in [0, 1], under which sqrt(u - a) and sqrt(b - u) become
analytic in s. The quadrature then converges exponentially; its order is doubled until the
conductances change by less than the requested tolerance.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from . import response
from .leads import open_channels, subband_edges
from .model import JunctionParams, validate
from .precision import x64
from .solve import transmissions


@dataclasses.dataclass(frozen=True)
class ConversionScan:
    """Conversion conductances on a grid of angles (and energies), units e^2/h.

    Arrays have the broadcast shape of (theta, phi, mu). ``quadrature_nodes`` (thermal energy
    nodes of the final order, summed over the distinct mu; 0 at kT = 0) and
    ``quadrature_error`` (change from the previous order) describe the thermal average. ``T`` and
    ``n_open`` are the (thermally averaged) transmissions.
    """

    theta: np.ndarray
    phi: np.ndarray
    mu: np.ndarray
    kT: float
    Gsc_x: np.ndarray
    Gsc_y: np.ndarray
    Gcs_x: np.ndarray
    Gcs_y: np.ndarray
    T: np.ndarray
    n_open: np.ndarray
    path: str
    quadrature_nodes: int = 0
    quadrature_error: float = 0.0

    @property
    def g_sc(self) -> np.ndarray:
        """sqrt(Gx^2 + Gy^2) normalised by its maximum over the scan (Fig. 3 of the paper)."""
        amplitude = np.hypot(self.Gsc_x, self.Gsc_y)
        return amplitude / amplitude.max()


def _conductances(T, n_open):
    with jax.enable_x64(True):
        out = response.conversions(T, n_open)
    return [np.asarray(out[key]) for key in ("Gsc_x", "Gsc_y", "Gcs_x", "Gcs_y")]


# Beyond |eps - mu| = 30 kT the thermal weight -df/d eps integrates to 2 / (1 + e^30) < 2e-13; the
# window must end before u = tanh(15) rounds to 1.
THERMAL_WINDOW_KT = 30.0


def thermal_nodes(mu: float, kT: float, edges, order: int):
    """Energies and weights of int d eps (-df/d eps) F(eps) for one Fermi energy ``mu``.

    ``order`` Gauss-Legendre nodes on each piece of u = tanh((eps - mu)/2kT) in [-1, 1] between
    the ``edges`` (subband edges) inside the window |eps - mu| < 30 kT, after the sin^2 map of
    the module docstring. The weights sum to 1 - 2e-13 (the weight outside the window is dropped).
    """
    edges = np.asarray(edges, dtype=float)
    inside = edges[np.abs(edges - mu) < THERMAL_WINDOW_KT * kT]
    # The window ends at +-30 kT rather than at u = +-1, where eps(u) is singular.
    end = np.tanh(THERMAL_WINDOW_KT / 2)
    breaks = np.unique(np.concatenate([[-end, end], np.tanh((inside - mu) / (2 * kT))]))
    x, w = np.polynomial.legendre.leggauss(order)
    s = (x + 1) / 2
    a, b = breaks[:-1, None], breaks[1:, None]
    u = a + (b - a) * np.sin(np.pi * s / 2) ** 2
    # du = (b - a) (pi/2) sin(pi s) ds, ds = dx/2, and the thermal measure is du/2.
    weight = (b - a) * (np.pi / 2) * np.sin(np.pi * s) * (w / 2) / 2
    return (mu + 2 * kT * np.arctanh(u)).ravel(), weight.ravel()


def _thermal_transmissions(p, theta, phi, mu, kT, order, **kwargs):
    """Thermally averaged T and n_open on the (theta, phi, mu) grid, each mu with its own nodes."""
    edges = subband_edges(p)
    T = np.empty(theta.shape + (5, 2, 5, 2))
    n_open = np.empty(theta.shape + (5, 2))
    evaluations = 0
    for value in np.unique(mu):
        at = mu == value
        energies, weights = thermal_nodes(value, kT, edges, order)
        evaluations += energies.size
        r = transmissions(p.replace(theta=theta[at][:, None], phi=phi[at][:, None]), energy=energies,
                          allow_closed=True, smatrix=False, edge_tolerance=0.0, **kwargs)
        T[at] = np.einsum("nkabcd,k->nabcd", r.T, weights)
        n_open[at] = np.einsum("nkab,k->nab", r.n_open, weights)
    return T, n_open, r.path, evaluations


@x64
def conversion_scan(p: JunctionParams, *, mu=None, kT: float = 0.0, path: str = "auto", rtol: float = 1e-6,
                    max_order: int = 128, memory_budget_gib=None, progress: bool = False) -> ConversionScan:
    """G_sc^x, G_sc^y, G_cs^x, G_cs^y over the arrays ``p.theta``, ``p.phi`` and ``mu``.

    ``mu`` (default ``p.mu``) may be an array of Fermi energies; all three broadcast together.
    ``kT`` > 0 averages over the thermal window with the quadrature described in the module
    docstring, refined until the conductances agree to ``rtol`` (relative to their largest
    value) between two successive orders (nodes per piece between subband edges: 4, 8, 16, ...);
    a ValueError is raised if ``max_order`` is passed.
    """
    if not np.isfinite(kT) or kT < 0:
        raise ValueError(f"kT = {kT} must be a finite number >= 0 (temperature in units of t)")
    mu = np.asarray(p.mu if mu is None else mu, dtype=float)
    theta, phi, mu = np.broadcast_arrays(np.asarray(p.theta, dtype=float), np.asarray(p.phi, dtype=float), mu)
    common = dict(path=path, memory_budget_gib=memory_budget_gib, progress=progress)
    if kT == 0:
        r = transmissions(p.replace(theta=theta, phi=phi), energy=mu, smatrix=False, **common)
        return ConversionScan(theta, phi, mu, 0.0, *_conductances(r.T, r.n_open), r.T, r.n_open, r.path)
    # The Fermi energy itself must have open channels; nodes in the tails may not.
    validate(p)
    open_channels(p, np.unique(mu))
    order, previous, error = 4, None, np.inf
    while True:
        T, n_open, used_path, evaluations = _thermal_transmissions(p, theta, phi, mu, kT, order, **common)
        current = np.stack(_conductances(T, n_open))
        if previous is not None:
            error = np.abs(current - previous).max()
            if error <= rtol * max(np.abs(current).max(), 1e-300):
                return ConversionScan(theta, phi, mu, float(kT), *current, T, n_open, used_path, evaluations,
                                      float(error))
        if 2 * order > max_order:
            raise ValueError(f"thermal quadrature did not converge to rtol = {rtol} with {max_order} nodes per "
                             f"piece (last change {error:.3g}); raise max_order or rtol")
        previous, order = current, 2 * order


def angular_harmonics(values, n_max: int = 8) -> np.ndarray:
    """Amplitudes A_m of the Fourier series of a function sampled on a uniform phi grid.

    ``values`` (..., n_phi) on phi_j = 2 pi j / n_phi. values(phi) = A_0 + sum_m A_m cos(m phi
    - delta_m); returns A_m for m = 0..n_max, shape (..., n_max + 1). The harmonics present
    in G_sc(phi) reflect the spin-orbit texture [Eq. (6) of the paper].
    """
    values = np.asarray(values)
    n = values.shape[-1]
    if n_max >= n / 2:
        raise ValueError(f"n_max = {n_max} must be below n_phi/2 = {n / 2}")
    coeffs = np.fft.rfft(values, axis=-1) / n
    amplitude = np.abs(coeffs[..., : n_max + 1])
    amplitude[..., 1:] *= 2
    return amplitude
