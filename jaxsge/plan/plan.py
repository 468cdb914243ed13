"""The solution plan: every static decision about a stack, made in plain Python before anything is traced.

The Hamiltonian is block tridiagonal along z. The plan splits the stack into layers **folded**
into the top or bottom lead (laterally uniform, exchange collinear with the lead's axis: a
scalar continued fraction per sine mode), layers in **spin blocks** along the top axis (no
spin-orbit coupling or side lead, collinear exchange) and **dense** slices, the lowest solved
by one LU or a Krylov method (``solver``); docs/layered.md ("How the path is chosen") gives
the rules, :meth:`Plan.explain` which was chosen for each layer, and why.

The plan also fixes the candidate channels of every lead (open at one of the energies asked
for: ``model.stack.Lead.channels``, asked of each lead) and, for derivatives, which leaves will
vary: ``varied`` is a Stack-shaped pytree of booleans, and a varied number counts as non-zero
(a layer whose alpha1 is differentiated at alpha1 = 0 is not folded), since the plan must hold
at every point the derivative looks at.

Under a caller's JAX transformation (``solve.transmissions.plan_for``) the same rule applies to
every traced number, and the numbers that decide the channels and the Krylov shell are read
where they have a value (``model.stack.known``: concrete, or the primal of ``jax.grad``,
``jacfwd``, ``jacrev`` outside ``jit``); where they have none (under ``jit`` or ``vmap``), every
channel of the lead is a candidate (a closed one contributes exactly zero) and the Krylov path,
whose preconditioner is chosen from them, is refused (:func:`plan`).
"""

from __future__ import annotations

import dataclasses
import itertools
import operator
from typing import Optional, Tuple

import jax
import numpy as np

from ..core.chains import BAND_EDGE_TOLERANCE
from ..core.lattice import magnetization
from ..model.stack import Stack, concrete, layer_mode_energies, table_entries, validate_stack

SOLVERS = ("auto", "dense", "krylov")
# Arithmetic of the lowest slice's solve: "double" (complex128 throughout) or "mixed" (its matrix
# assembled and factorised in complex64, the solution refined to double accuracy by GMRES against
# the exact complex128 operator, ``solve.krylov.refined_solver``); "auto" picks one (``_choose_precision``).
PRECISIONS = ("auto", "double", "mixed")
# Half-width (units of the lowest layer's hopping t) of the shell of modes the Krylov
# preconditioner keeps exactly; 0.6 t keeps the iterations flat in L for clean and K0 = 0.5
# junctions (docs/krylov.md).
KRYLOV_SHELL = 0.6


@dataclasses.dataclass(frozen=True)
class KrylovSetup:
    """Static settings of the GMRES solve of the lowest slice (``solve.krylov``), on the Krylov path
    or as the refinement of the mixed-precision path: the shell's flat indices (q * 2 + s, spin
    along the top axis; empty for the refinement, whose preconditioner is the complex64 LU), the
    relative tolerance, the GMRES restart length, the iteration limit."""

    shell: Tuple[int, ...]
    tol: float
    restart: int
    max_iter: int


# Krylov settings: relative residual of every solve, GMRES restart length, iteration limit (beyond
# it the solve is refused, ``solve.transmissions.check_converged``).
KRYLOV_TOLERANCE = 1e-10
KRYLOV_RESTART = 30
KRYLOV_MAX_ITER = 600
# The mixed-precision refinement: the same tolerance; flexible GMRES with the complex64 LU as
# preconditioner needs 2-3 iterations at the paper's size (docs/performance.md), so a short restart
# keeps its basis small, and beyond the limit the refinement has stalled (an error, not a number).
MIXED_RESTART = 3
MIXED_MAX_ITER = 40
# From this many sites per layer ``precision="auto"`` takes the mixed path on CPU, where it applies
# (measured, docs/performance.md "Mixed precision"); on other platforms it is not measured yet: double.
MIXED_SITES_CPU = 30 * 30
PATH_NAMES = {"dense": "dense LU", "krylov": "Krylov (GMRES)"}


@dataclasses.dataclass(frozen=True)
class Plan:
    """The solution path of one stack (hashable: a jit static argument).

    ``top_fold`` / ``bottom_fold``: layers folded into the top / bottom lead (top one
    descending, bottom one ascending); ``blocks``: layers eliminated in spin blocks
    (descending); ``slices``: dense slices (first, last), top to bottom, the last one solved by
    ``solver``; ``signs``: per layer, +-1 when its exchange is along +-(its fold or block axis),
    0 if not collinear; ``disordered``: per layer, whether it draws disorder; ``side_magnetic``:
    per side lead, whether its spin is resolved along its exchange direction (else ``spin_axis``; None:
    its dxc is traced without a value, and the kernel decides from dxc != 0 as a plain call would);
    ``side_channels``: per side lead, its candidate channels (width mode m, layer mode l, spin
    s); ``top_channels`` / ``bottom_channels``: (mx, my, s); ``spin_orbit``: per layer, the
    spin-orbit terms that are present (non-zero or varied), the only ones the solver builds.
    ``reasons``: one line per layer. ``krylov``: the GMRES settings of an iterative solve (the
    Krylov path, or the refinement of the mixed path), None for a direct one; ``precision``:
    "double" or "mixed" (``PRECISIONS``), and ``precision_reason`` why.
    """

    top_fold: Tuple[int, ...]
    blocks: Tuple[int, ...]
    slices: Tuple[Tuple[int, int], ...]
    bottom_fold: Tuple[int, ...]
    signs: Tuple[int, ...]
    disordered: Tuple[bool, ...]
    side_magnetic: Tuple[Optional[bool], ...]
    side_channels: Tuple[Tuple[Tuple[int, int, int], ...], ...]
    top_channels: Tuple[Tuple[int, int, int], ...]
    bottom_channels: Tuple[Tuple[int, int, int], ...]
    spin_orbit: Tuple[Tuple[str, ...], ...]
    reasons: Tuple[str, ...]
    solver: str
    krylov: Optional[KrylovSetup] = None
    precision: str = "double"
    precision_reason: str = ""

    @property
    def n_channels(self) -> int:
        return sum(len(c) for c in self.side_channels) + len(self.top_channels) + len(self.bottom_channels)

    def channels_at(self, where) -> tuple:
        """The candidate channels of the lead at ``where`` (an index into ``side_channels``, "top" or "bottom")."""
        return self.side_channels[where] if isinstance(where, int) else getattr(self, where + "_channels")

    @property
    def any_disorder(self) -> bool:
        return any(self.disordered)

    def explain(self) -> str:
        """Which layers take which path, and why (one line per layer, top to bottom)."""
        lines = [f"{len(self.top_fold)} layer(s) folded from the top, {len(self.blocks)} in spin blocks, "
                 f"{sum(b - a + 1 for a, b in self.slices)} dense in {len(self.slices)} slice(s), "
                 f"{len(self.bottom_fold)} folded from the bottom; lowest slice solved by {self._solver_name}"]
        lines += [f"  precision: {self.precision_reason}"] * bool(self.precision_reason)
        lines += [f"  layer {z}: {self.reasons[z]}" for z in range(len(self.reasons) - 1, -1, -1)]
        return "\n".join(lines)

    @property
    def summary(self) -> str:
        """A short name of the path: folded, spin blocks, dense, with the solver."""
        parts = ["folded"] * bool(self.top_fold or self.bottom_fold) + ["spin blocks"] * bool(self.blocks)
        n_dense = sum(b - a + 1 for a, b in self.slices)
        parts.append(f"{n_dense} dense layer{'s' if n_dense > 1 else ''}")
        return " + ".join(parts) + f", {self._solver_name}"

    @property
    def _solver_name(self) -> str:
        if self.precision == "mixed":
            return "dense LU in complex64 refined by GMRES (mixed precision)"
        return PATH_NAMES[self.solver]


# Beyond this many sites per layer the Krylov path is faster than the dense LU on CPU (measured
# crossovers, docs/krylov.md: clean between L = 50 and 70, disorder K0 = 0.5 in the layer, which
# doubles to triples the iterations, near L = 90); on accelerators the dense LU is used while it fits.
KRYLOV_SITES_CPU = 60 * 60
KRYLOV_SITES_CPU_DISORDERED = 90 * 90


def check_size(s: Stack, dense: bool = True, itemsize: int = 16) -> None:
    """Refuse, before anything is allocated, a stack whose smallest dense matrix (order 2 n Lx Ly, its
    largest layer of n orbitals per site, ``itemsize`` bytes per entry: 8 in complex64) cannot fit in
    the memory available; without
    ``dense`` (the Krylov path), one whose mode tables (Lx^2 + Ly^2) and a few hundred layer vectors cannot."""
    from ..core.batching import available_memory, format_bytes

    have = available_memory()
    need = float(itemsize) * float(s.N) ** 2 if dense else 16.0 * (s.Lx ** 2 + s.Ly ** 2 + 300 * s.N)
    if need > have:
        what = (f"one dense layer matrix of order 2 n Lx Ly = {s.N} (n orbitals per site) needs "
                f"{format_bytes(need)}" if dense else
                f"the Krylov path needs at least {format_bytes(need)}")
        raise ValueError(f"Lx = {s.Lx}, Ly = {s.Ly}: {what}, more than the {format_bytes(have)} available "
                         "(docs/performance.md gives the largest sizes per memory)")


def _value(obj, field: str, varied):
    """A field's concrete value, or None when it will vary (or is traced): then it counts as unknown."""
    if varied is not None and any(bool(v) for v in jax.tree_util.tree_leaves(getattr(varied, field))):
        return None
    return concrete(getattr(obj, field))


def _present(obj, field: str, varied) -> bool:
    """Whether a field is non-zero, or unknown (it will vary): the plan must allow for it."""
    return (value := _value(obj, field, varied)) is None or bool(np.any(value))


def _axis_key(owner, varied) -> object:
    """A lead's or layer's direction as a static key: "stack" (follows the stack's magnetization),
    a unit vector, or None (unknown: traced or varied)."""
    if owner.theta is None:
        return "stack"
    theta, phi = _value(owner, "theta", varied), _value(owner, "phi", varied)
    if theta is None or phi is None:
        return None
    return tuple(float(v) for v in np.asarray(magnetization(float(theta), float(phi))))


def _collinear_sign(layer, layer_varied, axis) -> Optional[int]:
    """+1 or -1 when the layer's exchange is along +-axis (or absent), None otherwise."""
    if not _present(layer, "dxc", layer_varied):
        return 1
    key = _axis_key(layer, layer_varied)
    if key is None or axis is None:
        return None
    if key == "stack" or axis == "stack":
        return 1 if key == axis else None
    dot = float(np.dot(key, axis))
    return int(np.sign(dot)) if abs(abs(dot) - 1.0) < 1e-12 else None


def _sub(varied, *path):
    """The flags of a sub-object of the stack (None when nothing varies)."""
    if varied is None:
        return None
    for step in path:
        varied = varied[step] if isinstance(step, int) else getattr(varied, step)
    return varied


def _spin_orbit(layer, layer_varied) -> Tuple[str, ...]:
    """The spin-orbit terms of a layer that are non-zero (or will vary)."""
    return tuple(name for name in ("alpha1", "alpha3", "beta") if _present(layer, name, layer_varied))


def _obstacles(s: Stack, z: int, touching: dict, axis, for_blocks: bool, varied) -> list:
    """Why layer z cannot be folded (or, ``for_blocks``, handled in spin blocks along the axis)."""
    layer, lv = s.layers[z], _sub(varied, "layers", z)
    soc = _spin_orbit(layer, lv)
    checks = [(soc, "spin-orbit coupling (" + ", ".join(soc) + ")"),
              (layer.hoppings and not _onsite_block_only(layer, orbital_diagonal=not for_blocks),
               "extra hopping table"),
              (z in touching, "side lead(s) " + ", ".join(touching.get(z, ()))),
              (layer.up or (z > 0 and s.layers[z - 1].up), "inter-layer hopping table"),
              (_collinear_sign(layer, lv, axis) is None, "exchange not collinear with the lead's spin axis")]
    if not for_blocks:
        checks += [(_present(layer, "K0", lv), "disorder"), (np.ndim(layer.onsite) > 0, "onsite profile")]
    return [text for failed, text in checks if failed]


def _onsite_block_only(layer, orbital_diagonal: bool) -> bool:
    """Whether a layer of n > 1 orbitals has, as its only table entry, a spin-independent onsite block O x 1_spin
    (concrete), with O diagonal when ``orbital_diagonal``: folded, it adds O's diagonal to each orbital's
    chains; in spin blocks, O to every mode (``solve.kernel``). A one-orbital layer with a table is never
    folded or put in spin blocks (its plans are those of the engine before orbitals)."""
    if layer.orbitals == 1 or set(layer.hoppings) != {(0, 0)}:
        return False
    block = concrete(table_entries(layer.hoppings, "hoppings", (layer.orbitals,) * 2)[(0, 0)])
    if block is None:
        return False
    orbital = block[::2, ::2]
    if orbital_diagonal and np.any(orbital != np.diag(np.diagonal(orbital))):
        return False
    return bool(np.array_equal(block, np.kron(orbital, np.eye(2))))


def plan(s: Stack, energies, *, fold: bool = True, solver: str = "auto", allow_closed: bool = False,
         edge_tolerance: float = BAND_EDGE_TOLERANCE, varied=None, precision: str = "auto", traced=None) -> Plan:
    """Decide the solution path and the candidate channels (plain Python, before jit).

    ``fold=False`` treats every layer densely (single-layer slices where possible), which must
    give the same numbers (a check of the folding). ``solver``: "dense" (LU), "krylov" (GMRES,
    ``solve.krylov``; a ValueError says why where it does not apply) or "auto": Krylov where it
    applies and either is measured faster (on CPU from ``KRYLOV_SITES_CPU`` sites per layer,
    ``KRYLOV_SITES_CPU_DISORDERED`` with disorder in it) or the dense LU does not fit; else dense.
    ``varied``: a Stack-shaped pytree of booleans marking the leaves that derivatives will move.
    ``traced``: the same for the leaves a caller's JAX transformation traces (``solve.transmissions.plan_for``):
    varied too, except for a side lead's spin axis, which follows the value of its dxc (as in a plain
    call) and is decided at run time where that has no value.
    ``energies`` None: not known yet (traced under ``jit`` or ``vmap``): every channel is a candidate
    and the Krylov path is refused (``path`` "auto" then takes the dense LU where it fits).
    ``precision``: "double", "mixed" (the lowest slice factorised in complex64 and refined to
    double accuracy; a ValueError says why where it does not apply; with ``solver`` "auto" it
    takes the dense factorisation) or "auto" (:func:`_choose_precision`).
    """
    validate_stack(s)
    magnetic = tuple(lead.spin_setup(_sub(varied, "side_leads", k)) for k, lead in enumerate(s.side_leads))
    if traced is not None:
        varied = traced if varied is None else jax.tree_util.tree_map(operator.or_, varied, traced)
    if solver not in SOLVERS:
        raise ValueError(f"path = {solver!r} must be one of {SOLVERS}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision = {precision!r} must be one of {PRECISIONS}")
    if precision == "mixed" and solver == "krylov":
        raise ValueError("precision = 'mixed' needs the dense factorisation of the lowest layer, which the Krylov "
                         "path does not make (use path dense or auto with precision mixed, or precision double)")
    if precision == "mixed" and solver == "auto":
        solver = "dense"  # mixed precision is a way to factorise the lowest slice
    # auto: the dense check comes when auto picks dense
    check_size(s, dense=solver == "dense", itemsize=8 if precision == "mixed" else 16)
    if energies is not None:
        energies = np.atleast_1d(np.asarray(energies, dtype=float)).ravel()
        if energies.size == 0 or not np.all(np.isfinite(energies)):
            raise ValueError(f"energy must be finite (got {energies.tolist()})")
    Lz = s.Lz
    touching = {z: names for z in range(Lz)  # layer -> names of the side leads touching it
                if (names := [lead.name for lead in s.side_leads if lead.layers[0] <= z <= lead.layers[1]])}
    top_axis = "stack" if s.top is None else _axis_key(s.top, _sub(varied, "top"))
    bottom_axis = "stack" if s.bottom is None else _axis_key(s.bottom, _sub(varied, "bottom"))
    reasons = [""] * Lz

    def leading(layers, axis, for_blocks: bool, reason: str) -> list:
        """The layers, in order, up to the first with an obstacle (none without ``fold``)."""
        taken = list(itertools.takewhile(lambda z: fold and not _obstacles(s, z, touching, axis, for_blocks, varied),
                                         layers))
        for z in taken:
            reasons[z] = reason
        return taken

    top_fold = leading(range(Lz - 1, 0, -1), top_axis, False,
                       "folded into the top lead (laterally uniform, spin along its axis)")
    lowest_free = min(top_fold, default=Lz)
    bottom_fold = leading(range(0, lowest_free - 1), bottom_axis, False,
                          "folded into the bottom lead (laterally uniform, spin along its axis)")
    blocks = leading(range(lowest_free - 1, len(bottom_fold), -1), top_axis, True,
                     "spin blocks along the top axis (no spin-orbit coupling, collinear exchange)")
    dense_top = min(blocks + top_fold, default=Lz) - 1
    dense_bottom = len(bottom_fold)

    # Dense slices: one per layer, merged where a side lead spans several layers (its
    # self-energy couples them, so they must share a diagonal block).
    starts = [z for z in range(dense_bottom, dense_top + 1)
              if z == dense_bottom or not any(lead.layers[0] < z <= lead.layers[1] for lead in s.side_leads)]
    slices = tuple(reversed(list(zip(starts, [z - 1 for z in starts[1:]] + [dense_top]))))
    for z in range(dense_bottom, dense_top + 1):
        why = _obstacles(s, z, touching, top_axis, True, varied) if fold else ["fold=False"]
        below = " (lowest slice)" if z <= slices[-1][1] else ""
        reasons[z] = "dense" + below + ": " + ("; ".join(why) if why else "between dense layers")

    layers = [(layer, _sub(varied, "layers", z)) for z, layer in enumerate(s.layers)]
    signs = tuple(0 if (sign := _collinear_sign(*lv, bottom_axis if z in bottom_fold else top_axis)) is None else sign
                  for z, lv in enumerate(layers))
    disordered = tuple(_present(layer, "K0", lv) for layer, lv in layers)
    spin_orbit = tuple(_spin_orbit(*lv) for lv in layers)
    channels = {where: lead.channels(s, where, energies, allow_closed, edge_tolerance) for where, lead in s.leads}
    pl = Plan(tuple(top_fold), tuple(blocks), slices, tuple(bottom_fold), signs, disordered, magnetic,
              tuple(channels[k] for k in range(len(s.side_leads))), channels.get("top", ()), channels.get("bottom", ()),
              spin_orbit, tuple(reasons), "dense")
    return _choose_precision(s, _choose_solver(s, energies, pl, solver), precision)


def krylov_obstacles(s: Stack, pl: Plan) -> list:
    """Why the Krylov path does not apply to this plan (empty when it does)."""
    z = pl.slices[-1][0]
    checks = [(len(pl.slices) != 1 or pl.slices[0][0] != pl.slices[0][1],
               "the lowest slice must be a single layer under the folded top"),
              (pl.blocks, "layers in spin blocks above it"), (pl.bottom_fold or s.bottom is not None, "a bottom lead"),
              (pl.signs[z] == 0, f"layer {z}'s exchange is not collinear with the top lead's axis"),
              ((0, 0) in s.layers[z].hoppings and s.layers[z].orbitals == 1,
               f"layer {z} has an on-site hopping-table entry"),
              (any(lead.layers != (z, z) for lead in s.side_leads), "a side lead off the lowest layer")]
    return [text for failed, text in checks if failed]


def mixed_obstacles(s: Stack, pl: Plan) -> list:
    """Why the mixed-precision path does not apply to this plan (empty when it does): its refinement
    applies the exact lowest layer matrix-free (``krylov.LayerOperator``), so it needs what the
    Krylov path needs, and a dense factorisation of that layer, which the Krylov path does not make."""
    return krylov_obstacles(s, pl) + ["the lowest layer is solved by the Krylov path"] * (pl.solver == "krylov")


def _choose_precision(s: Stack, pl: Plan, precision: str) -> Plan:
    """The plan with its precision: "mixed" where requested (a ValueError where it does not apply) or,
    for "auto", where it applies and is measured faster: on CPU from ``MIXED_SITES_CPU`` sites per
    layer (measured faster at 30 x 30 and 50 x 50: a complex64 LU costs about half a complex128
    one there, and the refinement two pairs of triangular solves per solve); elsewhere double
    until measured."""
    from ..core.batching import platform

    if precision == "double":
        return dataclasses.replace(pl, precision_reason="double (requested)")
    why = mixed_obstacles(s, pl)
    if precision == "mixed" and why:
        raise ValueError("precision = 'mixed' does not apply to this junction: " + "; ".join(why)
                         + " (use precision double)")
    if precision == "auto":
        double = None
        if why:
            double = "mixed does not apply: " + "; ".join(why)
        elif platform() != "cpu":
            double = f"mixed precision is not measured faster on {platform()}"
        elif s.Lx * s.Ly < MIXED_SITES_CPU:
            double = f"below {MIXED_SITES_CPU} sites per layer mixed precision is not measured faster on CPU"
        if double:
            return dataclasses.replace(pl, precision_reason=f"double (auto: {double})")
        reason = (f"mixed (auto: from {MIXED_SITES_CPU} sites per layer on CPU the complex64 LU and its refinement "
                  "are faster)")
    else:
        reason = "mixed (requested)"
    return dataclasses.replace(pl, precision="mixed", precision_reason=reason + ": complex64 LU, flexible GMRES "
                               f"against the complex128 operator to a relative residual {KRYLOV_TOLERANCE:g}",
                               krylov=KrylovSetup((), KRYLOV_TOLERANCE, MIXED_RESTART, MIXED_MAX_ITER))


def _choose_solver(s: Stack, energies, pl: Plan, solver: str) -> Plan:
    from ..core.batching import available_memory, platform

    if solver == "dense":
        return pl
    why = krylov_obstacles(s, pl)
    if solver == "krylov" and why:
        raise ValueError("path = 'krylov' does not apply to this junction: " + "; ".join(why) + " (use path dense)")
    if solver == "auto":
        dense_fits = 16.0 * 1.25 * float(s.N) ** 2 < 0.8 * available_memory()
        sites = KRYLOV_SITES_CPU_DISORDERED if pl.disordered[pl.slices[-1][0]] else KRYLOV_SITES_CPU
        faster = platform() == "cpu" and s.Lx * s.Ly >= sites
        if why or (dense_fits and not faster):
            check_size(s)
            return pl
    shell = krylov_shell(s, energies, pl)
    if shell is None:
        if solver == "auto" and dense_fits:
            check_size(s)
            return pl
        raise ValueError(f"the Krylov path chooses its preconditioner from the numbers of layer {pl.slices[-1][0]}, of "
                         "the layers folded above it, of the top lead and from the energy, and some of them are traced "
                         "without a value here (under jax.jit or jax.vmap): keep those numbers concrete (close over "
                         "them instead of passing them as traced arguments) or use path dense")
    return dataclasses.replace(pl, solver="krylov", krylov=KrylovSetup(shell, KRYLOV_TOLERANCE, KRYLOV_RESTART,
                                                                        KRYLOV_MAX_ITER))


def krylov_shell(s: Stack, energies, pl: Plan) -> Optional[Tuple[int, ...]]:
    """Flat indices q * 2 + s (spin along the top axis) of the modes of the lowest layer with
    ``|Re D(q, s)| < KRYLOV_SHELL t`` at one of the energies, D = E - onsite - t eps_q + s Dxc/2 -
    sigma_top(q, s) its mode-diagonal part (``solve.krylov``); None when one of these numbers has no
    value yet (traced under ``jit`` or ``vmap``, or ``energies`` None)."""
    if energies is None:
        return None
    try:
        return _shell(s, energies, pl)
    except (jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError):
        return None


def _shell(s: Stack, energies, pl: Plan) -> Tuple[int, ...]:
    """:func:`krylov_shell` from numbers that have values (a tracer without one raises a JAX error)."""
    from ..core.chains import fold_mode_chains
    from ..core.lattice import band_energies

    z = pl.slices[-1][0]
    layer = s.layers[z]
    n = layer.orbitals  # with orbitals: the modes (q, o), flat index (q * n + o) * 2 + s, their orbital energies
    # The layer's uniform onsite: a site-resolved one (a profile, e.g. disorder read from a file)
    # counts with its mean, which the Krylov operator puts on its diagonal (``kernel._layer_operator``).
    onsite = float(np.mean(np.asarray(layer.onsite, dtype=float)))
    spin = np.array([1.0, -1.0])
    keep = np.zeros((s.Lx, s.Ly * n, 2), bool)
    if n == 1:
        chains = [((float(np.asarray(s.layers[k].onsite))
                    + band_energies(s.Lx, s.Ly, float(s.layers[k].t)))[:, :, None]
                   - spin * pl.signs[k] * float(s.layers[k].dxc) / 2, -float(s.layers[k - 1].tz)) for k in pl.top_fold]
        band = band_energies(s.Lx, s.Ly, float(layer.t))
    else:
        chains = [(np.asarray(layer_mode_energies(s.layers[k], s.Lx, s.Ly))[:, :, None]
                   - spin * pl.signs[k] * float(s.layers[k].dxc) / 2, -float(s.layers[k - 1].tz)) for k in pl.top_fold]
        band = np.asarray(layer_mode_energies(layer.replace(onsite=0.0), s.Lx, s.Ly))
    for energy in energies:
        top = np.zeros((s.Lx, s.Ly * n, 2)) if s.top is None else s.top.mode_self_energy(s, "top", energy)
        sigma = np.asarray(fold_mode_chains(energy, top, chains)[0])
        d = (energy - onsite - band[:, :, None]
             + spin * pl.signs[z] * float(layer.dxc) / 2 - sigma)
        keep |= np.abs(d.real) < KRYLOV_SHELL * float(layer.t)
    return tuple(int(i) for i in np.flatnonzero(keep.reshape(-1)))


def subband_edges(s: Stack) -> np.ndarray:
    """Sorted energies at which a channel of any lead opens or closes (the square-root onsets of T(E))."""
    edges = [lead.subband_edges(s, where) for where, lead in s.leads]
    return np.unique(np.concatenate(edges)) if edges else np.zeros(0)


def edge_distance(s: Stack, energies) -> float:
    """Smallest distance, in units of 2t of the lead, from any energy to a subband edge of any lead."""
    energies = np.atleast_1d(np.asarray(energies, dtype=float)).ravel()
    return min((lead.edge_distance(s, where, energies) for where, lead in s.leads), default=np.inf)
