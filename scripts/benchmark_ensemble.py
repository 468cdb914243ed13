"""Throughput of the ensemble engine (evaluations per second) and efficiency of its dominant kernel.

For each junction size and disorder placement (2DEG only: folded solver, one complex LU of
order N = 2 Lx Ly per evaluation; every layer: recursive solver, one dense inversion of order
N per upper layer on top), this times the jitted, sharded block function of
``jaxsge.ensemble`` (what ``jaxsge ensemble`` runs, without file output) over consecutive
realizations: the first call (compilation included) and the steady state. It also times one
complex LU of order N alone, converts both into GFLOP/s with the operation counts of
:func:`flops_per_evaluation`, and states them as a fraction of the device's float64 peak
(``--peak-gflops``; default: an estimate for this CPU, see :func:`cpu_peak_gflops`).

    python scripts/benchmark_ensemble.py                      # Lx = Ly = 30 and 50, both placements
    python scripts/benchmark_ensemble.py --sizes 30 --evals 8 --memory-gib 40

Writes a JSON record (``--out``, default results/benchmark_ensemble.json) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from jaxsge.ensemble import _block_function, device_block, local_mesh
from jaxsge.leads import open_channels
from jaxsge.model import JunctionParams
from jaxsge.solve import chunk_size_for, dense_layers, path_name

# Side-lead width of each benchmarked size (the paper's W = 30 at 50; configs/fig3_small.toml at 30).
WIDTH = {20: 12, 30: 18, 50: 30}


def flops_per_evaluation(p: JunctionParams, n_dense: int, n_side: int, n_top: int) -> float:
    """Real floating-point operations of the dense algebra of one evaluation (complex FMA = 8).

    Layer 0: LU of order N (8/3 N^3) and a solve with n_side + n_top right-hand sides
    (8 N^2 r). Each densely eliminated layer: an inversion (LU and a solve with N right-hand
    sides, 32/3 N^3) and the products g b and P g with the n_top columns of M's sources
    (2 x 8 N^2 n_top). Terms of lower order in N are left out.
    """
    n = p.N
    layer0 = 8 / 3 * n ** 3 + 8 * n ** 2 * (n_side + n_top)
    return layer0 + n_dense * (32 / 3 * n ** 3 + 16 * n ** 2 * n_top)


def cpu_peak_gflops() -> float:
    """Nominal float64 peak of this CPU: cores x 16 FMA lanes (two 512-bit FMA units) x 2 x base GHz.

    An estimate: it assumes AVX-512 with two FMA pipes per core (true of the Zen 5 EPYC this
    project is developed on) and the base clock of /proc/cpuinfo.
    """
    mhz = [float(line.split(":")[1]) for line in open("/proc/cpuinfo") if line.startswith("cpu MHz")]
    return os.cpu_count() * 32 * (max(mhz) if mhz else 2500.0) / 1e3


def time_lu(n: int, repeats: int = 3) -> float:
    """Median seconds of one complex128 LU of order n (jax.scipy.linalg.lu_factor)."""
    rng = np.random.default_rng(0)
    a = jnp.asarray(rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n)) + n * np.eye(n))
    lu = jax.jit(jax.scipy.linalg.lu_factor)
    jax.block_until_ready(lu(a))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(lu(a))
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def benchmark_case(size: int, layers: str, evals: int, memory_gib) -> dict:
    """Steady-state evaluations per second of the block function for one junction and disorder placement."""
    p = JunctionParams(Lx=size, Ly=size, W=WIDTH.get(size, (3 * size) // 5), disorder_layers=layers)
    n_dense = dense_layers(p.replace(K0=1.0))
    channels = open_channels(p)
    mesh = local_mesh()
    block = device_block(chunk_size_for(p, n_dense, memory_gib), mesh)
    per_call = block * mesh.size
    fn = _block_function(p, channels, n_dense, mesh)
    sharding = NamedSharding(mesh, PartitionSpec("batch"))

    def call(first: int):
        index = np.arange(first, first + per_call)
        args = (np.full(per_call, 7.2), np.full(per_call, 0.5), index, 2 * np.pi * index / 64)
        return fn(*(jax.device_put(a, sharding) for a in args))

    start = time.perf_counter()
    jax.block_until_ready(call(0))
    first_call = time.perf_counter() - start
    calls = max(1, -(-evals // per_call))
    start = time.perf_counter()
    for k in range(calls):
        jax.block_until_ready(call((k + 1) * per_call))
    seconds = (time.perf_counter() - start) / (calls * per_call)
    n_side = 2 * len(channels.side_modes) * len(channels.side_leads)
    flops = flops_per_evaluation(p, n_dense, n_side, len(channels.top_modes))
    return {"Lx": size, "Ly": size, "W": p.W, "N": p.N, "disorder_layers": layers, "path": path_name(p.Lz, n_dense),
            "block_per_device": block, "devices": mesh.size, "evaluations_timed": calls * per_call,
            "first_call_s": first_call, "seconds_per_evaluation": seconds, "evaluations_per_second": 1 / seconds,
            "open_channels": {"side": n_side, "M": len(channels.top_modes)},
            "gflop_per_evaluation": flops / 1e9, "achieved_gflops": flops / seconds / 1e9}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[30, 50], help="Lx = Ly values (default 30 50)")
    parser.add_argument("--layers", nargs="+", default=["2deg", "all"], choices=["2deg", "all"])
    parser.add_argument("--evals", type=int, default=4, help="evaluations timed per case after the first call")
    parser.add_argument("--memory-gib", type=float, help="memory budget per device (default 4 GiB)")
    parser.add_argument("--peak-gflops", type=float, help="float64 peak of the device (default: CPU estimate)")
    parser.add_argument("--note", default="", help="free text stored with the record (e.g. 'shared CPU')")
    parser.add_argument("--out", default="results/benchmark_ensemble.json")
    args = parser.parse_args(argv)

    with jax.enable_x64(True):
        device = jax.devices()[0]
        peak = args.peak_gflops or (cpu_peak_gflops() if device.platform == "cpu" else None)
        cases = []
        for size in args.sizes:
            n = 2 * size * size
            lu_s = time_lu(n)
            lu_gflops = 8 / 3 * n ** 3 / lu_s / 1e9
            for layers in args.layers:
                case = benchmark_case(size, layers, args.evals, args.memory_gib)
                case.update({"lu_seconds": lu_s, "lu_gflops": lu_gflops,
                             "lu_fraction_of_peak": lu_gflops / peak if peak else None,
                             "evaluation_fraction_of_peak": case["achieved_gflops"] / peak if peak else None})
                cases.append(case)
                print(json.dumps(case), flush=True)
    record = {"device": str(device), "platform": device.platform, "device_kind": device.device_kind,
              "local_devices": jax.local_device_count(), "cpu_count": os.cpu_count(), "machine": platform.processor(),
              "jax": jax.__version__, "peak_gflops": peak, "note": args.note, "cases": cases,
              "when": time.strftime("%Y-%m-%d %H:%M:%S")}
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1))
    print(f"\n{device.device_kind} x {jax.local_device_count()}, float64 peak {peak or float('nan'):.0f} GFLOP/s "
          f"(estimate unless given), {args.note}")
    print("| Lx = Ly | disorder | path | block | s / evaluation | evaluations / s | GFLOP / evaluation | "
          "GFLOP/s (fraction of peak) | LU of order N: s (fraction of peak) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for c in cases:
        frac = lambda v: "" if v is None else f" ({100 * v:.0f} %)"
        print(f"| {c['Lx']} | {c['disorder_layers']} | {c['path']} | {c['block_per_device']} | "
              f"{c['seconds_per_evaluation']:.3g} | {c['evaluations_per_second']:.3g} | {c['gflop_per_evaluation']:.0f} | "
              f"{c['achieved_gflops']:.0f}{frac(c['evaluation_fraction_of_peak'])} | "
              f"{c['lu_seconds']:.3g}{frac(c['lu_fraction_of_peak'])} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
