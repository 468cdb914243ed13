"""The general layered junction of ``jaxsge.model.stack`` built independently with Kwant (validation only).

Every layer's in-plane hoppings are Kwant's own discretisation of the continuum expression
``IN_PLANE`` (``kwant.continuum.discretize_symbolic``, evaluated numerically), so the
orientation of the spin-orbit terms is Kwant's: the table entry for offset d is H[r, r+d],
set here as ``syst[site(r), site(r + d)]``. The discretised k^2 onsite (4t) is dropped because
the caller's ``potentials`` already hold each site's full scalar onsite (layer onsite plus
disorder). Exchange is -(dxc/2) n.sigma with n = (sin th cos ph, sin th sin ph, cos th), from
the layer's or lead's own angles or, when they are None, the stack's.

Leads are attached in ``Stack.lead_names`` order (side leads, top, bottom). Each resolves spin
through the conservation law -n.sigma; Kwant orders the blocks by increasing eigenvalue, so
block 0 is s = + (parallel to n) and block 1 is s = -, jaxsge's spin indices.

Only the physical description is shared with jaxsge (plus its helpers that resolve a side
lead's default extent and onsite): no jaxsge Hamiltonian builder is called.
"""

from __future__ import annotations

import functools
import math

import kwant
import kwant.continuum
import numpy as np
import sympy

from jaxsge.model.stack import side_lead_extent, side_lead_onsite

S0 = np.eye(2, dtype=complex)
SX = np.array([[0, 1], [1, 0]], dtype=complex)
SY = np.array([[0, -1j], [1j, 0]], dtype=complex)
SZ = np.array([[1, 0], [0, -1]], dtype=complex)

IN_PLANE = ("t * (k_x**2 + k_y**2) * sigma_0 + alpha1 * (sigma_x * k_y - sigma_y * k_x)"
            " + alpha3 * (k_x**2 - k_y**2) * (sigma_x * k_y - sigma_y * k_x)"
            " + beta * (sigma_x * k_x - sigma_y * k_y)")

# Lead direction and the in-cell direction along the edge, per edge.
_EDGE_AXES = {"-x": ((-1, 0, 0), (0, 1, 0)), "+x": ((1, 0, 0), (0, 1, 0)),
              "-y": ((0, -1, 0), (1, 0, 0)), "+y": ((0, 1, 0), (1, 0, 0))}


def _ndots(theta, phi):
    n = (math.sin(theta) * math.cos(phi), math.sin(theta) * math.sin(phi), math.cos(theta))
    return n[0] * SX + n[1] * SY + n[2] * SZ


@functools.lru_cache(maxsize=1)
def _symbolic_table():
    table, _ = kwant.continuum.discretize_symbolic(IN_PLANE, coords="xy")
    return table


def discretized_table(t=0.0, alpha1=0.0, alpha3=0.0, beta=0.0, onsite=True):
    """Kwant's discretised ``IN_PLANE`` at these values: offset d -> H[r, r+d] (2x2 numpy), all offsets.

    Kwant returns one of each pair (d, -d); the other is its conjugate transpose. Zero entries
    are dropped, and so is the (0, 0) entry when ``onsite`` is False.
    """
    values = {"t": t, "alpha1": alpha1, "alpha3": alpha3, "beta": beta, "a_x": 1, "a_y": 1}
    out = {}
    for offset, matrix in _symbolic_table().items():
        d = tuple(int(v) for v in offset)
        if d == (0, 0) and not onsite:
            continue
        value = np.array(sympy.N(matrix.subs(values)), dtype=complex)
        if np.any(value):
            out[d] = value
            if d != (0, 0):
                out[(-d[0], -d[1])] = value.conj().T
    return out


def linear_rashba_table(alpha1):
    """Kwant's discretised alpha1 (sigma_x k_y - sigma_y k_x): offset d -> H[r, r+d]."""
    return discretized_table(alpha1=alpha1)


def dresselhaus_table(beta):
    """Kwant's discretised beta (sigma_x k_x - sigma_y k_y): offset d -> H[r, r+d]."""
    return discretized_table(beta=beta)


def cubic_rashba_table(alpha3):
    """Kwant's discretised alpha3 (k_x^2 - k_y^2)(sigma_x k_y - sigma_y k_x): offset d -> H[r, r+d]."""
    return discretized_table(alpha3=alpha3)


def _user_table(table):
    """A layer's table (entry d: H[r, r+d]) with the missing -d entries completed by conjugation."""
    full = {d: np.asarray(b, dtype=complex) * (np.eye(2) if np.ndim(b) == 0 else 1) for d, b in table.items()}
    for d, b in list(full.items()):
        full.setdefault((-d[0], -d[1]), b.conj().T)
    return full


def _layer_table(layer):
    table = discretized_table(*(float(getattr(layer, name)) for name in ("t", "alpha1", "alpha3", "beta")),
                              onsite=False)
    for d, block in _user_table(layer.hoppings).items():
        table[d] = table.get(d, 0) + block
    for d, block in table.items():
        if not np.allclose(table.get((-d[0], -d[1]), np.zeros((2, 2))), block.conj().T, atol=1e-13):
            raise ValueError(f"in-plane table is not Hermitian at offset {d}")
    return table


def _direction(theta, phi, obj):
    return (theta, phi) if obj.theta is None else (obj.theta, obj.phi)


def build(stack, potentials, theta=None, phi=None):
    """Finalized Kwant system of the stack, leads attached in ``stack.lead_names`` order."""
    theta = float(stack.theta if theta is None else theta)
    phi = float(stack.phi if phi is None else phi)
    Lx, Ly, Lz = stack.Lx, stack.Ly, stack.Lz
    potentials = np.asarray(potentials, dtype=float)
    if potentials.shape != (Lz, Lx, Ly):
        raise ValueError(f"potentials has shape {potentials.shape}, expected {(Lz, Lx, Ly)}")
    lat = kwant.lattice.cubic(1, norbs=2, name="stack")

    def inside(x, y):
        return 0 <= x < Lx and 0 <= y < Ly

    syst = kwant.Builder()
    for z, layer in enumerate(stack.layers):
        exchange = -(float(layer.dxc) / 2) * _ndots(*_direction(theta, phi, layer))
        table = _layer_table(layer)
        extra_onsite = table.pop((0, 0), np.zeros((2, 2)))
        for x in range(Lx):
            for y in range(Ly):
                syst[lat(x, y, z)] = potentials[z, x, y] * S0 + exchange + extra_onsite
        # Each pair (d, -d) once: Kwant stores a hopping and its reverse as one Hermitian pair.
        half = {d: b for d, b in table.items() if d > (-d[0], -d[1])}
        for (dx, dy), block in half.items():
            for x in range(Lx):
                for y in range(Ly):
                    if inside(x + dx, y + dy):
                        syst[lat(x, y, z), lat(x + dx, y + dy, z)] = block
    for z, layer in enumerate(stack.layers[:-1]):
        up = {d: np.asarray(b, dtype=complex) * (np.eye(2) if np.ndim(b) == 0 else 1) for d, b in layer.up.items()} \
            or {(0, 0): -float(layer.tz) * S0}
        for (dx, dy), block in up.items():
            for x in range(Lx):
                for y in range(Ly):
                    if inside(x + dx, y + dy):
                        syst[lat(x, y, z), lat(x + dx, y + dy, z + 1)] = block

    for lead in stack.side_leads:
        along_lead, along_edge = _EDGE_AXES[lead.edge]
        if float(lead.dxc) != 0:
            n_sigma = _ndots(*_direction(theta, phi, lead))
        else:
            n_sigma = _ndots(*lead.spin_axis)
        builder = kwant.Builder(kwant.TranslationalSymmetry(along_lead), conservation_law=-n_sigma)
        offset, width = side_lead_extent(stack, lead)
        z0, z1 = lead.layers
        exchange = -(float(lead.dxc) / 2) * n_sigma
        for z, eps in zip(range(z0, z1 + 1), np.asarray(side_lead_onsite(stack, lead), dtype=float)):
            for j in range(offset, offset + width):
                x, y = {"-x": (0, j), "+x": (Lx - 1, j), "-y": (j, 0), "+y": (j, Ly - 1)}[lead.edge]
                builder[lat(x, y, z)] = eps * S0 + exchange
        builder[kwant.builder.HoppingKind(along_lead, lat)] = -lead.t * S0
        builder[kwant.builder.HoppingKind(along_edge, lat)] = -lead.t * S0
        builder[kwant.builder.HoppingKind((0, 0, 1), lat)] = -lead.tz * S0
        syst.attach_lead(builder)

    for lead, z, sign in ((stack.top, Lz, 1), (stack.bottom, -1, -1)):
        if lead is None:
            continue
        n_sigma = _ndots(*_direction(theta, phi, lead))
        builder = kwant.Builder(kwant.TranslationalSymmetry((0, 0, sign)), conservation_law=-n_sigma)
        for x in range(Lx):
            for y in range(Ly):
                builder[lat(x, y, z)] = lead.onsite * S0 - (lead.dxc / 2) * n_sigma
        builder[lat.neighbors()] = -lead.t * S0
        syst.attach_lead(builder)
    return syst.finalized()


def transmissions(stack, energy, potentials, theta=None, phi=None):
    """T[a, sa, b, sb] with shape (nL, 2, nL, 2) and n_open (nL, 2), in jaxsge's lead order
    stack.lead_names (side leads in order, then top, then bottom) and spin order."""
    smatrix = kwant.smatrix(build(stack, potentials, theta, phi), energy=energy)
    n_leads = len(stack.lead_names)
    T = np.zeros((n_leads, 2, n_leads, 2))
    n_open = np.zeros((n_leads, 2))
    for b in range(n_leads):
        n_open[b] = smatrix.lead_info[b].block_nmodes
        for a in range(n_leads):
            for sa in range(2):
                for sb in range(2):
                    T[a, sa, b, sb] = smatrix.transmission((a, sa), (b, sb))
    return T, n_open
