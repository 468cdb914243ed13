"""Benchmark of the batching rule (``core.batching.mapping``): a phi scan's angles mapped by vmap or by lax.map.

For each size, the device check's ``scan_batching`` step on this backend: the solver's jitted
program over ``n_phi`` angles of the clean paper junction (Lx = Ly = L, W = 0.6 L, lean
right-hand sides) mapped as the rule says, with ``vmap`` (one chunk under the memory budget),
``lax.map`` (one angle per step) and ``lax.map`` with ``batch_size`` 4, each after its compiling
call (median of one call), per angle against one LU of the same order, and the public
``conversion_scan``. Same process, so the ratios compare.

    PYTHONPATH=. python scripts/benchmark_batching.py --sizes 20,30 --n-phi 16 --out results/batching.json
"""

from __future__ import annotations

import argparse

import jax

from jaxsge.core.precision import x64
from jaxsge.io.files import output_file, write_json
from scripts.device_check import evaluation_parts, scan_batching, summary_line


@x64
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="20,30", help="comma-separated Lx = Ly")
    parser.add_argument("--n-phi", type=int, default=16, help="angles of the scan")
    parser.add_argument("--out", help="write the results as JSON")
    args = parser.parse_args(argv)
    out = output_file(args.out) if args.out else None
    device = jax.devices()[0]
    results = {"device": f"{device.platform}: {device.device_kind}", "jax": jax.__version__, "sizes": []}
    for L in (int(v) for v in args.sizes.split(",")):
        size = dict(L=L, W=round(0.6 * L), n_phi=args.n_phi, repeats=2)
        record = {"timings": {}}
        record["timings"]["evaluation_parts"] = evaluation_parts(size, device, record)
        step = scan_batching(size, device, record)
        results["sizes"].append({"L": L, "evaluation_parts": record["timings"]["evaluation_parts"], "scan": step})
        print(f"L = {L}: {summary_line(step)}", flush=True)
        print(f"L = {L}: {summary_line(record['timings']['evaluation_parts'])}", flush=True)
    if out:
        write_json(out, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
