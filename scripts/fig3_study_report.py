"""What survives disorder averaging and size in Fig. 3: the report of the size study.

Reads the ensemble runs of ``scripts/fig3_ensemble.py --study`` (OUT/L20, OUT/L30, and any
other OUT/L* folder, e.g. a paper-size run copied from a GPU) and, per size and case (xi, K0)
and for the clean junction, computes from the realizations:

* g_sc(phi) = |<G_sc>| / max of the disorder-averaged conductances, its jackknife standard error;
* the angular harmonics A_m (m = 0..8) of |<G_sc>|(phi) in e^2/h with jackknife errors, and the
  four-fold weight A_4 / A_0;
* the local maxima of g_sc on [0, pi/2) (its pi/2 period: the clean square junction has it
  exactly, the average up to noise), min/max of g_sc, and whether the maxima are split
  (two maxima in [0, pi/2) with a minimum between them);
* convergence: the largest change of g_sc since half the realizations.

    python scripts/fig3_study_report.py results/fig3_ensemble_study --out docs

Writes OUT/fig3_study.json and OUT/fig3_study.png (polar panels with error bands, harmonics).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jaxsge.ensemble.stats import jackknife  # noqa: E402
from jaxsge.io.files import output_folder, write_figure, write_json  # noqa: E402
from jaxsge.observables.harmonics import angular_harmonics, default_order, local_maxima  # noqa: E402
from jaxsge.observables.scan import normalised_amplitude as normalised  # noqa: E402



def features(phi, g) -> dict:
    """Shape of one normalised curve: its local maxima on [0, 2 pi), min/max, and the curve folded
    onto one quadrant (the mean of g over phi + k pi/2, k = 0..3: the four-fold part of the shape)."""
    folded = g.reshape(4, -1).mean(0) if g.size % 4 == 0 else None
    out = {"phi_of_maxima": local_maxima(phi, g), "min_over_max": float(g.min() / g.max())}
    if folded is not None:
        quarter = phi[: folded.size]
        maxima = local_maxima(quarter, folded)  # periodic with period pi/2, as local_maxima assumes
        out.update({"folded_quadrant": folded.tolist(), "phi_of_maxima_of_folded": maxima,
                    "split_maxima_of_folded": len(maxima) >= 2})
    return out


def case_summary(phi, gx, gy) -> dict:
    """gx, gy: (n_realizations, n_phi) samples of one case."""
    n = gx.shape[0]
    mean_x, mean_y = gx.mean(0), gy.mean(0)
    g = normalised(mean_x, mean_y)
    g_err = jackknife(normalised, gx, gy)
    amplitude = lambda a, b: angular_harmonics(np.hypot(a, b), default_order(phi.size))  # noqa: E731
    harmonics = amplitude(mean_x, mean_y)
    harmonics_err = jackknife(amplitude, gx, gy)
    ratio = lambda a, b: amplitude(a, b)[..., 4] / amplitude(a, b)[..., 0]  # noqa: E731
    half = max(n // 2, 1)
    out = {"n_realizations": int(n), "g_sc": g.tolist(), "g_sc_stderr": g_err.tolist(),
           "max_g_sc_stderr": float(g_err.max()), "harmonics_abs_Gsc": harmonics.tolist(),
           "harmonics_abs_Gsc_stderr": harmonics_err.tolist(),
           "fourfold_weight_A4_over_A0": float(ratio(mean_x, mean_y)),
           "fourfold_weight_stderr": float(jackknife(ratio, gx, gy)),
           "g_sc_change_since_half_the_realizations": float(np.abs(normalised(gx[:half].mean(0), gy[:half].mean(0))
                                                                   - g).max()),
           **features(phi, g)}
    # Whether min/max and the maxima are resolved: the same features of the mean +- one error.
    out["min_over_max_stderr"] = float(jackknife(lambda a, b: normalised(a, b).min(-1), gx, gy))
    return out


def clean_summary(phi, gx, gy) -> dict:
    g = normalised(gx, gy)
    harmonics = angular_harmonics(np.hypot(gx, gy), default_order(phi.size))
    return {"g_sc": g.tolist(), "harmonics_abs_Gsc": harmonics.tolist(),
            "fourfold_weight_A4_over_A0": float(harmonics[4] / harmonics[0]), **features(phi, g)}


def load_run(folder: pathlib.Path) -> dict:
    data = np.load(folder / "ensemble.npz")
    stats = json.loads((folder / "stats.json").read_text())
    system = stats["identity"]["system"]["params"]
    phi = data["phi"]
    xis, k0s = data["case_xi"], data["case_K0"]
    run = {"Lx": system["Lx"], "Ly": system["Ly"], "W": system["W"], "disorder_layers": system["disorder_layers"],
           "n_phi": int(phi.size), "cases": [], "clean": []}
    gy_all = data["Gsc_y"] if "Gsc_y" in data else np.zeros_like(data["Gsc_x"])
    clean_y = data["clean_Gsc_y"] if "clean_Gsc_y" in data else np.zeros_like(data["clean_Gsc_x"])
    for i, xi in enumerate(xis):
        run["clean"].append({"xi": float(xi), **clean_summary(phi, data["clean_Gsc_x"][i], clean_y[i])})
        for k, k0 in enumerate(k0s):
            run["cases"].append({"xi": float(xi), "K0": float(k0),
                                 **case_summary(phi, data["Gsc_x"][i, k], gy_all[i, k])})
    return run


def plot(runs: dict, phi_of: dict, path) -> None:
    import matplotlib
    from matplotlib.figure import Figure  # no pyplot: the user's backend is left alone

    panels = [(name, xi) for name, run in runs.items() for xi in sorted({c["xi"] for c in run["cases"]})]
    fig = Figure(figsize=(3.4 * len(panels), 7.0))
    strengths = sorted({c["K0"] for run in runs.values() for c in run["cases"]})
    palette = matplotlib.colormaps["viridis"](np.linspace(0.15, 0.8, max(len(strengths), 2)))
    colors = {k0: palette[i] for i, k0 in enumerate(strengths)}
    for j, (name, xi) in enumerate(panels):
        run, phi = runs[name], phi_of[name]
        ax = fig.add_subplot(2, len(panels), j + 1, projection="polar")
        closed = np.append(phi, phi[0] + 2 * np.pi)
        for c in run["clean"]:
            if c["xi"] == xi:
                ax.plot(closed, np.append(c["g_sc"], c["g_sc"][0]), color="k", lw=1.0, label="clean")
        hax = fig.add_subplot(2, len(panels), len(panels) + j + 1)
        width = 0.8 / (1 + sum(c["xi"] == xi for c in run["cases"]))
        for k, c in enumerate([c for c in run["cases"] if c["xi"] == xi]):
            g, e = np.asarray(c["g_sc"]), np.asarray(c["g_sc_stderr"])
            label = f"K0 = {c['K0']:g} (n = {c['n_realizations']})"
            ax.plot(closed, np.append(g, g[0]), color=colors[c["K0"]], lw=1.4, label=label)
            ax.fill_between(closed, np.append(g - e, g[0] - e[0]), np.append(g + e, g[0] + e[0]),
                            color=colors[c["K0"]], alpha=0.3, lw=0)
            h = np.asarray(c["harmonics_abs_Gsc"])
            he = np.asarray(c["harmonics_abs_Gsc_stderr"])
            m = np.arange(h.size)
            hax.bar(m[1:] + (k + 1) * width - 0.4, h[1:] / h[0], width, yerr=he[1:] / h[0], color=colors[c["K0"]],
                    label=label, capsize=2)
        for c in run["clean"]:
            if c["xi"] == xi:
                h = np.asarray(c["harmonics_abs_Gsc"])
                hax.bar(np.arange(1, h.size) - 0.4, h[1:] / h[0], width, color="k", label="clean")
        ax.set_title(f"{name}: {run['Lx']} x {run['Ly']}, xi = {xi / 6:.1f} Lz", fontsize=9, pad=14)
        ax.set_rticks([0.5, 1.0])
        ax.tick_params(labelsize=7)
        hax.set_xlabel("harmonic m of |<G_sc>|(phi)", fontsize=8)
        hax.set_ylabel("A_m / A_0", fontsize=8)
        hax.tick_params(labelsize=7)
        ax.legend(loc="upper left", bbox_to_anchor=(-0.35, -0.05), fontsize=7, frameon=False)
    fig.suptitle("Disorder-averaged g_sc(phi) with one standard error (bands, jackknife) and its harmonics",
                 fontsize=10)
    fig.subplots_adjust(top=0.88, hspace=0.45, wspace=0.45)
    write_figure(path, fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("study", help="folder of the study runs (with L20/, L30/, ...)")
    parser.add_argument("--out", default="docs", help="folder for fig3_study.json and fig3_study.png")
    args = parser.parse_args(argv)
    study = pathlib.Path(args.study)
    runs, phis = {}, {}
    for folder in sorted(study.glob("L*")):
        if (folder / "stats.json").is_file():
            runs[folder.name] = load_run(folder)
            phis[folder.name] = np.load(folder / "ensemble.npz")["phi"]
    if not runs:
        raise SystemExit(f"no finished ensemble run under {study}")
    out = output_folder(args.out)
    write_json(out / "fig3_study.json", {"runs": runs, "harmonics": "A_m of |<G_sc>|(phi) in e^2/h, m = 0..min(8, (n_phi - 1) // 2)",
                                         "stderr": "jackknife over realizations",
                                         "command": f"python scripts/fig3_study_report.py {args.study}"})
    plot(runs, phis, out / "fig3_study.png")
    for name, run in runs.items():
        for c in run["cases"]:
            print(f"{name} xi = {c['xi']:g} K0 = {c['K0']:g} n = {c['n_realizations']}: maxima (folded) "
                  f"{np.round(c['phi_of_maxima_of_folded'], 3)}, min/max {c['min_over_max']:.3f} +- "
                  f"{c['min_over_max_stderr']:.3f}, A4/A0 {c['fourfold_weight_A4_over_A0']:.3f} +- "
                  f"{c['fourfold_weight_stderr']:.3f}, change since n/2 {c['g_sc_change_since_half_the_realizations']:.3f}")
        for c in run["clean"]:
            print(f"{name} xi = {c['xi']:g} clean: maxima (folded) {np.round(c['phi_of_maxima_of_folded'], 3)}, "
                  f"min/max {c['min_over_max']:.3f}, A4/A0 {c['fourfold_weight_A4_over_A0']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
