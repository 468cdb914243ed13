"""Derivatives of the transmissions and of G_sc / G_cs with respect to any named parameter, by AD.

A System maps named parameters to a Stack (``model.system``); its tangent d stack / d x
(computed eagerly) is fed to the JVP of the traceable core (``solve.kernel``), so d observable /
d x is exact to rounding (``docs/sensitivity.md``): :func:`sensitivities` in forward mode (one JVP
per parameter, the value and its LU factorisations computed once; few parameters, many outputs),
:func:`gradient` in reverse mode (one VJP of one scalar; many inputs, such as the on-site
potential V(x, y) of every layer).

The plan is made for the leaves the parameters move (``model.system.varied_leaves``): a layer
whose alpha1 is differentiated at alpha1 = 0 is treated as spin-orbit coupled. Square roots keep
the value's branch (``core.chains.chain_root``). At a channel opening (the energy at a lead's
subband edge) the transmissions have a square-root onset, so derivatives with respect to anything
that moves the energy relative to the edges (the energy, any lead parameter, and through them t
and dxc of the paper's junction) diverge: those are refused within ``SINGULAR_TOLERANCE`` x 2t.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..core.batching import Mapping, memory_budget, platform
from ..core.precision import x64
from ..model.system import System, varied_leaves
from ..plan.plan import check_size, edge_distance
from ..solve.kernel import lean_right_hand_sides
from ..solve.transmissions import (Observed, check_converged, choose_reflection, plan_for, point_grid, points_at, run,
                                  solver_report)
from . import response
from .scan import CONDUCTANCES, as_system

SINGULAR_TOLERANCE = 1e-6


@dataclasses.dataclass(frozen=True)
class Sensitivities:
    """Values and first derivatives, NumPy arrays with the batch shape as leading axes.

    ``values[q]`` for q in ``quantities`` ("T" with trailing axes (n_leads, 2, n_leads, 2), then
    the conversion conductances the leads allow); ``derivatives[q][name]`` = d q / d name, same
    shape. Batch shape: ``(realizations, *angles)`` when realizations were asked, else the
    broadcast shape of theta and phi. Units: e^2/h per unit of the parameter. ``solver``: the
    path and, for the Krylov path, its largest iteration count and relative residual.
    ``reflection_resolved``: False when the memory budget took the lean right-hand sides
    (``solve.transmissions.LEAN_NOTE``: T's top-lead self-reflection, and its derivative, from unitarity).
    """

    wrt: tuple
    values: dict
    derivatives: dict
    theta: np.ndarray
    phi: np.ndarray
    realizations: object
    leads: tuple
    path: str
    solver: dict
    reflection_resolved: bool = True


def _check_wrt(system: System, wrt) -> tuple:
    wrt = (wrt,) if isinstance(wrt, str) else tuple(wrt)
    if not wrt:
        raise ValueError("wrt must name at least one parameter")
    if len(set(wrt)) != len(wrt):
        raise ValueError(f"wrt = {list(wrt)} names a parameter twice")
    for name in wrt:
        if name not in system.values:
            raise ValueError(f"wrt = {name!r}: derivatives are available with respect to {', '.join(system.names)}")
        if np.ndim(system.values[name]) > 0 and name not in ("theta", "phi"):
            raise ValueError(f"wrt = {name!r}: the parameter is an array; derivatives are taken at one value")
    return wrt


def _tangents(system: System, wrt):
    """(stack, energy) at the system's values (angles 0) and their tangents, stacked over ``wrt``."""
    base = {**system.values, "theta": 0.0, "phi": 0.0}
    stacks, energies = [], []
    for name in wrt:
        (stack, energy), (ds, de) = jax.jvp(lambda x, name=name: system.build({**base, name: x}),
                                            (jnp.asarray(base[name], dtype=float),), (jnp.ones(()),))
        stacks.append(ds)
        energies.append(jnp.asarray(de, dtype=float))
    tangent = jax.tree_util.tree_map(lambda *x: jnp.stack([jnp.asarray(v, dtype=jnp.result_type(float, v))
                                                           for v in x]), *stacks)
    return stack, jnp.asarray(energy, dtype=float), tangent, jnp.stack(energies)


def check_not_singular(system: System, wrt) -> None:
    """Refuse derivatives that diverge at a channel opening (plain Python)."""
    def moves_a_lead(name):
        varied = varied_leaves(system, [name])
        return any(jax.tree_util.tree_leaves((varied.side_leads, varied.top, varied.bottom)))

    moves = [name for name in wrt if name == system.energy_name]
    moves += [name for name in wrt if name != system.energy_name and moves_a_lead(name)]
    if not moves:
        return
    energy = np.asarray(system.energy(), dtype=float)
    distance = edge_distance(system.stack(), energy)
    if distance < SINGULAR_TOLERANCE:
        raise ValueError(
            f"the derivative with respect to {', '.join(moves)} is singular at {system.energy_name} = "
            f"{float(np.ravel(energy)[0]):.10g}: a lead channel opens within {distance:.2e} x 2t of it (below "
            f"{SINGULAR_TOLERANCE:g}), where the transmissions have a square-root onset; move {system.energy_name} off "
            "the subband edge")


def _observables(out, leads):
    """T and the conversion conductances of one evaluation (a ``kernel.KernelOutput``; traceable), and the
    Krylov solver's (iterations, residual) as auxiliary output."""
    conversions = response.conversions(out.T, out.n_open, leads) if response.conversion_axes(leads) else {}
    return {"T": out.T, **conversions}, out.stats


class Tangents(NamedTuple):
    """One point's values of the observables, their derivatives (trailing axis: the parameters) and the
    solver's statistics."""

    values: dict
    derivatives: dict
    stats: jnp.ndarray


class Derivatives(NamedTuple):
    """The forward-mode transform of an evaluation, for ``solve.transmissions.run`` (hashable, static):
    ``self(f, stack, energy, (tangent, d_energy))`` is a :class:`Tangents` of the observables of
    ``f(stack, energy)`` along every tangent."""

    leads: tuple
    sequential: bool

    def __call__(self, evaluation, stack, energy, extra):
        tangent, d_energy = extra

        def f(s, e):
            return _observables(evaluation(s, e), self.leads)

        if self.sequential:
            # CPU: the tangents one after the other on the linearised function (the value and its
            # LU computed once). Vmapped, their batched LAPACK solves ran side by side and could
            # take both threads of XLA's intra-op pool, each waiting for the other (a deadlock
            # seen on 2 cores; docs/ensemble.md).
            value, f_jvp, stats = jax.linearize(f, stack, energy, has_aux=True)
            derivative = jax.lax.map(lambda t: f_jvp(*t), (tangent, d_energy))
            return Tangents(value, jax.tree_util.tree_map(lambda a: jnp.moveaxis(a, 0, -1), derivative), stats)
        # The primal does not depend on the vmapped tangent: it (and its LU) is computed once.
        return Tangents(*jax.vmap(lambda ds, de: jax.jvp(f, (stack, energy), (ds, de), has_aux=True),
                                  out_axes=(None, -1, 0))(tangent, d_energy))


@x64
def sensitivities(system, wrt=("alpha3",), *, theta=None, phi=None, realizations=None, fold: bool = True,
                  path: str = "auto", precision: str = "auto", memory_budget_gib=None,
                  progress: bool = False) -> Sensitivities:
    """Forward-mode derivatives of T and the conversion conductances with respect to ``wrt``.

    ``system``: ``JunctionParams`` or a ``model.system.System``; ``wrt``: parameter names.
    ``theta``, ``phi`` (default: the system's) may be arrays (broadcast together);
    ``realizations`` a sequence of disorder realization indices. Evaluated point by point in
    chunks that fit ``memory_budget_gib``. ``fold``, ``path``, ``precision``: as in
    ``solve.transmissions.solve`` (derivatives through an iterative solve are implicit).
    """
    system = as_system(system)
    check_size(system.stack())
    wrt = _check_wrt(system, wrt)
    energy_value = np.asarray(system.energy(), dtype=float)
    if energy_value.ndim:
        raise ValueError(f"sensitivities work at one Fermi energy: {system.energy_name} must be one number")
    theta, phi = point_grid(**{k: system.values[k] if v is None else v for k, v in (("theta", theta), ("phi", phi))})
    varied = varied_leaves(system, wrt)
    check_not_singular(system, wrt)
    concrete_stack = system.stack({**system.values, "theta": 0.0, "phi": 0.0})
    pl = plan_for(concrete_stack, energy_value, fold=fold, path=path, varied=varied, realizations=realizations,
                  precision=precision)
    stack, energy, tangent, d_energy = _tangents(system, wrt)
    index = np.zeros(1, np.int64) if realizations is None else np.asarray(realizations, dtype=np.int64)
    if realizations is not None and (index.ndim != 1 or index.size == 0 or index.min() < 0):
        raise ValueError(f"realizations must be a non-empty 1D sequence of integers >= 0, got {realizations!r}")
    grid_index = np.repeat(index, theta.size)
    grid_theta, grid_phi = np.tile(theta.reshape(-1), index.size), np.tile(phi.reshape(-1), index.size)
    shape = theta.shape if realizations is None else (index.size,) + theta.shape
    grid = (grid_theta, grid_phi, np.full(grid_theta.size, float(energy_value)), grid_index, shape)
    # Each tangent carries its own copy of the large arrays alongside the value's.
    budget = memory_budget(memory_budget_gib)
    reflection = choose_reflection(concrete_stack, pl, "auto", budget, copies=1 + len(wrt))
    leads = concrete_stack.lead_names
    out = run(stack, grid, pl, reflection=reflection, budget=budget, progress=progress,
              transform=Derivatives(leads, platform() == "cpu"), extra=(tangent, d_energy), copies=1 + len(wrt),
              what=f"with {len(wrt)} derivative(s)")
    values, derivs, stats = out
    derivatives = {q: {name: d[..., k] for k, name in enumerate(wrt)} for q, d in derivs.items()}
    return Sensitivities(wrt, values, derivatives, theta, phi, None if realizations is None else index, leads,
                         pl.summary, solver_report(pl, stats),
                         not lean_right_hand_sides(concrete_stack, pl, reflection))


class Quantity(NamedTuple):
    """One observable of an evaluation (T or a conversion conductance, as ``_observables`` gives them), as the
    driver's ``observe`` (``solve.transmissions.points_at``; hashable, static)."""

    leads: tuple
    quantity: str

    def __call__(self, out) -> Observed:
        values, stats = _observables(out, self.leads)
        return Observed(values[self.quantity], stats)


# One point, its upper state included in what is differentiated, in a one-step loop: the derivative's
# batched LAPACK calls stay one at a time on CPU (``core.batching``), as for every transformed point.
ONE_POINT = Mapping("map", 1)


@functools.partial(jax.jit, static_argnames=("pl", "observe"))
def _value_and_grad(stack, energy, index, pl, observe):
    """The value of ``observe`` at the stack's angles and its gradient with respect to the stack and the
    energy: reverse mode through the driver's per-point program (:func:`~jaxsge.solve.transmissions.points_at`,
    every channel as right-hand side)."""
    def f(s, e):
        out = points_at(s, jnp.zeros(1), jnp.zeros(1), jnp.reshape(e, (1,)), jnp.reshape(index, (1,)), pl,
                        True, False, ONE_POINT, observe=observe)
        return out.values[0], out.stats[0]
    return jax.value_and_grad(f, argnums=(0, 1), has_aux=True)(stack, energy)


def _with_onsite(stack, z: int, onsite):
    return stack.replace(layers=stack.layers[:z] + (stack.layers[z].replace(onsite=onsite),) + stack.layers[z + 1:])


@x64
def gradient(system, quantity: str = "Gsc_x", wrt=(), *, potential_layers=(), realization: int = 0,
             fold: bool = True, path: str = "auto", precision: str = "auto"):
    """Reverse-mode gradient of one conversion conductance at one point.

    ``quantity``: one of Gsc_x, Gsc_y, Gcs_x, Gcs_y at the system's (scalar) angles and energy;
    ``wrt``: parameter names; ``potential_layers``: layers z whose on-site potential V(x, y)
    the gradient is also taken with respect to (returned under "potential", shape
    (len(potential_layers), Lx, Ly)); ``realization``: the disorder realization; ``path``,
    ``precision``: as in :func:`sensitivities`. Returns (value, {name: gradient}).
    """
    system = as_system(system)
    check_size(system.stack())
    wrt = _check_wrt(system, wrt) if wrt else ()
    if quantity not in CONDUCTANCES:
        raise ValueError(f"quantity = {quantity!r} must be one of {', '.join(CONDUCTANCES)}")
    for name in ("theta", "phi", system.energy_name):
        if np.ndim(system.values[name]):
            raise ValueError("gradient works at one point: theta, phi and the energy must be single numbers")
    potential_layers = tuple(int(z) for z in potential_layers)
    if not wrt and not potential_layers:
        raise ValueError("gradient needs wrt names or potential_layers")
    varied = varied_leaves(system, wrt) if wrt else None
    check_not_singular(system, wrt)
    values = dict(system.values)
    x0 = {name: jnp.asarray(values[name], dtype=float) for name in wrt}
    (stack0, energy), pullback = jax.vjp(lambda x: system.build({**values, **x}), x0)
    stack = stack0
    for z in potential_layers:
        if not 0 <= z < stack.Lz:
            raise ValueError(f"potential_layers: layer {z} does not exist (Lz = {stack.Lz})")
        # The potential enters as an onsite profile, so the gradient with respect to it is the
        # gradient with respect to the layer's onsite, taken as a profile.
        stack = _with_onsite(stack, z, jnp.broadcast_to(jnp.asarray(stack.layers[z].onsite, dtype=float),
                                                        (stack.Lx, stack.Ly)))
    leads = stack.lead_names
    if quantity[-1] not in response.conversion_axes(leads):
        raise ValueError(f"quantity = {quantity!r} is not defined for the leads {leads}")
    pl = plan_for(jax.tree_util.tree_map(np.asarray, stack), float(energy), fold=fold, path=path, varied=varied,
                  realizations=None if realization == 0 else [realization], precision=precision)
    (value, stats), (g_stack, g_energy) = _value_and_grad(stack, energy, jnp.asarray(realization), pl,
                                                          Quantity(leads, quantity))
    if pl.krylov is not None:
        check_converged(stats, pl)
    grads = {}
    if potential_layers:
        grads["potential"] = np.stack([np.asarray(g_stack.layers[z].onsite) for z in potential_layers])
    if wrt:
        for z in potential_layers:  # back to the shape the builder made
            onsite, shape = g_stack.layers[z].onsite, np.shape(stack0.layers[z].onsite)
            g_stack = _with_onsite(g_stack, z, jnp.reshape(onsite.sum() if shape == () else onsite, shape))
        (g_x,) = pullback((g_stack, g_energy))
        grads.update({name: float(g_x[name]) for name in wrt})
    if not all(np.all(np.isfinite(g)) for g in grads.values()) or not math.isfinite(float(value)):
        raise ValueError(f"the gradient of {quantity} is not finite (a channel opening or a singular system?)")
    return float(value), grads
