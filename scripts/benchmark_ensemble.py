"""Throughput of the ensemble engine (evaluations per second) and efficiency of its dominant kernel.

For each junction size and disorder placement (2DEG only: the upper layers fold, one complex
LU of order N = 2 Lx Ly per angle; every layer: the upper layers in spin blocks, eliminated
once per realization and reused for every angle of it), this times the jitted block function
of the one driver that ``jaxsge ensemble`` runs (``solve.transmissions.upper_at`` and
``angles_at`` over the local mesh, with the ensemble's conductances; without file output) over
consecutive realizations of ``n_phi`` angles each: the first call (compilation included) and
the steady state. It also times one complex LU of order N alone (``core.linalg.lu_factor``),
converts both into GFLOP/s and states them as a fraction of the device's float64 peak.

    python scripts/benchmark_ensemble.py                    # Lx = Ly = 30 and 50, both placements
    python scripts/benchmark_ensemble.py --sizes 30 --units 4 --n-phi 16

Writes a JSON record (``--out``, default results/benchmark_ensemble.json) and prints a table.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxsge import JunctionParams, junction_system
from jaxsge.core.batching import local_mesh, mapping, split_over
from jaxsge.core.linalg import lu_factor
from jaxsge.ensemble.run import UnitValues
from jaxsge.ensemble.spec import EnsembleSpec
from jaxsge.io.files import output_file, write_json
from jaxsge.solve.transmissions import angles_at, evaluation_order, plan_for, upper_at

WIDTH = {20: 12, 30: 18, 50: 30}


def cpu_peak_gflops() -> float:
    """Nominal float64 peak of this CPU: cores x 16 FMA lanes (two 512-bit FMA units) x 2 x clock (GHz).

    An estimate (AVX-512 with two FMA pipes per core, the clock of /proc/cpuinfo)."""
    try:
        mhz = [float(line.split(":")[1]) for line in open("/proc/cpuinfo") if line.startswith("cpu MHz")]
    except OSError:
        return float("nan")
    return os.cpu_count() * 16 * 2 * (max(mhz) / 1000 if mhz else 2.5)


def flops_per_evaluation(N: int, n_side: int, n_blocks: int, n_phi: int) -> float:
    """Real operations per angle: the LU of order N (8/3 N^3 for complex), two solves with the side
    channels (2 x 8 N^2 n_side), and the spin-block layers' inversions (2 blocks of order N/2:
    4/3 N^3 each layer) shared by the n_phi angles of a realization."""
    return 8 / 3 * N ** 3 + 16 * N ** 2 * n_side + n_blocks * 4 / 3 * N ** 3 / n_phi


def time_case(L: int, layers: str, units: int, n_phi: int) -> dict:
    p = JunctionParams(Lx=L, Ly=L, W=WIDTH.get(L, int(0.6 * L)), K0=0.5, disorder_layers=layers)
    spec = EnsembleSpec(junction_system(p), (("xi", (7.2,)), ("K0", (0.5,))), units + 1, n_phi)
    system = spec.case_system((0, 0))
    stack = system.stack()
    energy = float(system.energy())
    pl = plan_for(stack, energy, realizations=[0])
    mesh = local_mesh()
    how = mapping(evaluation_order(stack, pl), mesh.devices.flat[0])

    def call(r):  # one unit per device, every angle in one call
        n = mesh.size
        base = jax.tree_util.tree_map(
            lambda v: np.stack([np.asarray(v, dtype=np.result_type(np.asarray(v).dtype, float))] * n), stack)
        base = split_over(mesh, base.replace(theta=np.zeros(n), phi=np.zeros(n)))
        e, i = split_over(mesh, (np.full(n, energy), np.full(n, r)))
        theta, phi = split_over(mesh, (np.full((n, n_phi), float(stack.theta)), np.tile(spec.phi, (n, 1))))
        upper = upper_at(base, e, i, pl, how, mesh)
        jax.block_until_ready(angles_at(base, theta, phi, e, i, upper, pl, False, False, how, None,
                                        UnitValues(stack.lead_names), mesh))

    with jax.enable_x64(True):
        start = time.perf_counter()
        call(0)
        first = time.perf_counter() - start
        times = []
        for r in range(1, units + 1):
            start = time.perf_counter()
            call(r)
            times.append(time.perf_counter() - start)
        N = stack.N
        a = jnp.asarray(np.random.default_rng(0).normal(size=(N, N)) + 4 * np.eye(N), dtype=complex)
        lu = jax.jit(lambda m: lu_factor(m)[0])
        jax.block_until_ready(lu(a))
        start = time.perf_counter()
        jax.block_until_ready(lu(a))
        lu_seconds = time.perf_counter() - start
    per_unit = float(np.median(times))
    n_side = sum(len(c) for c in pl.side_channels)
    flops = flops_per_evaluation(N, n_side, len(pl.blocks), n_phi)
    peak = cpu_peak_gflops() if jax.default_backend() == "cpu" else float("nan")
    return {"Lx": L, "Ly": L, "W": p.W, "N": N, "disorder_layers": layers, "path": pl.summary, "n_phi": n_phi,
            "units_timed": units, "first_call_s": first, "seconds_per_unit": per_unit,
            "seconds_per_evaluation": per_unit / n_phi, "evaluations_per_second": n_phi / per_unit,
            "gflop_per_evaluation": flops / 1e9, "achieved_gflops": flops / 1e9 / (per_unit / n_phi),
            "lu_seconds": lu_seconds, "lu_gflops": 8 / 3 * N ** 3 / 1e9 / lu_seconds,
            "lu_fraction_of_peak": 8 / 3 * N ** 3 / 1e9 / lu_seconds / peak,
            "evaluation_fraction_of_peak": flops / 1e9 / (per_unit / n_phi) / peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="30,50", help="comma-separated Lx = Ly")
    parser.add_argument("--layers", default="2deg,all", help="disorder placements")
    parser.add_argument("--units", type=int, default=3, help="realizations timed after the first")
    parser.add_argument("--n-phi", type=int, default=16, help="angles per realization")
    parser.add_argument("--out", default="results/benchmark_ensemble.json")
    parser.add_argument("--note", default="", help="a remark recorded with the figures (e.g. the machine's load)")
    args = parser.parse_args()
    out = output_file(args.out)
    device = jax.devices()[0]
    record = {"device": str(device), "platform": device.platform, "device_kind": device.device_kind,
              "cpu_count": os.cpu_count(), "machine": platform.processor(), "jax": jax.__version__,
              "peak_gflops": cpu_peak_gflops(), "note": args.note, "cases": []}
    for L in (int(v) for v in args.sizes.split(",")):
        for layers in args.layers.split(","):
            case = time_case(L, layers, args.units, args.n_phi)
            record["cases"].append(case)
            print(f"L = {L:3d} {layers:4s} {case['path']:40s} first {case['first_call_s']:7.1f} s  "
                  f"{case['seconds_per_evaluation']:7.3f} s/eval  {case['evaluations_per_second']:6.2f} eval/s  "
                  f"{case['achieved_gflops']:6.1f} GFLOP/s (LU alone {case['lu_gflops']:.1f})", flush=True)
    write_json(out, record)


if __name__ == "__main__":
    main()
