"""The junction of ``docs/model.md`` built independently with Kwant (validation only).

The 2DEG layer is a square lattice filled from ``kwant.continuum.discretize`` of
``t (k_x^2 + k_y^2) + alpha3 (k_x^2 - k_y^2)(sigma_x k_y - sigma_y k_x) + V(x, y) - b.sigma``
(onsite 4t and hopping -t come from the discretised k^2), so the cubic Rashba hoppings and
their orientation are Kwant's own. The layers above are a cubic lattice written site by
site. Lead M resolves spin along n through the conservation law -n.sigma and the normal leads
along z through -sigma_z: Kwant orders the blocks by increasing eigenvalue, so block 0 is
s = + (resp. spin up) and block 1 is s = - (resp. down), the jaxsge spin indices.

Only the model's physical description is shared with jaxsge: the disorder array is passed in
explicitly, everything else is recomputed here.
"""

from __future__ import annotations

import math

import kwant
import kwant.continuum
import numpy as np

S0 = np.eye(2, dtype=complex)
SX = np.array([[0, 1], [1, 0]], dtype=complex)
SY = np.array([[0, -1j], [1j, 0]], dtype=complex)
SZ = np.array([[1, 0], [0, -1]], dtype=complex)

RASHBA_2DEG = ("t * (k_x**2 + k_y**2) * sigma_0 + alpha3 * (k_x**2 - k_y**2) * (sigma_x * k_y - sigma_y * k_x)"
               " + V(x, y) * sigma_0 - bx * sigma_x - by * sigma_y - bz * sigma_z")


def _n(theta, phi):
    return np.array([math.sin(theta) * math.cos(phi), math.sin(theta) * math.sin(phi), math.cos(theta)])


def _ndots(n):
    return n[0] * SX + n[1] * SY + n[2] * SZ


def exchange_profile(Lz, dxc, xi, profile=None):
    if profile is not None:
        return np.asarray(profile, dtype=float)
    return dxc * np.exp(-(Lz - np.arange(Lz)) / xi)


def build(Lx, Ly, Lz, W, n_barrier, t, alpha3, dxc, U0, xi, theta, phi, potential, dxc_profile=None,
          side_leads=("L", "R", "F", "B")):
    """Finalized Kwant system; the side leads present, then M (Kwant lead order)."""
    if Lz < 2:
        raise ValueError("the Kwant reference needs Lz >= 2 (the 2DEG and at least one layer above it)")
    n = _n(theta, phi)
    dz = exchange_profile(Lz, dxc, xi, dxc_profile)
    lat2 = kwant.lattice.square(1, norbs=2, name="2deg")
    lat3 = kwant.lattice.cubic(1, norbs=2, name="stack")

    syst = kwant.Builder()
    template = kwant.continuum.discretize(RASHBA_2DEG, coords="xy", grid=lat2)
    syst.fill(template, lambda site: 0 <= site.tag[0] < Lx and 0 <= site.tag[1] < Ly, (0, 0))
    for z in range(1, Lz):
        onsite = 6 * t + (U0 if z >= Lz - n_barrier else 0.0)
        for x in range(Lx):
            for y in range(Ly):
                syst[lat3(x, y, z)] = (onsite + potential[z, x, y]) * S0 - dz[z] / 2 * _ndots(n)
    for x in range(Lx):
        for y in range(Ly):
            for z in range(1, Lz):
                if x + 1 < Lx:
                    syst[lat3(x + 1, y, z), lat3(x, y, z)] = -t * S0
                if y + 1 < Ly:
                    syst[lat3(x, y + 1, z), lat3(x, y, z)] = -t * S0
                if z + 1 < Lz:
                    syst[lat3(x, y, z + 1), lat3(x, y, z)] = -t * S0
            if Lz > 1:
                syst[lat3(x, y, 1), lat2(x, y)] = -t * S0

    def strip(direction, fixed_axis_sites):
        lead = kwant.Builder(kwant.TranslationalSymmetry(direction), conservation_law=-SZ)
        for site in fixed_axis_sites:
            lead[lat2(*site)] = 4 * t * S0
        lead[lat2.neighbors()] = -t * S0
        return lead

    y0, x0 = (Ly - W) // 2, (Lx - W) // 2
    strips = {"L": ((-1, 0), [(0, y0 + j) for j in range(W)]), "R": ((1, 0), [(0, y0 + j) for j in range(W)]),
              "F": ((0, -1), [(x0 + j, 0) for j in range(W)]), "B": ((0, 1), [(x0 + j, 0) for j in range(W)])}
    for name in ("L", "R", "F", "B"):
        if name in side_leads:
            syst.attach_lead(strip(*strips[name]))

    magnet = kwant.Builder(kwant.TranslationalSymmetry((0, 0, 1)), conservation_law=-_ndots(n))
    for x in range(Lx):
        for y in range(Ly):
            magnet[lat3(x, y, Lz)] = 6 * t * S0 - dxc / 2 * _ndots(n)
    magnet[lat3.neighbors()] = -t * S0
    syst.attach_lead(magnet)

    params = dict(t=t, alpha3=alpha3, V=lambda x, y: potential[0, int(round(x)), int(round(y))],
                  bx=dz[0] / 2 * n[0], by=dz[0] / 2 * n[1], bz=dz[0] / 2 * n[2])
    return syst.finalized(), params


def transmissions(Lx, Ly, Lz, W, n_barrier, t, mu, alpha3, dxc, U0, xi, theta, phi, potential, dxc_profile=None,
                  side_leads=("L", "R", "F", "B")):
    """T[a, sa, b, sb] (5, 2, 5, 2) and open channels (5, 2), jaxsge's lead and spin order.

    Absent side leads have zero rows, columns and channels, as in jaxsge.
    """
    fsyst, params = build(Lx, Ly, Lz, W, n_barrier, t, alpha3, dxc, U0, xi, theta, phi, potential, dxc_profile,
                          side_leads)
    smatrix = kwant.smatrix(fsyst, energy=mu, params=params)
    ours = [i for i, name in enumerate(("L", "R", "F", "B")) if name in side_leads] + [4]
    T = np.zeros((5, 2, 5, 2))
    n_open = np.zeros((5, 2))
    for kb, b in enumerate(ours):
        n_open[b] = smatrix.lead_info[kb].block_nmodes
        for ka, a in enumerate(ours):
            for sa in range(2):
                for sb in range(2):
                    T[a, sa, b, sb] = smatrix.transmission((ka, sa), (kb, sb))
    return T, n_open


def rashba_table(alpha3):
    """Kwant's discretised cubic Rashba hoppings: offset d -> H[r, r+d] (2x2 numpy)."""
    table, _ = kwant.continuum.discretize_symbolic(
        "alpha3 * (k_x**2 - k_y**2) * (sigma_x * k_y - sigma_y * k_x)", coords="xy")
    out = {}
    for offset, matrix in table.items():
        value = np.array(matrix.subs({"alpha3": alpha3, "a_x": 1, "a_y": 1}).evalf(), dtype=complex)
        if np.any(value):
            out[tuple(int(v) for v in offset)] = value
    return out
