"""Running an ensemble: units batched under the memory budget, sharded over devices and processes.

Each process of a ``jax.distributed`` job evaluates the units u with ``u % process_count ==
process_index`` (``docs/ensemble.md``), in blocks through one jitted ``shard_map`` of fixed shape
over its local devices, one compiled function per solution plan (the clean cases fold what the
disordered ones cannot). A unit's upper layers are eliminated once, the lowest slice solved per
angle; units and angles are mapped as ``core.batching.mapping`` says for the platform and size.
Every finished unit is written at once (``ensemble.store``), one block staying in flight. With
a time limit the run stops before a block that would not finish in time (the estimate: the
last block's duration) and reports the units left: a later ``--resume`` continues. Every run
computes at least one block, so that a run in pieces always progresses.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from tqdm.auto import tqdm

from ..core.batching import VMAP, Mapping, chunk_size, map_over, mapping, memory_budget, padded_chunks, settled_on_cpu
from ..core.precision import x64
from ..io.files import Output, result_folder, write_json
from ..observables import response
from ..solve.kernel import evaluate, upper_state
from ..solve.transmissions import check_converged, evaluation_bytes, evaluation_order, plan_for
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


def local_mesh() -> Mesh:
    """1D mesh over this process's devices (each process of a jax.distributed job has its own)."""
    return Mesh(np.asarray(jax.local_devices()), ("batch",))


def block_functions(pl, leads, mesh: Mesh, how: Mapping = VMAP):
    """Two jitted functions over blocks of units sharded over the mesh: ``uppers(stacks, energies,
    indices)``, each unit's angle-independent upper state, and ``angles(stacks, energies, indices,
    uppers, phis)``, the transmissions and conversion conductances at every angle of ``phis``
    (replicated); units and angles mapped as ``how`` says (``core.batching.mapping``). The
    per-device program has the same shape whatever the number of devices."""
    batch = PartitionSpec("batch")

    def uppers(stacks, energies, indices):
        return map_over(lambda s, e, r: upper_state(s, e, r, pl), how, stacks, energies, indices)

    def angles(stacks, energies, indices, upper, phis):
        def unit(s, e, r, up):
            def angle(phi):
                out = evaluate(s, s.theta, phi, e, r, pl, up, reflection=False, smatrix=False)
                return {"T": out.T, "n_open": out.n_open, "solver_stats": out.stats,
                        **response.conversions(out.T, out.n_open, leads)}
            return map_over(angle, how, phis)
        return map_over(unit, how, stacks, energies, indices, upper)

    # check_vma=False: the GMRES loops of the Krylov and mixed paths start from constants (zeros, counters)
    # that do not vary over the mesh while their results do, which the varying-axes check of while_loop
    # carries refuses; every device runs the same program on its own units, nothing is communicated.
    return (jax.jit(jax.shard_map(uppers, mesh=mesh, in_specs=(batch,) * 3, out_specs=batch, check_vma=False)),
            jax.jit(jax.shard_map(angles, mesh=mesh, in_specs=(batch,) * 4 + (PartitionSpec(),), out_specs=batch,
                                  check_vma=False)))


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


def _sizes(spec: EnsembleSpec, pl, stack, budget: int, devices: int):
    """(units per device per call, angles per call) within the memory budget: a unit holds its upper
    state and one evaluation per angle of the call. On CPU one unit per call: batched LAPACK
    calls of several units deadlocked XLA's 2-thread intra-op pool (two batched triangular
    solves, each waiting for the pool's other thread; JAX 0.10.2). Several CPU devices of one
    process run their programs at once: then also one angle per call."""
    per_eval = evaluation_bytes(stack, pl, reflection=False)
    where = f"of the ensemble at Lx = {stack.Lx}, Ly = {stack.Ly}"
    chunk_size(2 * per_eval, budget, 1, where)  # refuses when not even the upper state and one angle fit
    angles = 1 if devices > 1 else int(max(1, min(spec.n_phi, budget // per_eval - 1)))
    return chunk_size(per_eval * (1 + angles), budget, 64, where, one_on_cpu=True), angles


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
    sizes = {pl: _sizes(spec, pl, cases[group[0].case][0], budget, mesh.size) for pl, group in groups.items()}
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

        def finish(unit, results, pl):
            if pl.krylov is not None:
                check_converged(results["solver_stats"], pl)
            check_conducting(spec, unit, results, leads)
            if pid == 0:
                out.write(lambda folder: store.write_unit(folder, spec, unit, results, digest), restore=prepare)
            else:
                store.write_unit(out_dir, spec, unit, results, digest)
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
                units_per_device, angles = sizes[pl]
                block = min(units_per_device, -(-len(todo) // mesh.size)) * mesh.size
                blocks[f"plan {len(blocks)}: {pl.summary}, {'clean' if group[0].clean else 'disordered'}"] = {
                    "units_per_device": block // mesh.size, "angles_per_call": angles}
                how = mapping(evaluation_order(cases[group[0].case][0], pl), mesh.devices.flat[0])
                done_here += _stream(todo, cases, block_functions(pl, leads, mesh, how), spec.phi, angles, block,
                                     NamedSharding(mesh, PartitionSpec("batch")), lambda u, r, pl=pl: finish(u, r, pl),
                                     deadline, first_free=not done_here)
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


def _stream(units, cases, functions, phi, angles: int, block: int, sharding, on_done, deadline=None,
            first_free: bool = True) -> list:
    """Evaluate the units in blocks (upper states once, then the angles in padded chunks), calling
    ``on_done(unit, results)`` per unit; the units done. On accelerators the next block is
    dispatched before the previous one is fetched; on CPU every call finishes first
    (``core.batching.settled_on_cpu``). With a ``deadline`` (``time.perf_counter()``), no block
    starts past it, or that would end past it by the last block's duration (the first block of
    a plan, its compilation included, has no estimate: it runs when the deadline is ahead, and
    whatever the deadline when ``first_free``)."""
    uppers, at_angles = functions
    energies = np.asarray([cases[u.case][1] for u in units])
    index = np.asarray([u.realization for u in units], dtype=np.int64)
    in_flight, done, last, previous = [], [], None, time.perf_counter()
    for keep, idx in padded_chunks(len(units), block):
        now = time.perf_counter()
        free = first_free and not in_flight and not done
        if deadline is not None and not free and (now > deadline or (last is not None and now + last > deadline)):
            break
        batch = jax.tree_util.tree_map(
            lambda *leaves: np.stack([np.asarray(v, dtype=np.result_type(np.asarray(v).dtype, float)) for v in leaves]),
            *[cases[units[i].case][0] for i in idx])
        args = tuple(jax.device_put(a, sharding) for a in (batch, energies[idx], index[idx]))
        upper = settled_on_cpu(uppers(*args))
        in_flight.append((keep, [(positions, settled_on_cpu(at_angles(*args, upper, jnp.asarray(phi[chunk]))))
                                 for positions, chunk in padded_chunks(phi.size, angles)]))
        if len(in_flight) > 1:
            done += _collect(*in_flight.pop(0), units, on_done)
        now = time.perf_counter()
        last, previous = now - previous, now
    for keep, pieces in in_flight:
        done += _collect(keep, pieces, units, on_done)
    return done


def _collect(keep, pieces, units, on_done) -> list:
    host = [(positions, jax.device_get(out)) for positions, out in pieces]
    for k, i in enumerate(keep):
        on_done(units[i], {name: np.concatenate([np.asarray(out[name][k])[: positions.size] for positions, out in host])
                           for name in host[0][1]})
    return [units[i] for i in keep]
