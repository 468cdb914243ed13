"""Fig. 3 (b) and (c) of Fleury, Barth, Gorini, PRB 108, L081402 (2023), disorder-averaged.

Full reproduction (meant for a GPU): configs/ensemble_paper.toml, the paper junction
(Lx = Ly = 50, W = 30, Lz = 6), xi = 1.2 Lz and 1.6 Lz, K0 = 0.5 and 1.0 (our choice; the
paper does not state K0), disorder on every layer, 150 realizations, 64 angles: 38,400
disordered evaluations plus 128 clean ones.

    python scripts/fig3_ensemble.py --memory-gib 60          # one 80 GB GPU
    python scripts/fig3_ensemble.py --resume                  # continue an interrupted run

``--reduced`` runs the same physics on Lx = Ly = 20, W = 12 with 8 realizations and 32
angles (1,024 disordered evaluations), a few minutes on a 2-core CPU (docs/ensemble.md).
``--study`` is the CPU part of the size study of docs/fig3.md: Lx = Ly = 20 (W = 12) with 150
realizations for both xi and both K0, and Lx = Ly = 30 (W = 18) with 50 realizations for
xi = 1.2 Lz, K0 = 1.0, 32 angles each, into OUT/L20 and OUT/L30 (under an hour on 2 cores).
The device check (scripts/device_check.py) states how long the full run takes on a GPU.
Other arguments go to ``jaxsge ensemble`` unchanged (``--resume``,
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

from jaxsge.cli.main import main as jaxsge_main  # noqa: E402

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
    args, rest = parser.parse_known_args(argv)
    name = "reduced" if args.reduced else "study" if args.study else "full"
    out = pathlib.Path(args.out or ROOT / "results" / ("fig3_ensemble" + ("" if name == "full" else f"_{name}")))
    runs = ({"": REDUCED} if args.reduced else STUDY if args.study else {"": ()})
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


if __name__ == "__main__":
    raise SystemExit(main())
