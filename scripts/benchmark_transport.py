"""Benchmark: one evaluation (all spin-resolved transmissions at one angle), jaxsge vs Kwant.

The paper's junction at Lx = Ly = L, W = 0.6 L: clean, or with disorder K0 in the 2DEG only or
in every layer (the realization of ``jaxsge.core.lattice.disorder_realization(seed, 0, (Lz, Lx,
Ly))``, which Kwant receives as an explicit potential), through each requested solver path
(``--paths``: auto, dense, krylov; a path that does not apply to a case is reported as such).
Times are medians over repeats at different phi (jaxsge after one compiling call, whose time is
reported separately); every spin-resolved transmission, reflections included. Each case runs
in a fresh subprocess, so that its peak memory (maximum resident set size) is its own. Where
Kwant runs too (``--kwant-sizes``), the largest difference of the transmissions at the last
angle is reported with the speed-up.

    .venv/bin/python scripts/benchmark_transport.py [--sizes 30 50] [--kwant-sizes 30] [--paths auto]
        [--disorder clean all] [--repeats 3] [--out F.json]

Kwant comes from ``make kwant`` (``scripts/install_kwant.sh``); ``--kwant-sizes`` with no value
skips it. This is the benchmark behind the jaxsge-versus-Kwant table of docs/performance.md;
``scripts/benchmark_paths.py`` compares the dense and Krylov paths at larger sizes.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import platform
import resource
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
DISORDER = ("clean", "2deg", "all")


def _params(L: int, W: int, disorder: str, K0: float):
    from jaxsge import JunctionParams

    if disorder == "clean":
        return JunctionParams(Lx=L, Ly=L, W=W)
    return JunctionParams(Lx=L, Ly=L, W=W, K0=K0, disorder_layers=disorder)


def _phis(repeats: int):
    import numpy as np

    return [float(v) for v in np.linspace(0.1, 1.0, repeats)]


def _peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20


def _time_jaxsge(L: int, W: int, disorder: str, K0: float, path: str, repeats: int) -> dict:
    import numpy as np

    from jaxsge import transmissions

    p = _params(L, W, disorder, K0)
    start = time.perf_counter()
    r = transmissions(p, path=path)  # returns NumPy arrays: the computation has finished
    first = time.perf_counter() - start
    times = []
    for phi in _phis(repeats):
        start = time.perf_counter()
        r = transmissions(p.replace(phi=phi), path=path)
        times.append(time.perf_counter() - start)
    return {"first_call_s": first, "median_s": statistics.median(times), "times_s": times,
            "solver": r.solver_report, "T_last": np.asarray(r.T).tolist(), "peak_rss_GiB": _peak_rss_gib()}


def kwant_potential(p):
    """V(z, x, y) = K0 t w of realization 0 on the drawn layers (as jaxsge draws it), for Kwant."""
    import jax
    import numpy as np

    from jaxsge.core.lattice import disorder_realization

    with jax.enable_x64(True):
        w = np.array(disorder_realization(p.seed, 0, (p.Lz, p.Lx, p.Ly)))
    if p.disorder_layers == "2deg":
        w[1:] = 0
    return p.K0 * p.t * w


def _time_kwant(L: int, W: int, disorder: str, K0: float, repeats: int) -> dict:
    import numpy as np

    from validation import kwant_junction

    p = _params(L, W, disorder, K0)
    potential = kwant_potential(p)
    times, T = [], None
    for phi in _phis(repeats):
        start = time.perf_counter()
        T, _ = kwant_junction.transmissions(p.Lx, p.Ly, p.Lz, p.W, p.n_barrier, p.t, p.mu, p.alpha3, p.dxc, p.U0,
                                            p.xi, p.theta, phi, potential)
        times.append(time.perf_counter() - start)
    return {"median_s": statistics.median(times), "times_s": times, "T_last": np.asarray(T).tolist(),
            "peak_rss_GiB": _peak_rss_gib()}


def _in_subprocess(call: str) -> dict:
    """Run ``call`` (a call of one of the functions above) in a fresh Python; its result, or {"error": ...}."""
    code = (f"import json, sys; sys.path.insert(0, {str(ROOT)!r}); "
            f"from scripts.benchmark_transport import _time_jaxsge, _time_kwant; print(json.dumps({call}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        return {"error": lines[-1] if lines else f"exit status {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    from jaxsge.plan.plan import SOLVERS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[30, 50], help="Lx = Ly values for jaxsge")
    parser.add_argument("--kwant-sizes", type=int, nargs="*", default=[30], help="Lx = Ly values also run with Kwant")
    parser.add_argument("--paths", nargs="+", choices=SOLVERS, default=["auto"], help="solver paths of jaxsge")
    parser.add_argument("--disorder", nargs="+", choices=DISORDER, default=["clean"],
                        help="clean, disorder in the 2DEG only (2deg) or in every layer (all)")
    parser.add_argument("--K0", type=float, default=0.5, help="disorder strength of the disordered cases (units of t)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls (angles) after the first")
    parser.add_argument("--out", help="write the results as JSON")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    from jaxsge.io.files import output_file, write_json

    out = output_file(args.out) if args.out else None  # an unwritable --out fails before the run

    import jax
    import numpy as np

    machine = {"machine": platform.processor() or platform.machine(), "devices": jax.device_count(),
               "platform": jax.devices()[0].platform, "jax": jax.__version__}
    print(f"machine: {machine['machine']}, {machine['devices']} x {machine['platform']}, jax {machine['jax']}")
    rows = []
    for L in args.sizes:
        W = round(0.6 * L)
        for disorder in args.disorder:
            kwant = None
            if L in args.kwant_sizes:  # Kwant is slow: at most two angles
                kwant_repeats = max(1, min(args.repeats, 2))
                kwant = _in_subprocess(f"_time_kwant({L}, {W}, {disorder!r}, {args.K0!r}, {kwant_repeats})")
            for path in args.paths:
                res = _in_subprocess(f"_time_jaxsge({L}, {W}, {disorder!r}, {args.K0!r}, {path!r}, {args.repeats})")
                row = {"L": L, "W": W, "disorder": disorder, "K0": 0.0 if disorder == "clean" else args.K0,
                       "path_requested": path, **res}
                label = f"Lx=Ly={L} W={W} {disorder:5s} --path {path:6s}"
                if "error" in res:
                    rows.append(row)
                    print(f"{label}: failed: {res['error']}", flush=True)
                    continue
                line = (f"{label} ({res['solver']['path']}): median {res['median_s']:.3f} s "
                        f"(first call {res['first_call_s']:.1f} s), peak RSS {res['peak_rss_GiB']:.2f} GiB")
                if kwant is not None and "error" not in kwant:
                    ours, theirs = np.asarray(res["T_last"]), np.asarray(kwant["T_last"])
                    row.update(kwant_median_s=kwant["median_s"], kwant_peak_rss_GiB=kwant["peak_rss_GiB"],
                               speedup_vs_kwant=kwant["median_s"] / res["median_s"],
                               max_abs_difference_vs_kwant=float(np.abs(ours - theirs).max()))
                    line += (f" | Kwant median {kwant['median_s']:.1f} s, peak RSS {kwant['peak_rss_GiB']:.2f} GiB"
                             f" | speed-up {row['speedup_vs_kwant']:.0f}x, max |dT| "
                             f"{row['max_abs_difference_vs_kwant']:.1e}")
                elif kwant is not None:
                    row["kwant_error"] = kwant["error"]
                    line += f" | Kwant failed: {kwant['error']}"
                rows.append(row)
                print(line, flush=True)
    if out is not None:
        write_json(out, {**machine, "repeats": args.repeats, "cases": rows})


if __name__ == "__main__":
    main()
