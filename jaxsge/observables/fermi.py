"""Fermi contours of the paper's bulk 2DEG layer, drawn in the insets of the polar figures.

The 2DEG of G. Fleury, M. Barth, C. Gorini, PRB 108, L081402 (2023) (``docs/model.md``): the
lattice dispersion eps0(k) = 4t - 2t cos kx - 2t cos ky with the discretised cubic Rashba field
b_R(k) and the exchange field -(Dxc(0)/2) n at the 2DEG; the two spin bands are ``eps0 -/+ |b(k)|``,
each spin (anti)parallel to b(k) = b_R(k) - (Dxc(0)/2) n. A Fermi contour is where a band equals mu.
"""

from __future__ import annotations

import numpy as np

from ..model.junction import exchange_profile

#: The magnetization angles phi at which the insets show the contours (those of the paper's Fig. 3).
CONTOUR_PHI = (0.0, 1.5 * np.pi)


def fermi_contour_bands(t, mu, alpha3, dxc0, theta, phi, n_k=301, k_max=np.pi):
    """The two bands of the bulk 2DEG layer on a k grid, minus mu: (k, bands (2, n_k, n_k)).

    ``k``: the grid of kx and of ky (lattice constant 1); ``bands[0] = eps0 - |b| - mu`` (the lower
    band, spin antiparallel to b(k): the outer contour), ``bands[1] = eps0 + |b| - mu`` (spin parallel
    to b(k): the inner contour), indexed [ky, kx]. H(k) = (4t - 2t cos kx - 2t cos ky) + b(k).sigma
    with the cubic Rashba field of ``docs/model.md`` and the exchange -(Dxc(0)/2) n.
    """
    k = np.linspace(-k_max, k_max, n_k)
    kx, ky = np.meshgrid(k, k, indexing="xy")
    eps0 = t * (4 - 2 * np.cos(kx) - 2 * np.cos(ky))
    bx = alpha3 * ((2 - 2 * np.cos(kx)) * np.sin(ky) - np.sin(ky) ** 3)
    by = -alpha3 * (np.sin(kx) ** 3 - (2 - 2 * np.cos(ky)) * np.sin(kx))
    n = np.array([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)])
    b = np.stack([bx, by, np.zeros_like(bx)]) - dxc0 / 2 * n[:, None, None]
    norm = np.sqrt((b ** 2).sum(0))
    return k, np.stack([eps0 - norm - mu, eps0 + norm - mu])


def junction_contours(system, angles=CONTOUR_PHI, k_max=1.8):
    """The 2DEG's Fermi contours of a junction system at the magnetization angles ``angles`` (the
    system's theta): a list of dicts with phi, k (the grid of kx and ky) and bands (2, n_k, n_k);
    None for a system other than the paper's junction (its 2DEG is not defined)."""
    if system.kind != "junction":
        return None
    p = system.base.replace(**system.values)
    dxc0 = float(np.asarray(exchange_profile(p))[0])
    out = []
    for angle in angles:
        k, bands = fermi_contour_bands(float(p.t), float(np.asarray(p.mu)), float(p.alpha3), dxc0,
                                       float(np.asarray(p.theta)), angle, k_max=k_max)
        out.append({"phi": float(angle), "k": k, "bands": bands})
    return out
