"""The analysis helpers of the t2g study (scripts/t2g_study.py, docs/t2g.md): the torque decomposition and the
disorder statistics, on synthetic data with known answers (no transport)."""

import json
import os
import pathlib
import shutil

import numpy as np
from scipy.special import ellipk

from scripts.t2g_study import (born_rate, curve_summary, disorder_sizes, edelstein_strengths, figures,
                               injected_conductance, params, size_consistency, size_measures,
                               torque_components)


def test_torque_decomposition_recovers_known_coefficients():
    """tau built from the four shapes (m x y, m x (m x y), m x x, m x (m x x)) with known coefficients, plus a
    higher harmonic orthogonal to them, decomposes back to the coefficients (1e-12) with the harmonic's share
    in ``rest_relative``; tau.m = 0 for every shape."""
    phi = 2 * np.pi * np.arange(16) / 16
    m = np.stack([np.cos(phi), np.sin(phi), np.zeros_like(phi)], axis=-1)
    y, x = np.broadcast_to([0.0, 1.0, 0.0], m.shape), np.broadcast_to([1.0, 0.0, 0.0], m.shape)
    coef = {"T_FL_y": 0.3, "T_DL_y": -1.2, "T_FL_x": 0.05, "T_DL_x": 0.7}
    shapes = {"T_FL_y": np.cross(m, y), "T_DL_y": np.cross(m, np.cross(m, y)), "T_FL_x": np.cross(m, x),
              "T_DL_x": np.cross(m, np.cross(m, x))}
    tau = sum(coef[k] * shapes[k] for k in coef)
    out = torque_components(phi, tau)
    for k, v in coef.items():
        assert abs(out[k] - v) < 1e-12
    assert out["rest_relative"] < 1e-12
    assert out["max_abs_tau_dot_m"] < 1e-12
    # a three-fold out-of-plane part is none of the four shapes: all of it is "rest"
    extra = np.zeros_like(tau)
    extra[:, 2] = 0.4 * np.cos(3 * phi)
    out = torque_components(phi, tau + extra)
    for k, v in coef.items():
        assert abs(out[k] - v) < 1e-12
    expected = np.linalg.norm(extra) / np.linalg.norm(tau + extra)
    assert abs(out["rest_relative"] - expected) < 1e-12
    # batched over a leading axis (the per-layer decomposition)
    out = torque_components(phi, np.stack([tau, 2 * tau]))
    assert np.allclose(out["T_DL_y"], [-1.2, -2.4], atol=1e-12)


def test_curve_summary_statistics():
    """The jackknife standard error of a mean is the usual standard error (exactly, 1e-12); the mean-of-norm
    curve is the mean of hypot(Gx, Gy); an isotropic ensemble has no harmonic beyond its errors' size; the
    norm-of-mean curve of realizations with a common four-fold part shows it (A_4/A_0 within 3 errors)."""
    rng = np.random.default_rng(3)
    phi = 2 * np.pi * np.arange(16) / 16
    n = 40
    gx = 1.0 + 0.1 * np.cos(4 * phi) + 0.3 * rng.standard_normal((n, 16))
    gy = 0.2 * rng.standard_normal((n, 16))
    out = curve_summary(gx, gy)
    amp = np.hypot(gx, gy)
    assert out["n"] == n
    assert np.allclose(out["mean_of_norm"]["curve"], amp.mean(0), atol=1e-12)
    assert np.allclose(out["mean_of_norm"]["stderr"], amp.std(0, ddof=1) / np.sqrt(n), atol=1e-12)
    assert np.allclose(out["norm_of_mean"]["curve"], np.hypot(gx.mean(0), gy.mean(0)), atol=1e-12)
    h4, se4 = out["norm_of_mean"]["harmonics_over_A0"][3], out["norm_of_mean"]["harmonics_stderr"][3]
    assert abs(h4 - 0.1) < 3 * se4 and se4 < 0.05
    diff, se = out["mean_of_norm"]["paired_difference"]
    hi, lo = out["mean_of_norm"]["phi_max_index"], out["mean_of_norm"]["phi_min_index"]
    assert abs(diff - (amp[:, hi] - amp[:, lo]).mean()) < 1e-12 and se > 0


def test_injected_conductance_sums_the_injectors_column_into_the_side_leads():
    """T(a s <- M s') summed over the side leads a and both spins, nothing from M to M or from the side leads
    (1e-14), on a random T with leads (L, R, M) and a leading angle axis."""
    rng = np.random.default_rng(5)
    T = rng.random((4, 3, 2, 3, 2))
    got = injected_conductance(T, ("L", "M", "R"))
    expected = T[:, 0, :, 1, :].sum(axis=(-2, -1)) + T[:, 2, :, 1, :].sum(axis=(-2, -1))
    assert got.shape == (4,)
    assert np.allclose(got, expected, rtol=0, atol=1e-14)


def test_size_measures_against_direct_formulas():
    """The phi-averaged measures of the size comparison: mean magnitude, efficiency and injected conductance
    with the usual standard error over realizations; the magnitude of the mean and the root mean square with
    jackknife errors, which for a large ensemble approach the delta-method errors (20 %); the efficiency of
    realizations whose |G_sc| is a fixed fraction of G_inj is that fraction with zero error (1e-12); the
    inverse-Edelstein part b of G_sc = b z x m + a m is b (1e-12) without noise and within 3 standard errors
    with it, a = 0 likewise, and the noise alone gives b, a zero within 3 standard errors while |<G_sc>| is
    biased upwards."""
    rng = np.random.default_rng(7)
    n, n_phi = 400, 8
    gx = 0.3 + 0.5 * rng.standard_normal((n, n_phi))
    gy = 0.1 * rng.standard_normal((n, n_phi))
    g_inj = 2.0 + rng.random((n, n_phi))
    phi = 2 * np.pi * np.arange(n_phi) / n_phi
    out = size_measures(gx, gy, g_inj, phi)
    amp = np.hypot(gx, gy)
    for key, per in (("mean_of_norm", amp.mean(1)), ("g_inj", g_inj.mean(1)), ("efficiency", (amp / g_inj).mean(1))):
        assert np.allclose(out[key], [per.mean(), per.std(ddof=1) / np.sqrt(n)], rtol=1e-12, atol=0)
    assert abs(out["norm_of_mean"][0] - np.hypot(gx.mean(0), gy.mean(0)).mean()) < 1e-12
    # the magnitude of the mean is dominated by <G_x> = 0.3 here: its error is that of the phi-averaged gx
    delta = gx.mean(1).std(ddof=1) / np.sqrt(n)
    assert abs(out["norm_of_mean"][1] / delta - 1) < 0.2
    squares = (gx ** 2 + gy ** 2) / 2
    assert abs(out["rms"][0] - np.sqrt(squares.mean())) < 1e-12
    delta = squares.mean(1).std(ddof=1) / np.sqrt(n) / (2 * np.sqrt(squares.mean()))
    assert abs(out["rms"][1] / delta - 1) < 0.2
    fixed = size_measures(0.6 * g_inj, 0.8 * g_inj, g_inj, phi)
    assert abs(fixed["efficiency"][0] - 1.0) < 1e-12 and fixed["efficiency"][1] < 1e-12
    b = 0.05 * (1 + rng.random((n, 1)))  # the realizations' own b, mean 0.075
    exact = size_measures(-b * np.sin(phi), b * np.cos(phi), g_inj, phi)
    assert abs(exact["z_cross_m"][0] - b.mean()) < 1e-12 and abs(exact["along_m"][0]) < 1e-12
    noise = 0.2 * rng.standard_normal((2, n, n_phi))
    noisy = size_measures(-b * np.sin(phi) + noise[0], b * np.cos(phi) + noise[1], g_inj, phi)
    assert abs(noisy["z_cross_m"][0] - b.mean()) < 3 * noisy["z_cross_m"][1]
    assert abs(noisy["along_m"][0]) < 3 * noisy["along_m"][1]
    pure = size_measures(noise[0], noise[1], g_inj, phi)
    assert abs(pure["z_cross_m"][0]) < 3 * pure["z_cross_m"][1] and abs(pure["along_m"][0]) < 3 * pure["along_m"][1]
    assert pure["norm_of_mean"][0] > 2 * pure["z_cross_m"][1]  # the bias: about 1.25 per-angle errors


def test_born_rate_of_three_square_lattice_copies():
    """With lam = gamma = delta_E = 0 and t_h = t_l the 2DEG is three copies of the square lattice, whose density
    of states per site and spin at energy E above the band bottom is K(m) / (2 pi^2 t), m = 1 - (1 - E/4t)^2 (the
    lattice Green's function); at E = gate = 0.2 t the estimate is three times that within 5 % (the counting
    noise of the grid), and hbar/tau = 2 pi nu K0^2 (1e-12)."""
    p = params(8, 0.2, lam=0.0, gamma=0.0, delta_E=0.0, t_h=1.0)
    nu, rate = born_rate(p, 0.3, nk=800)
    exact = 3 * ellipk(1 - (1 - 0.2 / 4) ** 2) / (2 * np.pi ** 2)
    assert abs(nu / exact - 1) < 0.05
    assert abs(rate - 2 * np.pi * nu * 0.09) < 1e-12


DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs"


def test_figures_across_sizes_and_disorder_strengths(tmp_path):
    """The study's committed data drawn again: the size figure from the disorder parts of two sizes (L = 12, 16,
    each json read back as {L: {gate: row}}), the disorder-strength figure from the Edelstein parts of two K0
    (the newest size's files only), and the size consistency table beside it; a part's own figure named after
    its json; nothing across files from one file alone."""
    for name in ("t2g_disorder.json", "t2g_edelstein.json"):
        shutil.copy(DOCS / name, tmp_path / name)
    figures(tmp_path, {})
    assert not (tmp_path / "t2g_disorder_size.png").exists() and not (tmp_path / "t2g_edelstein_disorder.png").exists()
    for name in ("t2g_disorder_L16.json", "t2g_edelstein_K0.1.json"):
        shutil.copy(DOCS / name, tmp_path / name)
    sizes = disorder_sizes(tmp_path)
    assert sorted(sizes) == [12, 16] and sorted(sizes[16]) == [-0.06, 0.12]
    assert all("size_measures" in row for rows in sizes.values() for row in rows.values())
    L, strengths = edelstein_strengths(tmp_path)
    assert L == 12 and sorted(strengths) == [0.1, 0.5]
    figures(tmp_path, {}, "_L16")
    figures(tmp_path, {}, "_L16")  # again, with the size consistency file in the folder
    consistency = json.loads((tmp_path / "t2g_size_consistency.json").read_text())["rows"]
    assert {(r["gate"], r["measure"]) for r in consistency} >= {(-0.06, "efficiency"), (0.12, "z_cross_m")}
    assert all(r["sizes"] == [12, 16] and r["dof"] == 1 and 0 <= r["p"] <= 1 for r in consistency)
    for name in ("t2g_disorder_size.png", "t2g_edelstein_disorder.png", "t2g_disorder_L16.png", "t2g_disorder.png",
                 "t2g_edelstein.png"):
        assert (tmp_path / name).stat().st_size > 10_000, name
    # an Edelstein file of another size leaves only its own size in the comparison
    other = json.loads((DOCS / "t2g_edelstein_K0.2.json").read_text())
    other["data"] = {"16": next(iter(other["data"].values()))}
    (tmp_path / "t2g_edelstein_L16.json").write_text(json.dumps(other))
    later = (tmp_path / "t2g_edelstein.json").stat().st_mtime + 10  # the newest, whatever the clock's resolution
    os.utime(tmp_path / "t2g_edelstein_L16.json", (later, later))
    L, strengths = edelstein_strengths(tmp_path)
    assert L == 16 and sorted(strengths) == [0.2]


def test_size_consistency():
    """Equal values give chi^2 = 0, p = 1 and the inverse-variance mean; two values 10 errors apart give
    chi^2 = 50 (1e-12) and p = 1.5e-12 (the chi^2 tail of one degree of freedom);
    for values drawn from one Gaussian the p-values are uniform (mean 1/2 within 0.03 over 2000 draws)."""
    out = size_consistency([[1.0, 0.1], [1.0, 0.2]])
    assert out["chi2"] == 0 and out["p"] == 1 and out["dof"] == 1
    assert abs(out["stderr"] - 1 / np.sqrt(100 + 25)) < 1e-12
    assert abs(size_consistency([[0.0, 0.1], [1.0, 0.1], [0.5, 0.1]])["mean"] - 0.5) < 1e-12
    apart = size_consistency([[0.0, 0.1], [1.0, 0.1]])
    assert abs(apart["chi2"] - 50) < 1e-12 and 1.4e-12 < apart["p"] < 1.6e-12
    rng = np.random.default_rng(11)
    se = np.array([0.1, 0.2, 0.3])
    ps = [size_consistency(np.stack([2 + se * rng.standard_normal(3), se], axis=1))["p"] for _ in range(2000)]
    assert abs(np.mean(ps) - 0.5) < 0.03
