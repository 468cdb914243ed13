"""The whole device verification in one process: correctness, timings, memory, one JSON + table.

    PYTHONPATH=. python scripts/device_check.py --out results/device_check     # on a GPU (make device-check)
    PYTHONPATH=. python scripts/device_check.py --smoke --out /tmp/smoke       # tiny sizes, any backend
    ... --trace DIR                                                            # also a JAX profiler trace

On whatever JAX backend it finds, it
1. recomputes the reference numbers of ``validation/device_references.py`` (every solver path:
   spin-resolved transmissions, G_sc, G_cs, a derivative, a two-realization ensemble mean) and
   compares them with the stored CPU values to ``DEVICE_TOLERANCE`` (1e-10);
2. times, after compilation (medians; the first call, compilation included, apart), in this order:
   ``lu_dominant_kernel``: one complex LU of order 2 L^2 (5000 at the paper size), as a fraction of
   the device's float64 peak; ``evaluation_parts``: one paper-size clean evaluation (lean right-hand
   sides) taken apart: the junction built and planned on the host (first and cached plan), the
   upper state, the angle's program alone, its LU and its two solves with the side channels
   (jitted separately), the rest of the program (assembly and read-outs: the difference), and
   the host work around the dispatch (the public call minus its programs); ``scan_batching``: a
   64-angle paper-size scan, per angle against the LU, mapped as ``core.batching`` chooses and
   with ``vmap`` and ``lax.map`` side by side, and the public ``conversion_scan``; ``precision``:
   one evaluation and a 64-angle scan with ``precision="double"`` and ``"mixed"`` and their
   largest difference; the sensitivity scan; the ensemble throughput at 30 x 30
   (2DEG only and every layer); one paper-size realization of 64 angles (every layer
   disordered) and from it the estimate of the full run of ``scripts/fig3_ensemble.py`` (2 xi x
   2 K0 x 150 realizations x 64 angles); ``dense_L200``: one dense evaluation at L = 200
   predicted from the measured LU rate (n^3 scaling of the LU of order 5000), run when the memory
   rule and the time left allow (in mixed precision when only that fits); ``krylov_L200_clean``
   and ``krylov_L200_2deg_K0.5``: the Krylov path at L = 200, first call; peak device memory after
   each (the device's own statistics; on CPU the process's peak resident size);
3. writes ``device_check.json`` and ``device_check.md`` to ``--out`` and, with ``--trace DIR``, a
   JAX profiler trace of paper-size evaluations (``jax.profiler.trace``) packed into one file,
   ``DIR/jax_trace.tar.gz`` (TensorBoard's profile plugin or Perfetto read it): at most 3 files.

Every step has a budget (``STEP_BUDGET_S``, seconds on an H100/H200-class GPU) or a prediction
from the steps before it; a step whose prediction exceeds the time left of ``--budget-minutes``
(default 8, so that the whole call stays under 9 minutes) is skipped and says why. The script
needs nothing but JAX, NumPy and the repository (run it from the repository root with
``PYTHONPATH=.``). Exit status 1 when a correctness check fails.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import platform
import resource
import shutil
import statistics
import sys
import tarfile
import tempfile
import time
import traceback

import jax
import jaxlib
import numpy as np

from jaxsge import JunctionParams, __version__, junction, transmissions
from jaxsge.core.batching import VMAP, Mapping, available_memory, chunk_size, mapping, memory_budget
from jaxsge.core.linalg import lu_factor, lu_solve
from jaxsge.core.precision import x64
from jaxsge.io.files import output_folder, write_json, write_text
from jaxsge.observables.scan import conversion_scan
from jaxsge.observables.sensitivity import sensitivities
from jaxsge.solve.transmissions import angles_at, evaluation_bytes, evaluation_order, plan_for, upper_at
from scripts.benchmark_ensemble import cpu_peak_gflops, time_case
from validation import device_references

# Nominal float64 peaks (GFLOP/s, tensor-core FP64 where there is one), from the vendors' data sheets.
FLOAT64_PEAK_GFLOPS = {"H200": 67_000.0, "H100 SXM": 67_000.0, "H100 PCIe": 51_000.0, "H100": 67_000.0,
                       "A100": 19_500.0, "V100": 7_800.0}
FIG3_FULL = dict(xi=2, K0=2, realizations=150, n_phi=64)

SIZES = {  # full run (one H100-class GPU) / --smoke (CPU, seconds)
    False: dict(L=50, W=30, n_phi=64, sens_L=50, sens_W=30, sens_phi=16, ens_L=30, ens_units=3, ens_phi=16,
                big_L=200, big_W=120, repeats=3),
    True: dict(L=10, W=6, n_phi=4, sens_L=8, sens_W=4, sens_phi=2, ens_L=8, ens_units=1, ens_phi=4,
               big_L=12, big_W=7, repeats=2),
}
# The most each step may take (seconds, compilation included) on an H100/H200-class GPU, from the
# figures measured on an H200 (2026-12-04, version 0.2.0) with a margin; a step starts only when its
# budget (or its prediction from the steps before it, where there is one) fits the time left.
STEP_BUDGET_S = {"lu_dominant_kernel": 10, "evaluation_parts": 40, "trace": 30, "scan_batching": 150, "precision": 90,
                 "sensitivity_scan": 30, "ensemble_2deg": 30, "ensemble_every_layer": 30, "fig3_full_unit": 70,
                 "dense_L200": 180, "krylov_L200_clean": 90, "krylov_L200_2deg_K0.5": 120}
# Compilation of one program at the paper size, the part of a prediction that is not the LU's.
COMPILE_S = 20.0
PRECISIONS = ("double", "mixed")


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


def random_matrix(N: int):
    return jax.numpy.asarray(np.random.default_rng(0).normal(size=(N, N)) + 4 * np.eye(N), dtype=complex)


def lu_kernel(N: int, device) -> dict:
    a = random_matrix(N)
    lu = jax.jit(lambda m: lu_factor(m)[0])
    out = timed(lambda _: jax.block_until_ready(lu(a)), [0, 1, 2], device)
    gflops = 8 / 3 * N ** 3 / 1e9 / out["median_s"]
    peak = device_peak_gflops(device)
    return {**out, "order": N, "gflops": gflops, "peak_gflops": peak, "fraction_of_float64_peak": gflops / peak}


class Prepared:
    """A clean paper-size junction, its plan and the arguments of the solver's jitted programs
    (``solve.transmissions.upper_at`` and ``angles_at``): what the public call dispatches."""

    def __init__(self, L: int, W: int):
        self.p = paper(L, W)
        self.stack = junction(self.p)
        self.plan = plan_for(self.stack, self.p.mu)
        self.base = self.stack.replace(theta=0.0, phi=0.0)
        self.how = mapping(evaluation_order(self.stack, self.plan))
        self.upper = jax.block_until_ready(upper_at(self.base, self.p.mu, 0, self.plan))

    def angles(self, phi, how=None):
        phi = np.atleast_1d(np.asarray(phi, dtype=float))
        theta = np.full(phi.shape, float(self.p.theta))
        return jax.block_until_ready(angles_at(self.base, theta, phi, self.p.mu, 0, self.upper, self.plan, False, False,
                                               self.how if how is None else how))


def evaluation_parts(size: dict, device, record: dict) -> dict:
    """One paper-size clean evaluation (one angle, lean right-hand sides) taken apart (module docstring)."""
    L, W = size["L"], size["W"]
    repeats = range(size["repeats"] + 1)
    start = time.perf_counter()
    p = paper(L, W, phi=0.1)
    stack = junction(p)
    build = time.perf_counter() - start
    start = time.perf_counter()
    pl = plan_for(stack, p.mu)
    plan_first = time.perf_counter() - start
    start = time.perf_counter()
    plan_for(stack, p.mu)
    plan_cached = time.perf_counter() - start
    prep = Prepared(L, W)
    upper = timed(lambda _: jax.block_until_ready(upper_at(prep.base, p.mu, 0, pl)), list(repeats), device)
    angle = timed(lambda k: prep.angles(0.1 * (k + 1)), list(repeats), device)
    public = timed(lambda k: transmissions(paper(L, W, phi=0.1 * (k + 1)), reflection=False), list(repeats), device)
    m = evaluation_order(stack, pl)
    a = random_matrix(m)
    factor = jax.jit(lu_factor)
    lu = timed(lambda _: jax.block_until_ready(factor(a)), list(repeats), device)
    factors = factor(a)
    n_side = sum(len(c) for c in pl.side_channels)  # the lean right-hand sides: x = G u, then y = G^T v
    b = jax.numpy.asarray(np.random.default_rng(1).normal(size=(m, n_side)), dtype=complex)
    both = jax.jit(lambda f, b: (lu_solve(f, b), lu_solve(f, b, transpose=True)))
    solves = timed(lambda _: jax.block_until_ready(both(factors, b)), list(repeats), device)
    rest = angle["median_s"] - lu["median_s"] - solves["median_s"]
    host = public["median_s"] - angle["median_s"] - upper["median_s"]
    return {"L": L, "W": W, "order": m, "right_hand_sides": 2 * n_side, "mapping": prep.how._asdict(),
            "host_build_junction_s": build, "host_plan_first_s": plan_first, "host_plan_cached_s": plan_cached,
            "upper_state": upper, "angle_program": angle, "public_call": public, "lu": lu, "solves": solves,
            "assembly_and_readouts_s": rest, "host_around_dispatch_s": host,
            "parts_of_the_public_call": {"lu": lu["median_s"] / public["median_s"],
                                         "solves": solves["median_s"] / public["median_s"],
                                         "assembly_and_readouts": rest / public["median_s"],
                                         "upper_state": upper["median_s"] / public["median_s"],
                                         "host": host / public["median_s"]},
            "public_over_lu": public["median_s"] / lu["median_s"], **peak_memory(device)}


def scan_batching(size: dict, device, record: dict) -> dict:
    """Per angle of a 64-angle paper-size scan: the solver's program over the angles mapped as the
    batching rule says, and with vmap and lax.map side by side; then the public conversion_scan."""
    prep = Prepared(size["L"], size["W"])
    n = size["n_phi"]
    phi = 2 * np.pi * np.arange(n) / n
    lu = record["timings"].get("evaluation_parts", {}).get("lu", {}).get("median_s")
    per_eval = evaluation_bytes(prep.stack, prep.plan, False)
    chunk = chunk_size(per_eval, memory_budget(), n, "of the scan")
    variants = {"rule": prep.how, "vmap": VMAP, "lax.map": Mapping("map", 1), "lax.map_batch_4": Mapping("map", 4)}
    out = {"n_phi": n, "rule": prep.how._asdict(), "vmap_chunk": chunk, "variants": {}}
    for name, how in variants.items():
        if name != "rule" and how == prep.how:
            out["variants"][name] = {"same_as": "rule"}
            continue
        step = chunk if how.kind == "vmap" else n  # a loop holds one evaluation at a time

        def run(shift, how=how, step=step):
            for k in range(0, n, step):
                piece = phi[k:k + step] + shift
                prep.angles(np.pad(piece, (0, step - piece.size), mode="edge"), how)

        t = timed(run, [0.0, 0.01], device)
        t["per_angle_s"] = t["median_s"] / n
        if lu:
            t["per_angle_over_lu"] = t["per_angle_s"] / lu
        out["variants"][name] = t
    scan = timed(lambda shift: conversion_scan(prep.p, phi=phi + shift), [0.0, 0.01], device)
    scan["per_angle_s"] = scan["median_s"] / n
    if lu:
        scan["per_angle_over_lu"] = scan["per_angle_s"] / lu
    out["conversion_scan"] = scan
    return {**out, **peak_memory(device)}


def precision_step(size: dict, device, record: dict) -> dict:
    """Both precisions: one evaluation and a 64-angle scan each, and how far mixed is from double."""
    L, W, n = size["L"], size["W"], size["n_phi"]
    phi = 2 * np.pi * np.arange(n) / n
    lu = record["timings"].get("evaluation_parts", {}).get("lu", {}).get("median_s")
    out, T = {}, {}
    for precision in PRECISIONS:
        one = timed(lambda k, precision=precision: transmissions(paper(L, W, phi=0.1 * (k + 1)), reflection=False,
                                                                 precision=precision),
                    list(range(size["repeats"] + 1)), device)
        r = transmissions(paper(L, W, phi=0.1), reflection=False, precision=precision)
        T[precision] = np.asarray(r.T)
        scan = timed(lambda shift, precision=precision: conversion_scan(paper(L, W), phi=phi + shift,
                                                                        precision=precision), [0.0, 0.01], device)
        scan["per_angle_s"] = scan["median_s"] / n
        out[precision] = {"evaluation": one, "scan": scan, "solver": r.solver_report,
                          **({"evaluation_over_lu": one["median_s"] / lu, "scan_per_angle_over_lu":
                              scan["per_angle_s"] / lu} if lu else {})}
    out["max_abs_T_difference_mixed_double"] = float(np.abs(T["mixed"] - T["double"]).max())
    return {**out, **peak_memory(device)}


def dense_big(size: dict, device, record: dict, time_left: float) -> dict:
    """One dense evaluation at L = big_L, predicted from the measured LU rate (n^3 scaling), run
    when the memory rule and the time left allow; the largest L of each path by the memory rule."""
    L, W = size["big_L"], size["big_W"]
    memory = 0.9 * available_memory(device)
    out = {"L": L, "W": W, "largest_L_fitting_dense": largest_fitting_L(memory, 400),
           "largest_L_fitting_krylov": largest_fitting_L(memory, 400, "krylov"), "memory_bytes_for_rule": memory}
    lu = record["timings"].get("lu_dominant_kernel", {})
    p = paper(L, W, phi=0.1)
    s = junction(p)
    N = s.N
    need = 16.0 * 1.25 * N ** 2  # the lowest layer's matrix and the LU's workspace (the memory rule's dense term)
    out.update(order=N, needs_bytes_double=need)
    if "median_s" not in lu:
        out["not_run"] = "no LU timing to predict from"
        return out
    predicted = lu["median_s"] * (N / lu["order"]) ** 3
    out["predicted_lu_s"] = predicted
    out["predicted_s"] = predicted + COMPILE_S
    precision = "double" if need <= memory else "mixed" if need / 2 <= memory else None
    if precision is None:
        out["not_run"] = (f"the dense matrix of order {N} needs {need / 2 ** 30:.0f} GiB in complex128, more than the "
                          f"{memory / 2 ** 30:.0f} GiB of the rule")
        return out
    if out["predicted_s"] > time_left:
        out["not_run"] = f"predicted {out['predicted_s']:.0f} s, more than the {time_left:.0f} s left"
        return out
    options = {} if precision == "double" else {"precision": precision}
    start = time.perf_counter()
    r = transmissions(p, path="dense", reflection=False, **options)
    out.update(precision=precision, seconds_first_call=time.perf_counter() - start, solver=r.solver_report,
               conservation_residual=float(np.max(r.conservation_residual())), **peak_memory(device))
    return out


def krylov_big(size: dict, device, **changes) -> dict:
    L, W = size["big_L"], size["big_W"]
    start = time.perf_counter()
    r = transmissions(paper(L, W, phi=0.1, **changes), path="krylov", reflection=False)
    return {"L": L, "W": W, **changes, "seconds_first_call": time.perf_counter() - start, "solver": r.solver_report,
            "conservation_residual": float(np.max(r.conservation_residual())), **peak_memory(device)}


def trace(size: dict, folder: pathlib.Path) -> dict:
    """A JAX profiler trace of two paper-size evaluations and an 8-angle chunk, packed into one file."""
    prep = Prepared(size["L"], size["W"])
    prep.angles(np.linspace(0, 1, 8))  # compiled outside the trace
    raw = pathlib.Path(tempfile.mkdtemp(prefix="jaxsge-trace-"))
    try:
        with jax.profiler.trace(str(raw)):
            for k in range(2):
                transmissions(paper(size["L"], size["W"], phi=0.1 * (k + 1)), reflection=False)
            prep.angles(np.linspace(0, 1, 8) + 0.01)
        archive = output_folder(folder) / "jax_trace.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            tar.add(raw, arcname="jax_trace")
    finally:
        shutil.rmtree(raw, ignore_errors=True)
    return {"archive": str(archive), "bytes": archive.stat().st_size,
            "contains": "two public paper-size evaluations and one 8-angle chunk of the solver's program"}


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
              "step_budgets_s": STEP_BUDGET_S, "correctness": {}, "timings": {}, "skipped": []}

    # 1. Correctness against the stored CPU references.
    stored = device_references.load()
    values = device_references.compute()
    checks = device_references.compare(values, stored)
    record["correctness"] = {"tolerance": device_references.DEVICE_TOLERANCE, "checks": checks,
                             "all_passed": all(c["passed"] for c in checks.values()),
                             "paths": {name: values[name]["path"] for name in values if "path" in values[name]},
                             "seconds": time.perf_counter() - started}
    print(f"correctness: {sum(c['passed'] for c in checks.values())}/{len(checks)} quantities within "
          f"{device_references.DEVICE_TOLERANCE:g}", flush=True)

    # 2. Timings, each after its compilation, each within its budget.
    L = size["L"]
    left = lambda: budget - (time.perf_counter() - started)  # noqa: E731
    timings = record["timings"]

    def lu_at_paper():
        return timings.get("lu_dominant_kernel", {}).get("median_s")

    def scan_prediction():  # four 64-angle passes of two calls each and the public scan, vmap up to 3x slower
        angle = timings.get("evaluation_parts", {}).get("angle_program", {}).get("median_s")
        return None if angle is None else 4 * COMPILE_S + 2 * size["n_phi"] * angle * (1 + 3 + 1 + 1 + 1)

    steps = [
        ("lu_dominant_kernel", None, lambda: lu_kernel(2 * L * L, device)),
        ("evaluation_parts", None, lambda: evaluation_parts(size, device, record)),
        ("scan_batching", scan_prediction, lambda: scan_batching(size, device, record)),
        ("precision", None, lambda: precision_step(size, device, record)),
        ("sensitivity_scan", None, lambda: {**timed(lambda shift: sensitivities(
            paper(size["sens_L"], size["sens_W"]), ("alpha3", "xi"),
            phi=shift + 2 * np.pi * np.arange(size["sens_phi"]) / size["sens_phi"]), [0.0, 0.01], device),
            "L": size["sens_L"], "n_phi": size["sens_phi"], "wrt": ["alpha3", "xi"]}),
        ("ensemble_2deg", None, lambda: {**time_case(size["ens_L"], "2deg", size["ens_units"], size["ens_phi"]),
                                         **peak_memory(device)}),
        ("ensemble_every_layer", None, lambda: {**time_case(size["ens_L"], "all", size["ens_units"], size["ens_phi"]),
                                                **peak_memory(device)}),
        ("fig3_full_unit", None, lambda: {**time_case(L, "all", 1, FIG3_FULL["n_phi"]), **peak_memory(device)}),
        ("dense_L200", lambda: None if lu_at_paper() is None else
         lu_at_paper() * (2 * size["big_L"] ** 2 / (2 * L * L)) ** 3 + COMPILE_S,
         lambda: dense_big(size, device, record, left())),
        ("krylov_L200_clean", None, lambda: krylov_big(size, device)),
        ("krylov_L200_2deg_K0.5", None, lambda: krylov_big(size, device, K0=0.5, disorder_layers="2deg")),
    ]
    if args.trace:
        steps.insert(2, ("trace", None, lambda: trace(size, pathlib.Path(args.trace))))
    for name, predict, step in steps:
        predicted = predict() if predict is not None else None
        need = STEP_BUDGET_S[name] if predicted is None or args.smoke else predicted
        if need > left():
            record["skipped"].append(f"{name}: {'predicted' if predicted is not None else 'budget'} {need:.0f} s, "
                                     f"more than the {max(left(), 0):.0f} s left of {args.budget_minutes:g} min")
            continue
        start = time.perf_counter()
        try:
            timings[name] = step()
        except Exception as error:  # a failed step is recorded, the others still run
            timings[name] = {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc(limit=4)}
        timings[name]["step_seconds"] = time.perf_counter() - start
        print(f"{name}: {summary_line(timings[name])}", flush=True)
    unit = timings.get("fig3_full_unit", {})
    if "seconds_per_unit" in unit:
        n_units = FIG3_FULL["xi"] * FIG3_FULL["K0"] * FIG3_FULL["realizations"]
        record["fig3_full_estimate_s"] = n_units * unit["seconds_per_unit"]
        record["fig3_full_fits_budget"] = record["fig3_full_estimate_s"] < budget
    record["seconds"] = time.perf_counter() - started
    return record


def _s(x) -> str:
    return f"{x:.3g} s"


def summary_line(t: dict) -> str:
    if "error" in t:
        return t["error"]
    if "seconds_per_evaluation" in t:
        return (f"L = {t['Lx']}, {t['n_phi']} angles per realization: {t['seconds_per_evaluation']:.4g} s/evaluation "
                f"({t['evaluations_per_second']:.3g}/s), first call {t['first_call_s']:.3g} s, peak "
                f"{t['peak_bytes'] / 2 ** 30:.2f} GiB")
    if "parts_of_the_public_call" in t:
        shares = ", ".join(f"{k} {v:.0%}" for k, v in t["parts_of_the_public_call"].items())
        return (f"L = {t['L']}: public call {_s(t['public_call']['median_s'])} = {t['public_over_lu']:.2f} x LU "
                f"({_s(t['lu']['median_s'])}, order {t['order']}); solves {_s(t['solves']['median_s'])}, assembly + "
                f"read-outs {_s(t['assembly_and_readouts_s'])}, upper state {_s(t['upper_state']['median_s'])}, host "
                f"{_s(t['host_around_dispatch_s'])} (build {_s(t['host_build_junction_s'])}, plan "
                f"{_s(t['host_plan_first_s'])} then {_s(t['host_plan_cached_s'])} cached); shares: {shares}")
    if "variants" in t:
        parts = [f"{name} ({v.get('same_as', '')}" + ")" if "same_as" in v else
                 f"{name}: {v['per_angle_s'] * 1e3:.4g} ms/angle" + (f" = {v['per_angle_over_lu']:.2f} x LU"
                                                                  if "per_angle_over_lu" in v else "")
                 for name, v in t["variants"].items()]
        c = t["conversion_scan"]
        parts.append(f"conversion_scan {c['per_angle_s'] * 1e3:.4g} ms/angle"
                     + (f" = {c['per_angle_over_lu']:.2f} x LU" if "per_angle_over_lu" in c else ""))
        return f"{t['n_phi']} angles, rule {t['rule']['kind']}: " + "; ".join(parts)
    if "max_abs_T_difference_mixed_double" in t:
        return "; ".join(f"{k}: evaluation {_s(t[k]['evaluation']['median_s'])}, scan "
                         f"{t[k]['scan']['per_angle_s'] * 1e3:.4g} ms/angle" for k in PRECISIONS) + \
            f"; max |T_mixed - T_double| = {t['max_abs_T_difference_mixed_double']:.2e}"
    if "largest_L_fitting_dense" in t:
        head = (f"L = {t['L']} (order {t['order']}): LU predicted {t.get('predicted_lu_s', float('nan')):.3g} s from "
                f"the measured rate; largest L by the memory rule {t['largest_L_fitting_dense']} (dense), "
                f"{t['largest_L_fitting_krylov']} (Krylov)")
        if "not_run" in t:
            return f"{head}; not run: {t['not_run']}"
        return f"{head}; ran in {t['precision']}: first call {_s(t['seconds_first_call'])}"
    if "seconds_first_call" in t:
        return (f"L = {t['L']}: first call {_s(t['seconds_first_call'])}, {t['solver'].get('iterations', '-')} "
                f"iterations, peak {t['peak_bytes'] / 2 ** 30:.2f} GiB")
    if "archive" in t:
        return f"{t['archive']} ({t['bytes'] / 2 ** 20:.2f} MiB)"
    parts = [f"first {t['first_call_s']:.3g} s", f"median {t['median_s']:.3g} s"] if "median_s" in t else []
    if "fraction_of_float64_peak" in t:
        parts.append(f"{t['gflops']:.4g} GFLOP/s = {t['fraction_of_float64_peak']:.2%} of float64 peak")
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
    parser.add_argument("--budget-minutes", type=float, default=8.0,
                        help="skip the steps whose budget or prediction exceeds what is left of it")
    parser.add_argument("--trace", metavar="DIR", help="also write a JAX profiler trace of paper-size evaluations "
                        "to DIR/jax_trace.tar.gz")
    args = parser.parse_args(argv)
    out = output_folder(args.out)
    record = run(args)
    write_json(out / "device_check.json", undefined_as_none(record))
    write_text(out / "device_check.md", markdown(record))
    print(markdown(record))
    return 0 if record["correctness"]["all_passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
