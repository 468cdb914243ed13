"""Fig. 3 (b) and (c) of Fleury, Barth, Gorini, PRB 108, L081402 (2023), disorder-averaged.

Full reproduction (meant for a GPU): configs/ensemble_paper.toml, the paper junction
(Lx = Ly = 50, W = 30, Lz = 6), xi = 1.2 Lz and 1.6 Lz, K0 = 0.5 and 1.0 (our choice; the
paper does not state K0), disorder on every layer, 150 realizations, 64 angles: 38,400
disordered evaluations plus 128 clean ones.

    python scripts/fig3_ensemble.py --memory-gib 60          # one 80 GB GPU
    python scripts/fig3_ensemble.py --resume                  # continue an interrupted run

``--reduced`` runs the same physics on Lx = Ly = 20, W = 12 with 8 realizations and 32
angles (1,024 disordered evaluations), which finishes on a 2-core CPU in about 10 minutes
(docs/ensemble.md). Other arguments go to ``jaxsge ensemble`` unchanged (``--resume``,
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

from jaxsge.ensemble_cli import main as ensemble_main  # noqa: E402

CONFIG = ROOT / "configs" / "ensemble_paper.toml"
REDUCED = ("Lx=20", "Ly=20", "W=12", "n_realizations=8", "n_phi=32")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reduced", action="store_true", help="20 x 20 junction, 8 realizations, 32 angles (CPU)")
    parser.add_argument("--out", help="output folder (default results/fig3_ensemble[_reduced])")
    args, rest = parser.parse_known_args(argv)
    out = args.out or str(ROOT / "results" / ("fig3_ensemble_reduced" if args.reduced else "fig3_ensemble"))
    overrides = [f"--set={item}" for item in REDUCED] if args.reduced else []
    start = time.perf_counter()
    code = ensemble_main(["ensemble", str(CONFIG), "--out", out, *overrides, *rest])
    print(f"fig3_ensemble: {'reduced' if args.reduced else 'full'} run, {time.perf_counter() - start:.0f} s in total "
          f"(exit code {code}); figure in {out}/fig3.png")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
