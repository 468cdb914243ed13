"""Linear response of spin-resolved terminals: spin-charge and charge-spin conversion.

Ports are (lead, spin) pairs, lead in L, R, F, B, M and spin as in ``solve.Transmissions``.
In linear response the Landauer-Buttiker currents [Eq. (1) of G. Fleury, M. Barth, C. Gorini,
PRB 108, L081402 (2023)] are I_i = sum_j (N_i delta_ij - T_ij) mu_j, with I_i the particle
current flowing from reservoir i into the junction (e = h = 1: conductances in e^2/h). This
is the sign with which the general solver reproduces the paper's printed Eqs. (2), (3) and (8)
and the Onsager-Casimir relation (4) (checked in tests/test_response.py).

Each lead either has set potentials (per spin) or floats: its two spin ports then share an
unknown common shift fixed by zero net charge current (a spin bias may still be applied on
top of it, as for the spin pumper M).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .model import LEADS

L, R, F, B, M = range(5)


def conductance_matrix(T, n_open):
    """G = diag(N) - T over the 10 ports, shape (..., 10, 10), so that I = G mu."""
    t = T.reshape(T.shape[:-4] + (10, 10))
    return jnp.einsum("...i,ij->...ij", n_open.reshape(n_open.shape[:-2] + (10,)), jnp.eye(10)) - t


def _small_solve(a, b):
    """x with a x = b for the k x k floating-lead block (k <= 5), by Gauss-Jordan elimination.

    Plain array operations rather than LAPACK: batched LAPACK calls that run concurrently can
    deadlock XLA:CPU's thread pool (jaxlib 0.10.2), and the four conversions of one evaluation
    would otherwise be four such calls. No pivoting is needed: the block of G = diag(N) - T is
    diagonally dominant (sum_j T_ij <= N_i), with a positive diagonal when the lead has channels.
    """
    k = a.shape[-1]
    x = b
    for i in range(k):
        pivot = a[..., i, i]
        row, x_i = a[..., i, :] / pivot[..., None], x[..., i] / pivot
        factor = a[..., :, i]
        a = a - factor[..., :, None] * row[..., None, :]
        x = x - factor * x_i[..., None]
        a = a.at[..., i, :].set(row)
        x = x.at[..., i].set(x_i)
    return x


def terminal_response(T, n_open, bias, floating):
    """Currents and potentials of every port for given biases, with floating leads solved for.

    ``bias`` (..., 5, 2): the potential of every port (for a floating lead: its spin bias, to
    which a common unknown shift is added); ``floating``: lead indices with zero net charge
    current. Returns (currents, potentials), each (..., 5, 2); currents flow from the
    reservoirs into the junction, and sum to zero (charge conservation).
    """
    g = conductance_matrix(T, n_open)
    mu = jnp.asarray(bias).reshape(jnp.shape(bias)[:-2] + (10,))
    floating = tuple(floating)
    if floating:
        proj = np.zeros((10, len(floating)))
        for k, lead in enumerate(floating):
            proj[2 * lead: 2 * lead + 2, k] = 1.0
        a = jnp.einsum("ik,...ij,jl->...kl", proj, g, proj)
        rhs = -jnp.einsum("ik,...ij,...j->...k", proj, g, mu)
        mu = mu + jnp.einsum("ik,...k->...i", proj, _small_solve(a, rhs))
    currents = jnp.einsum("...ij,...j->...i", g, mu)
    return currents.reshape(currents.shape[:-1] + (5, 2)), mu.reshape(mu.shape[:-1] + (5, 2))


def _axis_leads(axis: str):
    if axis not in ("x", "y"):
        raise ValueError(f"axis = {axis!r} must be 'x' or 'y'")
    return (L, R) if axis == "x" else (B, F)


def spin_charge(T, n_open, axis: str = "x"):
    """G_sc: charge current I_L - I_R (axis x) or I_B - I_F (axis y) per unit spin bias in M.

    M carries the spin bias mu_M^+ - mu_M^- = 1 and floats (no net charge current); every
    side lead is at the same potential [the set-up of Eqs. (2) and (8)].
    """
    first, second = _axis_leads(axis)
    bias = jnp.zeros(jnp.shape(n_open)).at[..., M, :].set(jnp.array([0.5, -0.5]))
    currents, _ = terminal_response(T, n_open, bias, floating=(M,))
    charge = currents.sum(axis=-1)
    return charge[..., first] - charge[..., second]


def charge_spin(T, n_open, axis: str = "x"):
    """G_cs: I_M^+ - I_M^- per unit electric bias mu_L - mu_R = -1 (axis x; B, F for axis y).

    mu_L = -1/2, mu_R = +1/2 (resp. B, F), the other side leads at 0, M floating [Eq. (3)].
    """
    first, second = _axis_leads(axis)
    bias = jnp.zeros(jnp.shape(n_open)).at[..., first, :].set(-0.5).at[..., second, :].set(0.5)
    currents, _ = terminal_response(T, n_open, bias, floating=(M,))
    return currents[..., M, 0] - currents[..., M, 1]


def conversions(T, n_open) -> dict:
    """G_sc^x, G_sc^y, G_cs^x, G_cs^y (keys Gsc_x, ...) from the same transmissions."""
    return {**{f"Gsc_{a}": spin_charge(T, n_open, a) for a in "xy"},
            **{f"Gcs_{a}": charge_spin(T, n_open, a) for a in "xy"}}


def _from_m(T):
    """G^s_{alpha M} = T(alpha, s <- M) summed over alpha's spin, shape (..., 5, 2)."""
    return T[..., :, :, M, :].sum(axis=-2)


def _to_m(T):
    """G^s_{M alpha} = T(M, s <- alpha) summed over alpha's spin, shape (..., 5, 2)."""
    return T[..., M, :, :, :].sum(axis=-1).swapaxes(-1, -2)


def eq2_spin_charge(T):
    """Eq. (2) as printed: three terminals L, R, M (F and B absent or ignored)."""
    g = _from_m(T)
    gl, gr = g[..., L, :], g[..., R, :]
    total = gl.sum(-1) + gr.sum(-1)
    return (gl.sum(-1) * (gr[..., 0] - gr[..., 1]) - gr.sum(-1) * (gl[..., 0] - gl[..., 1])) / total


def eq3_charge_spin(T):
    """Eq. (3) as printed: three terminals L, R, M."""
    g = _to_m(T)
    gl, gr = g[..., L, :], g[..., R, :]
    total = gl.sum(-1) + gr.sum(-1)
    return -(gl.sum(-1) * (gr[..., 0] - gr[..., 1]) - gr.sum(-1) * (gl[..., 0] - gl[..., 1])) / total


def eq8_spin_charge(T, axis: str = "x"):
    """Eq. (8) as printed (five terminals); axis y exchanges L <-> B and R <-> F."""
    g = _from_m(T)
    a, b, c, d = (L, R, B, F) if axis == "x" else (B, F, L, R)
    ga, gb, gc, gd = g[..., a, :], g[..., b, :], g[..., c, :], g[..., d, :]
    total = g[..., :4, :].sum(axis=(-2, -1))
    up, down = 0, 1
    return (ga.sum(-1) * (gb[..., up] - gb[..., down]) - gb.sum(-1) * (ga[..., up] - ga[..., down])
            + (ga[..., down] - gb[..., down]) * (gc[..., up] + gd[..., up])
            - (ga[..., up] - gb[..., up]) * (gc[..., down] + gd[..., down])) / total


__all__ = ["LEADS", "conductance_matrix", "terminal_response", "spin_charge", "charge_spin", "eq2_spin_charge",
           "eq3_charge_spin", "eq8_spin_charge"]
