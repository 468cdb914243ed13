"""The t2g junction study of docs/t2g.md: spin-charge conversion and current-induced spin and orbital
densities of the t2g LaAlO3/SrTiO3 junction (``preset = "t2g"``, docs/model.md) against gate and angle.

    python scripts/t2g_study.py                      # CPU part (Lx = Ly = 12 and 16, see --help): docs/t2g_*.json, png
    python scripts/t2g_study.py --gpu --out $OUT     # the GPU part: Lx = Ly = 30 and 40, 32 angles, 13 gates,
                                                     # 64 disorder realizations (one command)

Parts (each writes docs/t2g_<part>.json and a figure; ``--parts`` selects):
  scan       G_sc^x, G_sc^y (M -> L/R, F/B) and G_cs against phi (theta = pi/2) for every gate, at every size;
  paper      the two-band junction (preset "paper", alpha3 = -0.2) at the same 2D density (matched filling);
  densities  current-induced spin and orbital densities of the 2DEG (bias L -> R) against gate at phi = 0, pi/2,
             their ratio, and the torque density (dxc/2) m x <sigma> in the transition layer above the 2DEG;
  sensitivity  d g_sc / d(lam, gamma, delta_E) against phi at two gates;
  disorder   disorder-averaged G_sc(phi) (K0 on the 2DEG) with standard errors against the number of realizations.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

import numpy as np

from jaxsge.core.lattice import PAULI, T2G_L
from jaxsge.core.precision import x64
from jaxsge.io.files import write_figure, write_json
from jaxsge.model.junction import JunctionParams, junction, t2g
from jaxsge.model.stack import bloch_hamiltonian
from jaxsge.model.system import junction_system
from jaxsge.observables import response
from jaxsge.observables.densities import densities
from jaxsge.observables.scan import conversion_scan
from jaxsge.observables.sensitivity import sensitivities
from jaxsge.plot.style import closed, polar_angle_ticks, radial_range
from jaxsge.solve.transmissions import solve

PARTS = ("scan", "paper", "densities", "sensitivity", "disorder")
CPU = dict(sizes=(12, 16), n_phi=16, gates=(-0.12, -0.06, 0.0, 0.06, 0.12, 0.2, 0.35),
           density_gates=(-0.08, 0.0, 0.12, 0.3), sensitivity_gates=(-0.04, 0.12), realizations=16, K0=0.5,
           disorder_gate=0.12)
GPU = dict(sizes=(30, 40), n_phi=32, gates=tuple(np.round(np.linspace(-0.14, 0.4, 13), 3)),
           density_gates=tuple(np.round(np.linspace(-0.12, 0.4, 9), 3)), sensitivity_gates=(-0.04, 0.04, 0.15, 0.3),
           realizations=64, K0=0.5, disorder_gate=0.15)


def params(L: int, gate: float, **changes) -> JunctionParams:
    """The t2g junction of size L x L (Lz = 6 as in the paper), side leads as wide as the 2DEG, theta = pi/2."""
    return t2g(JunctionParams(Lx=L, Ly=L, W=L, theta=np.pi / 2), gate=gate, **changes)


@x64
def density_2d(p: JunctionParams, nk: int = 400) -> float:
    """Electrons per site of the bulk 2DEG (both spins) below the Fermi energy: states of the layer's Bloch
    Hamiltonian (the solver's tables, exchange tail off) below mu, on an nk x nk grid of the Brillouin zone."""
    k = 2 * np.pi * (np.arange(nk) + 0.5) / nk - np.pi
    layer = junction(p).layers[0].replace(dxc=0.0)
    e = np.linalg.eigvalsh(np.asarray(bloch_hamiltonian(layer, k[:, None], k[None, :])))
    return float((e < float(p.mu)).sum()) / nk ** 2


def matched_mu(n: float, nk: int = 400) -> float:
    """mu of the paper's one-orbital 2DEG (bottom at 0, band 2t(2 - cos kx - cos ky), two spins) holding n."""
    k = 2 * np.pi * (np.arange(nk) + 0.5) / nk - np.pi
    e = np.sort((2 * (2 - np.cos(k[:, None]) - np.cos(k[None, :]))).ravel())
    return float(e[min(int(round(n / 2 * nk ** 2)), e.size - 1)])


def g_sc(G: dict) -> np.ndarray:
    return np.hypot(G["Gsc_x"], G["Gsc_y"])


def part_scan(cfg, phi, log):
    out = {}
    for L in cfg["sizes"]:
        rows = []
        for gate in cfg["gates"]:
            t0 = time.time()
            s = conversion_scan(junction_system(params(L, gate)), phi=phi)
            rows.append({"gate": gate, "n2d": density_2d(params(L, gate)), **{k: np.asarray(v).tolist()
                                                                              for k, v in s.G.items()},
                         "n_open": np.asarray(s.n_open).tolist(), "seconds": time.time() - t0})
            log(f"scan L={L} gate={gate:+.3f}: max |G_sc| {g_sc(s.G).max():.3e} ({time.time() - t0:.1f} s)")
        out[str(L)] = rows
    return out


def part_paper(cfg, phi, log):
    rows = []
    L = cfg["sizes"][0]
    for gate in cfg["gates"]:
        n = density_2d(params(L, gate))
        mu = matched_mu(n)
        row = {"gate": gate, "n2d": n, "mu_paper": mu}
        try:
            s = conversion_scan(junction_system(JunctionParams(Lx=L, Ly=L, W=L, mu=mu, theta=np.pi / 2)), phi=phi)
            row.update({k: np.asarray(v).tolist() for k, v in s.G.items()})
            log(f"paper L={L} gate={gate:+.3f} n={n:.4f} mu={mu:.4f}: max |G_sc| {g_sc(s.G).max():.3e}")
        except ValueError as err:  # no open channel in a lead at this filling
            row["skipped"] = str(err)
            log(f"paper L={L} gate={gate:+.3f} n={n:.4f} mu={mu:.4f}: skipped ({err})")
        rows.append(row)
    return {str(L): rows}


def part_densities(cfg, log):
    L = cfg["sizes"][0]
    ops = {"sx": "sx", "sy": "sy", "sz": "sz"}
    ops.update({f"L{c}": np.kron(T2G_L[k], np.eye(2)) for k, c in enumerate("xyz")})
    ops.update({f"J{c}": np.kron(T2G_L[k], np.eye(2)) + np.kron(np.eye(3), PAULI[k]) / 2 for k, c in enumerate("xyz")})
    rows = []
    base = params(L, 0.0)
    z = np.arange(base.Lz)
    tail_off = base.dxc * np.exp(-(base.Lz - z) / base.xi) * (z > 0)  # the paper's profile, none in the 2DEG
    for gate in cfg["density_gates"]:
        for exchange in ("paper", "off_in_2deg"):
            for phi in (0.0, np.pi / 2):
                p = params(L, gate, phi=phi, **({} if exchange == "paper" else {"dxc_profile": tail_off}))
                stack = junction(p)
                t0 = time.time()
                d = densities(stack, float(p.mu), layer=0, operators=ops)
                total = d.per_unit_bias.sum(axis=(-2, -1))[0]  # (leads, operators): per unit bias of each lead
                leads = list(d.leads)
                # Bias V between L (+V/2) and R (-V/2): the non-equilibrium part is (rho_L - rho_R) / 2 per unit V.
                induced = (total[leads.index("L")] - total[leads.index("R")]) / 2
                # The torque in the one-orbital transition layer above (the first layer with the magnet's exchange
                # that the densities reach; the barrier and M are folded), per unit bias L -> R.
                up = densities(stack, float(p.mu), layer=1, operators=("sx", "sy", "sz"))
                torque = up.torque().sum(axis=(-2, -1))[0] / (2 * np.pi)
                torque_lr = (torque[leads.index("L")] - torque[leads.index("R")]) / 2
                spin, orbital = np.linalg.norm(induced[:3]), np.linalg.norm(induced[3:6])
                row = {"gate": gate, "exchange_in_2deg": exchange, "phi": phi, "operators": list(d.operators),
                       "induced": induced.tolist(), "torque_layer1_LR": torque_lr.tolist(),
                       # angular momenta: <L> against <S> = <sigma>/2 (hbar = 1)
                       "orbital_over_spin": float(orbital / (spin / 2)) if spin > 0 else None,
                       "seconds": time.time() - t0}
                rows.append(row)
                log(f"densities gate={gate:+.3f} exchange {exchange} phi={phi:.2f}: |sigma| {spin:.3e} "
                    f"|L| {orbital:.3e} "
                    f"|L|/|S| {row['orbital_over_spin']:.2f} |tau| {np.linalg.norm(torque_lr):.2e} "
                    f"({time.time() - t0:.1f} s)")
    return {str(L): rows}


def part_sensitivity(cfg, phi, log):
    L = cfg["sizes"][0]
    rows = []
    for gate in cfg["sensitivity_gates"]:
        t0 = time.time()
        sens = sensitivities(junction_system(params(L, gate)), wrt=("lam", "gamma", "delta_E"), phi=phi)
        gx, gy = np.asarray(sens.values["Gsc_x"]), np.asarray(sens.values["Gsc_y"])
        amp = np.hypot(gx, gy)
        rows.append({"gate": gate, "g": amp.tolist(), **{
            f"d_{name}": ((gx * np.asarray(sens.derivatives["Gsc_x"][name]) + gy * np.asarray(
                sens.derivatives["Gsc_y"][name])) / np.where(amp > 0, amp, 1)).tolist()
            for name in ("lam", "gamma", "delta_E")}, "seconds": time.time() - t0})
        log(f"sensitivity gate={gate:+.3f} ({time.time() - t0:.1f} s)")
    return {str(L): rows}


def part_disorder(cfg, phi, log):
    L = cfg["sizes"][0]
    p = params(L, cfg["disorder_gate"], K0=cfg["K0"], disorder_layers="2deg")
    t0 = time.time()
    r = solve(junction(p).replace(phi=phi), float(p.mu), realizations=np.arange(cfg["realizations"]), reflection=False)
    G = response.conversions(np.asarray(r.T), np.asarray(r.n_open), r.leads)
    amp = g_sc(G)  # (realizations, phi)
    n = np.arange(1, amp.shape[0] + 1)
    running = np.cumsum(amp, axis=0) / n[:, None]
    log(f"disorder L={L} K0={cfg['K0']} N={amp.shape[0]} ({time.time() - t0:.1f} s)")
    return {str(L): {"gate": cfg["disorder_gate"], "K0": cfg["K0"], "g_sc": amp.tolist(),
                     "mean": amp.mean(0).tolist(), "sem": (amp.std(0, ddof=1) / np.sqrt(amp.shape[0])).tolist(),
                     "running_mean": running.tolist(), "seconds": time.time() - t0}}


def figures(out: pathlib.Path, phi, data) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if "scan" in data:
        sizes = list(data["scan"])
        # One colour per gate across the panels; phi in multiples of pi; closed curves; the radial axis from just
        # below the smallest value, so that a small anisotropy shows (``plot.style``).
        gates = sorted({row["gate"] for L in sizes for row in data["scan"][L]})
        colors = {g: plt.get_cmap("viridis")(k / max(len(gates) - 1, 1)) for k, g in enumerate(gates)}
        fig, axes = plt.subplots(1, len(sizes), subplot_kw={"projection": "polar"}, figsize=(5 * len(sizes), 5))
        for ax, L in zip(np.atleast_1d(axes), sizes):
            low = 1.0
            for row in data["scan"][L]:
                g = g_sc({k: np.asarray(row[k]) for k in ("Gsc_x", "Gsc_y")})
                g = g / max(g.max(), 1e-300)
                low = min(low, float(g.min()))
                ax.plot(*closed(phi, g), color=colors[row["gate"]], label=f"gate = {row['gate']:+.2f} $t_l$")
            r_min, r_max = radial_range(low, 1.0)
            ax.set_ylim(r_min, r_max)
            polar_angle_ticks(ax)
            ax.set_rlabel_position(112.5)  # radial labels between curves' petals, not on them
            ax.set_title(f"t2g, $L = {L}$: $g_{{\\mathrm{{sc}}}}(\\varphi)$, normalised per gate\n"
                         f"(radial axis from {r_min:g}, not 0)", fontsize=10, pad=18)
        handles = [plt.Line2D([], [], color=colors[g], label=f"gate = {g:+.2f} $t_l$") for g in gates]
        fig.legend(handles=handles, loc="lower center", ncol=min(len(gates), 7), fontsize=7, frameon=False)
        fig.tight_layout(rect=(0, 0.08, 1, 0.93))
        write_figure(out / "t2g_polar.png", fig)
        plt.close(fig)
        # Two panels (size; angular anisotropy), one colour per model and size, the Lifshitz point marked.
        fig, (ax_g, ax_a) = plt.subplots(1, 2, figsize=(10, 4.2), sharex=True)
        curves = []
        for L in sizes:
            rows = data["scan"][L]
            amp = [g_sc({k: np.asarray(r[k]) for k in ("Gsc_x", "Gsc_y")}) for r in rows]
            curves.append((f"t2g, $L = {L}$", "o-", [r["gate"] for r in rows], amp))
        for L, rows in data.get("paper", {}).items():
            ok = [r for r in rows if "Gsc_x" in r]
            amp = [g_sc({k: np.asarray(r[k]) for k in ("Gsc_x", "Gsc_y")}) for r in ok]
            curves.append((f"two-band (paper), matched filling, $L = {L}$", "k^--", [r["gate"] for r in ok], amp))
        for label, style, gates, amp in curves:
            ax_g.plot(gates, [a.max() for a in amp], style, label=label)
            ax_a.plot(gates, [(a.max() - a.min()) / max(a.max(), 1e-300) for a in amp], style, label=label)
        ax_g.set_yscale("log")
        ax_a.set_yscale("log")
        ax_g.set_ylabel(r"$\max_\varphi |G_{\mathrm{sc}}|$ ($e^2/h$)")
        ax_a.set_ylabel(r"anisotropy $(\max_\varphi - \min_\varphi)\,|G_{\mathrm{sc}}|"
                        r" \,/\, \max_\varphi |G_{\mathrm{sc}}|$")
        for ax, title in ((ax_g, "(a) size of the conversion"), (ax_a, "(b) its dependence on $\\varphi$")):
            ax.axvline(-0.016, color="gray", lw=0.8, ls=":")
            ax.set_xlabel(r"gate: Fermi energy above the $d_{xz}/d_{yz}$ bottom ($t_l$)")
            ax.set_title(title)
        ax_g.annotate("bulk Lifshitz point", (-0.016, 0.02), xycoords=("data", "axes fraction"), rotation=90,
                      fontsize=7, color="gray", ha="right", va="bottom")
        handles, labels = ax_g.get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
        fig.suptitle(r"t2g junction, $\theta = \pi/2$, clean (docs/t2g.md)", fontsize=10)
        fig.tight_layout(rect=(0, 0.07, 1, 1))
        write_figure(out / "t2g_gate.png", fig)
        plt.close(fig)
    if "densities" in data:
        (L, rows), = data["densities"].items()
        # One colour per case (magnetization angle, exchange in the 2DEG); spin solid, orbital dashed.
        fig, (ax_d, ax_r) = plt.subplots(1, 2, figsize=(10, 4.2), sharex=True)
        cases = ((0.0, "paper", "o", "C0"), (np.pi / 2, "paper", "s", "C1"), (0.0, "off_in_2deg", "^", "C2"),
                 (np.pi / 2, "off_in_2deg", "v", "C3"))
        for phi0, exchange, marker, color in cases:
            sel = [r for r in rows if abs(r["phi"] - phi0) < 1e-9 and r["exchange_in_2deg"] == exchange]
            g = [r["gate"] for r in sel]
            case = (r"$\varphi = " + ("0" if phi0 == 0 else r"\pi/2") + "$, "
                    + ("paper's exchange tail in the 2DEG" if exchange == "paper" else "no exchange in the 2DEG"))
            ax_d.plot(g, [np.linalg.norm(r["induced"][:3]) for r in sel], marker + "-", color=color,
                      label=r"$|\langle\sigma\rangle|$, " + case)
            ax_d.plot(g, [np.linalg.norm(r["induced"][3:6]) for r in sel], marker + "--", color=color,
                      label=r"$|\langle L\rangle|$, " + case)
            ax_r.plot(g, [r["orbital_over_spin"] for r in sel], marker + "-", color=color, label=case)
        ax_d.set_yscale("log")
        ax_r.set_yscale("log")
        ax_d.set_ylabel("2DEG total per unit bias L$\\to$R ($1/t_l$ per $eV$)")
        ax_r.set_ylabel(r"$|\langle L\rangle| \,/\, |\langle S\rangle|$, $S = \sigma/2$")
        ax_r.axhline(10, color="gray", lw=0.8, ls=":")
        for ax, title in ((ax_d, "(a) current-induced spin and orbital densities"), (ax_r, "(b) orbital over spin")):
            ax.set_xlabel(r"gate: Fermi energy above the $d_{xz}/d_{yz}$ bottom ($t_l$)")
            ax.set_title(title, fontsize=10)
        handles, labels = ax_d.get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=6.5, frameon=False)
        fig.suptitle(f"t2g junction, $L = {L}$, $\\theta = \\pi/2$ (docs/t2g.md)", fontsize=10)
        fig.tight_layout(rect=(0, 0.13, 1, 1))
        write_figure(out / "t2g_densities.png", fig)
        plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", action="store_true", help="the GPU sizes (30, 40), 32 angles, 64 realizations")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {PARTS}")
    parser.add_argument("--sizes", default=None, help="comma-separated L values (overrides the default)")
    parser.add_argument("--gates", default=None, help="comma-separated gate values of the scan (overrides the default)")
    parser.add_argument("--tag", default="", help="suffix of the part's file names (t2g_<part><tag>.json)")
    parser.add_argument("--out", default="docs", help="folder of the t2g_*.json and t2g_*.png (default docs)")
    args = parser.parse_args(argv)
    cfg = dict(GPU if args.gpu else CPU)
    if args.sizes:
        cfg["sizes"] = tuple(int(v) for v in args.sizes.split(","))
    if args.gates:
        cfg["gates"] = tuple(float(v) for v in args.gates.split(","))
    parts = [p.strip() for p in args.parts.split(",")]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"--parts {unknown} must be among {PARTS}")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    phi = np.linspace(0, 2 * np.pi, cfg["n_phi"], endpoint=False)
    start = time.time()

    def log(message):
        print(f"[{time.time() - start:7.1f} s] {message}", flush=True)

    data = {}
    for part in parts:
        t0 = time.time()
        if part == "scan":
            data[part] = part_scan(cfg, phi, log)
        elif part == "paper":
            data[part] = part_paper(cfg, phi, log)
        elif part == "densities":
            data[part] = part_densities(cfg, log)
        elif part == "sensitivity":
            data[part] = part_sensitivity(cfg, phi, log)
        else:
            data[part] = part_disorder(cfg, phi, log)
        record = {"part": part, "config": {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()},
                  "phi": phi.tolist(), "theta": float(np.pi / 2), "seconds": time.time() - t0, "data": data[part]}
        write_json(out / f"t2g_{part}{args.tag}.json", record)
        log(f"part {part} done in {time.time() - t0:.1f} s")
    for part in PARTS:  # the figures also show parts run earlier into the same folder (e.g. by another process)
        if part not in data and (out / f"t2g_{part}.json").exists():
            data[part] = json.loads((out / f"t2g_{part}.json").read_text())["data"]
    figures(out, phi, data)
    log("done")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
