"""Angular harmonics of a quantity sampled over the magnetization angle phi.

values(phi) = A_0 + sum_m A_m cos(m phi - delta_m): the harmonics present in G_sc(phi) reflect
the spin-orbit texture [Eq. (6) of G. Fleury, M. Barth, C. Gorini, PRB 108, L081402 (2023)].
"""

from __future__ import annotations

import numpy as np


def uniform_phi(n_phi: int) -> np.ndarray:
    """phi_j = 2 pi j / n_phi, j = 0 .. n_phi - 1."""
    return 2 * np.pi * np.arange(n_phi) / n_phi


def angular_harmonics(values, n_max: int = 8) -> np.ndarray:
    """Amplitudes A_m, m = 0..n_max, of ``values`` (..., n_phi) sampled on phi_j = 2 pi j / n_phi."""
    values = np.asarray(values)
    n = values.shape[-1]
    if n_max >= n / 2:
        raise ValueError(f"n_max = {n_max} must be below n_phi/2 = {n / 2}")
    coeffs = np.fft.rfft(values, axis=-1) / n
    amplitude = np.abs(coeffs[..., : n_max + 1])
    amplitude[..., 1:] *= 2
    return amplitude


def default_order(n_phi: int) -> int:
    """The highest harmonic reported for n_phi samples: 8, or fewer when n_phi is small."""
    return min(8, (n_phi - 1) // 2)


def local_maxima(phi, values) -> list:
    """Angles of the local maxima of a periodic curve (a plateau counts once, at its first point)."""
    values = np.asarray(values)
    at = np.flatnonzero((values > np.roll(values, 1)) & (values >= np.roll(values, -1)))
    return np.asarray(phi)[at].tolist()
