"""Fig. 3 (b) and (c) of Fleury, Barth, Gorini, PRB 108, L081402 (2023), disorder-averaged.

Full reproduction (meant for a GPU): configs/ensemble_paper.toml, the paper junction
(Lx = Ly = 50, W = 30, Lz = 6), xi = 1.2 Lz and 1.6 Lz, K0 = 0.5 and 1.0 (our choice; the
paper does not state K0), disorder on every layer, 150 realizations, 64 angles: 38,400
disordered evaluations plus 128 clean ones.

    python scripts/fig3_ensemble.py --memory-gib 60          # one 80 GB GPU
    python scripts/fig3_ensemble.py --resume                  # continue an interrupted run

On a GPU lent in calls of at most 9 minutes, with nothing kept between calls but what comes
back, the run goes in pieces through one archive (``--archive``, one compressed .npz of at
most 16 MiB, ``jaxsge.ensemble.store.pack``):

    python scripts/fig3_ensemble.py --archive $OUT/fig3.npz --time-limit 480 --out /tmp/fig3
        # unpacks the archive (when it exists) into --out, computes until no further block of
        # units fits in 480 s, packs every finished unit into the archive; exit status 3: more
        # to do (run the same command again with the archive that came back), 0: complete,
        # and the report (fig3.png, stats.json, ...) is in --out
    python scripts/fig3_ensemble.py --report-from fig3.npz --out results/fig3_ensemble
        # the report of a complete archive, read directly (no unit files, no computation)

``--reduced`` runs the same physics on Lx = Ly = 20, W = 12 with 8 realizations and 32
angles (1,024 disordered evaluations), a few minutes on a 2-core CPU (docs/ensemble.md).
``--study`` is the CPU part of the size study of docs/fig3.md: Lx = Ly = 20 (W = 12) with 150
realizations for both xi and both K0, and Lx = Ly = 30 (W = 18) with 50 realizations for
xi = 1.2 Lz, K0 = 1.0, 32 angles each, into OUT/L20 and OUT/L30 (under an hour on 2 cores).
The device check (scripts/device_check.py) states how long the full run takes on a GPU.
Other arguments go to ``jaxsge ensemble`` unchanged (``--resume``, ``--time-limit``,
``--memory-gib``, ``--coordinator``/``--num-processes``/``--process-id`` or ``--distributed``
for several processes, ``--set name=value``). Figures: OUT/fig3.png (the panels),
OUT/curves.png, OUT/convergence.png; numbers: OUT/ensemble.npz, OUT/stats.json.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jaxsge.cli.ensemble import MORE_TO_DO, spec_of  # noqa: E402
from jaxsge.cli.main import build_parser, main as jaxsge_main  # noqa: E402
from jaxsge.core.precision import x64  # noqa: E402
from jaxsge.ensemble import store  # noqa: E402
from jaxsge.ensemble.report import write_report  # noqa: E402
from jaxsge.io.files import output_folder  # noqa: E402

CONFIG = ROOT / "configs" / "ensemble_paper.toml"
REDUCED = ("Lx=20", "Ly=20", "W=12", "n_realizations=8", "n_phi=32")
STUDY = {"L20": ("Lx=20", "Ly=20", "W=12", "n_realizations=150", "n_phi=32"),
         "L30": ("Lx=30", "Ly=30", "W=18", "n_realizations=50", "n_phi=32", "xi=7.2", "K0=1.0")}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--reduced", action="store_true", help="20 x 20 junction, 8 realizations, 32 angles (CPU)")
    mode.add_argument("--study", action="store_true", help="the CPU size study: 20 x 20 and 30 x 30 (under an hour)")
    parser.add_argument("--out", help="output folder (default results/fig3_ensemble[_reduced|_study])")
    parser.add_argument("--archive", metavar="FILE.npz", help="carry the run in this archive: unpacked into --out "
                        "before the run when it exists, rewritten with every finished unit after it (with --resume)")
    parser.add_argument("--report-from", metavar="FILE.npz", help="write the report of a complete archive into --out "
                        "(no computation)")
    args, rest = parser.parse_known_args(argv)
    name = "reduced" if args.reduced else "study" if args.study else "full"
    out = pathlib.Path(args.out or ROOT / "results" / ("fig3_ensemble" + ("" if name == "full" else f"_{name}")))
    runs = ({"": REDUCED} if args.reduced else STUDY if args.study else {"": ()})
    if args.archive or args.report_from:
        if args.study:
            raise SystemExit("fig3_ensemble: --archive and --report-from take one run (not --study)")
        return archived(args, out, runs[""], rest)
    code = 0
    for sub, overrides in runs.items():
        start = time.perf_counter()
        folder = out / sub if sub else out
        code = jaxsge_main(["ensemble", str(CONFIG), "--out", str(folder), *[f"--set={item}" for item in overrides],
                            *rest])
        print(f"fig3_ensemble: {name} run {sub}, {time.perf_counter() - start:.0f} s (exit code {code}); figure in "
              f"{folder}/fig3.png", flush=True)
        if code:
            break
    return code


def _options(folder: pathlib.Path, overrides, rest):
    return ["ensemble", str(CONFIG), "--out", str(folder), *[f"--set={item}" for item in overrides], *rest]


@x64
def archived(args, out: pathlib.Path, overrides, rest) -> int:
    """One piece of a run carried by ``--archive`` (unpack, run with --resume, pack), or the report of
    ``--report-from``. Exit status: 0 complete, 3 more to do, 2 bad input."""
    options = _options(out, overrides, rest)
    try:
        spec = spec_of(build_parser().parse_args(options))
        if args.report_from:
            meta = write_report(pathlib.Path(args.report_from), spec, output_folder(out))
            print(f"fig3_ensemble: report of {args.report_from} ({meta['n_realizations']} realizations per case) in "
                  f"{out}/fig3.png, stats.json")
            return 0
        archive = pathlib.Path(args.archive)
        if archive.is_file():
            print(f"fig3_ensemble: {store.unpack(archive, output_folder(out), spec)} units unpacked from {archive}",
                  flush=True)
    except ValueError as err:
        print(f"fig3_ensemble: error: {err}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    code = jaxsge_main(options + ["--resume"] * ("--resume" not in rest))
    if code not in (0, MORE_TO_DO):
        return code
    archive.parent.mkdir(parents=True, exist_ok=True)
    packed = store.pack(out, spec, archive)
    state = "complete" if code == 0 else f"more to do (exit status {MORE_TO_DO}): run again"
    print(f"fig3_ensemble: {packed['units']} of {packed['of']} units in {archive} "
          f"({packed['bytes'] / 2 ** 20:.2f} MiB) after {time.perf_counter() - start:.0f} s; {state}", flush=True)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
