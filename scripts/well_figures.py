"""Regenerate the quantum-well figures of docs/ (docs/quantum_well.md) from configs/well_paper.toml.

Usage: .venv/bin/python scripts/well_figures.py [OUT_DIR]  (default results/well_paper; about
2 min of CPU time on a 2-core CPU, docs/quantum_well.md). Writes well.npz, well.json and the pngs
to OUT_DIR, replacing a previous well result there, and copies the pngs to docs/ (names
well_fig*.png).
"""

import pathlib
import shutil
import sys

from jaxsge.well.config import load_well_config
from jaxsge.well.figures import well_report

ROOT = pathlib.Path(__file__).resolve().parents[1]


def main(out_dir=None) -> None:
    out = pathlib.Path(out_dir or ROOT / "results" / "well_paper")
    params, sections = load_well_config(ROOT / "configs" / "well_paper.toml")
    meta = well_report(params, sections, out, progress=True, command=sys.argv, overwrite=True)
    for name in meta["files"]["figures"]:
        shutil.copy(out / name, ROOT / "docs" / name)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
