"""Current-induced densities: the non-equilibrium density of any onsite operator per unit bias of each lead.

Linear response in the Landauer-Buttiker picture: raising the electrochemical potential of lead a
by eV_a fills, in the window eV_a around the Fermi energy E, the scattering states psi_j of the
channels j of lead a, so the density of an onsite operator O at site r changes by

    delta<O>(r) = (eV_a / 2 pi) sum_(j in a) psi_j(r)^dagger O psi_j(r)
                = (eV_a / 2 pi) [G Gamma_a G^dagger O](r, r)

(hbar = 1, energies in units of the hopping t; psi_j normalised to unit flux, as Kwant's
``kwant.wave_function``). :func:`densities` returns the lead-resolved injectivity
``sum_(j in a) psi_j^dagger O psi_j`` (units 1/t, per site), the quantity that Kwant's
``operator.Density`` of the wave functions of lead a gives summed over its modes; the density per
unit bias is it divided by 2 pi (``Densities.per_unit_bias``). Summed over the leads, the charge
density is the spectral function A(r, r) = i (G - G^dagger)(r, r) = 2 pi x the local density of
states. At kT > 0 it is averaged over -df/dE by the quadrature of the conductances
(``observables.scan.thermal_nodes``). With O a Pauli matrix this is the current-induced spin
density of the Edelstein (inverse spin galvanic) effect [V. M. Edelstein, Solid State Commun. 73,
233 (1990)]; in a magnetic layer it gives the torque tau = (dxc/2) m x <sigma> exerted on the
magnetization (:meth:`Densities.torque`), the spin-orbit torque of A. Hariri, M. Alawein,
A. Manchon (arXiv:1907.07116, the seed-004 set-up) and the spin-transfer torque of a junction.
``docs/densities.md`` has the derivations, the units and the checks.

The scattering states are the kernel's own solutions (``solve.kernel.evaluate`` with a
``LocalRequest``): the lowest slice's x for every channel's source, carried up through the dense
slices above by back-substitution. Folded layers and layers in spin blocks keep no state: a
layer there is refused with the advice ``fold=False``.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple, Optional, Tuple

import numpy as np

from ..core.batching import memory_budget
from ..core.lattice import PAULI, T2G_L, magnetization
from ..core.precision import x64
from ..model.junction import JunctionParams, junction, validate
from ..model.stack import Stack, direction
from ..plan.plan import subband_edges
from ..solve.kernel import LocalRequest, check_local, evaluate, site_states, upper_state
from ..solve.transmissions import evaluation_grid, plan_for, run, solver_report
from .scan import check_temperature, refine_thermal_order, thermal_nodes

# Operators by name: the identity (charge) and the Pauli matrices on the spin of every orbital of a site
# (states ordered orbital-major, spin fastest, as the solver's basis).
NAMED_OPERATORS = ("charge", "sx", "sy", "sz")
# On a layer of the three t2g orbitals (dyz, dxz, dxy): the orbital angular momentum L_k x 1_spin
# (``core.lattice.T2G_L``, docs/model.md) and L.S = (1/2) sum_k L_k x sigma_k.
ORBITAL_OPERATORS = ("Lx", "Ly", "Lz", "LdotS")


@dataclasses.dataclass(frozen=True)
class Densities:
    """Lead-resolved densities of onsite operators, NumPy arrays with the batch shape as leading axes.

    ``values[..., l, a, o, x, y]``: sum over the channels j of lead ``leads[a]`` of
    psi_j(x, y)^dagger O_o psi_j(x, y) in layer ``layers[l]`` (units 1/t: the density per unit
    bias eV_a is this / 2 pi, :attr:`per_unit_bias`). Batch shape: (realizations,) when asked,
    then the broadcast shape of theta, phi and energy. ``operators``: the names of O_o (given
    matrices are named "O0", "O1", ...); ``matrices``: the blocks themselves. ``magnetization``
    (batch..., layers, 3) and ``dxc`` (layers,): each layer's exchange direction and splitting,
    for :meth:`torque`. ``kT``, ``quadrature_nodes``, ``quadrature_error``: as in
    ``observables.scan.ConversionScan``.
    """

    values: np.ndarray
    layers: Tuple[int, ...]
    leads: Tuple[str, ...]
    operators: Tuple[str, ...]
    matrices: np.ndarray
    theta: np.ndarray
    phi: np.ndarray
    energy: np.ndarray
    magnetization: np.ndarray
    dxc: np.ndarray
    path: str
    solver: dict
    kT: float = 0.0
    quadrature_nodes: int = 0
    quadrature_error: float = 0.0

    @property
    def per_unit_bias(self) -> np.ndarray:
        """delta<O>(r) / (eV_a): :attr:`values` / 2 pi (units 1/t)."""
        return self.values / (2 * np.pi)

    @property
    def total(self) -> np.ndarray:
        """Layer totals, summed over the sites: (batch..., layers, leads, operators)."""
        return self.values.sum(axis=(-2, -1))

    def select(self, lead: Optional[str] = None, operator: Optional[str] = None, layer: Optional[int] = None):
        """The values of one lead, operator and/or layer (each axis dropped when named)."""
        out, axis = self.values, {"layer": -5, "lead": -4, "operator": -3}
        for name, value, labels in (("operator", operator, self.operators), ("lead", lead, self.leads),
                                    ("layer", layer, self.layers)):
            if value is None:
                continue
            if value not in labels:
                raise ValueError(f"{name} = {value!r} is not one of {tuple(labels)}")
            out = np.take(out, labels.index(value), axis=axis[name])
            axis = {k: v + 1 if v < axis[name] else v for k, v in axis.items()}
        return out

    def torque(self) -> np.ndarray:
        """tau(r) = (dxc/2) m x <sigma>(r) per lead: (batch..., layers, leads, 3, Lx, Ly), in the units of
        :attr:`values` times t (divide by 2 pi for the torque per unit bias).

        With the exchange -(dxc/2) m.sigma the spin s = sigma/2 of the electrons precesses as
        ds/dt = -(dxc/2) m x <sigma>: tau is the angular momentum per unit time they give to the
        magnetization (hbar = 1). Needs the operators sx, sy and sz."""
        missing = [k for k in ("sx", "sy", "sz") if k not in self.operators]
        if missing:
            raise ValueError(f"the torque needs the spin densities sx, sy, sz: operators {missing} were not computed")
        spin = np.stack([self.values[..., self.operators.index(k), :, :] for k in ("sx", "sy", "sz")], axis=-3)
        m = self.magnetization[..., :, None, :, None, None]  # (batch..., layers, 1, 3, 1, 1)
        return (self.dxc[:, None, None, None, None] / 2) * np.cross(m, spin, axis=-3)


def layer_operators(orbitals: int) -> tuple:
    """The named operators of a layer of ``orbitals`` orbitals per site: :data:`NAMED_OPERATORS`, and on a t2g
    layer (3 orbitals) also :data:`ORBITAL_OPERATORS`."""
    return NAMED_OPERATORS + (ORBITAL_OPERATORS if orbitals == 3 else ())


def named_block(name: str, d: int) -> np.ndarray:
    """The (d, d) block of a named operator (:func:`layer_operators` of a layer of d / 2 orbitals); ValueError
    naming what is allowed otherwise."""
    allowed = layer_operators(d // 2)
    if name not in allowed:
        why = (f"; {', '.join(ORBITAL_OPERATORS)} are the t2g orbital operators, for a layer of 3 orbitals (this "
               f"one has {d // 2})" if name in ORBITAL_OPERATORS else "")
        raise ValueError(f"operator {name!r} must be one of {', '.join(allowed)} or a ({d}, {d}) matrix{why}")
    if name == "charge":
        return np.eye(d, dtype=complex)
    if name in NAMED_OPERATORS:
        return np.kron(np.eye(d // 2), PAULI["xyz".index(name[1])])
    if name == "LdotS":
        return sum(np.kron(T2G_L[k], PAULI[k]) for k in range(3)) / 2
    return np.kron(T2G_L["xyz".index(name[1])], np.eye(2))


def operator_matrices(operators, d: int) -> Tuple[Tuple[str, ...], np.ndarray]:
    """Names and (n, d, d) blocks of the ``operators``: names (:func:`named_block`), one Hermitian
    (d, d) matrix, or a sequence or dict (name -> name or matrix) of them."""
    if isinstance(operators, str) or (np.ndim(operators) == 2 and not isinstance(operators, dict)):
        operators = [operators]
    items = list(operators.items()) if isinstance(operators, dict) else [(None, o) for o in operators]
    if not items:
        raise ValueError("operators is empty: give at least one (charge, sx, sy, sz, or a matrix)")
    names, blocks = [], []
    for k, (name, op) in enumerate(items):
        if isinstance(op, str):
            block = named_block(op, d)
            names.append(op if name is None else name)
        else:
            try:
                block = np.asarray(op, dtype=complex)
            except (TypeError, ValueError):
                raise ValueError(f"operator {k} must be a name or a ({d}, {d}) matrix of numbers") from None
            if block.shape != (d, d) or not np.all(np.isfinite(block)):
                raise ValueError(f"operator {k} has shape {block.shape}: an onsite operator is a finite ({d}, {d}) "
                                 "matrix")
            if not np.allclose(block, block.conj().T, atol=1e-12):
                raise ValueError(f"operator {k} is not Hermitian: a density needs a Hermitian onsite operator")
            names.append(f"O{k}" if name is None else str(name))
        blocks.append(block)
    if len(set(names)) != len(names):
        raise ValueError(f"operators {names} name one operator twice")
    return tuple(names), np.stack(blocks)


def _layers(layer, s: Stack) -> Tuple[int, ...]:
    layers = (layer,) if np.ndim(layer) == 0 else tuple(layer)
    if not layers:
        raise ValueError("layer is empty: give a layer index or a sequence of them")
    for z in layers:
        if isinstance(z, (bool, np.bool_)) or not isinstance(z, (int, np.integer)) or not 0 <= z < s.Lz:
            raise ValueError(f"layer = {z!r} must be a layer index 0 <= z < {s.Lz}")
    if len(set(layers)) != len(layers):
        raise ValueError(f"layer = {list(layers)} names a layer twice")
    return tuple(int(z) for z in layers)


def local_request(s: Stack, layer, operators) -> Tuple[LocalRequest, Tuple[str, ...], np.ndarray]:
    """The kernel's :class:`~jaxsge.solve.kernel.LocalRequest` (static, hashable) for these layers and
    operators, the operators' names and blocks (plain Python: every input error before any tracing)."""
    names, blocks = operator_matrices(operators, site_states(s, _layers(layer, s)))
    frozen = tuple(tuple(tuple(complex(v) for v in row) for row in b) for b in blocks)
    return LocalRequest(_layers(layer, s), frozen), names, blocks


class Request(NamedTuple):
    """A checked request of :func:`densities`: the stack and energy, the kernel's local request with the
    operators' names and blocks, the evaluation grid, the plan, the temperature and the memory budget."""

    stack: Stack
    energy: object
    local: LocalRequest
    names: Tuple[str, ...]
    blocks: np.ndarray
    grid: tuple
    plan: object
    kT: float
    budget: int


def request(system, energy=None, *, layer=0, operators=NAMED_OPERATORS, kT: float = 0.0, realizations=None,
            fold: bool = True, path: str = "auto", precision: str = "auto", max_order: int = 128,
            memory_budget_gib=None) -> Request:
    """Every input of :func:`densities` checked in plain Python, before anything is computed (the arguments
    are its own): a ValueError naming the parameter otherwise (a layer out of range, folded or of another
    orbital count, an unknown or non-Hermitian operator, an energy without open channels, a temperature
    out of range, a memory budget the machine lacks)."""
    if isinstance(system, JunctionParams):
        validate(system)
        s, energy = junction(system), system.mu if energy is None else energy
    elif isinstance(system, Stack):
        if energy is None:
            raise ValueError("energy must be given for a Stack (the Fermi energy, units of the hopping)")
        s = system
    else:
        raise ValueError(f"expected JunctionParams or a Stack, got {type(system).__name__}")
    local, names, blocks = local_request(s, layer, operators)
    grid = evaluation_grid(s, energy, realizations)
    pl = plan_for(s, energy, fold=fold, path=path, realizations=realizations, precision=precision)
    check_local(s, pl, local)
    kT = check_temperature(s, energy, kT, max_order)
    return Request(s, energy, local, names, blocks, grid, pl, kT, memory_budget(memory_budget_gib))


@x64
def densities(system, energy=None, *, layer=0, operators=NAMED_OPERATORS, kT: float = 0.0, realizations=None,
              fold: bool = True, path: str = "auto", precision: str = "auto", rtol: float = 1e-6,
              max_order: int = 128, memory_budget_gib=None, progress: bool = False) -> Densities:
    """The current-induced densities of ``operators`` in ``layer`` per unit bias of each lead (module docstring).

    ``system``: ``JunctionParams`` (at ``energy`` or its ``mu``) or a Stack (``energy``
    required); its ``theta``, ``phi`` and ``energy`` may be arrays (broadcast together, batch
    axes); ``realizations``: disorder realization indices (a leading batch axis). ``layer``: a
    layer index or a sequence of them (in dense slices; folded layers are refused, use
    ``fold=False``). ``operators``: names of :data:`NAMED_OPERATORS` (and on a layer of the three t2g
    orbitals :data:`ORBITAL_OPERATORS`), Hermitian (d, d) blocks (d = 2 n states per site of n orbitals,
    spin fastest, spin up first), or a dict name -> either. Every input is checked first
    (:func:`request`). ``kT`` > 0: thermal average
    over -df/dE, the quadrature order doubled until the densities change by less than ``rtol``
    (relative to their largest value), at most ``max_order`` nodes per piece. ``fold``, ``path``,
    ``precision``, ``memory_budget_gib``, ``progress``: as in ``solve.transmissions.solve``;
    every channel is a right-hand side (the scattering states of the top lead are its solutions).
    """
    s, energy, local, names, blocks, grid, pl, kT, budget = request(
        system, energy, layer=layer, operators=operators, kT=kT, realizations=realizations, fold=fold, path=path,
        precision=precision, max_order=max_order, memory_budget_gib=memory_budget_gib)
    theta, phi, energies, index, shape = grid
    common = dict(reflection=True, local=local, budget=budget, progress=progress)
    nodes, error = 0, 0.0
    if kT == 0:
        out = run(s, grid, pl, **common)
        values, stats = out.densities, out.stats
    else:
        edges = subband_edges(s)

        def at_order(order):
            values, nodes, stats = np.zeros(shape + out_shape(s, local, names)), 0, []
            flat = values.reshape((-1,) + values.shape[len(shape):])
            for value in np.unique(energies):
                at = np.flatnonzero(energies == value)
                eps, weights = thermal_nodes(value, kT, edges, order)
                nodes += eps.size
                points = (np.repeat(theta[at], eps.size), np.repeat(phi[at], eps.size), np.tile(eps, at.size),
                          np.repeat(index[at], eps.size), (at.size, eps.size))
                node_plan = plan_for(s, eps, fold=fold, path=path, allow_closed=True, edge_tolerance=0.0,
                                     realizations=realizations, precision=precision)
                label = f"{progress}, thermal quadrature order {order}" if isinstance(progress, str) else progress
                out = run(s, points, node_plan, **{**common, "progress": label})
                flat[at] = np.einsum("nk...,k->n...", out.densities, weights)
                stats.append(out.stats.reshape(-1, 2))
            return values, (values, nodes, np.concatenate(stats))

        (values, nodes, stats), error = refine_thermal_order(at_order, rtol, max_order)
    shape_angles = np.broadcast_shapes(np.shape(s.theta), np.shape(s.phi), np.shape(energy))
    th, ph = (np.broadcast_to(np.asarray(a, dtype=float), shape_angles) for a in (s.theta, s.phi))
    m = np.stack([np.asarray(magnetization(*direction(s.layers[z], th, ph)), dtype=float) * np.ones(th.shape + (1,))
                  for z in local.layers], axis=-2)
    m = np.broadcast_to(m, shape + m.shape[-2:])
    dxc = np.asarray([float(s.layers[z].dxc) for z in local.layers])
    return Densities(values, local.layers, s.lead_names, names, blocks, th, ph,
                     np.broadcast_to(np.asarray(energy, dtype=float), shape_angles), m, dxc, pl.summary,
                     solver_report(pl, stats), float(kT), nodes, error)


def density_values(s: Stack, energy, pl, local: LocalRequest, realization=0):
    """The densities (layers, leads, operators, Lx, Ly) at one point, traceable in every number of ``s``
    and in ``energy`` (for ``jax.grad`` / ``jax.jvp``): the stack's own scalar angles, the plan
    ``pl`` made beforehand (``solve.transmissions.plan_for``, with ``varied`` for parameters moved
    from zero), ``local`` from :func:`local_request`."""
    upper = upper_state(s, energy, realization, pl)
    return evaluate(s, s.theta, s.phi, energy, realization, pl, upper, True, False, local).densities


def out_shape(s: Stack, local: LocalRequest, names) -> tuple:
    """Trailing shape of the densities of one point: (layers, leads, operators, Lx, Ly)."""
    return (len(local.layers), len(s.lead_names), len(names), s.Lx, s.Ly)
