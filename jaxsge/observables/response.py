"""Linear response of spin-resolved terminals: spin-charge and charge-spin conversion, by lead name.

Ports are (lead, spin) pairs, spin as in ``solve.Transmissions``. In linear response the
Landauer-Buttiker currents [Eq. (1) of G. Fleury, M. Barth, C. Gorini, PRB 108, L081402 (2023)]
are I_i = sum_j (N_i delta_ij - T_ij) mu_j, I_i flowing from reservoir i into the junction
(e = h = 1: conductances in e^2/h); with this sign the general solver reproduces the paper's
Eqs. (2), (3), (8) and the Onsager-Casimir relation (4) (tests/observables/test_response.py).

A lead has set potentials (per spin) or floats: its two spin ports then share an unknown shift
fixed by zero net charge current (a spin bias may sit on top, as for the spin pumper M). The
conversion set-ups need, of the injector's own reflection, only its row and column sums: exact
also when the solver filled that block from unitarity (``solve(..., reflection=False)``).

Conventions (``docs/model.md``): the injector is the lead named M; G_sc^x and G_cs^x use the
pair (L, R), G_sc^y and G_cs^y the pair (B, F) [the paper's Eq. (8) and its image under
L <-> B, R <-> F]. Other names can be given explicitly.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from ..core.precision import x64

AXIS_PAIRS = {"x": ("L", "R"), "y": ("B", "F")}


def _index(leads, name: str) -> int:
    leads = tuple(leads)
    if name not in leads:
        raise ValueError(f"lead {name!r} is not one of the junction's leads {leads}")
    return leads.index(name)


def _small_solve(a, b):
    """x with a x = b for the k x k floating-lead block, by Gauss-Jordan elimination.

    Plain array operations rather than LAPACK: differentiable, batched without batched LAPACK
    calls (see core.batching), and exact enough: the block of G = diag(N) - T is diagonally
    dominant (sum_j T_ij <= N_i), with a positive diagonal when the lead has channels, so no
    pivoting is needed.
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


@x64
def terminal_response(T, n_open, bias, floating=()):
    """Currents and potentials of every port for given biases, with floating leads solved for.

    ``bias`` (..., n, 2): the potential of every port (for a floating lead: its spin bias, to
    which a common unknown shift is added); ``floating``: indices of leads with zero net charge
    current. Returns (currents, potentials), each (..., n, 2); currents flow from the
    reservoirs into the junction and sum to zero (charge conservation).
    """
    n = T.shape[-1] * T.shape[-4]
    # G = diag(N) - T over the 2n ports, so that I = G mu.
    diag = jnp.einsum("...i,ij->...ij", n_open.reshape(n_open.shape[:-2] + (n,)), jnp.eye(n))
    g = diag - T.reshape(T.shape[:-4] + (n, n))
    mu = jnp.asarray(bias).reshape(jnp.shape(bias)[:-2] + (n,))
    floating = tuple(floating)
    if floating:
        proj = np.zeros((n, len(floating)))
        for k, lead in enumerate(floating):
            proj[2 * lead: 2 * lead + 2, k] = 1.0
        a = jnp.einsum("ik,...ij,jl->...kl", proj, g, proj)
        rhs = -jnp.einsum("ik,...ij,...j->...k", proj, g, mu)
        mu = mu + jnp.einsum("ik,...k->...i", proj, _small_solve(a, rhs))
    currents = jnp.einsum("...ij,...j->...i", g, mu)
    return currents.reshape(currents.shape[:-1] + (n // 2, 2)), mu.reshape(mu.shape[:-1] + (n // 2, 2))


@x64
def spin_charge(T, n_open, leads, pair=("L", "R"), injector="M"):
    """G_sc: charge current I_first - I_second per unit spin bias of the injector.

    The injector carries the spin bias mu^+ - mu^- = 1 and floats (no net charge current);
    every other lead is at the same potential [the set-up of Eqs. (2) and (8)].
    """
    first, second, m = (_index(leads, name) for name in (*pair, injector))
    bias = jnp.zeros(jnp.shape(n_open)).at[..., m, :].set(jnp.array([0.5, -0.5]))
    currents, _ = terminal_response(T, n_open, bias, floating=(m,))
    return currents[..., first, :].sum(axis=-1) - currents[..., second, :].sum(axis=-1)


@x64
def charge_spin(T, n_open, leads, pair=("L", "R"), injector="M"):
    """G_cs: I_M^+ - I_M^- per unit electric bias mu_first - mu_second = -1, the injector floating [Eq. (3)]."""
    first, second, m = (_index(leads, name) for name in (*pair, injector))
    bias = jnp.zeros(jnp.shape(n_open)).at[..., first, :].set(-0.5).at[..., second, :].set(0.5)
    currents, _ = terminal_response(T, n_open, bias, floating=(m,))
    return currents[..., m, 0] - currents[..., m, 1]


def conversion_axes(leads) -> tuple:
    """The axes ("x", "y") whose lead pairs, and the injector M, the junction has."""
    leads = set(leads)
    if "M" not in leads:
        return ()
    return tuple(axis for axis, pair in AXIS_PAIRS.items() if set(pair) <= leads)


@x64
def conversions(T, n_open, leads) -> dict:
    """G_sc and G_cs along every axis the leads allow (keys Gsc_x, Gsc_y, Gcs_x, Gcs_y), in e^2/h."""
    axes = conversion_axes(leads)
    if not axes:
        raise ValueError(f"conversion conductances need the injector M and the pair L, R (and B, F for y); "
                         f"the leads are {tuple(leads)}")
    return {**{f"Gsc_{a}": spin_charge(T, n_open, leads, AXIS_PAIRS[a]) for a in axes},
            **{f"Gcs_{a}": charge_spin(T, n_open, leads, AXIS_PAIRS[a]) for a in axes}}


def injector_sums(T, leads, injector="M"):
    """G^s_{alpha M} = T(alpha, s <- M) and G^s_{M alpha} = T(M, s <- alpha), each summed over alpha's
    spin: two dicts lead -> (..., 2) [the partial conductances of Eqs. (2), (3) and (8)]."""
    m = _index(leads, injector)
    return ({name: T[..., i, :, m, :].sum(axis=-2) for i, name in enumerate(leads)},
            {name: T[..., m, :, i, :].sum(axis=-1) for i, name in enumerate(leads)})


def _eq2(g):
    gl, gr = g["L"], g["R"]
    total = gl.sum(-1) + gr.sum(-1)
    return (gl.sum(-1) * (gr[..., 0] - gr[..., 1]) - gr.sum(-1) * (gl[..., 0] - gl[..., 1])) / total


@x64
def eq2_spin_charge(T, leads):
    """Eq. (2) as printed: three terminals L, R, M."""
    return _eq2(injector_sums(T, leads)[0])


@x64
def eq3_charge_spin(T, leads):
    """Eq. (3) as printed: three terminals L, R, M."""
    return -_eq2(injector_sums(T, leads)[1])


@x64
def eq8_spin_charge(T, leads, axis: str = "x"):
    """Eq. (8) as printed (five terminals); axis y exchanges L <-> B and R <-> F."""
    g = injector_sums(T, leads)[0]
    ga, gb, gc, gd = (g[name] for name in (("L", "R", "B", "F") if axis == "x" else ("B", "F", "L", "R")))
    total = sum(g[name].sum(-1) for name in ("L", "R", "F", "B"))
    return (ga.sum(-1) * (gb[..., 0] - gb[..., 1]) - gb.sum(-1) * (ga[..., 0] - ga[..., 1])  # spin up 0, down 1
            + (ga[..., 1] - gb[..., 1]) * (gc[..., 0] + gd[..., 0])
            - (ga[..., 0] - gb[..., 0]) * (gc[..., 1] + gd[..., 1])) / total
