"""The one solver's entry points: transmissions of any stack, batched over angles, energies and realizations.

:func:`solve` validates and plans in plain Python, then evaluates the traceable core
(``solve.kernel``) under ``jit``: for every distinct (energy, disorder realization) the
angle-independent upper state once, then the angles in fixed-size chunks that fit the memory
budget (``core.batching``), each chunk mapped as ``core.batching.mapping`` says for the
platform and the size. :func:`transmissions` is the thin entry point for the paper's junction
(``JunctionParams``, at its Fermi energy ``mu``) or a stack.

Repeated calls with the same structure do no planning, validation or tracing again: plans are
cached by content (:func:`plan_for`, a bounded ``functools.lru_cache``: the one cache of the
package), and the jitted functions take the plan and the mapping as static arguments and
every number as a traced one, so a new number (an angle, an energy, alpha3, a disorder
realization) reuses the compiled program.

JAX transformations. :func:`solve` and :func:`transmissions` run under a caller's ``jax.jit``,
``jax.grad``, ``jax.vmap``, ``jax.jacfwd`` and ``jax.jacrev`` for a stack (or ``JunctionParams``) whose
numbers, angles and energy are traced and whose geometry is static (``docs/tutorial.md``,
section 9, "Derivatives and fits with JAX"). The checks and the plan stay in plain
Python (:func:`plan_for`): a traced number counts as varied (present, of unknown direction), as for
``observables.sensitivity``; what needs a value (input checks, the open channels, the Krylov shell)
reads it where it has one (the primal under ``grad`` and ``jacfwd``/``jacrev`` outside ``jit``), and
otherwise takes every channel as a candidate. The evaluations then run in one program (a
``lax.map``, never a Python loop unrolled into the caller's trace), and what cannot raise inside
a trace (an unconverged Krylov solve) gives NaN there.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh
from tqdm.auto import tqdm

from ..core.batching import (VMAP, Mapping, chunk_size, map_over, mapping, memory_budget, on_mesh, padded_chunks,
                            platform, progress_steps, settled_on_cpu, split_over)
from ..core.chains import BAND_EDGE_TOLERANCE
from ..core.precision import is_traced, promoted, x64
from ..model.junction import JunctionParams, junction, validate
from ..model.stack import CONSERVED, LeadConservation, Stack, check_real, known, lead_conservation
from ..plan.plan import Plan, plan
from .kernel import LocalRequest, evaluate, lean_right_hand_sides, upper_state


@functools.partial(jax.tree_util.register_dataclass,
                   data_fields=["T", "n_open", "S", "krylov", "T_orbital", "n_open_orbital"],
                   meta_fields=["leads", "plan", "reflection_resolved", "conservation"])
@dataclasses.dataclass(frozen=True)
class Transmissions:
    """Spin-resolved transmission probabilities between the leads of a stack.

    ``T[..., a, sa, b, sb]`` is the probability, summed over channels, from lead b with spin sb
    into lead a with spin sa (a = b: reflection); leads in ``leads`` order (side leads, top,
    bottom). Spin 0/1 is +/- along the lead's axis: n for magnetic and vertical leads,
    ``spin_axis`` (default z: up/down) for normal side leads. ``n_open[..., a, s]`` counts open
    channels. ``S``: scattering matrices (``smatrix=True``) or None. ``reflection_resolved``:
    False when the top lead's spin-resolved self-reflection was filled from unitarity (its sums
    are exact; the split between spin flip and no flip is not). Leading axes are batch axes:
    (realizations,) + the broadcast shape of theta, phi and energy. ``plan``: the path taken.
    NumPy arrays; JAX arrays when computed under a JAX transformation, which can also return the
    whole object (a pytree: T, n_open, S and the Krylov statistics are its leaves).

    Resolved by what each lead conserves (:attr:`conserved`, :meth:`resolved`, like the blocks of
    Kwant's ``conservation_law``): where a lead has n > 1 orbitals, ``T_orbital[..., a, oa, sa, b,
    ob, sb]`` and ``n_open_orbital[..., a, o, s]`` also resolve the orbital (n the most orbitals of
    any lead, zeros beyond a lead's own; None when every lead has one orbital; where
    ``reflection_resolved`` is False the top lead's self-reflection block is not computed and holds
    zeros). ``conservation``: per lead, ``model.stack.lead_conservation``.
    """

    T: np.ndarray
    n_open: np.ndarray
    S: Optional[np.ndarray]
    leads: Tuple[str, ...]
    plan: Plan
    reflection_resolved: bool = True
    krylov: Optional[np.ndarray] = None
    T_orbital: Optional[np.ndarray] = None
    n_open_orbital: Optional[np.ndarray] = None
    conservation: Tuple[LeadConservation, ...] = ()

    @property
    def solver_report(self) -> dict:
        return solver_report(self.plan, self.krylov)

    @property
    def path(self) -> str:
        return self.plan.summary

    def index(self, lead: str) -> int:
        if lead not in self.leads:
            raise ValueError(f"lead {lead!r} is not one of this junction's leads {self.leads}")
        return self.leads.index(lead)

    def from_lead(self, lead: str = "M") -> np.ndarray:
        """T(a, s <- lead), summed over a's spin, for every other lead a: shape (..., n_leads - 1, 2)."""
        b = self.index(lead)
        others = [a for a in range(len(self.leads)) if a != b]
        return self.T[..., :, :, b, :][..., others, :, :].sum(axis=-2)

    def to_lead(self, lead: str = "M") -> np.ndarray:
        """T(lead, s <- a), summed over a's spin, for every other lead a: shape (..., n_leads - 1, 2)."""
        a = self.index(lead)
        others = [b for b in range(len(self.leads)) if b != a]
        return self.T[..., a, :, :, :][..., others, :].sum(axis=-1).swapaxes(-1, -2)

    def conservation_residual(self) -> np.ndarray:
        """Max over incoming (lead, spin) of ``|sum of outgoing probabilities - open channels|``."""
        return abs(self.T.sum(axis=(-4, -3)) - self.n_open).max(axis=(-2, -1))

    @property
    def conserved(self) -> dict:
        """{lead: the quantities its Hamiltonian conserves}, by which :meth:`resolved` can resolve the
        transmissions: ("orbital", "spin") for every lead the model builds (no lead has spin-orbit
        coupling or mixes orbitals: ``model.stack.lead_conservation``); spin is counted along the lead's
        axis (class docstring), the orbitals as :attr:`orbitals` names them."""
        return {name: c.quantities for name, c in zip(self.leads, self.conservation)}

    @property
    def orbitals(self) -> dict:
        """{lead: the labels of its orbitals}: its layer's ``Layer.orbital_names`` (("dyz", "dxz", "dxy") on
        the t2g preset's side leads), else ("0", .., "n-1"); ("0",) for a one-orbital lead."""
        return {name: c.orbitals for name, c in zip(self.leads, self.conservation)}

    def _resolution(self, by, leads) -> Tuple[str, ...]:
        """``by`` as a tuple in ``CONSERVED`` order, checked: known quantities, each conserved by ``leads``."""
        quantities = (by,) if isinstance(by, str) else by
        if not (isinstance(quantities, (tuple, list)) and all(q in CONSERVED for q in quantities)
                and len(set(quantities)) == len(quantities)):
            raise ValueError(f"by = {by!r} must be a subset of {CONSERVED} (a name or a sequence of distinct names; "
                             "() sums over both)")
        for lead in leads:
            missing = [q for q in quantities if q not in self.conserved[lead]]
            if missing:
                raise ValueError(f"by = {tuple(quantities)!r}: lead {lead!r} does not conserve {missing[0]!r} (it "
                                 f"conserves {self.conserved[lead]}), so its transmissions cannot be resolved by it; "
                                 f"allowed: a subset of {self.conserved[lead]}")
        return tuple(q for q in CONSERVED if q in quantities)

    def _fine(self):
        """(T, n_open) resolved by lead, orbital and spin: ``T_orbital``, or T with a one-orbital axis."""
        if self.T_orbital is not None:
            return self.T_orbital, self.n_open_orbital
        return self.T[..., :, None, :, :, None, :], self.n_open[..., :, None, :]

    def resolved(self, to: str, source: str, by=CONSERVED) -> np.ndarray:
        """T from lead ``source`` into lead ``to`` resolved by ``by``, a subset of ("orbital", "spin") that
        both leads conserve (:attr:`conserved`), summed over the rest: shape (..., n_to, 2, n_source, 2)
        for both (the orbitals of each lead, :attr:`orbitals`; spin +/- along its axis), (..., n_to,
        n_source) by orbital, (..., 2, 2) by spin (``T[..., to, :, source, :]`` itself), (...) for
        neither. Like Kwant's ``smatrix.transmission((to, block), (source, block))`` with blocks of its
        ``conservation_law``; its sums over the orbitals are the spin-resolved T (to rounding). Where the
        top lead's self-reflection was filled from unitarity (``reflection_resolved`` False) its orbital
        resolution is not available (solve with ``reflection=True``)."""
        a, b = self.index(to), self.index(source)
        by = self._resolution(by, (to, source))
        if "orbital" not in by:  # T itself: its sums are exact to the bit
            T = self.T[..., a, :, b, :]
            return T if "spin" in by else T.sum(axis=(-2, -1))
        if a == b and not self.reflection_resolved and a == len(self.plan.side_channels):
            raise ValueError(f"to = source = {to!r}: the top lead's orbital-resolved self-reflection was not computed "
                             "(lean right-hand sides: reflection=False, or 'auto' beyond the memory budget); solve "
                             "with reflection=True")
        T = self._fine()[0][..., a, : len(self.orbitals[to]), :, b, : len(self.orbitals[source]), :]
        return T if "spin" in by else T.sum(axis=(-3, -1))

    def open_channels(self, lead: str, by=CONSERVED) -> np.ndarray:
        """Open channels of ``lead`` resolved by ``by`` (as in :meth:`resolved`): shape (..., n, 2), (..., n),
        (..., 2) (``n_open[..., lead, :]``) or (...)."""
        a = self.index(lead)
        by = self._resolution(by, (lead,))
        if "orbital" not in by:
            n = self.n_open[..., a, :]
            return n if "spin" in by else n.sum(axis=-1)
        n = self._fine()[1][..., a, : len(self.orbitals[lead]), :]
        return n if "spin" in by else n.sum(axis=-1)

    def __getitem__(self, index) -> "Transmissions":
        """Select along the batch axes."""
        return dataclasses.replace(self, T=self.T[index], n_open=self.n_open[index],
                                   S=None if self.S is None else self.S[index],
                                   T_orbital=None if self.T_orbital is None else self.T_orbital[index],
                                   n_open_orbital=None if self.n_open_orbital is None else self.n_open_orbital[index])


# What the lean right-hand sides imply (``reflection`` False), in the words every command prints.
LEAN_NOTE = ("the top lead's spin-resolved self-reflection T(top, s <- top, s') is filled from unitarity: its sums "
             "over either spin are exact, its split between spin flip and no flip is not resolved (every "
             "transmission involving another lead, and every conversion conductance, is exact)")


def choose_reflection(s: Stack, pl: Plan, reflection, budget: int, copies: float = 1.0) -> bool:
    """The ``reflection`` a solve takes: True or False as asked, or for "auto" every channel as
    right-hand side when ``copies`` evaluations with them fit ``budget`` bytes (the memory rule
    :func:`evaluation_bytes`), else the lean right-hand sides (``LEAN_NOTE``), which need about a
    third of the memory at the paper's size. The one rule every command uses."""
    if reflection == "auto":
        return copies * evaluation_bytes(s, pl, True) <= budget
    if not isinstance(reflection, (bool, np.bool_)):
        raise ValueError(f"reflection = {reflection!r} must be True, False or 'auto'")
    return bool(reflection)


def evaluation_order(s: Stack, pl: Plan) -> int:
    """Order of the largest dense matrix of one evaluation (a dense slice; N on the Krylov path,
    whose vectors have that length): the size that ``core.batching.mapping`` looks at."""
    return max((b - a + 1) * s.N for a, b in pl.slices)


def evaluation_bytes(s: Stack, pl: Plan, reflection: bool, local=None) -> float:
    """Peak memory (bytes) of one evaluation, or of the upper state it needs if that is larger;
    with a ``local`` request (``kernel.LocalRequest``), plus the scattering states it keeps."""
    if local is not None:
        # Per dense slice its states (m, channels) and, above the lowest, its link to the slice below (m, N).
        kept = sum((b - a + 1) * s.N * (pl.n_channels + s.N) for a, b in pl.slices)
        return evaluation_bytes(s, pl, reflection) + 16.0 * (kept + s.N * pl.n_channels * len(local.layers))
    N = s.N
    if pl.precision == "mixed":
        # The complex64 matrix assembled and factorised in place (half the double path's), and the
        # flexible GMRES basis (V and Z, held about twice by XLA in the restart loop) per right-hand
        # side (checked against XLA's memory analysis, tests/solve/test_memory.py).
        rhs = pl.n_channels - len(pl.top_channels) if lean_right_hand_sides(s, pl, reflection) else pl.n_channels
        return 8.0 * 1.25 * N ** 2 + 16.0 * (4 * pl.krylov.restart + 6) * N * rhs
    if pl.krylov is not None:  # the GMRES basis per right-hand side, the shell's columns, its LU
        rhs = pl.n_channels - len(pl.top_channels) if lean_right_hand_sides(s, pl, reflection) else pl.n_channels
        nc = len(pl.krylov.shell)
        # XLA holds the basis of the restart loop twice (measured, tests/solve/test_memory.py).
        return 16.0 * ((2 * pl.krylov.restart + 8) * N * rhs + 3 * N * nc + nc ** 2 + 20 * N)
    # In dense matrices of the slice's order m (16 m^2 bytes), from XLA's own memory analysis of the
    # compiled kernel, with a margin (tests/solve/test_memory.py checks that these bound the measured
    # figures): the lowest slice assembled in one buffer and factorised in it (1.25); a dense state
    # from above (spin blocks or dense slices) adds one matrix; an upper dense slice is inverted (three
    # matrices); the spin-block layers, eliminated once per energy and realization, hold four.
    first, last = pl.slices[-1]
    m = (last - first + 1) * N
    dense_state = bool(pl.blocks) or len(pl.slices) > 1
    n_side = pl.n_channels - len(pl.top_channels)  # every lead's channels but the top lead's
    rhs = 2 * n_side if lean_right_hand_sides(s, pl, reflection) else pl.n_channels
    lowest = (1.25 + (1.0 if dense_state else 0.0)) * m ** 2 + 3 * m * rhs
    upper = [3.0 * ((b - a + 1) * N) ** 2 + 6 * (b - a + 1) * N * pl.n_channels for a, b in pl.slices[:-1]]
    if pl.blocks:
        upper.append(4.0 * N ** 2 + 4 * N * len(pl.top_channels))
    return 16.0 * max([lowest] + upper)


@functools.partial(jax.jit, static_argnames=("pl", "batch", "mesh"))
def upper_at(s, energy, realization, pl, batch: Mapping = VMAP, mesh: Optional[Mesh] = None):
    """The angle-independent upper state (``kernel.upper_state``) at one energy and realization; with a
    ``mesh``, of a block of units: ``s``, ``energy`` and ``realization`` carry a leading axis of units
    split over the mesh's devices (``core.batching.on_mesh``), mapped as ``batch`` says on each."""
    if mesh is None:
        return upper_state(s, energy, realization, pl)
    return on_mesh(lambda *unit: map_over(lambda u, e, r: upper_state(u, e, r, pl), batch, *unit), mesh, 3)(
        s, energy, realization)


@functools.partial(jax.jit, static_argnames=("pl", "reflection", "smatrix", "batch", "local", "observe", "mesh"))
def angles_at(s, theta, phi, energy, realization, upper, pl, reflection, smatrix, batch: Mapping = VMAP,
              local: Optional[LocalRequest] = None, observe=None, mesh: Optional[Mesh] = None):
    """Angles (leading axis, mapped as ``batch`` says) at one energy and realization, sharing ``upper``:
    a KernelOutput per angle, or what ``observe`` (hashable, traceable) makes of it. With a ``mesh``, a
    block of units: every argument carries a leading axis of units (theta and phi then (units, angles)),
    split over the mesh's devices and mapped as ``batch`` says on each."""
    def unit(stack, theta, phi, energy, realization, upper):
        def angle(th, ph):
            out = evaluate(stack, th, ph, energy, realization, pl, upper, reflection, smatrix, local)
            return out if observe is None else observe(out)
        return map_over(angle, batch, theta, phi)
    if mesh is None:
        return unit(s, theta, phi, energy, realization, upper)
    return on_mesh(lambda *units: map_over(unit, batch, *units), mesh, 6)(s, theta, phi, energy, realization, upper)


@functools.partial(jax.jit, static_argnames=("pl", "reflection", "smatrix", "batch", "local", "transform", "observe"))
def points_at(s, theta, phi, energy, realization, pl, reflection, smatrix, batch: Mapping = VMAP,
              local: Optional[LocalRequest] = None, transform=None, extra=None, observe=None):
    """Points each at its own energy and realization (leading axis), the upper state computed per point;
    the angles are added to the stack's (0 for a plain solve, a tangent's direction for a derivative).

    ``transform``: None (a KernelOutput per point, or what ``observe`` makes of it), or a hashable
    callable ``transform(f, s, energy, extra)`` of ``f(s, energy)``, the point's KernelOutput as a
    function of the stack and the energy (upper state included), returning a pytree with a ``stats``
    field: e.g. its JVP (``observables.sensitivity.Derivatives``); ``extra``: its traced data (the
    tangents)."""
    def point(th, ph, e, r):
        def f(stack, energy):
            out = evaluate(stack, stack.theta + th, stack.phi + ph, energy, r, pl,
                           upper_state(stack, energy, r, pl), reflection, smatrix, local)
            return out if observe is None else observe(out)
        return f(s, e) if transform is None else transform(f, s, e, extra)
    return map_over(point, batch, theta, phi, energy, realization)


class Observed(NamedTuple):
    """What an ``observe`` function of the driver returns per point: the caller's values (a pytree) and
    the iterative solver's statistics, which the driver checks."""

    values: dict
    stats: jnp.ndarray


def evaluation_grid(s: Stack, energy, realizations):
    """Flattened (theta, phi, energy, realization) of every evaluation and the batch shape (JAX arrays
    when an angle or the energy is traced; the realizations are always concrete)."""
    theta, phi, energy = point_grid(theta=s.theta, phi=s.phi, energy=energy)
    xp = jnp if isinstance(theta, jax.Array) else np
    shape = theta.shape
    if realizations is None:
        index = np.zeros(1, dtype=np.int64)
    else:
        try:
            index = np.asarray(realizations)
        except jax.errors.TracerArrayConversionError:
            raise ValueError("realizations must be concrete integers (indices of disorder draws); they cannot be "
                             "traced") from None
        if index.ndim != 1 or index.size == 0 or not np.issubdtype(index.dtype, np.integer) or index.min() < 0:
            raise ValueError(f"realizations must be a non-empty 1D sequence of integers >= 0, got {realizations!r}")
        shape = (index.size,) + shape
    flat = (xp.tile(v.reshape(-1), index.size) for v in (theta, phi, energy))
    return (*flat, np.repeat(index.astype(np.int64), theta.size), shape)


class PlanKey:
    """A planning request hashed and compared by content (every number and static field of the
    stack, its angles apart, the energies and the options): the key of the plan cache. The plan
    does not depend on the stack's own angles (only on which layers and leads follow them), so a
    scan over angles finds one plan; non-finite angles are refused here (``validate_stack``'s
    check, which the cache would otherwise skip)."""

    def __init__(self, s: Stack, energies, options: tuple):
        for name in ("theta", "phi"):
            check_real(name, getattr(s, name), shapes=None)
        self.stack, self.energies, self.options = s.replace(theta=0.0, phi=0.0), energies, options
        leaves, treedef = jax.tree_util.tree_flatten((self.stack, options))
        arrays = [np.asarray(leaf) for leaf in leaves]
        self.key = (treedef, energies.tobytes(), tuple((a.dtype.str, a.shape, a.tobytes()) for a in arrays))
        self.hash = hash(self.key)

    def __hash__(self):
        return self.hash

    def __eq__(self, other):
        return isinstance(other, PlanKey) and self.key == other.key


# Plans of the last distinct structures; a plan is a few kB (its channel lists).
PLAN_CACHE_SIZE = 64
UNITS_PER_CALL = 64  # units per device and call on a mesh (call_sizes)


@functools.lru_cache(maxsize=PLAN_CACHE_SIZE)
def cached_plan(key: PlanKey) -> Plan:
    """``plan.plan`` of a request, computed once per content (``functools.lru_cache``, bounded;
    ``cached_plan.cache_info()`` counts hits). The plan reads the memory available when it is first
    made (the auto path's dense-or-Krylov choice): later requests of the same content reuse it."""
    fold, path, allow_closed, edge_tolerance, varied, precision, traced = key.options
    return plan(key.stack, key.energies, fold=fold, solver=path, allow_closed=allow_closed,
                edge_tolerance=edge_tolerance, varied=varied, precision=precision, traced=traced)


def point_grid(**arrays) -> tuple:
    """The arrays (angles and energies, by name) broadcast together, as float arrays (JAX arrays when one
    of them is traced); a ValueError naming them when they do not broadcast, hold no value or hold
    something else than real numbers."""
    traced = is_traced(tuple(arrays.values()))
    try:
        values = {name: jnp.asarray(value) if traced else np.asarray(value, dtype=float)
                  for name, value in arrays.items()}
    except (TypeError, ValueError):
        raise ValueError(f"{', '.join(arrays)} must be real numbers or arrays of real numbers") from None
    if traced:
        if any(np.dtype(value.dtype).kind not in "biuf" for value in values.values()):
            raise ValueError(f"{', '.join(arrays)} must be real numbers or arrays of real numbers")
        values = {name: value.astype(float) for name, value in values.items()}
    for name, value in values.items():
        if value.size == 0:
            raise ValueError(f"{name} is an empty array; give at least one value")
    try:
        shape = np.broadcast_shapes(*(value.shape for value in values.values()))
    except ValueError:
        raise ValueError(", ".join(f"{name} (shape {v.shape})" for name, v in values.items())
                         + " must broadcast together: give arrays of one length, or single numbers") from None
    xp = jnp if traced else np
    return tuple(xp.broadcast_to(value, shape) for value in values.values())


def planning_view(s: Stack):
    """(view, traced): the stack with every traced number that carries a value (``model.stack.known``) replaced
    by it, and a Stack-shaped pytree of booleans marking the traced leaves (the plan treats them as varied)."""
    def value(leaf):
        number = known(leaf) if isinstance(leaf, jax.core.Tracer) else None
        return leaf if number is None else number

    traced = jax.tree_util.tree_map(lambda leaf: isinstance(leaf, jax.core.Tracer), s)
    return jax.tree_util.tree_map(value, s), traced


def plan_for(s: Stack, energies, *, fold=True, path="auto", allow_closed=False, edge_tolerance=BAND_EDGE_TOLERANCE,
             varied=None, realizations=None, precision="auto") -> Plan:
    """The plan of a solve (validation included), with the checks that tie disorder to realizations;
    from the plan cache (:func:`cached_plan`) when the same content was planned before.

    Under a caller's JAX transformation the plan depends only on the static geometry and on what is
    decided without the traced numbers: every traced number counts as varied (``plan.plan``: a
    traced alpha1 makes its layer spin-orbit coupled, a traced K0 draws disorder, a traced angle of
    a layer makes its exchange non-collinear), and is read where it carries a value (the primal
    under ``jax.grad``, ``jax.jacfwd``, ``jax.jacrev`` outside ``jit``: the input checks, the open
    channels and the Krylov shell are then those of that value, and plans are cached). Without a
    value (``jit``, ``vmap``) every channel of a lead whose numbers or energy are traced is a
    candidate (exact: closed ones contribute zero; the open-channel and band-edge checks are
    skipped) and the Krylov path is refused. Numbers that are not traced are read as they are, so
    closing over the numbers one does not vary keeps the plan of the plain call.
    """
    with jax.ensure_compile_time_eval():  # the numbers that are not traced stay numbers under a caller's jit
        view, traced = planning_view(s)
        values = known(energies)
        energies = None if values is None else np.unique(np.asarray(values, dtype=float))
        options = (bool(fold), path, bool(allow_closed), float(edge_tolerance), varied, precision,
                   traced if is_traced(s) else None)
        try:
            key = None if energies is None else PlanKey(view, energies, options)
        except (TypeError, jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError):
            key = None  # a number without a value, or unhashable content: planned directly, not cached
        if key is None:
            pl = plan(view, energies, fold=fold, solver=path, allow_closed=allow_closed, edge_tolerance=edge_tolerance,
                      varied=varied, precision=precision, traced=options[-1])
        else:
            pl = cached_plan(key)
    if realizations is not None and not pl.any_disorder:
        raise ValueError("realizations need a disordered layer (K0 > 0): this stack draws no disorder")
    return pl


@x64
def solve(s: Stack, energy, *, realizations=None, fold: bool = True, path: str = "auto", precision: str = "auto",
          reflection=True, smatrix: bool = False, allow_closed: bool = False, memory_budget_gib=None,
          progress=False, edge_tolerance: float = BAND_EDGE_TOLERANCE) -> Transmissions:
    """Every spin-resolved transmission between the leads of a stack.

    ``s.theta``, ``s.phi`` and ``energy`` may be arrays (broadcast together); ``realizations``
    a sequence of disorder realization indices (a leading batch axis). Per distinct (energy,
    realization) the angle-independent upper state is computed once. ``fold=False`` treats
    every layer densely (a check of the folding); ``path``: solver of the lowest slice ("auto",
    "dense", "krylov"); ``precision``: arithmetic of its solve ("auto", "double", "mixed": a
    complex64 LU refined to double accuracy by GMRES, where the Krylov path's operator exists;
    ``plan.plan``). ``reflection=False`` skips the top lead's channels as right-hand sides
    (its spin-resolved self-reflection then comes from unitarity, ``LEAN_NOTE``: enough for every
    conversion conductance, about 3x fewer solves at the paper's size); ``reflection="auto"``:
    every channel when one evaluation with them fits the memory budget, else lean
    (:func:`choose_reflection`; what the commands use); ``smatrix`` returns S (implies
    reflection). ``allow_closed``: a lead without open channels gives zero transmissions
    instead of an error; ``edge_tolerance``: how close to a subband edge (units of 2t) an
    energy may be. ``memory_budget_gib``: memory for one chunk (default: a fraction of what the
    device has). ``progress``: a progress bar (tqdm) over the evaluations, with the time left; a
    text names what it computes (default: the number of evaluations). Large evaluations are cut
    into at least 16 calls so that it advances (``core.batching.progress_steps``).

    JAX transformations (``jax.jit``, ``grad``, ``vmap``, ``jacfwd``, ``jacrev``) apply with the
    stack's numbers, angles and ``energy`` traced; its geometry (sizes, layers, leads, seed),
    ``realizations`` and the options stay static. The plan follows :func:`plan_for`'s rule, the
    evaluations run in one ``lax.map`` (one at a time on CPU, where derivatives add batched LAPACK
    calls: ``core.batching``), and the results equal the plain call's to rounding. What needs a
    value is checked on the value a tracer carries under ``grad``/``jacfwd``/``jacrev`` outside
    ``jit`` and cannot be checked under ``jit`` or ``vmap``: there a NaN, an infinite number, a
    lead without open channel or an energy on a subband edge is not refused, and an unconverged
    Krylov or mixed-precision solve gives NaN transmissions instead of an error. Arithmetic is
    float64 inside whatever the caller's default (``core.precision``).
    """
    s, energy = promoted((s, energy))
    with jax.ensure_compile_time_eval():
        grid = evaluation_grid(s, energy, realizations)  # shapes first: clearer messages
        theta, phi, energies, index, shape = grid
        pl = plan_for(s, energies, fold=fold, path=path, allow_closed=allow_closed, edge_tolerance=edge_tolerance,
                      realizations=realizations, precision=precision)
        budget = memory_budget(memory_budget_gib)
        reflection = smatrix or choose_reflection(s, pl, reflection, budget)
    if is_traced((s, energy)):
        with jax.ensure_compile_time_eval():
            batch = mapping(evaluation_order(s, pl))
            chunk = chunk_size(evaluation_bytes(s, pl, reflection), budget, theta.size,
                               f"at Lx = {s.Lx}, Ly = {s.Ly}", how=batch)
            if isinstance(energies, jax.core.Tracer):  # traced energies are known to be one only when one is given
                shared = jnp.size(energy) == 1 and index.size == 1
            else:
                shared = np.unique(np.stack([np.asarray(energies), index.astype(float)], axis=1), axis=0).shape[0] == 1
        out = _traced_evaluations(s.replace(theta=0.0, phi=0.0), theta, phi, energies, index, pl, reflection, smatrix,
                                  batch, chunk, shared)
        out = jax.tree_util.tree_map(lambda a: a.reshape(shape + a.shape[1:]), _checked(out, pl))
    else:
        out = run(s, grid, pl, reflection=reflection, smatrix=smatrix, budget=budget, progress=progress)
    return Transmissions(out.T, out.n_open, out.S, s.lead_names, pl, not lean_right_hand_sides(s, pl, reflection),
                         None if pl.krylov is None else out.stats, out.T_orbital, out.n_open_orbital,
                         lead_conservation(s))


def call_sizes(s: Stack, pl: Plan, budget: int, *, reflection: bool, points: int, units: int = 1, devices: int = 0,
               local: Optional[LocalRequest] = None, copies: int = 1, one_on_cpu: bool = False, steps: bool = True,
               what: str = "") -> Tuple[int, int]:
    """The one memory rule of the driver: (units per device, points per unit) of one call.

    A unit is a group of points that share their upper state (the angles of one energy and
    realization), or a single point where none share; ``points``: the most points of a unit (of all
    of them where none share), ``units``: how many units there are. Each point holds ``copies``
    evaluations' memory (:func:`evaluation_bytes`). Without a mesh (``devices`` 0) a call takes one
    unit and as many of its points as ``budget`` allows (``core.batching.chunk_size``, mapped as
    ``core.batching.mapping`` says, cut into at least ``progress_steps`` calls when ``steps``, so that
    a progress bar per evaluation advances). With a mesh of ``devices`` devices a call takes several
    units per device, each holding its upper state beside its points' evaluations; on CPU one unit
    per call (batched LAPACK calls of several units deadlocked XLA's 2-thread intra-op pool, JAX
    0.10.2), and one point per call with several CPU devices, which run their programs at once
    (``one_on_cpu``, which derivatives ask for too). A ValueError when not even one fits."""
    order = evaluation_order(s, pl)
    how = mapping(order)
    what = what or f"at Lx = {s.Lx}, Ly = {s.Ly}"
    per = copies * evaluation_bytes(s, pl, reflection, local)
    cut = progress_steps(order, how) if steps else 1
    if not devices:
        return 1, chunk_size(per, budget, points, what, one_on_cpu=one_on_cpu, how=how, steps=cut)
    chunk_size(2 * per, budget, 1, what)  # refuses when not even a unit's upper state and one point fit
    per_unit = chunk_size(per, budget - per, points, what, one_on_cpu=one_on_cpu or devices > 1, how=how, steps=cut)
    # At most UNITS_PER_CALL units per device and call, however large the budget: a run writes its files and
    # meets a deadline between calls, so that one call must not swallow a whole plan.
    return chunk_size(per * (1 + per_unit), budget, min(UNITS_PER_CALL, -(-units // devices)), what,
                      one_on_cpu=True), per_unit


def run(s: Stack, grid, pl: Plan, *, reflection: bool, smatrix: bool = False, local: Optional[LocalRequest] = None,
        budget: int, progress: bool = False, transform=None, extra=None, copies: int = 1, what: str = "",
        observe=None, cases=None, mesh=None, on_chunk=None, check=None, deadline=None, first_free: bool = True):
    """The one driver of the kernel over a grid of points: a :class:`~jaxsge.solve.kernel.KernelOutput`
    (or what ``observe`` or ``transform`` makes of it) of NumPy arrays with the grid's batch shape as
    leading axes; with ``on_chunk``, None (every finished chunk is handed to it instead).

    ``grid``: :func:`evaluation_grid` (the flattened theta, phi, energy, realization of every
    point and the batch shape). Points that share (energy, realization) form a unit: its
    angle-independent upper state is computed once and its angles evaluated in fixed-size calls
    (``core.batching.padded_chunks``, the last one padded) whose sizes the memory rule
    :func:`call_sizes` sets for ``budget`` bytes; units are evaluated in the order of their first
    point. Points that share nothing are chunked as they come. Then the checks of every chunk: an
    iterative solve that did not converge, ``check(positions, out)`` (the caller's own, with a
    clearer message for its quantities) and any non-finite output are refused.

    ``observe``: a hashable, traceable function of each point's KernelOutput, returning a pytree with
    a ``stats`` field (:class:`Observed`), evaluated inside the compiled program (e.g. the
    conductances). ``transform``, ``extra``: a transform of each point's evaluation
    (:func:`points_at`), e.g. derivatives, which holds ``copies`` evaluations' memory; its points are
    evaluated one per call on CPU (its tangents add batched LAPACK calls, ``core.batching``) and never
    share an upper state (it is part of what is differentiated). ``what``: how the error messages name
    the work (e.g. "with 2 derivative(s)").

    Ensembles (``ensemble.run``): ``cases`` (an integer per point) picks each point's stack from
    ``s``, whose leaves then carry a leading axis of stacks; ``mesh`` (``core.batching.local_mesh``)
    takes blocks of units per call, split over its devices (``core.batching.on_mesh``);
    ``on_chunk(positions, out)`` receives each finished block (whole units: the flat positions of its
    points and their outputs), one block staying in flight on accelerators while the previous one is
    handed over (on CPU each call finishes first, ``core.batching.settled_on_cpu``); ``deadline``
    (``time.perf_counter()``): no block starts past it, or that would end past it by the last block's
    duration (the first block, its compilation included, has no estimate: it runs when the deadline is
    ahead, and whatever the deadline when ``first_free``). ``cases`` and ``mesh`` need units (points
    that share their upper state) and no ``transform``.
    """
    theta, phi, energies, index, shape = grid
    total = theta.size
    devices = 0 if mesh is None else mesh.size
    keys = [energies, index.astype(float)] + ([] if cases is None else [np.asarray(cases, dtype=float)])
    _, first, inverse = np.unique(np.stack(keys, axis=1), axis=0, return_index=True, return_inverse=True)
    shared = transform is None and first.size < total
    if not shared and (mesh is not None or cases is not None):
        raise ValueError("a mesh or several stacks need points that share their upper state (the angles of one energy "
                         "and realization) and no transform")
    if shared:
        order = np.argsort(inverse.reshape(-1), kind="stable")
        groups = np.split(order, np.cumsum(np.bincount(inverse.reshape(-1)))[:-1])
        groups = [groups[k] for k in np.argsort(first)]  # in the order of their first point
        per_call, per_unit = call_sizes(s, pl, budget, reflection=reflection, points=max(g.size for g in groups),
                                        units=len(groups), devices=devices, local=local, copies=copies,
                                        steps=on_chunk is None, what=what)
        width = per_call * max(devices, 1)
        blocks = [groups[i: i + width] for i in range(0, len(groups), width)]
    else:
        _, per_unit = call_sizes(s, pl, budget, reflection=reflection, points=total, local=local, copies=copies,
                                 one_on_cpu=transform is not None, steps=on_chunk is None, what=what)
        blocks = [keep for keep, _ in padded_chunks(total, per_unit)]
    batch = mapping(evaluation_order(s, pl), None if mesh is None else mesh.devices.flat[0])

    def stack_of(position):
        return s if cases is None else jax.tree_util.tree_map(lambda a: np.asarray(a)[cases[position]], s)

    def calls(block):
        """(positions, valid, output) of every call of a block, dispatched one after the other."""
        if not shared:
            idx = np.minimum(block[0] + np.arange(per_unit), total - 1)
            base = s if transform is not None else s.replace(theta=0.0, phi=0.0)
            yield idx, np.arange(per_unit) < block.size, settled_on_cpu(points_at(
                base, theta[idx], phi[idx], energies[idx], index[idx], pl, reflection, smatrix, batch, local,
                transform, extra, observe))
            return
        # with a mesh, every block padded to the same number of units, a multiple of the devices (one program)
        units = block if mesh is None else block + [block[-1]] * (width - len(block))
        starts = np.asarray([g[0] for g in units])
        size = max(g.size for g in block)
        step = -(-size // -(-size // per_unit))  # balanced calls: the last one padded by less than one per call
        if mesh is None:
            base = stack_of(starts[0]).replace(theta=0.0, phi=0.0)
            upper = settled_on_cpu(upper_at(base, energies[starts[0]], index[starts[0]], pl))
        else:
            base = jax.tree_util.tree_map(lambda a: np.stack([np.asarray(a)] * len(units)), s) if cases is None \
                else jax.tree_util.tree_map(lambda a: np.asarray(a)[cases[starts]], s)
            base = split_over(mesh, base.replace(theta=np.zeros(len(units)), phi=np.zeros(len(units))))
            unit_e, unit_r = split_over(mesh, (energies[starts], index[starts]))
            upper = settled_on_cpu(upper_at(base, unit_e, unit_r, pl, batch, mesh))
        for start in range(0, size, step):
            j = start + np.arange(step)
            idx = np.stack([g[np.minimum(j, g.size - 1)] for g in units])
            valid = np.stack([(j < g.size) & (u < len(block)) for u, g in enumerate(units)])
            if mesh is None:
                out = angles_at(base, theta[idx[0]], phi[idx[0]], energies[starts[0]], index[starts[0]], upper, pl,
                                reflection, smatrix, batch, local, observe)
                idx, valid = idx[0], valid[0]
            else:
                out = angles_at(base, *split_over(mesh, (theta[idx], phi[idx])), unit_e, unit_r, upper, pl,
                                reflection, smatrix, batch, local, observe, mesh)
            yield idx, valid, settled_on_cpu(out)

    results = None  # every output over every point (without on_chunk)
    pieces = []  # the fetched calls of the block being finished

    def finish(piece, last_of_block: bool):
        nonlocal results, pieces
        idx, valid, out = piece
        keep = valid.reshape(-1)
        out = jax.tree_util.tree_map(lambda a: np.asarray(a).reshape((-1,) + a.shape[idx.ndim:])[keep],
                                     jax.device_get(out))
        pieces.append((idx.reshape(-1)[keep], out))
        bar.update(int(keep.sum()))
        if not last_of_block:
            return
        positions = np.concatenate([p for p, _ in pieces])
        out = jax.tree_util.tree_map(lambda *a: np.concatenate(a), *[o for _, o in pieces])
        pieces = []
        check_converged(out.stats, pl)
        if check is not None:
            check(positions, out)
        bad = [jax.tree_util.keystr(path) for path, a in jax.tree_util.tree_flatten_with_path(out)[0]
               if not np.all(np.isfinite(a))]
        if bad:
            raise ValueError(f"the solve gave non-finite values ({', '.join(bad)}): the linear system of the junction "
                             "is singular at one of the energies (a bound state of the closed junction?), or a "
                             "derivative meets a channel opening; shift the energy slightly")
        if on_chunk is not None:
            on_chunk(positions, out)
            return
        if results is None:
            results = jax.tree_util.tree_map(lambda a: np.empty((total,) + a.shape[1:], a.dtype), out)
        for result, a in zip(jax.tree_util.tree_leaves(results), jax.tree_util.tree_leaves(out)):
            result[positions] = a

    pending, last, previous = None, None, time.perf_counter()
    with tqdm(total=total, unit="evaluation", desc=progress if isinstance(progress, str) else f"{total} evaluations",
              disable=not progress) as bar:
        for b, block in enumerate(blocks):
            now = time.perf_counter()
            if (deadline is not None and not (first_free and b == 0)
                    and (now > deadline or (last is not None and now + last > deadline))):
                break
            for piece in calls(block):
                if pending is not None:
                    finish(pending[0], last_of_block=pending[1])
                pending = (piece, False)
            pending = (pending[0], True)
            now = time.perf_counter()
            last, previous = now - previous, now
        if pending is not None:
            finish(pending[0], last_of_block=True)
    if on_chunk is None:
        return jax.tree_util.tree_map(lambda a: a.reshape(shape + a.shape[1:]), results)


def _traced_evaluations(base, theta, phi, energies, index, pl, reflection, smatrix, batch, chunk, shared: bool):
    """Every evaluation under a caller's transformation, in one program: a ``lax.map`` holding ``chunk``
    evaluations at a time (one on CPU, and where ``batch`` loops), so that nothing is unrolled into the
    caller's trace. ``shared``: every point has the same (energy, realization), whose upper state is
    then computed once (with traced energies that is known only when there is one energy)."""
    how = Mapping("map", 1 if platform() == "cpu" or batch.kind == "map" else chunk)
    if shared:
        upper = upper_at(base, energies[0], index[0], pl)
        return angles_at(base, theta, phi, energies[0], index[0], upper, pl, reflection, smatrix, how)
    return points_at(base, theta, phi, energies, index, pl, reflection, smatrix, how)


def _checked(out, pl: Plan):
    """``out`` (a ``KernelOutput`` of points along the leading axis) after the checks of the results: an
    iterative solve that did not converge and non-finite numbers raise (:func:`check_converged`) where
    the results have values; under ``jit`` or ``vmap``, where nothing can raise, every field computed
    from the solution (T, S, T_orbital) becomes NaN at the points of an unconverged iterative solve.

    Under ``jax.jacfwd`` (a ``vmap`` of JVPs) the transmissions carry their value but the Krylov
    statistics come out batched over the tangents (``lax.custom_linear_solve`` batches the auxiliary
    outputs of a solve): they are then read from the batch (equal values), since making T depend on
    them would batch T's value too."""
    stats = out.stats
    fields = {name: getattr(out, name) for name in ("T", "S", "T_orbital") if getattr(out, name) is not None}
    stats_value = known(stats)
    if stats_value is None and known(out.T) is not None and getattr(stats, "val", None) is not None:
        stats_value = known(stats.val)
    if pl.krylov is not None:
        if stats_value is not None:
            check_converged(stats_value, pl)
        else:
            converged = stats[..., 1] <= pl.krylov.tol
            fields = {name: jnp.where(converged.reshape(converged.shape + (1,) * (a.ndim - 1)), a, jnp.nan)
                      for name, a in fields.items()}
    values = [known(a) for a in fields.values()]
    if any(v is not None and not np.all(np.isfinite(v)) for v in values):
        raise ValueError("the solve gave non-finite transmissions: the linear system of the junction is singular "
                         "at one of the energies (a bound state of the closed junction?); shift the energy slightly")
    return out._replace(**fields)


def solver_report(pl: Plan, stats) -> dict:
    """The path, the precision and, for an iterative solve (the Krylov path, the mixed path's
    refinement), the largest iteration count and relative residual of the solves
    (``stats[..., (iterations, residual)]``; left out when they are traced without a value), with the
    tolerance and iteration limit."""
    out = {"path": pl.summary, "solver": pl.solver, "precision": pl.precision}
    if pl.krylov is not None:
        stats = known(stats)
        if stats is not None:
            stats = stats.reshape(-1, 2)
            out.update(iterations=int(np.max(stats[:, 0])), relative_residual=float(np.max(stats[:, 1])))
        out.update(tolerance=pl.krylov.tol, max_iterations=pl.krylov.max_iter, restart=pl.krylov.restart)
        if pl.solver == "krylov":
            out["shell_modes"] = len(pl.krylov.shell)
    return out


def check_converged(stats, pl: Plan) -> None:
    """Refuse results of iterative solves (Krylov path, mixed-precision refinement) that did not reach
    the tolerance (never a silent wrong number); nothing to check for a direct solve."""
    if pl.krylov is None:
        return
    stats = np.asarray(stats).reshape(-1, 2)
    worst = int(np.argmax(stats[:, 1]))
    if not stats[worst, 1] <= pl.krylov.tol:
        what, instead = (("the mixed-precision refinement (GMRES preconditioned by the complex64 LU) stalled",
                          "use --precision double") if pl.precision == "mixed"
                         else ("the Krylov solver did not converge", "use --path dense"))
        raise ValueError(f"{what}: relative residual {stats[worst, 1]:.3g} after {int(stats[worst, 0])} iterations, "
                         f"above the tolerance {pl.krylov.tol:g} (limit {pl.krylov.max_iter} iterations); {instead}")


@x64
def transmissions(system, energy=None, **options) -> Transmissions:
    """Transmissions of the paper's junction (``JunctionParams``, at ``energy`` or its ``mu``) or of a
    Stack (``energy`` required); ``options`` as in :func:`solve`, which says how JAX transformations
    apply (``jax.grad(lambda a: transmissions(p.replace(alpha3=a)).T[0, 0, 4, 0])(-0.2)``)."""
    if isinstance(system, JunctionParams):
        system = promoted(system)
        validate(system)
        return solve(junction(system), system.mu if energy is None else energy, **options)
    if isinstance(system, Stack):
        if energy is None:
            raise ValueError("energy must be given for a Stack (the Fermi energy, units of the hopping)")
        return solve(system, energy, **options)
    raise ValueError(f"expected JunctionParams or a Stack, got {type(system).__name__}")
