"""The whole device verification in one process: correctness, timings, memory, one JSON + table.

    PYTHONPATH=. python scripts/device_check.py --out results/device_check     # on a GPU (make device-check)
    PYTHONPATH=. python scripts/device_check.py --smoke --out /tmp/smoke       # tiny sizes, any backend

On whatever JAX backend it finds, it
1. recomputes the reference numbers of ``validation/device_references.py`` (every solver path:
   spin-resolved transmissions, G_sc, G_cs, a derivative, a two-realization ensemble mean) and
   compares them with the stored CPU values to ``DEVICE_TOLERANCE`` (1e-10);
2. times, after compilation (median of repeats; the first call, compilation included, apart):
   one paper-size evaluation clean and with 2DEG disorder, a 64-angle paper-size scan, a
   sensitivity scan, the ensemble throughput (2DEG only and every layer), one complex LU of
   order 2 L^2 (the dominant kernel, as a fraction of the device's float64 peak), and the
   largest L whose single evaluation fits the device; peak device memory after each (the
   device's own statistics; on CPU the process's peak resident size). It estimates the time of
   the full run of ``scripts/fig3_ensemble.py`` (paper size, 2 xi x 2 K0 x 150 realizations x 64 angles);
3. writes ``device_check.json`` and ``device_check.md`` to ``--out``.

Steps past ``--budget-minutes`` (default 8) are skipped and say so. The script needs nothing but
JAX, NumPy and the repository (run it from the repository root with ``PYTHONPATH=.``). Exit
status 1 when a correctness check fails.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import sys
import time
import traceback

import jax
import jaxlib
import numpy as np

from jaxsge import JunctionParams, __version__, junction, transmissions
from jaxsge.core.batching import available_memory
from jaxsge.core.linalg import lu_factor
from jaxsge.core.precision import x64
from jaxsge.io.files import output_folder, write_json, write_text
from jaxsge.observables.scan import conversion_scan
from jaxsge.observables.sensitivity import sensitivities
from jaxsge.solve.transmissions import evaluation_bytes, plan_for
from scripts.benchmark_ensemble import cpu_peak_gflops, time_case
from validation import device_references

# Nominal float64 peaks (GFLOP/s, tensor-core FP64 where there is one), from the vendors' data sheets.
FLOAT64_PEAK_GFLOPS = {"H200": 67_000.0, "H100 SXM": 67_000.0, "H100 PCIe": 51_000.0, "H100": 67_000.0,
                       "A100": 19_500.0, "V100": 7_800.0}
FIG3_FULL = dict(xi=2, K0=2, realizations=150, n_phi=64)

SIZES = {  # full run (one H100-class GPU) / --smoke (CPU, seconds)
    False: dict(L=50, W=30, n_phi=64, sens_L=50, sens_W=30, sens_phi=16, ens_L=30, ens_units=3, ens_phi=16,
                largest_cap=200, repeats=3),
    True: dict(L=10, W=6, n_phi=4, sens_L=8, sens_W=4, sens_phi=2, ens_L=8, ens_units=1, ens_phi=4,
               largest_cap=12, repeats=2),
}


def device_peak_gflops(device) -> float:
    if device.platform == "cpu":
        return cpu_peak_gflops()
    for kind, peak in FLOAT64_PEAK_GFLOPS.items():
        if kind.lower() in device.device_kind.lower():
            return peak
    return float("nan")


def peak_memory(device) -> dict:
    """The device's peak bytes in use so far (cumulative over the run), or on CPU the process's peak RSS."""
    stats = device.memory_stats() if device.platform != "cpu" else None
    if stats and "peak_bytes_in_use" in stats:
        return {"peak_bytes": int(stats["peak_bytes_in_use"]), "source": "device.memory_stats peak_bytes_in_use"}
    return {"peak_bytes": int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024,
            "source": "process peak resident set size (ru_maxrss)"}


def timed(fn, arguments, device) -> dict:
    """First call (compilation included) on arguments[0], then the median over the others."""
    start = time.perf_counter()
    fn(arguments[0])
    first = time.perf_counter() - start
    times = []
    for a in arguments[1:]:
        start = time.perf_counter()
        fn(a)
        times.append(time.perf_counter() - start)
    return {"first_call_s": first, "median_s": statistics.median(times), "times_s": times, **peak_memory(device)}


def paper(L: int, W: int, **changes) -> JunctionParams:
    return JunctionParams(Lx=L, Ly=L, W=W, **changes)


def largest_fitting_L(memory: float, cap: int, path: str = "dense") -> int:
    """The largest L (Lx = Ly = L, W = 0.6 L, clean paper junction, lean right-hand sides) whose
    single evaluation on ``path`` fits in ``memory`` bytes by the memory rule of the solver."""
    best = None
    for L in range(10, cap + 1, 2 if path == "dense" else 10):
        p = paper(L, max(2, round(0.6 * L)))
        s = junction(p)
        try:
            pl = plan_for(s, p.mu, path=path)
        except ValueError:  # larger than the machine itself
            break
        if evaluation_bytes(s, pl, False) > memory:
            break
        best = L
    return best


def lu_kernel(N: int, device) -> dict:
    a = jax.numpy.asarray(np.random.default_rng(0).normal(size=(N, N)) + 4 * np.eye(N), dtype=complex)
    lu = jax.jit(lambda m: lu_factor(m)[0])
    out = timed(lambda _: jax.block_until_ready(lu(a)), [0, 1, 2], device)
    gflops = 8 / 3 * N ** 3 / 1e9 / out["median_s"]
    peak = device_peak_gflops(device)
    return {**out, "order": N, "gflops": gflops, "peak_gflops": peak, "fraction_of_float64_peak": gflops / peak}


@x64
def run(args) -> dict:
    size = SIZES[args.smoke]
    device = jax.devices()[0]
    started = time.perf_counter()
    budget = 60 * args.budget_minutes
    record = {"device": {"platform": device.platform, "kind": device.device_kind, "count": jax.device_count(),
                         "memory_bytes": available_memory(device)},
              "versions": {"jaxsge": __version__, "jax": jax.__version__, "jaxlib": jaxlib.__version__,
                           "numpy": np.__version__, "python": platform.python_version()},
              "host": {"machine": platform.machine(), "cpu_count": os.cpu_count()},
              "smoke": bool(args.smoke), "sizes": size, "budget_minutes": args.budget_minutes,
              "correctness": {}, "timings": {}, "skipped": []}

    # 1. Correctness against the stored CPU references.
    stored = device_references.load()
    values = device_references.compute()
    checks = device_references.compare(values, stored)
    record["correctness"] = {"tolerance": device_references.DEVICE_TOLERANCE, "checks": checks,
                             "all_passed": all(c["passed"] for c in checks.values()),
                             "paths": {name: values[name]["path"] for name in values if "path" in values[name]}}
    print(f"correctness: {sum(c['passed'] for c in checks.values())}/{len(checks)} quantities within "
          f"{device_references.DEVICE_TOLERANCE:g}", flush=True)

    # 2. Timings, smallest first, each after its compilation.
    L, W = size["L"], size["W"]
    phis = [0.1 * (k + 1) for k in range(size["repeats"] + 1)]
    steps = [
        ("paper_clean", lambda: timed(lambda phi: transmissions(paper(L, W, phi=phi), reflection=False), phis, device)),
        ("paper_2deg_disorder", lambda: timed(lambda phi: transmissions(
            paper(L, W, phi=phi, K0=0.5, disorder_layers="2deg"), reflection=False), phis, device)),
        ("paper_scan", lambda: {**timed(lambda shift: conversion_scan(
            paper(L, W), phi=shift + 2 * np.pi * np.arange(size["n_phi"]) / size["n_phi"]), [0.0, 0.01], device),
            "n_phi": size["n_phi"]}),
        ("sensitivity_scan", lambda: {**timed(lambda shift: sensitivities(
            paper(size["sens_L"], size["sens_W"]), ("alpha3", "xi"),
            phi=shift + 2 * np.pi * np.arange(size["sens_phi"]) / size["sens_phi"]), [0.0, 0.01], device),
            "L": size["sens_L"], "n_phi": size["sens_phi"], "wrt": ["alpha3", "xi"]}),
        ("ensemble_2deg", lambda: {**time_case(size["ens_L"], "2deg", size["ens_units"], size["ens_phi"]),
                                   **peak_memory(device)}),
        ("ensemble_every_layer", lambda: {**time_case(size["ens_L"], "all", size["ens_units"], size["ens_phi"]),
                                          **peak_memory(device)}),
        ("lu_dominant_kernel", lambda: lu_kernel(2 * L * L, device)),
        ("fig3_full_unit", lambda: {**time_case(L, "all", 1, FIG3_FULL["n_phi"]), **peak_memory(device)}),
        ("largest_L", lambda: largest(size, device, budget - (time.perf_counter() - started), record)),
    ]
    for name, step in steps:
        if time.perf_counter() - started > budget:
            record["skipped"].append(f"{name}: past the time budget of {args.budget_minutes} min")
            continue
        try:
            record["timings"][name] = step()
        except Exception as error:  # a failed step is recorded, the others still run
            record["timings"][name] = {"error": f"{type(error).__name__}: {error}",
                                       "traceback": traceback.format_exc(limit=4)}
        print(f"{name}: {summary_line(record['timings'][name])}", flush=True)
    unit = record["timings"].get("fig3_full_unit", {})
    if "seconds_per_unit" in unit:
        n_units = FIG3_FULL["xi"] * FIG3_FULL["K0"] * FIG3_FULL["realizations"]
        record["fig3_full_estimate_s"] = n_units * unit["seconds_per_unit"]
        record["fig3_full_fits_budget"] = record["fig3_full_estimate_s"] < budget
    record["seconds"] = time.perf_counter() - started
    return record


def largest(size: dict, device, time_left: float, record: dict) -> dict:
    """The largest L that fits the device by the memory rule, run once when predicted to fit the time left."""
    memory = 0.9 * available_memory(device)
    fit = largest_fitting_L(memory, 400)
    clean = record["timings"].get("paper_clean", {})
    L = min(fit, size["largest_cap"])
    out = {"largest_L_fitting": fit, "largest_L_fitting_krylov": largest_fitting_L(memory, size["largest_cap"] + 100,
                                                                                  "krylov"),
           "krylov_search_limit": size["largest_cap"] + 100, "memory_bytes_used_for_rule": memory, "L_run": None}
    if "median_s" in clean:
        predicted = clean["median_s"] * (L / size["L"]) ** 6  # one LU of order 2 L^2
        out["predicted_s_at_L_run"] = predicted
        if predicted > 0.5 * time_left:
            out["not_run"] = f"L = {L} predicted to take {predicted:.0f} s, more than half the {time_left:.0f} s left"
            return out
    W = max(2, round(0.6 * L))
    out.update(timed(lambda phi: transmissions(paper(L, W, phi=phi), path="dense", reflection=False), [0.1, 0.2],
                     device))
    out["L_run"], out["W_run"] = L, W
    krylov_fit = out["largest_L_fitting_krylov"] or 0
    if fit < size["largest_cap"] <= krylov_fit:  # past the dense path's limit: the Krylov path, once
        L = size["largest_cap"]
        W = round(0.6 * L)
        start = time.perf_counter()
        r = transmissions(paper(L, W, phi=0.1), path="krylov", reflection=False)
        out["krylov_at_cap"] = {"L": L, "W": W, "seconds_first_call": time.perf_counter() - start,
                                "solver": r.solver_report, **peak_memory(device)}
    return out


def summary_line(t: dict) -> str:
    if "error" in t:
        return t["error"]
    if "seconds_per_evaluation" in t:
        return (f"L = {t['Lx']}, {t['n_phi']} angles per realization: {t['seconds_per_evaluation']:.4g} s/evaluation "
                f"({t['evaluations_per_second']:.3g}/s), first call {t['first_call_s']:.3g} s, peak "
                f"{t['peak_bytes'] / 2 ** 30:.2f} GiB")
    parts = [f"first {t['first_call_s']:.3g} s", f"median {t['median_s']:.3g} s"] if "median_s" in t else []
    if "fraction_of_float64_peak" in t:
        parts.append(f"{t['gflops']:.4g} GFLOP/s = {t['fraction_of_float64_peak']:.2%} of float64 peak")
    if "largest_L_fitting" in t:
        parts.insert(0, f"largest L fitting {t['largest_L_fitting']} (dense), {t['largest_L_fitting_krylov']} (Krylov, "
                        f"searched to {t.get('krylov_search_limit', '-')}), run at L = {t['L_run']}")
    if "peak_bytes" in t:
        parts.append(f"peak {t['peak_bytes'] / 2 ** 30:.2f} GiB")
    return ", ".join(parts)


def markdown(record: dict) -> str:
    d, v = record["device"], record["versions"]
    c = record["correctness"]
    lines = [f"# Device check ({'smoke, ' if record['smoke'] else ''}{d['platform']}: {d['kind']})", "",
             f"jaxsge {v['jaxsge']}, JAX {v['jax']} (jaxlib {v['jaxlib']}), NumPy {v['numpy']}, Python {v['python']}; "
             f"{d['count']} device(s), {d['memory_bytes'] / 2 ** 30:.1f} GiB available; run time {record['seconds']:.0f} s.",
             "", f"Correctness: {sum(x['passed'] for x in c['checks'].values())} of {len(c['checks'])} reference "
             f"quantities within {c['tolerance']:g} (largest difference "
             f"{max(x['max_abs_difference'] for x in c['checks'].values()):.2e}).", "",
             "| step | result |", "|---|---|"]
    for name, t in record["timings"].items():
        lines.append(f"| {name} | {summary_line(t)} |")
    if "fig3_full_estimate_s" in record:
        size = (f"estimated from one realization at the smoke size L = {record['sizes']['L']}, not the paper's"
                if record["smoke"] else "estimated from one paper-size realization of 64 angles")
        lines += ["", f"`scripts/fig3_ensemble.py` full run (paper size, 2 xi x 2 K0 x 150 realizations x 64 angles): "
                      f"about {record['fig3_full_estimate_s'] / 60:.1f} min on this device ({size})."]
    for line in record["skipped"]:
        lines.append(f"\nSkipped: {line}")
    return "\n".join(lines) + "\n"


def undefined_as_none(obj):
    """NaN and infinity (an unknown peak, a failed step) as null: the record stays strict JSON."""
    if isinstance(obj, dict):
        return {k: undefined_as_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [undefined_as_none(v) for v in obj]
    if isinstance(obj, (float, np.floating)) and not np.isfinite(obj):
        return None
    return obj


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder for device_check.json and device_check.md")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: exercises every step in seconds")
    parser.add_argument("--budget-minutes", type=float, default=8.0, help="skip the steps that start past it")
    args = parser.parse_args(argv)
    out = output_folder(args.out)
    record = run(args)
    write_json(out / "device_check.json", undefined_as_none(record))
    write_text(out / "device_check.md", markdown(record))
    print(markdown(record))
    return 0 if record["correctness"]["all_passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
