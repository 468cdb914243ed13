"""Batching: the memory rule, fixed-shape chunks, and the one platform-specific choice of map.

* Memory. :func:`memory_budget` asks the backend how much memory there is (a GPU's own
  ``memory_stats``; on CPU the machine's available memory), defaults to a fraction of it, and
  refuses a budget the machine does not have. :func:`chunk_size` turns the memory one
  evaluation needs (estimated by the solver from its plan, checked against XLA's own
  figures in the tests) into a number of evaluations per call.
* Chunks. :func:`padded_chunks` cuts a batch into chunks of one fixed size (the last one
  padded by repeating its last element, then trimmed), so each jitted function compiles once.
* How a chunk is mapped (:func:`mapping`, :func:`map_over`): the one driver
  (``solve.transmissions.run``: angles, points, and units of an ensemble) maps its evaluations
  over a chunk with the one rule here, a function of the platform and of the order of the
  evaluation's largest dense matrix:

  - CPU: ``vmap`` (a batched LU per chunk). Measured (docs/performance.md, "Batching, repeated
    calls and the device check"): at Lx = Ly = 30 a ``lax.map`` loop costs 1.2-1.6x per
    evaluation (inside an XLA while loop the assembled matrix is copied and its fusion split).
  - GPU and other accelerators: ``vmap`` below ``MAP_ORDER_ACCELERATOR`` (small LUs are
    latency-bound, a batch fills the device), ``lax.map`` with ``batch_size``
    ``MAP_BATCH_ACCELERATOR`` (one evaluation after the other inside one program) from it: on
    an H200 a vmapped 64-angle paper-size scan (LUs of order 5000) cost 2.7x a single call per
    angle (version 0.2.0). This default is
    what ``scripts/device_check.py`` measures side by side with ``vmap`` (step ``scan_batching``).
    A loop holds ``batch_size`` evaluations at a time, so its chunk is the whole batch
    (:func:`chunk_size` with ``how``): one program per call, whatever the number of angles.
* Progress. Where the chunk is a loop anyway (CPU, whose batched LAPACK kernels factorise one
  matrix after the other, and a ``lax.map`` on an accelerator) and an evaluation is large
  (largest dense matrix of order ``PROGRESS_ORDER`` or more, where one call's dispatch is
  negligible beside its LUs), :func:`progress_steps` asks :func:`chunk_size` for at least
  ``PROGRESS_STEPS`` calls, of balanced sizes, so that a progress bar advances and can tell the
  time left; a vmap on an accelerator (small, latency-bound LUs that the batch fills) stays whole.
  Measured on a shared 2-core CPU (docs/performance.md, "Progress per evaluation"): the
  ``make run`` scan in 16 calls per panel against one, no difference beyond the machine's noise.
* Devices. :func:`local_mesh` is a 1D mesh of this process's devices; :func:`on_mesh` runs a
  function on blocks whose leading axis is split over them (``shard_map``), :func:`split_over`
  places the arrays so (the driver's ``mesh``, for ensembles).
* The platform-specific choice. Batched LAPACK kernels of XLA:CPU wait, inside a thread of the
  intra-op pool, for sub-tasks they queue on that same pool, so two of them running at once
  can deadlock it (jaxlib 0.10.2). The solver therefore never issues two batched LAPACK calls
  that XLA could run concurrently (``solve.kernel``); derivatives, whose tangents add such
  calls, take one point per call on CPU, and so does every device of a process with several
  CPU devices, which run their programs at once (:func:`chunk_size` with ``one_on_cpu``): with
  one matrix per call the kernels run inline.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import jax
import numpy as np

GIB = 2 ** 30
# Default budget: this fraction of the memory available when the run starts.
DEFAULT_BUDGET_FRACTION = 0.6


def available_memory(device=None) -> int:
    """Bytes the device can still allocate: a GPU's free memory, or the machine's available memory on CPU."""
    device = jax.devices()[0] if device is None else device
    stats = device.memory_stats() if device.platform != "cpu" else None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    try:
        with open("/proc/meminfo") as fh:
            fields = dict(line.split(":", 1) for line in fh)
        return int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def memory_budget(memory_budget_gib=None, device=None) -> int:
    """The memory budget in bytes: the one asked for (GiB), checked against the device, or a default.

    A ValueError names the option when the request is not a positive number or exceeds what
    the device has available.
    """
    device = jax.devices()[0] if device is None else device
    available = available_memory(device)
    if memory_budget_gib is None:
        return int(DEFAULT_BUDGET_FRACTION * available)
    requested = float(memory_budget_gib)
    if not np.isfinite(requested) or requested <= 0:
        raise ValueError(f"memory budget {memory_budget_gib!r} GiB must be a positive number")
    if requested * GIB > available:
        where = "this machine" if device.platform == "cpu" else f"the {device.platform} device {device.device_kind}"
        raise ValueError(f"memory budget {requested:g} GiB exceeds the {available / GIB:.1f} GiB available on "
                         f"{where}; ask for less")
    return int(requested * GIB)


def format_bytes(n: float) -> str:
    """A size in the largest unit that keeps it above 1 (B, KiB, MiB, GiB)."""
    for unit, size in (("GiB", GIB), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} B"


def chunk_size(per_evaluation: float, budget: int, total: int, what: str, one_on_cpu: bool = False,
               how=None, steps: int = 1) -> int:
    """Evaluations per call: as many as the budget holds (at most ``total``; one on CPU when
    ``one_on_cpu``; all of them for a loop, ``how`` a "map" :class:`Mapping`, which holds
    ``batch_size`` evaluations at a time), then cut into at least ``steps`` calls of balanced sizes
    (:func:`progress_steps`); a ValueError if not one fits."""
    if how is not None and how.kind == "map":
        per_evaluation = per_evaluation * how.batch_size
    if per_evaluation > budget:
        raise ValueError(f"one evaluation {what} needs about {format_bytes(per_evaluation)}, more than the memory "
                         f"budget of {format_bytes(budget)}; raise --memory-gib (or memory_budget_gib) or use a "
                         "machine with more memory")
    if one_on_cpu and platform() == "cpu":
        return 1
    if how is not None and how.kind == "map":
        chunk = total
    else:
        chunk = int(max(1, min(total, budget // max(per_evaluation, 1))))
    if steps > 1:  # balanced: the padding of the last call (padded_chunks) stays below one evaluation per call
        calls = max(-(-total // chunk), min(steps, total))
        chunk = -(-total // calls)
    return chunk


# Progress (module docstring): from this order of an evaluation's largest dense matrix on, a loop-like chunk
# is cut into at least PROGRESS_STEPS calls.
PROGRESS_ORDER = 512
PROGRESS_STEPS = 16


def progress_steps(order: int, how, device=None) -> int:
    """The least number of calls (``chunk_size``'s ``steps``) for evaluations of this order mapped as ``how``:
    PROGRESS_STEPS where the chunk is a loop anyway (CPU, or a "map") and an evaluation large; else 1."""
    if order < PROGRESS_ORDER or (how.kind == "vmap" and platform(device) != "cpu"):
        return 1
    return PROGRESS_STEPS


def padded_chunks(total: int, chunk: int):
    """(positions, indices) per chunk: ``indices`` of fixed length ``chunk`` (the last one padded by
    repeating its last position), ``positions`` the ones to keep."""
    return [(np.arange(start, min(start + chunk, total)), np.minimum(np.arange(start, start + chunk), total - 1))
            for start in range(0, total, chunk)]


class Mapping(NamedTuple):
    """How a jitted function maps an evaluation over a chunk (hashable: a jit static argument):
    ``kind`` "vmap" (one batched program) or "map" (``jax.lax.map``, ``batch_size`` evaluations
    per step of the loop)."""

    kind: str
    batch_size: int = 1


VMAP = Mapping("vmap")
# Accelerators: from this order of the largest dense matrix of an evaluation on, a loop over the
# chunk (one evaluation at a time) instead of a vmap (module docstring; measured by the device check).
MAP_ORDER_ACCELERATOR = 2000
MAP_BATCH_ACCELERATOR = 1


def mapping(order: int, device=None) -> Mapping:
    """The mapping of evaluations whose largest dense matrix has this order, on this platform
    (the rule of the module docstring)."""
    if platform(device) == "cpu" or order < MAP_ORDER_ACCELERATOR:
        return VMAP
    return Mapping("map", MAP_BATCH_ACCELERATOR)


def map_over(f, how: Mapping, *xs):
    """``f`` over the leading axis of every array (pytree) in ``xs``, as ``how`` says; the same
    numbers either way (only the schedule differs)."""
    if how.kind == "vmap":
        return jax.vmap(f)(*xs)
    if how.kind == "map":
        return jax.lax.map(lambda a: f(*a), xs, batch_size=how.batch_size if how.batch_size > 1 else None)
    raise ValueError(f"mapping {how.kind!r} must be 'vmap' or 'map'")


def platform(device=None) -> str:
    return (jax.devices()[0] if device is None else device).platform


def settled_on_cpu(out):
    """``out`` once computed, on CPU; as dispatched (asynchronously), elsewhere.

    On the CPU backend two large executables in flight at once (each using the intra-op
    thread pool) hung an ensemble run for good (2-core machine, JAX 0.10.2); on CPU each call
    therefore finishes before the next is dispatched. Accelerators queue their work in order.
    """
    return jax.block_until_ready(out) if platform() == "cpu" else out


# The one mesh axis: units of work (evaluations sharing an upper state) split over devices.
MESH_AXIS = "batch"


def local_mesh():
    """1D mesh over this process's devices (each process of a jax.distributed job has its own)."""
    return jax.sharding.Mesh(np.asarray(jax.local_devices()), (MESH_AXIS,))


def on_mesh(f, mesh, n: int):
    """``f`` of ``n`` arrays (pytrees) whose leading axis is split over the mesh's devices, each device
    running ``f`` on its own part (the same per-device program whatever the number of devices; nothing
    is communicated). ``check_vma=False``: the GMRES loops of the Krylov and mixed paths start from
    constants (zeros, counters) that do not vary over the mesh while their results do, which the
    varying-axes check of ``while_loop`` carries refuses."""
    split = jax.sharding.PartitionSpec(MESH_AXIS)
    return jax.shard_map(f, mesh=mesh, in_specs=(split,) * n, out_specs=split, check_vma=False)


def split_over(mesh, tree):
    """The arrays of ``tree`` placed on the mesh, their leading axis split over its devices."""
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(MESH_AXIS))
    return jax.tree_util.tree_map(lambda a: jax.device_put(a, sharding), tree)
