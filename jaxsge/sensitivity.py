"""Parameter sensitivities of the transmissions and of G_sc / G_cs by automatic differentiation.

Everything is differentiated through the same traceable core as the values
(``solve._evaluate``), so a derivative is exact to rounding, not a finite difference:

* :func:`sensitivities` uses forward mode (one JVP per parameter, vmapped over the parameters
  so the value is computed once and every LU factorisation is shared by the tangents): the
  right choice for a few parameters and many outputs, batched over angles and disorder
  realizations like ``solve.transmissions``.
* :func:`gradient` uses reverse mode (one VJP): the right choice for one scalar output and many
  inputs, such as the whole disorder potential V(x, y, z).

Branches. The lead self-energies contain square roots; their derivative follows the branch of
the value (custom JVP rule in ``leads._chain_root``) and the Fisher-Lee factors keep closed
channels off the square root (``solve._scattering_matrix``). At a channel opening (mu at a
subband edge of a lead) the transmissions have a square-root onset, so their derivatives with
respect to the parameters that move mu relative to the edges (mu, t, dxc) diverge there: those
requests are refused within ``SINGULAR_TOLERANCE`` x 2t of an edge. The other parameters only
enter the scattering region, and their derivatives stay finite at an opening.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from . import response
from .leads import magnetic_lead_onsite, open_channels, side_mode_onsite
from .model import JunctionParams, _concrete, disorder_potential, validate
from .precision import x64
from .solve import _evaluate, chunk_size_for, dense_layers, path_name

PARAMETERS = ("alpha3", "dxc", "U0", "mu", "xi", "t", "theta", "phi", "K0")
QUANTITIES = ("Gsc_x", "Gsc_y", "Gcs_x", "Gcs_y", "T")
SCALAR_QUANTITIES = QUANTITIES[:4]
# Parameters that move the Fermi energy relative to the lead subband edges.
EDGE_PARAMETERS = ("mu", "t", "dxc")
# Distance (units of 2t) from a subband edge within which those derivatives are refused: the
# derivative grows like distance^-1/2 and is meaningless at the edge itself.
SINGULAR_TOLERANCE = 1e-6


@dataclasses.dataclass(frozen=True)
class Sensitivities:
    """Values and first derivatives, NumPy arrays with the batch shape as leading axes.

    ``values[q]`` for q in QUANTITIES (T has trailing axes (5, 2, 5, 2) as in
    ``solve.Transmissions``); ``derivatives[q][name]`` = d q / d name, same shape as
    ``values[q]``. The batch shape is (realizations, *angles) when realizations were asked,
    else the broadcast shape of theta and phi. Units: e^2/h per unit of the parameter
    (energies in t, angles in radians).
    """

    wrt: tuple
    values: dict
    derivatives: dict
    theta: np.ndarray
    phi: np.ndarray
    realizations: np.ndarray | None
    path: str


def _check_wrt(wrt, names) -> tuple:
    wrt = (wrt,) if isinstance(wrt, str) else tuple(wrt)
    if not wrt:
        raise ValueError("wrt must name at least one parameter")
    for name in wrt:
        if name not in names:
            raise ValueError(f"wrt = {name!r}: derivatives are available with respect to {names}")
    if len(set(wrt)) != len(wrt):
        raise ValueError(f"wrt = {wrt} names a parameter twice")
    return wrt


def check_not_singular(p: JunctionParams, wrt, energy=None) -> None:
    """Refuse derivatives with respect to mu, t or dxc at a channel opening (plain Python).

    A channel of a side lead or of M opens where (E - e_m)/2t = +-1; the transmissions rise
    like the square root of the distance to it, so d/d mu, d/d t and d/d dxc diverge there.
    """
    asked = [name for name in wrt if name in EDGE_PARAMETERS]
    if not asked:
        return
    t, dxc = float(np.asarray(p.t)), float(np.asarray(p.dxc))
    energies = np.atleast_1d(np.asarray(p.mu if energy is None else energy, dtype=float)).reshape(-1)
    for what, onsite in (("a side lead", np.asarray(side_mode_onsite(t, p.W))),
                         ("the magnetic lead M", np.asarray(magnetic_lead_onsite(p.replace(t=t, dxc=dxc))))):
        distance = np.abs(np.abs((energies[:, None] - onsite.reshape(-1)[None, :]) / (2 * t)) - 1)
        if distance.min() < SINGULAR_TOLERANCE:
            energy_at = energies[np.unravel_index(distance.argmin(), distance.shape)[0]]
            raise ValueError(
                f"the derivative with respect to {', '.join(asked)} is singular at mu = {energy_at}: a channel of "
                f"{what} opens within {distance.min():.2e} x 2t of it (below SINGULAR_TOLERANCE = "
                f"{SINGULAR_TOLERANCE:g}), where the transmissions have a square-root onset; move mu off the "
                "subband edge")


def _observables(q: JunctionParams, channels, n_dense: int) -> dict:
    """T and the four conversion conductances at q's angle and Fermi energy (traceable)."""
    T, n_open, _ = _evaluate(q, q.theta, q.phi, q.mu, channels, n_dense, False)
    return {"T": T, **response.conversions(T, n_open)}


def _with_realization(q: JunctionParams, index, draw: bool) -> JunctionParams:
    # The potential is rebuilt from q (not from the caller's p) so that d/d K0 and d/d t see it.
    return q.replace(disorder=disorder_potential(q, index)) if draw else q


def _point_jvp(p, theta, phi, index, wrt, channels, n_dense, draw):
    """Values and d/d(wrt) at one (angle, realization): one JVP per parameter, vmapped."""
    base = p.replace(theta=theta, phi=phi)
    x = jnp.stack([jnp.asarray(getattr(base, name), dtype=float) for name in wrt])

    def f(x):
        q = base.replace(**dict(zip(wrt, x)))
        return _observables(_with_realization(q, index, draw), channels, n_dense)

    # The primal does not depend on the vmapped tangent, so it is computed (and factorised) once.
    return jax.vmap(lambda v: jax.jvp(f, (x,), (v,)), out_axes=(None, -1))(jnp.eye(len(wrt)))


@functools.partial(jax.jit, static_argnames=("wrt", "channels", "n_dense", "draw"))
def _jvp_batch(p, theta, phi, index, wrt, channels, n_dense, draw):
    # Point by point (lax.map), not vmap: with jaxlib 0.10.2 on CPU, vmapping these JVPs over
    # angles made some programs (tangents along mu, U0, dxc) hang at run time. At the sizes where
    # derivatives are costly a chunk holds one point anyway.
    return jax.lax.map(lambda a: _point_jvp(p, *a, wrt, channels, n_dense, draw), (theta, phi, index))


def _draws_disorder(p: JunctionParams) -> bool:
    k0 = _concrete(p.K0)
    return p.disorder is None and not (k0 is not None and not np.any(k0))


@x64
def sensitivities(p: JunctionParams, wrt=("alpha3",), *, realizations=None, path: str = "auto",
                  memory_budget_gib=None, progress: bool = False) -> Sensitivities:
    """Forward-mode derivatives of T, G_sc^x, G_sc^y, G_cs^x, G_cs^y with respect to ``wrt``.

    ``wrt``: names from PARAMETERS. ``p.theta`` and ``p.phi`` may be arrays (broadcast
    together); ``realizations`` (with K0 > 0) a sequence of disorder realization indices
    (``model.disorder_potential``): the evaluation is vmapped over realizations x angles in
    chunks that fit ``memory_budget_gib``. Raises ValueError for unknown parameters and for
    derivatives that are singular at mu (:func:`check_not_singular`).
    """
    validate(p)
    if np.ndim(p.mu):
        raise ValueError("sensitivities work at one Fermi energy: mu must be a scalar")
    wrt = _check_wrt(wrt, PARAMETERS)
    check_not_singular(p, wrt)
    channels = open_channels(p)
    n_dense = dense_layers(p, path)
    draw = _draws_disorder(p)
    if realizations is not None:
        if not draw:
            raise ValueError("realizations need a drawn disorder: K0 > 0 and no explicit disorder array")
        realizations = np.asarray(realizations)
        if realizations.ndim != 1 or realizations.size == 0 or not np.issubdtype(realizations.dtype, np.integer) \
                or realizations.min() < 0:
            raise ValueError("realizations must be a non-empty 1D sequence of integers >= 0")
    theta, phi = np.broadcast_arrays(np.asarray(p.theta, dtype=float), np.asarray(p.phi, dtype=float))
    angle_shape = theta.shape
    index = np.zeros(1, dtype=np.int64) if realizations is None else realizations.astype(np.int64)
    grid = [a.reshape(-1) for a in np.meshgrid(index, theta.reshape(-1), indexing="ij")]
    phis = np.broadcast_to(phi.reshape(1, -1), (index.size, phi.size)).reshape(-1)
    total = grid[0].size
    # Each tangent carries its own copy of the large arrays alongside the value's.
    chunk = min(total, chunk_size_for(p, n_dense, memory_budget_gib, copies=1 + len(wrt)))
    base = p.replace(theta=0.0, phi=0.0)
    starts = range(0, total, chunk)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, total=math.ceil(total / chunk), unit="chunk", desc=f"{total} evaluations + derivatives")
    pieces = []
    for start in starts:
        idx = np.minimum(np.arange(start, start + chunk), total - 1)  # the last chunk is padded, then trimmed
        out = _jvp_batch(base, jnp.asarray(grid[1][idx]), jnp.asarray(phis[idx]), jnp.asarray(grid[0][idx]),
                         wrt, channels, n_dense, draw)
        pieces.append(jax.tree_util.tree_map(lambda a: np.asarray(a)[: min(chunk, total - start)], out))
    values, tangents = jax.tree_util.tree_map(lambda *a: np.concatenate(a), *pieces)
    shape = angle_shape if realizations is None else (index.size,) + angle_shape
    values = {q: v.reshape(shape + v.shape[1:]) for q, v in values.items()}
    derivatives = {q: {name: d[..., k].reshape(shape + d.shape[1:-1]) for k, name in enumerate(wrt)}
                   for q, d in tangents.items()}
    return Sensitivities(wrt, values, derivatives, theta, phi, realizations, path_name(p.Lz, n_dense))


@functools.partial(jax.jit, static_argnames=("quantity", "channels", "n_dense", "layers", "draw"))
def _value_and_gradient(p, params, potential, quantity, channels, n_dense, layers, draw):
    def objective(params, potential):
        q = p.replace(**params)
        if potential is not None:
            full = potential if layers == "all" else disorder_potential(q).at[0].set(potential)
            q = q.replace(disorder=full)
        else:
            q = _with_realization(q, 0, draw)
        return _observables(q, channels, n_dense)[quantity]

    return jax.value_and_grad(objective, argnums=(0, 1))(params, potential)


@x64
def gradient(p: JunctionParams, quantity: str = "Gsc_x", wrt=("disorder",), *, layers: str = "all"):
    """Reverse-mode gradient of one conversion conductance with respect to many inputs.

    ``quantity``: one of Gsc_x, Gsc_y, Gcs_x, Gcs_y at p's (scalar) angle and Fermi energy.
    ``wrt``: "disorder" (the on-site potential V of the realization ``disorder_potential(p)``,
    in units of t) and/or names from PARAMETERS. ``layers``: "all" differentiates with respect
    to V on every layer (shape (Lz, Lx, Ly); the upper layers are then eliminated densely,
    path "recursive"), "2deg" with respect to V on the 2DEG only (shape (Lx, Ly); the folded
    path stays available when the upper layers are clean). Returns (value, {name: gradient}).
    """
    validate(p)
    if quantity not in SCALAR_QUANTITIES:
        raise ValueError(f"quantity = {quantity!r} must be one of {SCALAR_QUANTITIES}")
    if layers not in ("all", "2deg"):
        raise ValueError(f"layers = {layers!r} must be 'all' or '2deg'")
    if np.ndim(p.theta) or np.ndim(p.phi) or np.ndim(p.mu):
        raise ValueError("gradient works at one point: theta, phi and mu must be scalars")
    wrt = _check_wrt(wrt, PARAMETERS + ("disorder",))
    check_not_singular(p, wrt)
    channels = open_channels(p)
    names = tuple(name for name in wrt if name != "disorder")
    potential = None
    n_dense = dense_layers(p)
    if "disorder" in wrt:
        full = disorder_potential(p)
        potential = full if layers == "all" else full[0]
        n_dense = p.Lz - 1 if layers == "all" else n_dense
    params = {name: jnp.asarray(getattr(p, name), dtype=float) for name in names}
    value, (g_params, g_potential) = _value_and_gradient(p, params, potential, quantity, channels, n_dense, layers,
                                                         _draws_disorder(p))
    grads = {name: float(g_params[name]) for name in names}
    if potential is not None:
        grads["disorder"] = np.asarray(g_potential)
    return float(value), grads
