"""The t2g junction study of docs/t2g.md: spin-charge conversion and current-induced spin and orbital
densities of the t2g LaAlO3/SrTiO3 junction (``preset = "t2g"``, docs/model.md) against gate and angle.

    python scripts/t2g_study.py                      # CPU part (Lx = Ly = 12 and 16, see --help): docs/t2g_*.json, png
    python scripts/t2g_study.py --gpu --out $OUT     # the GPU part: Lx = Ly = 30 and 40, 32 angles, 13 gates,
                                                     # 64 disorder realizations (one command; no new point
                                                     # starts after 420 s: --time-limit)

Parts (each writes docs/t2g_<part><tag>.json, most a figure; ``--parts`` selects; run in the order of PARTS):
  torque     the torque (dxc/2) m x <sigma> on the magnet's exchange layers (transition and barrier, dense:
             fold=False) per unit bias L -> R against phi, decomposed into field-like (m x y, m x x) and
             damping-like (m x (m x y), m x (m x x)) parts, t2g and two-band junction at matched filling;
  disorder   disorder-averaged G_sc(phi) (K0 on the 2DEG) at several gates through the ensemble API
             (jaxsge.ensemble: seeds (seed, realization), resumable folder --ensemble-dir), mean +- standard error,
             angular harmonics with jackknife errors;
  scan       G_sc^x, G_sc^y (M -> L/R, F/B) and G_cs against phi (theta = pi/2) for every gate, at every size;
  edelstein  the 2DEG's current-induced <sigma_y>, <L_y> (bias L -> R) on a fine gate grid: non-magnetic junction
             (dxc = 0 everywhere) and the magnet along y with no exchange in the 2DEG, clean and disorder-averaged;
  paper      the two-band junction (preset "paper", alpha3 = -0.2) at the same 2D density (matched filling);
  densities  current-induced spin and orbital densities of the 2DEG (bias L -> R) against gate at phi = 0, pi/2,
             their ratio, and the torque density (dxc/2) m x <sigma> in the transition layer above the 2DEG;
  sensitivity  d g_sc / d(lam, gamma, delta_E) against phi at two gates.

``--time-limit SECONDS``: no new point (gate, size, model) is started past it; points left out are listed
in the part's json under "skipped" (the GPU command's bound on its device time). ``--sizes 8 --gates 0.12
--n-phi 8 --realizations 2 --out /tmp/t2g_dry`` is a dry run of every part in a few minutes on a CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import time

import numpy as np

from jaxsge.core.lattice import PAULI, T2G_L
from jaxsge.core.precision import x64
from jaxsge.ensemble.report import run_and_report
from jaxsge.ensemble.store import read_unit
from jaxsge.ensemble.spec import Unit, spec_from_settings
from jaxsge.ensemble.stats import jackknife, mean_and_stderr
from jaxsge.io.files import write_figure, write_json
from jaxsge.model.junction import JunctionParams, junction, t2g
from jaxsge.model.stack import bloch_hamiltonian
from jaxsge.model.system import junction_system
from jaxsge.observables import response
from jaxsge.observables.densities import densities
from jaxsge.observables.harmonics import angular_harmonics
from jaxsge.observables.scan import conversion_scan
from jaxsge.observables.sensitivity import sensitivities
from jaxsge.plot.style import closed, polar_angle_ticks, radial_range
from jaxsge.solve.transmissions import solve

PARTS = ("torque", "disorder", "scan", "edelstein", "paper", "densities", "sensitivity")  # in the order of value
CPU = dict(sizes=(12, 16), n_phi=16, gates=(-0.12, -0.06, 0.0, 0.06, 0.12, 0.2, 0.35),
           density_gates=(-0.08, 0.0, 0.12, 0.3), sensitivity_gates=(-0.04, 0.12), K0=0.5, seed=0,
           torque_gates=(-0.06, 0.0, 0.12), disorder_gates=(-0.06, 0.0, 0.12), realizations=40,
           edelstein_gates=tuple(np.round(np.linspace(-0.12, 0.42, 19), 3)), edelstein_realizations=16,
           time_limit=None)
GPU = dict(sizes=(30, 40), n_phi=32, gates=tuple(np.round(np.linspace(-0.14, 0.4, 13), 3)),
           density_gates=tuple(np.round(np.linspace(-0.12, 0.4, 9), 3)), sensitivity_gates=(-0.04, 0.04, 0.15, 0.3),
           K0=0.5, seed=0, torque_gates=(-0.06, 0.0, 0.12), disorder_gates=(-0.06, 0.0, 0.12), realizations=64,
           edelstein_gates=tuple(np.round(np.linspace(-0.12, 0.42, 19), 3)), edelstein_realizations=32,
           time_limit=420.0)
# The current direction of every bias here (L at +V/2, R at -V/2): x; the in-plane direction transverse to it: y.
CURRENT, TRANSVERSE = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])


def params(L: int, gate: float, **changes) -> JunctionParams:
    """The t2g junction of size L x L (Lz = 6 as in the paper), side leads as wide as the 2DEG, theta = pi/2."""
    return t2g(JunctionParams(Lx=L, Ly=L, W=L, theta=np.pi / 2), gate=gate, **changes)


def brillouin_grid(nk: int) -> np.ndarray:
    """The nk points k of each direction of the nk x nk grid of the Brillouin zone (midpoints in (-pi, pi))."""
    return 2 * np.pi * (np.arange(nk) + 0.5) / nk - np.pi


@x64
def bulk_levels(p: JunctionParams, nk: int) -> np.ndarray:
    """The levels of the bulk 2DEG, (nk, nk, states): the 2DEG layer's Bloch Hamiltonian (the solver's tables,
    exchange tail off) on the nk x nk grid."""
    k = brillouin_grid(nk)
    layer = junction(p).layers[0].replace(dxc=0.0)
    return np.linalg.eigvalsh(np.asarray(bloch_hamiltonian(layer, k[:, None], k[None, :])))


def density_2d(p: JunctionParams, nk: int = 400) -> float:
    """Electrons per site of the bulk 2DEG (both spins) below the Fermi energy mu (``bulk_levels``)."""
    return float((bulk_levels(p, nk) < float(p.mu)).sum()) / nk ** 2


def born_rate(p: JunctionParams, K0: float, nk: int = 400, window: float = 0.01) -> tuple:
    """(nu, hbar/tau): the density of states per site and spin of the bulk 2DEG at the Fermi energy (the levels of
    ``bulk_levels`` within +- ``window`` of mu) and the Born estimate of the elastic scattering rate of the 2DEG's
    disorder, hbar/tau = 2 pi nu (K0 t)^2 (Gaussian onsite disorder of standard deviation K0 t on every orbital,
    docs/model.md; the golden rule with a uniform density of states, an estimate of the regime, not a result of
    the transport calculation)."""
    nu = float((np.abs(bulk_levels(p, nk) - float(p.mu)) < window).sum()) / (2 * window) / nk ** 2 / 2
    return nu, 2 * np.pi * nu * (K0 * float(p.t)) ** 2


def matched_mu(n: float, nk: int = 400) -> float:
    """mu of the paper's one-orbital 2DEG (bottom at 0, band 2t(2 - cos kx - cos ky), two spins) holding n."""
    k = brillouin_grid(nk)
    e = np.sort((2 * (2 - np.cos(k[:, None]) - np.cos(k[None, :]))).ravel())
    return float(e[min(int(round(n / 2 * nk ** 2)), e.size - 1)])


def g_sc(G: dict) -> np.ndarray:
    return np.hypot(G["Gsc_x"], G["Gsc_y"])


def paper_params(L: int, n: float) -> JunctionParams:
    """The two-band (paper's) junction of size L x L at the mu where its 2DEG holds n electrons per site."""
    return JunctionParams(Lx=L, Ly=L, W=L, mu=matched_mu(n), theta=np.pi / 2)


@x64
def lr_current(T, n_open, leads) -> np.ndarray:
    """Charge current (I_L - I_R)/2 in e^2/h per unit bias V for L at +V/2, R at -V/2, the others at 0: the bias
    of the densities here (``response.terminal_response``)."""
    i_l, i_r = leads.index("L"), leads.index("R")
    bias = np.zeros(np.shape(n_open))
    bias[..., i_l, :], bias[..., i_r, :] = 0.5, -0.5
    currents, _ = response.terminal_response(np.asarray(T), np.asarray(n_open, dtype=float), bias)
    currents = np.asarray(currents).sum(axis=-1)
    return (currents[..., i_l] - currents[..., i_r]) / 2


def torque_components(phi, tau) -> dict:
    """tau(phi) (..., n_phi, 3) for m = (cos phi, sin phi, 0) as the least-squares sum of the four lowest-order
    spin-orbit torque shapes, with coefficients independent of phi:

        tau = T_FL (m x y) + T_DL m x (m x y) + T_FLx (m x x) + T_DLx m x (m x x) + rest,

    y the in-plane direction transverse to the current (x): the field-like and damping-like torques of a
    Rashba-like (y-polarised) spin accumulation; the x-type pair is what a spin density along the current
    (spin-transfer from a current into the magnet along x) gives. ``rest`` (relative norm) holds the higher
    angular harmonics. Over a uniform phi grid the four shapes are orthogonal."""
    m = np.stack([np.cos(phi), np.sin(phi), np.zeros_like(phi)], axis=-1)
    shapes = {}
    for name, a in (("y", TRANSVERSE), ("x", CURRENT)):
        fl = np.cross(m, np.broadcast_to(a, m.shape))
        shapes[f"FL_{name}"], shapes[f"DL_{name}"] = fl, np.cross(m, fl)
    basis = np.stack([v.ravel() for v in shapes.values()], axis=-1)  # (n_phi * 3, 4)
    flat = np.asarray(tau).reshape(np.shape(tau)[:-2] + (-1,))
    coef = np.linalg.lstsq(basis, flat.reshape(-1, basis.shape[0]).T, rcond=None)[0].T.reshape(flat.shape[:-1] + (4,))
    rest = flat - coef @ basis.T
    norm = np.linalg.norm(flat, axis=-1)
    out = {f"T_{name}": coef[..., k].tolist() for k, name in enumerate(shapes)}
    out["rest_relative"] = np.where(norm > 0, np.linalg.norm(rest, axis=-1) / np.where(norm > 0, norm, 1), 0).tolist()
    out["max_abs_tau_dot_m"] = float(np.abs((np.asarray(tau) * m).sum(-1)).max())
    return out


def part_torque(cfg, phi, log, late):
    """The torque on the magnet's exchange layers (the transition and barrier layers z = 1 .. Lz-1, which carry
    the tail dxc exp(-(Lz - z)/xi) of the magnet's exchange; all dense: fold=False) per unit bias L -> R,
    t2g junction and two-band junction at matched filling. The semi-infinite magnet M itself is a lead: its
    densities are not computed."""
    L = cfg["sizes"][0]
    rows, skipped = [], []
    for gate in cfg["torque_gates"]:
        n = density_2d(params(L, gate))
        for model in ("t2g", "paper"):
            if late():
                skipped.append({"gate": gate, "model": model, "why": "time limit"})
                continue
            p = params(L, gate) if model == "t2g" else paper_params(L, n)
            stack = junction(p).replace(phi=phi)
            layers = tuple(range(1, p.Lz))
            t0 = time.time()
            try:
                d = densities(stack, float(p.mu), layer=layers, operators=("sx", "sy", "sz"), fold=False)
                r = solve(stack, float(p.mu))
            except ValueError as err:  # no open channel in a lead at this filling
                skipped.append({"gate": gate, "model": model, "why": str(err)})
                log(f"torque L={L} gate={gate:+.3f} {model}: skipped ({err})")
                continue
            leads = list(d.leads)
            tq = d.torque().sum(axis=(-2, -1)) / (2 * np.pi)  # (phi, layers, leads, 3): per unit bias of each lead
            per_layer = (tq[:, :, leads.index("L")] - tq[:, :, leads.index("R")]) / 2  # bias L -> R
            total = per_layer.sum(axis=1)
            current = lr_current(r.T, r.n_open, list(r.leads))
            rows.append({"gate": gate, "model": model, "n2d": n, "mu": float(p.mu), "layers": list(layers),
                         "dxc_layers": np.asarray(d.dxc).tolist(), "tau": total.tolist(),
                         "tau_per_layer": np.moveaxis(per_layer, 1, 0).tolist(), "current_LR": current.tolist(),
                         "components": torque_components(phi, total),
                         "components_per_layer": torque_components(phi, np.moveaxis(per_layer, 1, 0)),
                         "seconds": time.time() - t0})
            c = rows[-1]["components"]
            log(f"torque L={L} gate={gate:+.3f} {model} (mu {float(p.mu):.3f}): T_FL {c['T_FL_y']:+.3e} "
                f"T_DL {c['T_DL_y']:+.3e} T_FLx {c['T_FL_x']:+.3e} T_DLx {c['T_DL_x']:+.3e} rest "
                f"{c['rest_relative']:.2e} G_LR {current.mean():.3e} ({time.time() - t0:.1f} s)")
    return {str(L): {"rows": rows, "skipped": skipped}}


def jackknife_se(estimate, samples) -> np.ndarray:
    """Jackknife standard error of ``estimate`` of the mean over axis 0 of ``samples`` (n, ...), by
    ``ensemble.stats.jackknife``: ``estimate`` takes the leave-one-out means on a leading axis."""
    return jackknife(lambda a, _: estimate(a), samples, samples)


def curve_summary(gx, gy) -> dict:
    """Statistics of the disorder average from realizations gx, gy (n, n_phi): the ensemble's curve
    |<G_sc>|(phi) = hypot(<Gx>, <Gy>) (as ``jaxsge ensemble`` and the paper's Fig. 3) and the mean magnitude
    <|G_sc|>(phi); their standard errors; the angular harmonics A_m of both curves over their mean A_0 with
    jackknife errors; the anisotropy (max - min)/max of the mean curve; the paired difference between the
    angles of its maximum and minimum with its standard error. Every estimator acts on the last axes, so that
    the jackknife passes all leave-one-out means at once."""
    n = gx.shape[0]
    both = np.stack([gx, gy], axis=1)  # (n, 2, n_phi)
    order = min(4, (gx.shape[-1] - 1) // 2)

    def norm_of_mean(m):
        return np.hypot(m[..., 0, :], m[..., 1, :])

    def rel_harmonics(curve):
        h = angular_harmonics(curve, order)
        return h[..., 1:] / h[..., :1]

    def anisotropy(curve):
        return np.ptp(curve, axis=-1) / curve.max(axis=-1)

    amp = np.hypot(gx, gy)
    out = {"n": n}
    for name, samples, fn in (("norm_of_mean", both, norm_of_mean), ("mean_of_norm", amp, lambda m: m)):
        curve = fn(samples.mean(0))
        se = jackknife_se(fn, samples) if n > 1 else np.zeros_like(curve)
        hm = rel_harmonics(curve)
        hse = jackknife_se(lambda m: rel_harmonics(fn(m)), samples) if n > 1 else np.zeros_like(hm)
        hi, lo = int(curve.argmax()), int(curve.argmin())
        out[name] = {"curve": curve.tolist(), "stderr": se.tolist(), "harmonics_over_A0": hm.tolist(),
                     "harmonics_stderr": hse.tolist(), "anisotropy": float(anisotropy(curve)),
                     "anisotropy_stderr": float(jackknife_se(lambda m: anisotropy(fn(m)), samples)) if n > 1 else 0.0,
                     "phi_max_index": hi, "phi_min_index": lo}
        if name == "mean_of_norm" and n > 1:  # per realization, the angles of the mean's maximum and minimum
            out[name]["paired_difference"] = [float(v) for v in mean_and_stderr(amp[:, hi] - amp[:, lo])]
    return out


def size_measures(gx, gy, g_inj, phi) -> dict:
    """The phi-averaged measures compared between sizes, each [mean, standard error] over the n >= 2 realizations
    (gx, gy, g_inj: (n, n_phi) at the in-plane angles phi of m): the mean magnitude <|G_sc|> (the typical
    single-sample conversion), the magnitude of the mean |<G_sc>| (jackknife error; biased upwards by the
    noise), the injected charge conductance G_inj (M into the side leads, the denominator of Eqs. 2 and 8), the
    efficiency <|G_sc| / G_inj>, the root mean square of the components, ((<G_x^2> + <G_y^2>) / 2)^1/2
    (jackknife error), and the ensemble mean's first harmonic without that bias: the inverse-Edelstein form
    G_sc = b z x m, b = <-G_x sin phi + G_y cos phi>_phi ("z_cross_m"), the only first-harmonic form the
    ensemble's mirrors x -> -x and y -> -y allow (m axial, G polar), and its forbidden partner
    a = <G_x cos phi + G_y sin phi>_phi ("along_m"), zero in the mean (a check)."""
    c, s = np.cos(phi), np.sin(phi)

    def mean_se(per):
        return [float(v) for v in mean_and_stderr(per)]

    amp = np.hypot(gx, gy)
    both = np.stack([gx, gy], axis=1)
    squares = (gx ** 2 + gy ** 2) / 2
    return {"mean_of_norm": mean_se(amp.mean(1)), "g_inj": mean_se(g_inj.mean(1)),
            "efficiency": mean_se((amp / g_inj).mean(1)),
            "norm_of_mean": [float(np.hypot(*both.mean(0)).mean()),
                             float(jackknife_se(lambda m: np.hypot(m[..., 0, :], m[..., 1, :]).mean(-1), both))],
            "rms": [float(np.sqrt(squares.mean())), float(jackknife_se(lambda m: np.sqrt(m.mean(-1)), squares))],
            "z_cross_m": mean_se((-gx * s + gy * c).mean(1)), "along_m": mean_se((gx * c + gy * s).mean(1))}


def injected_conductance(T, leads, injector="M") -> np.ndarray:
    """The charge conductance from the injector into the side leads, sum over a != M, s, s' of T(a s <- M s')
    (e^2/h), from T (..., n, 2, n, 2): the denominator of Eq. (8) (``response.injector_sums``)."""
    into, _ = response.injector_sums(np.asarray(T), leads, injector)
    return sum(g.sum(-1) for name, g in into.items() if name != injector)


def part_disorder(cfg, phi, log, late, ensemble_dir):
    """Disorder-averaged G_sc(phi) through the ensemble API: one run (cases gate x K0) in ``ensemble_dir``,
    resumable (a second call computes only missing realizations), realization r of seed s drawn from (s, r)
    alone. With a time limit the run stops between units (it runs gate by gate) and each gate's statistics use
    its realizations 0 .. n-1 on disk."""
    L = cfg["sizes"][0]
    gates = tuple(float(g) for g in cfg["disorder_gates"])
    system = junction_system(params(L, gates[0], K0=cfg["K0"], disorder_layers="2deg", seed=cfg["seed"]))
    spec = spec_from_settings(system, {"gate": gates, "K0": (float(cfg["K0"]),)}, cfg["realizations"], cfg["n_phi"])
    if not np.allclose(spec.phi, phi):
        raise ValueError("the ensemble's angles 2 pi j / n_phi differ from the study's")
    folder = pathlib.Path(ensemble_dir) / f"L{L}"
    leads = system.stack().lead_names
    t0 = time.time()
    left = late.seconds_left()
    # Under a time limit the ensemble takes half of what is left, so that the parts after it get their turn.
    result = run_and_report(spec, folder, resume=folder.exists(), progress=False,
                            time_limit=None if left is None else max(left / 2, 1.0))
    if result is not None and "more_to_do" in result:
        log(f"disorder: time limit, {result['more_to_do']} units left in {folder} (continue: the same command)")
    # Each gate with the realizations 0 .. n-1 on disk (the run goes gate by gate: under a time limit the
    # gates can hold different numbers), read and verified by the ensemble's store.
    rows = []
    for k, gate in enumerate(gates):
        def unit(r):
            return Unit((0, k, 0 if r >= 0 else -1), max(r, 0))

        n = next((r for r in range(cfg["realizations"]) if not (folder / "units" / unit(r).filename(spec.names))
                  .is_file()), cfg["realizations"])
        if n < 2 or not (folder / "units" / unit(-1).filename(spec.names)).is_file():
            rows.append({"gate": gate, "skipped": f"time limit: {n} realizations (a standard error needs 2)"})
            continue
        read = [read_unit(folder, spec, unit(r), ("Gsc_x", "Gsc_y", "T", "n_open")) for r in range(-1, n)]
        (cx, cy), (gx, gy) = ((read[0][q] for q in ("Gsc_x", "Gsc_y")),
                              (np.stack([u[q] for u in read[1:]]) for q in ("Gsc_x", "Gsc_y")))  # (n, n_phi)
        g_inj = np.stack([injected_conductance(u["T"], leads) for u in read[1:]])
        running = np.cumsum(np.hypot(gx, gy), axis=0) / np.arange(1, gx.shape[0] + 1)[:, None]
        rows.append({"gate": gate, "clean_g_sc": np.hypot(cx, cy).tolist(), "Gsc_x": gx.tolist(), "Gsc_y": gy.tolist(),
                     "g_inj": g_inj.tolist(), "clean_g_inj": injected_conductance(read[0]["T"], leads).tolist(),
                     "open_channels": {name: int(read[0]["n_open"][0, k].sum()) for k, name in enumerate(leads)},
                     "running_mean_of_norm_max": running.max(axis=1).tolist(), "size_measures":
                     size_measures(gx, gy, g_inj, spec.phi), **curve_summary(gx, gy)})
        s = rows[-1]
        log(f"disorder L={L} gate={gate:+.3f} N={gx.shape[0]}: |<G>| max {max(s['norm_of_mean']['curve']):.3e} "
            f"anisotropy {s['norm_of_mean']['anisotropy']:.3f} +- {s['norm_of_mean']['anisotropy_stderr']:.3f}; "
            f"<|G|> max {max(s['mean_of_norm']['curve']):.3e} anisotropy {s['mean_of_norm']['anisotropy']:.3f} "
            f"+- {s['mean_of_norm']['anisotropy_stderr']:.3f}")
    return {str(L): {"K0": cfg["K0"], "seed": cfg["seed"], "disorder_layers": "2deg",
                     "realizations": cfg["realizations"],
                     "ensemble_folder": str(folder), "rows": rows, "seconds": time.time() - t0}}


def part_edelstein(cfg, log, late):
    """<sigma_k>, <L_k> totals of the 2DEG per unit bias L -> R on the fine gate grid: "nonmagnetic" (dxc = 0 in
    every layer and in M: the Edelstein response of the 2DEG alone, the setting of Seibold et al.) and
    "m_y_no_2deg_exchange" (the paper's exchange in the layers above, none in the 2DEG, m along y); clean and,
    for the non-magnetic junction, averaged over realizations of K0 on the 2DEG (mean, standard error)."""
    L = cfg["sizes"][0]
    ops = {"sx": "sx", "sy": "sy", "sz": "sz"}
    ops.update({f"L{c}": np.kron(T2G_L[k], np.eye(2)) for k, c in enumerate("xyz")})
    base = params(L, 0.0)
    z = np.arange(base.Lz)
    tail_off = base.dxc * np.exp(-(base.Lz - z) / base.xi) * (z > 0)
    cases = {"nonmagnetic": dict(dxc=0.0, dxc_profile=np.zeros(base.Lz)),
             "m_y_no_2deg_exchange": dict(dxc_profile=tail_off, phi=np.pi / 2)}
    rows, skipped = [], []
    for gate in cfg["edelstein_gates"]:
        for case, changes in cases.items():
            for disordered in (False, True):
                if disordered and case != "nonmagnetic":
                    continue
                if late():
                    skipped.append({"gate": gate, "case": case, "disordered": disordered, "why": "time limit"})
                    continue
                extra = dict(K0=cfg["K0"], disorder_layers="2deg", seed=cfg["seed"]) if disordered else {}
                p = params(L, gate, **changes, **extra)
                t0 = time.time()
                real = np.arange(cfg["edelstein_realizations"]) if disordered else None
                try:
                    d = densities(junction(p), float(p.mu), layer=0, operators=ops, realizations=real)
                except ValueError as err:
                    skipped.append({"gate": gate, "case": case, "disordered": disordered, "why": str(err)})
                    log(f"edelstein gate={gate:+.3f} {case}: skipped ({err})")
                    continue
                total = d.per_unit_bias.sum(axis=(-2, -1))[..., 0, :, :]  # ([n,] leads, operators)
                leads = list(d.leads)
                induced = (total[..., leads.index("L"), :] - total[..., leads.index("R"), :]) / 2
                row = {"gate": gate, "case": case, "disordered": disordered, "operators": list(d.operators),
                       "n2d": density_2d(params(L, gate)), "seconds": time.time() - t0}
                if disordered:
                    mean, stderr = mean_and_stderr(induced)
                    row.update(realizations=int(induced.shape[0]), samples=induced.tolist(), mean=mean.tolist(),
                               stderr=stderr.tolist())
                else:
                    row["induced"] = induced.tolist()
                rows.append(row)
                v = row["mean"] if disordered else row["induced"]
                log(f"edelstein gate={gate:+.3f} {case}{' disordered' if disordered else ''}: sigma_y {v[1]:+.3e} "
                    f"L_y {v[4]:+.3e} ({time.time() - t0:.1f} s)")
    return {str(L): {"rows": rows, "skipped": skipped, "K0": cfg["K0"], "seed": cfg["seed"]}}


class Deadline:
    """``--time-limit``: whether a new point may start (called), and the seconds left (None: no limit)."""

    def __init__(self, seconds):
        self.end = None if seconds is None else time.time() + float(seconds)

    def __call__(self) -> bool:
        return self.end is not None and time.time() > self.end

    def seconds_left(self):
        return None if self.end is None else self.end - time.time()


def part_scan(cfg, phi, log, late):
    out = {}
    for L in cfg["sizes"]:
        rows = []
        for gate in cfg["gates"]:
            if late():
                rows.append({"gate": gate, "skipped": "time limit"})
                continue
            t0 = time.time()
            s = conversion_scan(junction_system(params(L, gate)), phi=phi)
            rows.append({"gate": gate, "n2d": density_2d(params(L, gate)), **{k: np.asarray(v).tolist()
                                                                              for k, v in s.G.items()},
                         "n_open": np.asarray(s.n_open).tolist(), "seconds": time.time() - t0})
            log(f"scan L={L} gate={gate:+.3f}: max |G_sc| {g_sc(s.G).max():.3e} ({time.time() - t0:.1f} s)")
        out[str(L)] = rows
    return out


def part_paper(cfg, phi, log, late):
    rows = []
    L = cfg["sizes"][0]
    for gate in cfg["gates"]:
        if late():
            rows.append({"gate": gate, "skipped": "time limit"})
            continue
        n = density_2d(params(L, gate))
        mu = matched_mu(n)
        row = {"gate": gate, "n2d": n, "mu_paper": mu}
        try:
            s = conversion_scan(junction_system(paper_params(L, n)), phi=phi)
            row.update({k: np.asarray(v).tolist() for k, v in s.G.items()})
            log(f"paper L={L} gate={gate:+.3f} n={n:.4f} mu={mu:.4f}: max |G_sc| {g_sc(s.G).max():.3e}")
        except ValueError as err:  # no open channel in a lead at this filling
            row["skipped"] = str(err)
            log(f"paper L={L} gate={gate:+.3f} n={n:.4f} mu={mu:.4f}: skipped ({err})")
        rows.append(row)
    return {str(L): rows}


def part_densities(cfg, log, late):
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
                if late():
                    rows.append({"gate": gate, "exchange_in_2deg": exchange, "phi": phi, "skipped": "time limit"})
                    continue
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


def part_sensitivity(cfg, phi, log, late):
    L = cfg["sizes"][0]
    rows = []
    for gate in cfg["sensitivity_gates"]:
        if late():
            rows.append({"gate": gate, "skipped": "time limit"})
            continue
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


def scan_rows(out: pathlib.Path) -> dict:
    """The clean scans of every t2g_scan*.json in ``out`` (this run's included), merged: size -> gate -> row
    (with its phi); a point computed twice keeps the newest file's."""
    sizes = {}
    for f in sorted(out.glob("t2g_scan*.json"), key=lambda f: f.stat().st_mtime):
        record = json.loads(f.read_text())
        for L, rows in record["data"].items():
            for row in rows:
                if "Gsc_x" in row:
                    sizes.setdefault(int(L), {})[row["gate"]] = {**row, "phi": np.asarray(record["phi"])}
    return {L: dict(sorted(rows.items())) for L, rows in sorted(sizes.items())}


def disorder_sizes(out: pathlib.Path) -> dict:
    """{L: {gate: row}} from every t2g_disorder*.json in ``out`` with the size measures (one size per file; a
    later file of the same size replaces an earlier one)."""
    sizes = {}
    for f in sorted(out.glob("t2g_disorder*.json"), key=lambda f: f.stat().st_mtime):
        for L, part in json.loads(f.read_text())["data"].items():
            rows = {r["gate"]: r for r in part.get("rows", []) if "size_measures" in r}
            if rows:
                sizes[int(L)] = rows
    return sizes


def edelstein_strengths(out: pathlib.Path) -> tuple:
    """(L, {K0: rows}) from the t2g_edelstein*.json in ``out`` of the size L of the newest one (a later file of
    the same K0 replaces an earlier one); (None, {}) if there is none."""
    found, newest = {}, None
    for f in sorted(out.glob("t2g_edelstein*.json"), key=lambda f: f.stat().st_mtime):
        (L, part), = json.loads(f.read_text())["data"].items()
        newest = int(L)
        found[newest, float(part["K0"])] = part["rows"]
    return newest, {k0: rows for (L, k0), rows in found.items() if L == newest}


def size_consistency(points) -> dict:
    """Whether values [mean, standard error] measured at several sizes (independent samples) are one
    size-independent value: the weighted mean with its error, chi^2 = sum ((x - mean) / se)^2 with n - 1 degrees
    of freedom, and its p-value (the chance of a larger chi^2 if the value did not depend on size)."""
    from scipy.stats import chi2

    x, se = np.asarray(points, dtype=float).T
    w = 1 / se ** 2
    mean = float((w * x).sum() / w.sum())
    stat = float((((x - mean) / se) ** 2).sum())
    return {"mean": mean, "stderr": float(1 / np.sqrt(w.sum())), "chi2": stat, "dof": len(x) - 1,
            "p": float(chi2.sf(stat, len(x) - 1))}


def lifshitz(ax, label: bool = True) -> None:
    ax.axvline(-0.016, color="gray", lw=0.8, ls=":")
    if label:
        ax.annotate("bulk Lifshitz point", (-0.016, 0.02), xycoords=("data", "axes fraction"), rotation=90,
                    fontsize=7, color="gray", ha="right", va="bottom")


GATE_LABEL = r"gate: Fermi energy above the $d_{xz}/d_{yz}$ bottom ($t_l$)"


def finish(fig, legend_from, path: pathlib.Path, *, fontsize, bottom, suptitle, ncol=None) -> None:
    """The common end of the study's figures: the legend of the axes ``legend_from`` below the panels, the
    title, the panels laid out above the lowest ``bottom`` of the height (kept for the legend), the file
    written atomically (``io.files.write_figure``) and the figure closed. ``ncol`` None: one column per entry."""
    import matplotlib.pyplot as plt

    handles, labels = legend_from.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=ncol or len(labels), fontsize=fontsize, frameon=False)
    fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout(rect=(0, bottom, 1, 1))
    write_figure(path, fig)
    plt.close(fig)


def figures(out: pathlib.Path, data: dict, tag: str = "") -> None:
    """The figures of every part in ``data``, or found in ``out`` from earlier runs (t2g_<part><tag>.json, else
    t2g_<part>.json; the scans of every t2g_scan*.json). A part's figure is named after its data:
    t2g_<part><tag>.png; the polar and gate figures (every scan) and the size figure (every
    t2g_disorder*.json) have one name each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.ticker
    import matplotlib.pyplot as plt

    png = {part: out / f"t2g_{part}{tag}.png" for part in data}
    for part in PARTS:  # the figures also show parts run earlier into the same folder (e.g. by another process)
        for name in (f"t2g_{part}{tag}.json", f"t2g_{part}.json"):
            if part not in data and (out / name).exists():
                record = json.loads((out / name).read_text())
                data[part] = record["data"]
                data[part + "_phi"] = np.asarray(record["phi"])
                png[part] = (out / name).with_suffix(".png")
    scans = scan_rows(out)
    if scans:
        sizes = list(scans)
        # One colour per gate across the panels; phi in multiples of pi; closed curves; the radial axis from just
        # below the smallest value, so that a small anisotropy shows (``plot.style``).
        gates = sorted({g for L in sizes for g in scans[L]})
        colors = {g: plt.get_cmap("viridis")(k / max(len(gates) - 1, 1)) for k, g in enumerate(gates)}
        fig, axes = plt.subplots(1, len(sizes), subplot_kw={"projection": "polar"}, figsize=(4.5 * len(sizes), 5))
        for ax, L in zip(np.atleast_1d(axes), sizes):
            low = 1.0
            for gate, row in scans[L].items():
                g = g_sc({k: np.asarray(row[k]) for k in ("Gsc_x", "Gsc_y")})
                g = g / max(g.max(), 1e-300)
                low = min(low, float(g.min()))
                ax.plot(*closed(row["phi"], g), color=colors[gate])
            r_min, r_max = radial_range(low, 1.0)
            ax.set_ylim(r_min, r_max)
            polar_angle_ticks(ax)
            ax.set_rlabel_position(112.5)  # radial labels between curves' petals, not on them
            ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(3))  # three labels: no crowding near the centre
            ax.tick_params(axis="y", labelsize=8)
            ax.set_title(f"t2g, $L = {L}$: $g_{{\\mathrm{{sc}}}}(\\varphi)$ / max, per gate\n"
                         + (f"(radial axis from {r_min:g}, not 0)" if r_min > 0 else "(radial axis from 0)"),
                         fontsize=10, pad=18)
        handles = [plt.Line2D([], [], color=colors[g], label=f"gate = {g:+.2f} $t_l$") for g in gates]
        fig.legend(handles=handles, loc="lower center", ncol=min(len(gates), 7), fontsize=7, frameon=False)
        fig.tight_layout(rect=(0, 0.1, 1, 0.93))
        write_figure(out / "t2g_polar.png", fig)
        plt.close(fig)
        # Three panels (phi-averaged size; largest value; angular anisotropy), one style per model and size.
        fig, (ax_m, ax_g, ax_a) = plt.subplots(1, 3, figsize=(14, 4.4), sharex=True)
        curves = []
        for k, L in enumerate(sizes):
            rows = list(scans[L].values())
            amp = [g_sc({q: np.asarray(r[q]) for q in ("Gsc_x", "Gsc_y")}) for r in rows]
            curves.append((f"t2g, $L = {L}$", "osDv"[k % 4] + "-", f"C{k}", [r["gate"] for r in rows], amp))
        for L, rows in data.get("paper", {}).items():
            ok = [r for r in rows if "Gsc_x" in r and g_sc({k: np.asarray(r[k]) for k in ("Gsc_x", "Gsc_y")}).max() > 0]
            amp = [g_sc({k: np.asarray(r[k]) for k in ("Gsc_x", "Gsc_y")}) for r in ok]
            curves.append((f"two-band (paper), matched filling, $L = {L}$", "^--", "k", [r["gate"] for r in ok], amp))
        for label, style, color, gates, amp in curves:
            ax_m.plot(gates, [a.mean() for a in amp], style, color=color, label=label)
            ax_g.plot(gates, [a.max() for a in amp], style, color=color, label=label)
            ax_a.plot(gates, [(a.max() - a.min()) / max(a.max(), 1e-300) for a in amp], style, color=color,
                      label=label)
        for ax in (ax_m, ax_g, ax_a):
            ax.set_yscale("log")
            ax.set_xlabel(GATE_LABEL)
            lifshitz(ax, ax is ax_m)
        ax_m.set_ylabel(r"$\langle g_{\mathrm{sc}} \rangle_\varphi$ ($e^2/h$)")
        ax_g.set_ylabel(r"$\max_\varphi g_{\mathrm{sc}}$ ($e^2/h$)")
        ax_a.set_ylabel(r"anisotropy $(\max_\varphi - \min_\varphi)\,g_{\mathrm{sc}}"
                        r" \,/\, \max_\varphi g_{\mathrm{sc}}$")
        for ax, title in ((ax_m, "(a) averaged over $\\varphi$"), (ax_g, "(b) largest over $\\varphi$"),
                          (ax_a, "(c) dependence on $\\varphi$")):
            ax.set_title(title, fontsize=10)
        finish(fig, ax_g, out / "t2g_gate.png", fontsize=8, bottom=0.07,
               suptitle=r"t2g junction, $\theta = \pi/2$, clean: $g_{\mathrm{sc}} = (G_{\mathrm{sc},x}^2 + "
                        r"G_{\mathrm{sc},y}^2)^{1/2}$ (docs/t2g.md)")
    if "torque" in data:
        (L, part), = data["torque"].items()
        phi = data["torque_phi"]
        gates = sorted({r["gate"] for r in part["rows"]})
        fig, axes = plt.subplots(1, max(len(gates), 1), figsize=(4.3 * max(len(gates), 1), 4.2), sharey=True,
                                 squeeze=False)
        for ax, gate in zip(axes[0], gates):
            title = f"gate = {gate:+.2f} $t_l$"
            for r in [r for r in part["rows"] if r["gate"] == gate]:
                tau = np.asarray(r["tau"])
                e_phi = np.stack([-np.sin(phi), np.cos(phi), np.zeros_like(phi)], axis=-1)
                style, name = ("-", "t2g") if r["model"] == "t2g" else ("--", "two-band at matched filling")
                if r["model"] != "t2g":
                    title += f"\n(two-band: $\\mu = {r['mu']:.3f}\\,t$)"
                ax.plot(phi / np.pi, tau[:, 2], "o" + style, color="C0", ms=3,
                        label=f"{name}: " + r"$\tau_z$ (field-like: $T_{FL}\cos\varphi$)")
                ax.plot(phi / np.pi, (tau * e_phi).sum(-1), "s" + style, color="C3", ms=3,
                        label=f"{name}: " + r"$\tau\cdot e_\varphi$ (damping-like: $-T_{DL}\cos\varphi$)")
            ax.axhline(0, color="gray", lw=0.6)
            ax.set_xlabel(r"$\varphi / \pi$ (magnetization in plane)")
            ax.set_title(title, fontsize=10)
        axes[0, 0].set_ylabel(r"torque on layers $z = 1..L_z-1$, $\tau/(eV)$ ($\hbar = 1$)")
        finish(fig, axes[0, 0], png["torque"], ncol=2, fontsize=7.5, bottom=0.14,
               suptitle=f"Torque on the magnet's exchange layers, bias L$\\to$R (current along x), $L = {L}$, "
                        r"$\theta = \pi/2$ (docs/t2g.md)")
    if "disorder" in data and "rows" in next(iter(data["disorder"].values())):
        (L, part), = data["disorder"].items()
        phi = data["disorder_phi"]
        rows = [r for r in part["rows"] if "n" in r]
        fig, axes = plt.subplots(1, max(len(rows), 1), figsize=(max(5 * len(rows), 10), 4.4), squeeze=False)
        for ax, r in zip(axes[0], rows):
            for key, color, label in (("norm_of_mean", "C0", r"$|\langle G_{\mathrm{sc}}\rangle|$"),
                                      ("mean_of_norm", "C1", r"$\langle |G_{\mathrm{sc}}| \rangle$")):
                ax.errorbar(phi / np.pi, r[key]["curve"], yerr=r[key]["stderr"], fmt="o-", ms=3, color=color,
                            capsize=2, label=label + r", mean $\pm$ standard error")
            ax.plot(phi / np.pi, r["clean_g_sc"], "k:", label="clean")
            ax.set_ylim(bottom=0)
            ax.set_xlabel(r"$\varphi / \pi$")
            ax.set_ylabel(r"$G_{\mathrm{sc}}$ ($e^2/h$)")  # every panel: their scales differ
            ax.set_title(f"gate = {r['gate']:+.2f} $t_l$, {r['n']} realizations", fontsize=10)
        finish(fig, axes[0, 0], png["disorder"], ncol=3, fontsize=8, bottom=0.1,
               suptitle=f"t2g junction, $L = {L}$, disorder $K_0 = {part.get('K0')}\\,t_l$ on the 2DEG, "
                        r"$\theta = \pi/2$ (docs/t2g.md)")
    sizes = disorder_sizes(out)
    if len(sizes) > 1:
        # The size dependence of the disorder averages (one t2g_disorder*.json per size): one colour per gate.
        fig, axes = plt.subplots(1, 4, figsize=(18, 4.3))
        gates = sorted({g for rows in sizes.values() for g in rows})
        for k, gate in enumerate(gates):
            Ls = [L for L in sorted(sizes) if gate in sizes[L]]
            m = [sizes[L][gate]["size_measures"] for L in Ls]
            color, label = f"C{k}", f"gate = {gate:+.2f} $t_l$"
            for ax, key, fmt in ((axes[0], "mean_of_norm", "o-"), (axes[0], "rms", "s:"),
                                 (axes[1], "z_cross_m", "o-"), (axes[2], "efficiency", "o-"),
                                 (axes[3], "g_inj", "o-")):
                ax.errorbar(Ls, [v[key][0] for v in m], yerr=[v[key][1] for v in m], fmt=fmt, color=color, ms=4,
                            capsize=3, label=label + (", root mean square" if key == "rms" else ""))
            axes[0].plot(Ls, [np.mean(sizes[L][gate]["clean_g_sc"]) for L in Ls], "x--", color=color, alpha=0.6,
                         label=label + ", clean sample")
        for ax, title, ylabel in (
                (axes[0], r"(a) single samples: $\langle |G_{\mathrm{sc}}| \rangle$", r"$e^2/h$, mean over $\varphi$"),
                (axes[1], r"(b) ensemble mean: $\langle G_{\mathrm{sc}} \rangle = b\, \hat z \times m$",
                 r"$b$ ($e^2/h$)"),
                (axes[2], r"(c) efficiency $\langle |G_{\mathrm{sc}}| / G_{\mathrm{inj}} \rangle$",
                 r"mean over $\varphi$"),
                (axes[3], r"(d) injected: $G_{\mathrm{inj}}$ = M $\to$ side leads", r"$e^2/h$, mean over $\varphi$")):
            ax.set_title(title, fontsize=10)
            ax.set_ylabel(ylabel)
            ax.set_xlabel(r"$L_x = L_y$ (sites)")
            ax.set_xticks(sorted(sizes))
            if ax is axes[1]:
                ax.axhline(0, color="gray", lw=0.6)
            else:
                ax.set_ylim(bottom=0)
        # Beside the figure (a name outside t2g_disorder*), whether each measure is one size-independent value
        # from each starting size on.
        write_json(out / "t2g_size_consistency.json", {
            "measures": "size_measures of each t2g_disorder*.json (phi-averaged, [mean, standard error])",
            "test": "size_consistency over the sizes from L_from on: weighted mean, chi^2, dof, p",
            "rows": [{"gate": gate, "measure": key, "L_from": Ls[k], "sizes": Ls[k:],
                      **size_consistency([sizes[L][gate]["size_measures"][key] for L in Ls[k:]])}
                     for gate in gates for Ls in [[L for L in sorted(sizes) if gate in sizes[L]]]
                     for key in ("mean_of_norm", "norm_of_mean", "z_cross_m", "efficiency", "g_inj")
                     for k in range(len(Ls) - 1)]})
        k0 = {float(json.loads(f.read_text())["config"]["K0"]) for f in out.glob("t2g_disorder*.json")}
        finish(fig, axes[0], out / "t2g_disorder_size.png", ncol=3, fontsize=7.5, bottom=0.12,
               suptitle=f"Disorder averages against size, $K_0 = {'/'.join(f'{v:g}' for v in sorted(k0))}\\,t_l$ on "
                        r"the 2DEG, mean $\pm$ standard error (docs/t2g.md)")
    if "edelstein" in data:
        (L, part), = data["edelstein"].items()
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.3), sharex=True)
        styles = {("nonmagnetic", False): ("o-", "C0", "non-magnetic junction, clean"),
                  ("nonmagnetic", True): ("s--", "C1", f"non-magnetic junction, $K_0 = {part['K0']}\\,t_l$, "
                                                       "mean $\\pm$ s.e."),
                  ("m_y_no_2deg_exchange", False): ("^-", "C2", r"magnet along $y$, no exchange in the 2DEG, clean")}
        for ax, k, name in ((axes[0], 1, r"$\langle\sigma_y\rangle$"), (axes[1], 4, r"$\langle L_y\rangle$")):
            for (case, dis), (style, color, label) in styles.items():
                sel = [r for r in part["rows"] if r["case"] == case and r["disordered"] == dis]
                if not sel:
                    continue
                g = [r["gate"] for r in sel]
                if dis:
                    ax.errorbar(g, [r["mean"][k] for r in sel], yerr=[r["stderr"][k] for r in sel], fmt=style,
                                color=color, ms=4, capsize=2, label=label)
                else:
                    ax.plot(g, [r["induced"][k] for r in sel], style, color=color, ms=4, label=label)
            ax.axhline(0, color="gray", lw=0.6)
            lifshitz(ax, ax is axes[0])
            ax.set_xlabel(GATE_LABEL)
            ax.set_ylabel(name + r" of the 2DEG per unit bias L$\to$R ($1/t_l$)")
        finish(fig, axes[0], png["edelstein"], ncol=3, fontsize=8, bottom=0.08,
               suptitle=f"Current-induced spin and orbital densities (2DEG total), t2g junction, $L = {L}$ "
                        "(docs/t2g.md)")
    L, strengths = edelstein_strengths(out)
    if len(strengths) > 1:
        # The disorder-averaged Edelstein densities of the non-magnetic junction at every disorder strength found
        # (one t2g_edelstein*.json each), the clean junction for reference, and the orbital-over-spin ratio.
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.3), sharex=True)
        clean = [r for r in next(iter(strengths.values())) if r["case"] == "nonmagnetic" and not r["disordered"]]
        g = [r["gate"] for r in clean]
        axes[0].plot(g, [r["induced"][1] for r in clean], "k.-", label="clean")
        axes[1].plot(g, [r["induced"][4] for r in clean], "k.-", label="clean")
        axes[2].plot(g, [abs(r["induced"][4]) / (abs(r["induced"][1]) / 2) for r in clean], "k.-", label="clean")
        for k, (k0, rows) in enumerate(sorted(strengths.items())):
            sel = [r for r in rows if r["case"] == "nonmagnetic" and r["disordered"]]
            g, mean, se = ([r["gate"] for r in sel], np.array([r["mean"] for r in sel]),
                           np.array([r["stderr"] for r in sel]))
            label = f"$K_0 = {k0:g}\\,t_l$, {sel[0]['realizations']} realizations, mean $\\pm$ s.e."
            for ax, j in ((axes[0], 1), (axes[1], 4)):
                ax.errorbar(g, mean[:, j], yerr=se[:, j], fmt="osD^"[k % 4] + "-", color=f"C{k}", ms=4, capsize=2,
                            label=label)
            axes[2].plot(g, np.abs(mean[:, 4]) / (np.abs(mean[:, 1]) / 2), "osD^"[k % 4] + "-", color=f"C{k}", ms=4,
                         label=label)
        for ax, j in ((axes[0], 1), (axes[1], 4)):
            # the vertical range of the averages: the clean junction's single-mode spikes would flatten them
            ends = [r["mean"][j] + sign * r["stderr"][j] for rows in strengths.values() for r in rows
                    if r["case"] == "nonmagnetic" and r["disordered"] for sign in (-1, 1)]
            pad = 0.1 * (max(ends) - min(ends))
            ax.set_ylim(min(ends) - pad, max(ends) + pad)
            beyond = [r["induced"][j] for r in clean if not min(ends) - pad <= r["induced"][j] <= max(ends) + pad]
            if beyond:
                ax.set_title(f"clean: {len(beyond)} values off the scale (from {min(beyond):.3g} to {max(beyond):.3g})",
                             fontsize=9)
            ax.axhline(0, color="gray", lw=0.6)
        axes[2].axhline(10, color="gray", lw=0.8, ls=":")
        axes[2].set_yscale("log")
        for ax, ylabel in ((axes[0], r"$\langle\sigma_y\rangle$ of the 2DEG per unit bias L$\to$R ($1/t_l$)"),
                           (axes[1], r"$\langle L_y\rangle$ of the 2DEG per unit bias L$\to$R ($1/t_l$)"),
                           (axes[2], r"$|\langle L_y\rangle| \,/\, |\langle S_y\rangle|$, $S = \sigma/2$")):
            lifshitz(ax, ax is axes[0])
            ax.set_xlabel(GATE_LABEL)
            ax.set_ylabel(ylabel)
        finish(fig, axes[0], out / "t2g_edelstein_disorder.png", ncol=2, fontsize=8, bottom=0.14,
               suptitle=f"Edelstein densities of the non-magnetic t2g junction against disorder strength, $L = {L}$ "
                        "(docs/t2g.md)")
    if "densities" in data:
        (L, rows), = data["densities"].items()
        rows = [r for r in rows if "induced" in r]
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
        finish(fig, ax_d, png["densities"], ncol=4, fontsize=6.5, bottom=0.13,
               suptitle=f"t2g junction, $L = {L}$, $\\theta = \\pi/2$ (docs/t2g.md)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", action="store_true",
                        help="the GPU part: sizes 30, 40, 32 angles, 64 realizations, --time-limit 420 s by default")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {PARTS}")
    parser.add_argument("--sizes", default=None, help="comma-separated L values (overrides the default); the scan part runs every "
                        "size, the other parts the first")
    parser.add_argument("--gates", default=None,
                        help="comma-separated gate values of every part's gate list (overrides the defaults)")
    parser.add_argument("--n-phi", type=int, default=None, help="number of angles phi (overrides the default)")
    parser.add_argument("--realizations", type=int, default=None,
                        help="disorder realizations of the disorder and edelstein parts (overrides the defaults)")
    parser.add_argument("--K0", type=float, default=None,
                        help="disorder strength (t_l) of the disorder and edelstein parts (default 0.5)")
    parser.add_argument("--time-limit", type=float, default=None,
                        help="seconds after which no new point starts (default: none on CPU, 420 with --gpu)")
    parser.add_argument("--tag", default="", help="suffix of the part's file names (t2g_<part><tag>.json)")
    parser.add_argument("--out", default="docs", help="folder of the t2g_*.json and t2g_*.png (default docs)")
    parser.add_argument("--ensemble-dir", default=None,
                        help="folder of the disorder part's ensemble run (default: <out>/t2g_ensemble<tag>)")
    args = parser.parse_args(argv)
    cfg = dict(GPU if args.gpu else CPU)
    if args.sizes:
        cfg["sizes"] = tuple(int(v) for v in args.sizes.split(","))
    if args.gates:
        gates = tuple(float(v) for v in args.gates.split(","))
        cfg.update({k: gates for k in ("gates", "density_gates", "sensitivity_gates", "torque_gates",
                                       "disorder_gates", "edelstein_gates")})
    if args.n_phi is not None:
        cfg["n_phi"] = args.n_phi
    if args.realizations is not None:
        cfg["realizations"] = cfg["edelstein_realizations"] = args.realizations
    if args.K0 is not None:
        cfg["K0"] = args.K0
    if args.time_limit is not None:
        cfg["time_limit"] = args.time_limit
    parts = [p.strip() for p in args.parts.split(",")]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"--parts {unknown} must be among {PARTS}")
    if cfg["n_phi"] < 8 or cfg["realizations"] < 2 or min(cfg["sizes"]) < 4 or not cfg["K0"] > 0:
        parser.error("--n-phi must be >= 8, --realizations >= 2 (a standard error), --sizes >= 4, --K0 > 0")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    phi = np.linspace(0, 2 * np.pi, cfg["n_phi"], endpoint=False)
    start = time.time()
    late = Deadline(cfg["time_limit"])

    def log(message):
        print(f"[{time.time() - start:7.1f} s] {message}", flush=True)

    data = {}
    for part in [p for p in PARTS if p in parts]:
        t0 = time.time()
        if part == "scan":
            data[part] = part_scan(cfg, phi, log, late)
        elif part == "paper":
            data[part] = part_paper(cfg, phi, log, late)
        elif part == "densities":
            data[part] = part_densities(cfg, log, late)
        elif part == "sensitivity":
            data[part] = part_sensitivity(cfg, phi, log, late)
        elif part == "torque":
            data[part] = part_torque(cfg, phi, log, late)
        elif part == "edelstein":
            data[part] = part_edelstein(cfg, log, late)
        else:
            data[part] = part_disorder(cfg, phi, log, late, args.ensemble_dir or out / f"t2g_ensemble{args.tag}")
        record = {"part": part, "config": {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()},
                  "phi": phi.tolist(), "theta": float(np.pi / 2), "seconds": time.time() - t0,
                  "load_average": list(os.getloadavg()), "data": data[part]}
        write_json(out / f"t2g_{part}{args.tag}.json", record)
        data[part + "_phi"] = phi
        log(f"part {part} done in {time.time() - t0:.1f} s (load average {os.getloadavg()[0]:.1f})")
    figures(out, data, args.tag)
    log("done")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
