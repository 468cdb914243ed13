"""Any stack of ``jaxsge.model.stack`` built independently with Kwant, and the comparison of every transmission.

Kwant is optional (it is not a dependency of jaxsge): it is imported when a function here needs
it, and a missing Kwant raises an ImportError that says how to install it. ``jaxsge kwant-check``
is the command-line front end of :func:`compare`.

Every layer's in-plane hoppings are Kwant's own discretisation of the continuum expression
``IN_PLANE`` (``kwant.continuum.discretize_symbolic``, evaluated numerically), so the
orientation of the spin-orbit terms is Kwant's: the table entry for offset d is H[r, r+d],
set here as ``syst[site(r), site(r + d)]``. The discretised k^2 onsite (4t) is dropped because
the caller's ``potentials`` already hold each site's full scalar onsite (layer onsite plus
disorder). Exchange is -(dxc/2) n.sigma with n = (sin th cos ph, sin th sin ph, cos th), from
the layer's or lead's own angles or, when they are None, the stack's.

Each layer is its own site family (``norbs`` = 2 x its orbitals, index orbital * 2 + spin), so
layers of different orbital counts are coupled by rectangular hoppings; the named terms act as
the identity on the orbitals (Kronecker products with 1_orbitals, written here), a number in a
table as the identity, a 2x2 block as that spin block on every orbital.

Leads are attached in ``Stack.lead_names`` order (side leads, top, bottom). Each resolves spin
through the conservation law -n.sigma (times 1_orbitals); Kwant orders the blocks by increasing
eigenvalue, so block 0 is s = + (parallel to n) and block 1 is s = -, jaxsge's spin indices. With
``resolve_orbitals`` the law is 2 o + (1 - n.sigma)/2 on orbital o (:func:`conservation_law`), so
block 2 o + s is orbital o with spin s (:func:`resolved_transmissions`).
A side or vertical lead on layers of n orbitals continues them orbital to orbital, with its
``orbital_onsite`` on the diagonal.

Only the physical description is shared with jaxsge (plus its helpers that resolve a side
lead's default extent and onsite, and the disorder draw): no jaxsge Hamiltonian builder is called.
"""

from __future__ import annotations

import functools
import math
import time

import numpy as np

from ..core.lattice import disorder_realization
from ..core.precision import x64
from ..model.stack import Stack, side_lead_extent, side_lead_onsite

INSTALL_HINT = ("Kwant is not installed: `make kwant` (or `VENV=.venv bash scripts/install_kwant.sh`) builds "
                "Kwant 1.5.0 into the project's virtual environment; elsewhere install kwant 1.5 "
                "(pip install kwant, or conda install -c conda-forge kwant)")

# Kwant's lead modes of the top and bottom leads take a dense eigenproblem over a whole layer: on
# a 2-core CPU a 20 x 20 junction takes about a minute, 30 x 30 about eight.
MAX_LAYER_SITES = 400


def require_kwant():
    """The ``kwant`` module (with ``kwant.continuum``); ImportError with :data:`INSTALL_HINT` when missing."""
    try:
        import kwant
        import kwant.continuum  # noqa: F401  (needs sympy, which Kwant's continuum module uses)
    except ImportError as err:
        raise ImportError(INSTALL_HINT) from err
    return kwant


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
    table, _ = require_kwant().continuum.discretize_symbolic(IN_PLANE, coords="xy")
    return table


def discretized_table(t=0.0, alpha1=0.0, alpha3=0.0, beta=0.0, onsite=True):
    """Kwant's discretised ``IN_PLANE`` at these values: offset d -> H[r, r+d] (2x2 numpy), all offsets.

    Kwant returns one of each pair (d, -d); the other is its conjugate transpose. Zero entries
    are dropped, and so is the (0, 0) entry when ``onsite`` is False.
    """
    symbolic = _symbolic_table()  # first: a missing Kwant is reported with how to install it
    import sympy  # a dependency of Kwant's continuum module

    values = {"t": t, "alpha1": alpha1, "alpha3": alpha3, "beta": beta, "a_x": 1, "a_y": 1}
    out = {}
    for offset, matrix in symbolic.items():
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


def _on_orbitals(block, n):
    """A number (times the identity) or a 2x2 spin block on every one of n orbitals, as a (2n x 2n) matrix;
    any other block as given."""
    block = np.asarray(block, dtype=complex)
    if block.ndim == 0:
        return block * np.eye(2 * n)
    return np.kron(np.eye(n), block) if block.shape == (2, 2) else block


def _user_table(table, n=1):
    """A layer's table (entry d: H[r, r+d]) with the missing -d entries completed by conjugation."""
    full = {d: _on_orbitals(b, n) for d, b in table.items()}
    for d, b in list(full.items()):
        full.setdefault((-d[0], -d[1]), b.conj().T)
    return full


def _layer_table(layer):
    n = layer.orbitals
    table = discretized_table(*(float(getattr(layer, name)) for name in ("t", "alpha1", "alpha3", "beta")),
                              onsite=False)
    table = {d: _on_orbitals(b, n) for d, b in table.items()}
    for d, block in _user_table(layer.hoppings, n).items():
        table[d] = table.get(d, 0) + block
    for d, block in table.items():
        if not np.allclose(table.get((-d[0], -d[1]), np.zeros((2 * n, 2 * n))), block.conj().T, atol=1e-13):
            raise ValueError(f"in-plane table is not Hermitian at offset {d}")
    return table


def _direction(theta, phi, obj):
    return (theta, phi) if obj.theta is None else (obj.theta, obj.phi)


def conservation_law(n: int, n_sigma, resolve_orbitals: bool):
    """A lead's conservation law on its sites of n orbitals (integer eigenvalues, Kwant's blocks in increasing
    order): -n.sigma x 1_orbitals (block s, spin s summed over orbitals), or with ``resolve_orbitals`` the
    orbital index times 2 plus (1 - n.sigma)/2 (block 2 o + s)."""
    if not resolve_orbitals:
        return np.kron(np.eye(n), -n_sigma)
    return np.kron(np.diag(2.0 * np.arange(n)), S0) + np.kron(np.eye(n), (S0 - n_sigma) / 2)


@x64
def build(stack, potentials, theta=None, phi=None, resolve_orbitals: bool = False):
    """Finalized Kwant system of the stack, leads attached in ``stack.lead_names`` order.

    In double precision (:func:`~jaxsge.core.precision.x64`) like every jaxsge entry point: the stack's
    numbers read through ``jnp`` (a side lead's onsite energies, ``model.stack.side_lead_onsite``) would
    otherwise be rounded to float32 in a caller's default context (4t + mu - gate = 4.65 became
    4.6500001, a 1e-7 error in the reference).

    ``potentials``: each site's scalar onsite energy, shape (Lz, Lx, Ly) (see :func:`potentials`);
    ``theta``, ``phi``: the stack's magnetization angles when None. ``resolve_orbitals``: the leads' blocks
    are (orbital, spin) (:func:`conservation_law`), else spin.
    """
    kwant = require_kwant()
    theta = float(stack.theta if theta is None else theta)
    phi = float(stack.phi if phi is None else phi)
    Lx, Ly, Lz = stack.Lx, stack.Ly, stack.Lz
    potentials = np.asarray(potentials, dtype=float)
    if potentials.shape != (Lz, Lx, Ly):
        raise ValueError(f"potentials has shape {potentials.shape}, expected {(Lz, Lx, Ly)}")
    # One site family per layer, with that layer's orbitals.
    lats = [kwant.lattice.cubic(1, norbs=2 * layer.orbitals, name=f"layer{z}") for z, layer in enumerate(stack.layers)]

    def inside(x, y):
        return 0 <= x < Lx and 0 <= y < Ly

    syst = kwant.Builder()
    for z, layer in enumerate(stack.layers):
        n, lat = layer.orbitals, lats[z]
        exchange = np.kron(np.eye(n), -(float(layer.dxc) / 2) * _ndots(*_direction(theta, phi, layer)))
        table = _layer_table(layer)
        extra_onsite = table.pop((0, 0), np.zeros((2 * n, 2 * n)))
        for x in range(Lx):
            for y in range(Ly):
                syst[lat(x, y, z)] = potentials[z, x, y] * np.eye(2 * n) + exchange + extra_onsite
        # Each pair (d, -d) once: Kwant stores a hopping and its reverse as one Hermitian pair.
        half = {d: b for d, b in table.items() if d > (-d[0], -d[1])}
        for (dx, dy), block in half.items():
            for x in range(Lx):
                for y in range(Ly):
                    if inside(x + dx, y + dy):
                        syst[lat(x, y, z), lat(x + dx, y + dy, z)] = block
    for z, layer in enumerate(stack.layers[:-1]):
        n = layer.orbitals
        up = ({d: _on_orbitals(b, n) if stack.layers[z + 1].orbitals == n else np.asarray(b, dtype=complex)
               for d, b in layer.up.items()} or {(0, 0): -float(layer.tz) * np.eye(2 * n)})
        for (dx, dy), block in up.items():
            for x in range(Lx):
                for y in range(Ly):
                    if inside(x + dx, y + dy):
                        syst[lats[z](x, y, z), lats[z + 1](x + dx, y + dy, z + 1)] = block

    for lead in stack.side_leads:
        along_lead, along_edge = _EDGE_AXES[lead.edge]
        if float(lead.dxc) != 0:
            n_sigma = _ndots(*_direction(theta, phi, lead))
        else:
            n_sigma = _ndots(*lead.spin_axis)
        offset, width = side_lead_extent(stack, lead)
        z0, z1 = lead.layers
        n = stack.layers[z0].orbitals
        one = np.eye(2 * n)
        builder = kwant.Builder(kwant.TranslationalSymmetry(along_lead),
                                conservation_law={lats[z]: conservation_law(n, n_sigma, resolve_orbitals)
                                                  for z in range(z0, z1 + 1)})
        shift = np.zeros(n) if lead.orbital_onsite is None else np.asarray(lead.orbital_onsite, dtype=float)
        cell = np.kron(np.eye(n), -(float(lead.dxc) / 2) * n_sigma) + np.kron(np.diag(shift), S0)
        for z, eps in zip(range(z0, z1 + 1), np.asarray(side_lead_onsite(stack, lead), dtype=float)):
            for j in range(offset, offset + width):
                x, y = {"-x": (0, j), "+x": (Lx - 1, j), "-y": (j, 0), "+y": (j, Ly - 1)}[lead.edge]
                builder[lats[z](x, y, z)] = eps * one + cell
        for z in range(z0, z1 + 1):  # after every site: a HoppingKind connects the sites present
            builder[kwant.builder.HoppingKind(along_lead, lats[z])] = -lead.t * one
            builder[kwant.builder.HoppingKind(along_edge, lats[z])] = -lead.t * one
            if z < z1:
                builder[kwant.builder.HoppingKind((0, 0, 1), lats[z + 1], lats[z])] = -lead.tz * one
        syst.attach_lead(builder)

    for lead, z, sign in ((stack.top, Lz, 1), (stack.bottom, -1, -1)):
        if lead is None:
            continue
        lat = lats[-1 if sign > 0 else 0]  # the layer it attaches to, whose orbitals it continues
        n = stack.layers[-1 if sign > 0 else 0].orbitals
        n_sigma = _ndots(*_direction(theta, phi, lead))
        shift = np.zeros(n) if lead.orbital_onsite is None else np.asarray(lead.orbital_onsite, dtype=float)
        cell = np.kron(np.eye(n), lead.onsite * S0 - (lead.dxc / 2) * n_sigma) + np.kron(np.diag(shift), S0)
        builder = kwant.Builder(kwant.TranslationalSymmetry((0, 0, sign)),
                                conservation_law=conservation_law(n, n_sigma, resolve_orbitals))
        for x in range(Lx):
            for y in range(Ly):
                builder[lat(x, y, z)] = cell
        builder[lat.neighbors()] = -lead.t * np.eye(2 * n)
        syst.attach_lead(builder)
    return syst.finalized()


def transmissions(stack, energy, potentials, theta=None, phi=None):
    """Kwant's T[a, sa, b, sb], shape (nL, 2, nL, 2), and open channels n_open, shape (nL, 2).

    Leads in jaxsge's order ``stack.lead_names`` (side leads in order, then top, then bottom),
    spins in jaxsge's order (0: +, 1: -).
    """
    smatrix = require_kwant().smatrix(build(stack, potentials, theta, phi), energy=energy)
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


def resolved_transmissions(stack, energy, potentials, theta=None, phi=None):
    """Kwant's T[a, oa, sa, b, ob, sb], shape (nL, n, 2, nL, n, 2), and n_open[a, o, s], resolved by the
    orbital and the spin of each lead (the blocks of :func:`conservation_law` with ``resolve_orbitals``; n the
    most orbitals of any lead, zeros beyond a lead's own): the reference of ``Transmissions.T_orbital``."""
    smatrix = require_kwant().smatrix(build(stack, potentials, theta, phi, resolve_orbitals=True), energy=energy)
    counts = [len(info.block_nmodes) // 2 for info in smatrix.lead_info]
    n, n_leads = max(counts), len(counts)
    T = np.zeros((n_leads, n, 2, n_leads, n, 2))
    n_open = np.zeros((n_leads, n, 2))
    for b in range(n_leads):
        n_open[b, :counts[b]] = np.reshape(smatrix.lead_info[b].block_nmodes, (counts[b], 2))
        for a in range(n_leads):
            for ja in range(2 * counts[a]):
                for jb in range(2 * counts[b]):
                    T[a, ja // 2, ja % 2, b, jb // 2, jb % 2] = smatrix.transmission((a, ja), (b, jb))
    return T, n_open


@x64
def potentials(stack: Stack, realization: int = 0) -> np.ndarray:
    """Each site's scalar onsite energy V(z, x, y), shape (Lz, Lx, Ly): the layer's onsite (number or
    profile) plus K0 w, w the standard-normal draw ``disorder_realization(stack.seed, realization)``."""
    draw = np.asarray(disorder_realization(stack.seed, realization, (stack.Lz, stack.Lx, stack.Ly)))
    return np.stack([np.broadcast_to(np.asarray(layer.onsite, dtype=float), (stack.Lx, stack.Ly))
                     + float(layer.K0) * draw[z] for z, layer in enumerate(stack.layers)])


def check_size(stack: Stack) -> None:
    """ValueError when a layer has more than :data:`MAX_LAYER_SITES` sites (too slow for Kwant)."""
    sites = stack.Lx * stack.Ly
    if sites > MAX_LAYER_SITES:
        raise ValueError(f"Lx x Ly = {stack.Lx} x {stack.Ly} = {sites} sites per layer is too big for a Kwant check in "
                         f"reasonable time: at most {MAX_LAYER_SITES} (20 x 20 takes about a minute on a 2-core CPU, "
                         "30 x 30 about eight); shrink it with --set Lx=... --set Ly=... (and W for a junction)")


@x64
def compare(stack: Stack, energy, **solve_options) -> dict:
    """Every spin-resolved transmission of ``stack`` at ``energy`` from jaxsge and from Kwant.

    ``solve_options`` go to :func:`jaxsge.solve` (``path``, ``fold``, ``memory_budget_gib``).
    Returns a dict: ``leads``; ``jaxsge`` and ``kwant``, the arrays T[a, sa, b, sb] (probability
    from lead b, spin sb into lead a, spin sa; spin 0/1 = +/- along each lead's axis, as in
    :class:`jaxsge.Transmissions`); ``n_open_jaxsge`` and ``n_open_kwant`` (open channels per
    lead and spin); ``max_deviation`` (max ``|jaxsge - Kwant|`` over every entry); ``result``, the
    jaxsge :class:`~jaxsge.Transmissions`; ``seconds`` of each side; ``kwant_version``. Raises
    ValueError for a stack too big for Kwant (:func:`check_size`) or angles/energy that are not
    single numbers, ImportError when Kwant is missing; both before anything is computed.
    """
    from ..solve.transmissions import solve

    for name, value in (("theta", stack.theta), ("phi", stack.phi), ("energy", energy)):
        if np.ndim(value):
            raise ValueError(f"{name} has shape {np.shape(value)}: the Kwant check works at one angle and one energy")
    check_size(stack)
    kwant = require_kwant()
    start = time.perf_counter()
    ours = solve(stack, energy, reflection=True, **solve_options)
    middle = time.perf_counter()
    T, n_open = transmissions(stack, float(energy), potentials(stack))
    T_ours = np.asarray(ours.T)
    return {"leads": list(ours.leads), "jaxsge": T_ours, "kwant": T, "n_open_jaxsge": np.asarray(ours.n_open),
            "n_open_kwant": n_open, "max_deviation": float(np.abs(T_ours - T).max()), "result": ours,
            "seconds": {"jaxsge": middle - start, "kwant": time.perf_counter() - middle},
            "kwant_version": kwant.__version__}


def _constant(matrix):
    """A Kwant onsite function giving ``matrix`` on every site of ``where`` (a plain array would be checked
    against every site family's norbs, and the layers may have different orbital counts)."""
    def onsite(site):
        return matrix
    return onsite


def densities(stack, energy, potentials, layers, matrices, theta=None, phi=None) -> np.ndarray:
    """Kwant's current-induced densities, the reference of ``Densities.values``: for each layer z of ``layers``,
    lead a and operator O of ``matrices``, the sum over the modes of ``kwant.wave_function(syst, E)(a)`` of
    ``kwant.operator.Density(O)`` on the sites of layer z (site family ``layer{z}``); shape (layers, leads,
    operators, Lx, Ly)."""
    kwant = require_kwant()
    syst = build(stack, potentials, theta, phi)
    wave_functions = kwant.wave_function(syst, energy=energy)
    states = [list(wave_functions(a)) for a in range(len(stack.lead_names))]
    out = np.zeros((len(layers), len(stack.lead_names), len(matrices), stack.Lx, stack.Ly))
    for i, z in enumerate(layers):
        lattice = kwant.lattice.cubic(1, norbs=2 * stack.layers[z].orbitals, name=f"layer{z}")
        where = [lattice(x, y, z) for x in range(stack.Lx) for y in range(stack.Ly)]
        for o, matrix in enumerate(matrices):
            density = kwant.operator.Density(syst, onsite=_constant(np.asarray(matrix)), where=where, sum=False)
            for a, psi in enumerate(states):
                out[i, a, o] = sum(density(mode) for mode in psi).reshape(stack.Lx, stack.Ly)
    return out


@x64
def compare_densities(stack: Stack, energy, layer, operators, **solve_options) -> dict:
    """The current-induced densities of ``operators`` in ``layer`` (as :func:`jaxsge.densities` takes them) from
    jaxsge and from Kwant (:func:`densities`), at the stack's one angle and ``energy``.

    Every input is checked by ``observables.densities.request`` before anything is computed (a folded layer,
    an unknown operator: ValueError). Returns a dict: ``layers``, ``operators`` (names), ``leads``;
    ``jaxsge`` and ``kwant``, the site maps (layers, leads, operators, Lx, Ly) per unit bias; ``max_deviation``
    (max ``|jaxsge - Kwant|`` over every site) and per (layer, operator) ``deviation`` (max over leads and
    sites) and ``scale`` (the largest ``|density|`` there, so that a zero density is seen to be checked);
    ``seconds`` of each side."""
    from ..observables.densities import densities as jaxsge_densities

    check_size(stack)  # before any work; jaxsge.densities checks the request itself
    start = time.perf_counter()
    ours = jaxsge_densities(stack, energy, layer=layer, operators=operators, **solve_options)
    middle = time.perf_counter()
    theirs = densities(stack, float(energy), potentials(stack), ours.layers, ours.matrices)
    values = np.asarray(ours.values)
    difference = np.abs(values - theirs)
    return {"layers": list(ours.layers), "operators": list(ours.operators), "leads": list(stack.lead_names),
            "jaxsge": values, "kwant": theirs, "max_deviation": float(difference.max()),
            "deviation": difference.max(axis=(1, 3, 4)), "scale": np.abs(theirs).max(axis=(1, 3, 4)),
            "seconds": {"jaxsge": middle - start, "kwant": time.perf_counter() - middle}}
