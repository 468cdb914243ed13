"""Running an ensemble: the one driver (``solve.transmissions.run``) with a mesh and a per-block writer.

Each process of a ``jax.distributed`` job evaluates the units u with ``u % process_count ==
process_index`` (``docs/ensemble.md``). A unit is one realization of one case at every angle:
for the driver, the points that share an upper state. Per solution plan (the clean cases fold
what the disordered ones cannot) the units go to the driver in the order of ``all_units``, with
their cases' stacks, over a mesh of this process's devices: the driver eliminates each unit's
upper layers once, solves the lowest slice per angle, sizes the blocks of units by its memory
rule (``solve.transmissions.call_sizes``), computes the conductances inside the compiled program
and hands every finished block to the writer here (``ensemble.store``), one block staying in
flight. With a time limit no block is started that would not finish in time (the estimate: the
last block's duration) and the units left are reported: a later ``--resume`` continues. Every
run computes at least one block, so that a run in pieces always progresses.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from typing import NamedTuple, Tuple

import jax
import numpy as np
from jax.experimental import multihost_utils
from tqdm.auto import tqdm

from ..core.batching import local_mesh, memory_budget
from ..core.precision import x64
from ..io.files import Output, result_folder, write_json
from ..observables import response
from ..solve.transmissions import Observed, call_sizes, plan_for, run
from . import store
from .spec import EnsembleSpec, all_units, run_hash, validate_spec


@dataclasses.dataclass(frozen=True)
class RunReport:
    """What one process did: units computed, evaluations, seconds, units per device per call, devices,
    and the units of this process left undone (a time limit stopped the run; 0 when complete)."""

    computed: int
    evaluations: int
    seconds: float
    block: dict
    devices: int
    process_index: int
    process_count: int
    remaining: int = 0


class UnitValues(NamedTuple):
    """What the driver computes per angle of a unit (hashable: a static argument of the compiled
    program): T, the open channels and the conversion conductances, and the solver's statistics."""

    leads: Tuple[str, ...]

    def __call__(self, out) -> Observed:
        return Observed({"T": out.T, "n_open": out.n_open, **response.conversions(out.T, out.n_open, self.leads)},
                        out.stats)


def _barrier(name: str) -> None:
    """Wait for every process of a jax.distributed job (no-op for a single process)."""
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices(name)


def _plans(spec: EnsembleSpec, units):
    """Units grouped by plan; the stacks and energies of each unit's case (built on the host)."""
    cases, groups = {}, {}
    for u in units:
        if u.case not in cases:
            system = spec.case_system(u.case)
            cases[u.case] = (system.stack(), float(system.energy()))
        stack, energy = cases[u.case]
        pl = plan_for(stack, energy, fold=spec.fold, path=spec.path, precision=spec.precision,
                      realizations=None if u.clean else [u.realization])
        groups.setdefault(pl, []).append(u)
    return groups, cases


def _sizes(spec: EnsembleSpec, pl, stack, budget: int, units: int, devices: int) -> dict:
    """The driver's memory rule for this plan's units (``solve.transmissions.call_sizes``): raises before
    anything is written when not even one unit fits, and says what a block holds."""
    per_device, angles = call_sizes(stack, pl, budget, reflection=False, points=spec.n_phi, units=units,
                                    devices=devices, steps=False,
                                    what=f"of the ensemble at Lx = {stack.Lx}, Ly = {stack.Ly}")
    return {"units_per_device": per_device, "angles_per_call": angles}


@x64
def run_ensemble(spec: EnsembleSpec, out_dir, *, resume: bool = False, force: bool = False, memory_budget_gib=None,
                 progress: bool = True, on_unit=None, time_limit=None, overwrite: bool = False) -> RunReport:
    """Compute this process's missing units of ``spec`` into ``out_dir`` (see the module docstring).

    ``out_dir``: a folder, or its :class:`~jaxsge.io.files.Output` already entered by the caller
    (who then holds the lock beyond this run, as ``report.run_and_report`` does). ``memory_budget_gib``
    (per device) picks the units each device takes per call; ``on_unit(unit)`` is called after each
    unit is on disk; ``time_limit`` (seconds from the call): no block is started that is estimated
    to end past it (``RunReport.remaining`` counts the units left); ``overwrite``: a folder holding another
    ensemble run (or this one) is emptied of it first (``store.check_out_dir``). Every input error is raised
    (ValueError) before anything is written.
    """
    validate_spec(spec)
    if time_limit is not None and not (np.isfinite(time_limit) and time_limit > 0):
        raise ValueError(f"time limit {time_limit!r} s must be a positive number of seconds")
    deadline = None if time_limit is None else time.perf_counter() + float(time_limit)
    units = all_units(spec)
    groups, cases = _plans(spec, units)
    mesh = local_mesh()
    budget = memory_budget(memory_budget_gib, mesh.devices.flat[0])
    for pl, group in groups.items():  # the memory rule refuses a budget too small before anything is written
        _sizes(spec, pl, cases[group[0].case][0], budget, len(group), mesh.size)
    leads = cases[units[0].case][0].lead_names
    if not response.conversion_axes(leads):
        raise ValueError(f"an ensemble needs the injector M and side leads L, R (and B, F): the leads are {leads}")
    out = (out_dir if isinstance(out_dir, Output)
           else result_folder(out_dir, "ensemble", in_place=True, overwrite=overwrite))
    out_dir = out.path
    keys = store.RESULT_KEYS + store.conductance_keys(leads)
    n = len(leads)
    shapes = {"T": (spec.n_phi, n, 2, n, 2), "n_open": (spec.n_phi, n, 2),
              **dict.fromkeys(store.conductance_keys(leads), (spec.n_phi,))}
    pid, count = jax.process_index(), jax.process_count()
    with out if pid == 0 else contextlib.nullcontext():  # process 0 holds the lock (and removed leftovers)
        if pid == 0:
            largest = store.check_out_dir(out_dir, spec, resume, force, out.overwrite, out.names)
            out.remove_leftovers()  # temporary files of a killed writer

            def prepare(folder):  # what the folder holds before any unit (again if it vanished during the run)
                write_json(folder / store.MANIFEST, store.manifest(spec, largest))
                (folder / store.UNITS).mkdir(exist_ok=True)

            out.write(prepare)
            # damaged unit files are set aside before any process looks for its work
            store.verified_units(out_dir, spec, keys, shapes, set_aside=True)
        _barrier("jaxsge-ensemble-start")
        done = store.verified_units(out_dir, spec, keys, shapes, set_aside=False)
        mine = {u for k, u in enumerate(units) if k % count == pid and u not in done}
        digest = run_hash(spec)

        def per_unit(todo, action):  # the driver's per-block callback: action(unit, results) for each unit in it
            def each(positions, values):
                for unit, results in _units(todo, spec.n_phi, positions, values):
                    action(unit, results)
            return each

        def check(unit, results):
            check_conducting(spec, unit, results, leads)

        def write(unit, results):
            if pid == 0:
                out.write(lambda folder: store.write_unit(folder, spec, unit, results, digest), restore=prepare)
            else:
                store.write_unit(out_dir, spec, unit, results, digest)
            done_here.append(unit)
            bar.update(1)
            if on_unit is not None:
                on_unit(unit)

        start = time.perf_counter()
        blocks, done_here = {}, []
        with tqdm(total=len(mine), unit="unit", desc=f"process {pid}/{count}" if count > 1 else "ensemble",
                  disable=not progress) as bar:
            for pl, group in groups.items():
                todo = [u for u in group if u in mine]
                if not todo:
                    continue
                stacks, grid, case_of = _grid(spec, todo, cases)
                blocks[f"plan {len(blocks)}: {pl.summary}, {'clean' if group[0].clean else 'disordered'}"] = _sizes(
                    spec, pl, cases[todo[0].case][0], budget, len(todo), mesh.size)
                run(stacks, grid, pl, reflection=False, budget=budget, observe=UnitValues(leads), cases=case_of,
                    mesh=mesh, check=per_unit(todo, check), on_chunk=per_unit(todo, write), deadline=deadline,
                    first_free=not done_here, what=f"of the ensemble at Lx = {stacks.Lx}, Ly = {stacks.Ly}")
        seconds = time.perf_counter() - start
        _barrier("jaxsge-ensemble-end")
    return RunReport(len(done_here), len(done_here) * spec.n_phi, seconds, blocks, mesh.size, pid, count,
                     len(mine) - len(done_here))


def check_conducting(spec: EnsembleSpec, unit, results: dict, leads) -> None:
    """ValueError, at the first unit where it happens, when the conversion conductances are undefined because
    no current leaves M (the floating injector's equation is singular): a junction made insulating by the
    disorder, where every further unit would fail the same way."""
    if all(np.all(np.isfinite(results[k])) for k in store.conductance_keys(leads)):
        return
    m = leads.index("M")
    out_of_m = float(np.delete(results["T"][..., m, :], m, axis=-3).sum(axis=(-3, -2, -1)).min())
    case = ", ".join(f"{k} = {v:g}" for k, v in spec.values(unit.case).items())
    raise ValueError(f"{case}, realization {unit.realization}: no current flows out of M (its transmission to the "
                     f"other leads is {out_of_m:.2g} e^2/h), so G_sc and G_cs are undefined: the junction is "
                     f"insulating at this disorder strength; lower {spec.disorder}")


def _grid(spec: EnsembleSpec, todo, cases):
    """The driver's input for these units (of one plan, in this order): the stacks of their cases
    (leaves stacked along a leading axis of cases, as floats), the grid of their points (every angle
    of every unit, unit-major) and the case of each point."""
    names = list(dict.fromkeys(u.case for u in todo))
    stacks = jax.tree_util.tree_map(
        lambda *leaves: np.stack([np.asarray(v, dtype=np.result_type(np.asarray(v).dtype, float)) for v in leaves]),
        *[cases[c][0] for c in names])
    n_phi = spec.n_phi
    theta = np.repeat([float(cases[u.case][0].theta) for u in todo], n_phi)
    energies = np.repeat([cases[u.case][1] for u in todo], n_phi)
    index = np.repeat([u.realization for u in todo], n_phi).astype(np.int64)
    case_of = np.repeat([names.index(u.case) for u in todo], n_phi)
    return stacks, (theta, np.tile(spec.phi, len(todo)), energies, index, (len(todo), n_phi)), case_of


def _units(todo, n_phi: int, positions, out) -> list:
    """(unit, results) of each unit of a block the driver finished (``positions``: the flat positions of its
    points in :func:`_grid`'s grid, whole units): its n_phi angles in order, under the store's keys."""
    order = np.argsort(positions, kind="stable")
    rows = {k: np.asarray(v)[order] for k, v in {**out.values, "solver_stats": out.stats}.items()}
    return [(todo[j], {k: v[i * n_phi: (i + 1) * n_phi] for k, v in rows.items()})
            for i, j in enumerate(positions[order][::n_phi] // n_phi)]
