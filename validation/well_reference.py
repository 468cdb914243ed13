"""Independent references for :mod:`jaxsge.well.model` (NumPy/SciPy, no transfer matrices).

* :func:`fd_states`: finite differences in z for the same Hamiltonian, hard walls deep in the
  barriers, each interface delta on one grid point (weight 1/h), Fermi momenta from Sturm
  counts of the block-tridiagonal H_z(k) - E_F, states by inverse iteration.
* :func:`fd_kubo_bruteforce`: Eq. (6) of the seed integrated on a Cartesian (k_x, k_y) grid
  with a Gaussian delta function, with the laboratory-frame (complex) Rashba term, for the
  finite-difference Hamiltonian: no use of isotropy.
* :func:`finite_well_levels`: the alpha = 0 levels of the (spin-split) asymmetric finite well
  from its phase condition.
* :func:`rashba_edelstein`: the first-order (Bychkov-Rashba / Edelstein) result for one
  interface without exchange (docs/quantum_well.md).

Conventions, units and the working spin basis are those of :mod:`jaxsge.well.model`.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.optimize
import scipy.sparse
import scipy.sparse.linalg

from jaxsge.well.model import HBAR2_2ME, KUBO_PREFACTOR, PARAM_FIELDS, WellParams, validate

SIGMA_Y = np.array([[0, -1j], [1j, 0]])
SIGMA_X = np.array([[0, 1.0], [1.0, 0]])


def _scalar(p: WellParams) -> dict:
    validate(p)
    values = {name: float(np.asarray(getattr(p, name))) for name in PARAM_FIELDS}
    values["c"] = HBAR2_2ME / values["mass"]
    return values


def finite_well_levels(p: WellParams, spin: int) -> np.ndarray:
    """Bound levels below E_F of the alpha = 0 well for spin s = +1 (up) or -1 (down), in eV.

    Phase condition of the asymmetric well: kappa d + atan(kappa/q_L) + atan(kappa/q_R) = n pi,
    n = 1, 2, ..., with kappa = sqrt((E - s Delta)/c), q = sqrt((V + s Delta_side - E)/c); the
    phase increases with E, so the levels below E_F are n = 1 .. floor(phase(E_F)/pi).
    """
    v = _scalar(p)
    floor = spin * v["Delta"]

    def phase(E):
        kappa = math.sqrt(max(E - floor, 0.0) / v["c"])
        q_l = math.sqrt((v["V_L"] + spin * v["Delta_L"] - E) / v["c"])
        q_r = math.sqrt((v["V_R"] + spin * v["Delta_R"] - E) / v["c"])
        return kappa * v["d"] + math.atan(kappa / q_l) + math.atan(kappa / q_r)

    if v["E_F"] <= floor:
        return np.zeros(0)
    n_levels = int(phase(v["E_F"]) // math.pi)
    return np.array([scipy.optimize.brentq(lambda E: phase(E) - n * math.pi, floor, v["E_F"], xtol=1e-15, rtol=1e-15)
                     for n in range(1, n_levels + 1)])


def alpha_zero_momenta(p: WellParams) -> np.ndarray:
    """Fermi momenta k = sqrt((E_F - E_n,s)/c) of every spin-split level below E_F, sorted."""
    v = _scalar(p)
    levels = np.concatenate([finite_well_levels(p, +1), finite_well_levels(p, -1)])
    return np.sort(np.sqrt((v["E_F"] - levels) / v["c"]))


def rashba_edelstein(p: WellParams) -> float:
    """First order in alpha_L of S_total for Delta = 0 and alpha_R = 0 (tau e E / hbar nm^-1).

    Without exchange the states are chiral, sigma_y = chi = +/-1, and to first order each level
    E_n splits as in a Rashba 2DEG: eps = E_n + c k^2 + chi alpha_n k with alpha_n =
    alpha_L |phi_n(0)|^2 (phi_n the alpha = 0 level). The two Fermi circles give
    k_+ - k_- = -alpha_n / c, so Eq. (6) yields S_total = alpha_L / (8 pi^2 c) sum_n |phi_n(0)|^2
    (the Edelstein result, independent of E_F per subband with both branches occupied).
    """
    v = _scalar(p)
    if v["Delta"] != 0 or v["Delta_L"] != 0 or v["Delta_R"] != 0 or v["alpha_R"] != 0:
        raise ValueError("rashba_edelstein: needs Delta = Delta_L = Delta_R = 0 and alpha_R = 0")
    total = 0.0
    for E in finite_well_levels(p, +1):
        kappa = math.sqrt(E / v["c"])
        q_l, q_r = math.sqrt((v["V_L"] - E) / v["c"]), math.sqrt((v["V_R"] - E) / v["c"])
        theta = math.atan(kappa / q_l)
        end = kappa * v["d"] + theta
        norm = (math.sin(theta) ** 2 / (2 * q_l) + math.sin(end) ** 2 / (2 * q_r)
                + v["d"] / 2 - (math.sin(2 * end) - math.sin(2 * theta)) / (4 * kappa))
        total += math.sin(theta) ** 2 / norm
    return v["alpha_L"] * total / (8 * math.pi ** 2 * v["c"])


class FDGrid:
    """Nodes z_i = (i - n_b) h, h = d / round(d / h_target), with z = 0 and z = d on nodes and
    ``barrier`` nm of barrier on each side (hard walls beyond). Interface nodes carry the mean
    of the potentials (and exchanges) on both sides and the delta terms with weight 1/h."""

    def __init__(self, p: WellParams, h: float, barrier: float):
        v = _scalar(p)
        n_w = max(1, round(v["d"] / h))
        self.h = v["d"] / n_w
        n_b = math.ceil(barrier / self.h)
        self.z = (np.arange(n_w + 2 * n_b + 1) - n_b) * self.h
        self.i0, self.i_d = n_b, n_b + n_w
        idx = np.arange(self.z.size)
        left, right = idx < self.i0, idx > self.i_d

        def profile(left_value, well_value, right_value):
            out = np.where(left, left_value, np.where(right, right_value, well_value))
            out[self.i0] = (left_value + well_value) / 2
            out[self.i_d] = (well_value + right_value) / 2
            return out

        self.v = v
        self.V = profile(v["V_L"], 0.0, v["V_R"])
        self.Delta = profile(v["Delta_L"], v["Delta"], v["Delta_R"])
        self.rashba = np.zeros(self.z.size)          # coefficient of k sigma_(working x) per node
        self.rashba[self.i0] += v["alpha_L"] / self.h
        self.rashba[self.i_d] -= v["alpha_R"] / self.h
        self.t = v["c"] / self.h ** 2
        trapezoid = np.zeros(self.z.size)
        trapezoid[self.i0:self.i_d + 1] = 1.0
        trapezoid[[self.i0, self.i_d]] = 0.5
        self.well_weight = trapezoid

    def count_below(self, k, E):
        """Number of eigenvalues of H_z(k) below E for an array of k (Sturm count, block LDL^T)."""
        k = np.asarray(k, dtype=float)
        base = 2 * self.t + self.V[:, None] + self.v["c"] * k ** 2 - E
        count = np.zeros(k.shape, dtype=int)
        a_prev = b_prev = e_prev = None
        for i in range(self.z.size):
            a = base[i] + self.Delta[i]
            e = base[i] - self.Delta[i]
            b = self.rashba[i] * k
            if a_prev is not None:
                det_prev = a_prev * e_prev - b_prev ** 2
                scale = self.t ** 2 / det_prev
                a, b, e = a - scale * e_prev, b + scale * b_prev, e - scale * a_prev
            det = a * e - b ** 2
            count += np.where(det < 0, 1, np.where(a + e < 0, 2, 0))
            a_prev, b_prev, e_prev = a, b, e
        return count

    def hamiltonian(self, k) -> scipy.sparse.csr_matrix:
        """Real H_z(k) in the working basis (index 2 i + s), sparse."""
        n = self.z.size
        diag = np.empty(2 * n)
        diag[0::2] = 2 * self.t + self.V + self.v["c"] * k ** 2 + self.Delta
        diag[1::2] = 2 * self.t + self.V + self.v["c"] * k ** 2 - self.Delta
        off1 = np.zeros(2 * n - 1)
        off1[0::2] = self.rashba * k
        off2 = np.full(2 * n - 2, -self.t)
        return scipy.sparse.diags([diag, off1, off1, off2, off2], [0, 1, -1, 2, -2], format="csc")

    def dense_lab(self, kx, ky) -> np.ndarray:
        """Complex H(kx, ky) in the laboratory spin basis, shape kx.shape + (2n, 2n): the interface
        terms alpha (k_x sigma_y - k_y sigma_x) / h."""
        n = self.z.size
        base = np.kron(np.diag(2 * self.t + self.V), np.eye(2)) + np.kron(np.diag(self.Delta), np.diag([1.0, -1.0]))
        base -= self.t * (np.kron(np.eye(n, k=1) + np.eye(n, k=-1), np.eye(2)))
        ry, rx = np.kron(np.diag(self.rashba), SIGMA_Y), np.kron(np.diag(self.rashba), SIGMA_X)
        kx, ky = np.asarray(kx)[..., None, None], np.asarray(ky)[..., None, None]
        return base + self.v["c"] * (kx ** 2 + ky ** 2) * np.eye(2 * n) + kx * ry - ky * rx


def _default_barrier(v: dict) -> float:
    q_min = math.sqrt((min(v["V_L"] - abs(v["Delta_L"]), v["V_R"] - abs(v["Delta_R"])) - v["E_F"]) / v["c"])
    return 14.0 / q_min


def fd_states(p: WellParams, h: float, barrier: float | None = None, n_k: int = 4000, k_max: float | None = None,
              steps: int = 56) -> dict:
    """Fermi-level states of the finite-difference Hamiltonian and their Kubo contributions.

    Roots: changes of the Sturm count on a grid uniform in k^2, refined by bisection on the
    count (intervals where it changes by more than one are split first). Returns k, dE_dk
    (Hellmann-Feynman), sigma_y_well (trapezoid over the well nodes), sigma_y_total,
    S_state_well, S_well, S_total (units as in :class:`jaxsge.well.model.WellStates`) and
    the per-state spin density on the nodes (``z``, ``s``, in 1/nm).
    """
    v = _scalar(p)
    grid = FDGrid(p, h, _default_barrier(v) if barrier is None else barrier)
    if k_max is None:
        k_max = 1.5 * math.sqrt((v["E_F"] + abs(v["Delta"])) / v["c"])
    ks = k_max * np.sqrt(np.linspace(0, 1, n_k))
    counts = grid.count_below(ks, v["E_F"])
    lo, hi = [], []
    stack = [(ks[i], ks[i + 1], counts[i], counts[i + 1]) for i in np.flatnonzero(counts[:-1] != counts[1:])]
    while stack:
        a, b, ca, cb = stack.pop()
        if abs(ca - cb) == 1 or b - a < 1e-12:
            lo.append(a)
            hi.append(b)
            continue
        m = (a + b) / 2
        cm = int(grid.count_below(np.array([m]), v["E_F"])[0])
        stack += [(a, m, ca, cm)] if ca != cm else []
        stack += [(m, b, cm, cb)] if cm != cb else []
    lo, hi = np.array(lo), np.array(hi)
    c_lo = grid.count_below(lo, v["E_F"])
    for _ in range(steps):
        mid = (lo + hi) / 2
        same = grid.count_below(mid, v["E_F"]) == c_lo
        lo, hi = np.where(same, mid, lo), np.where(same, hi, mid)
    k = np.sort((lo + hi) / 2)
    rng = np.random.default_rng(0)
    out = {name: [] for name in ("dE_dk", "sigma_y_well", "sigma_y_total", "s")}
    for q in k:
        H = grid.hamiltonian(q)
        shifted = (H - (v["E_F"] + 1e-8) * scipy.sparse.identity(H.shape[0])).tocsc()
        lu = scipy.sparse.linalg.splu(shifted)
        psi = rng.standard_normal(H.shape[0])
        for _ in range(3):
            psi = lu.solve(psi)
            psi /= np.linalg.norm(psi)
        s_nodes = 2 * psi[0::2] * psi[1::2]
        out["dE_dk"].append(2 * v["c"] * q + np.sum(grid.rashba * s_nodes))
        out["sigma_y_well"].append(np.sum(grid.well_weight * s_nodes))
        out["sigma_y_total"].append(np.sum(s_nodes))
        out["s"].append(s_nodes / grid.h)
    res = {name: np.array(val) for name, val in out.items()}
    weight = KUBO_PREFACTOR * k * np.sign(res["dE_dk"])
    res.update(k=k, z=grid.z, h=grid.h, S_state_well=weight * res["sigma_y_well"],
               S_state_total=weight * res["sigma_y_total"], profile=np.sum(weight[:, None] * res["s"], axis=0))
    res["S_well"], res["S_total"] = res["S_state_well"].sum(), res["S_state_total"].sum()
    return res


def fd_kubo_bruteforce(p: WellParams, h: float, etas, n_grid: int = 121, k_extent: float | None = None,
                       barrier: float | None = None, chunk: int = 2048) -> np.ndarray:
    """S_well of Eq. (6) for the finite-difference Hamiltonian on an n_grid x n_grid Cartesian
    k grid over [-k_extent, k_extent]^2, with delta(x) -> exp(-x^2/2 eta^2)/(sqrt(2 pi) eta),
    for each eta in ``etas`` (eV). Velocities by Hellmann-Feynman, sigma_y over the well nodes
    (trapezoid). Units tau e E / hbar nm^-1."""
    v = _scalar(p)
    grid = FDGrid(p, h, _default_barrier(v) if barrier is None else barrier)
    etas = np.atleast_1d(np.asarray(etas, dtype=float))
    if k_extent is None:
        k_extent = 1.3 * math.sqrt((v["E_F"] + abs(v["Delta"]) + 6 * etas.max()) / v["c"])
    axis = np.linspace(-k_extent, k_extent, n_grid)
    kx, ky = (a.ravel() for a in np.meshgrid(axis, axis, indexing="ij"))
    dk2 = (axis[1] - axis[0]) ** 2
    ry = np.kron(np.diag(grid.rashba), SIGMA_Y)
    sy_well = np.kron(np.diag(grid.well_weight), SIGMA_Y)
    total = np.zeros(etas.size)
    for start in range(0, kx.size, chunk):
        sl = slice(start, start + chunk)
        energies, vectors = np.linalg.eigh(grid.dense_lab(kx[sl], ky[sl]))
        vel = 2 * v["c"] * kx[sl, None] + np.einsum("kin,ij,kjn->kn", vectors.conj(), ry, vectors).real
        spin = np.einsum("kin,ij,kjn->kn", vectors.conj(), sy_well, vectors).real
        x = (v["E_F"] - energies)[None] / etas[:, None, None]
        delta = np.exp(-x ** 2 / 2) / (math.sqrt(2 * math.pi) * etas[:, None, None])
        total += np.einsum("ekn,kn->e", delta, vel * spin)
    return -total * dk2 / (2 * math.pi) / (4 * math.pi ** 2)
