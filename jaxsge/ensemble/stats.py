"""Statistics of a finished ensemble: means, standard errors, the Fig. 3 curves, convergence, harmonics.

Arrays of disordered units have shape ``(*cases, n_realizations, n_phi, ...)``, the clean ones
``(*cases[:-1], n_phi, ...)``. Standard errors are s / sqrt(n) (ddof = 1), absent (never NaN) for one
realization. g_sc(phi) = sqrt(<Gx>^2 + <Gy>^2) / max over phi of the disorder-averaged
conductances [Fig. 3 of G. Fleury, M. Barth, C. Gorini, PRB 108, L081402 (2023)], with a
jackknife standard error (``docs/ensemble.md``, Statistics).
"""

from __future__ import annotations

import numpy as np

from ..observables.harmonics import angular_harmonics
from ..observables.scan import ZERO_CONDUCTANCE, normalised_amplitude as normalised, spin_charge_pair


def mean_and_stderr(samples, axis: int = 0):
    """Mean over ``axis`` and its standard error (None for fewer than two samples)."""
    samples = np.asarray(samples)
    n = samples.shape[axis]
    return samples.mean(axis=axis), (samples.std(axis=axis, ddof=1) / np.sqrt(n) if n > 1 else None)


def running_mean_and_stderr(samples, axis: int = 0):
    """Means of the first n samples for n = 1 .. N and their standard errors for n = 2 .. N, each
    stacked on a new leading axis (N and N - 1 entries)."""
    samples = np.moveaxis(np.asarray(samples), axis, 0)
    n = np.arange(1, samples.shape[0] + 1).reshape((-1,) + (1,) * (samples.ndim - 1))
    mean = np.cumsum(samples, axis=0) / n
    # Sum of squared deviations of each prefix from its own mean (exact in float64 for these sizes).
    squares = np.maximum(np.cumsum(samples ** 2, axis=0) - n * mean ** 2, 0)
    stderr = np.sqrt(squares[1:] / (n[1:] - 1)) / np.sqrt(n[1:])
    return mean, stderr


def jackknife(estimate, samples_x, samples_y):
    """Jackknife standard error of ``estimate(mean_x, mean_y)`` over samples on axis 0 (None if n < 2)."""
    n = samples_x.shape[0]
    if n < 2:
        return None
    values = estimate((samples_x.sum(0) - samples_x) / (n - 1), (samples_y.sum(0) - samples_y) / (n - 1))
    return np.sqrt((n - 1) / n * ((values - values.mean(0)) ** 2).sum(0))


def ensemble_statistics(disordered: dict, clean: dict, conductances, n_harmonics: int) -> dict:
    """Means, standard errors, g_sc of the mean curves, harmonics and convergence with n, per case.

    Keys: ``mean_<G>`` ``(*cases, n_phi)`` for each conductance G and, with two or more
    realizations, ``stderr_<G>``; ``g_sc`` ``(*cases, n_phi)`` and ``g_sc_stderr``; ``clean_g_sc``;
    ``harmonics_<G>`` ``(*cases, m)`` of the mean curves and ``harmonics_stderr_<G>``;
    ``running_mean_Gsc`` ``(*cases, n, n_phi)`` of ``|<G_sc>|``, and the convergence measures
    ``(*cases, n)``: ``convergence`` = ``max_phi |<G>_n - <G>_N| / max_phi |<G>_N|`` with
    ``|G| = sqrt(Gx^2 + Gy^2)``, ``convergence_g_sc`` = ``max_phi |g_sc,n - g_sc,N|``, and
    ``relative_stderr`` (n = 2..N) = ``max_phi SE_n / max_phi |<G>_N|``.
    """
    pair = spin_charge_pair(disordered)  # a missing axis (side leads on one axis only) counts as zero
    axis = pair[0].ndim - 2  # the realization axis
    gx, gy = (np.moveaxis(g, axis, 0) for g in pair)
    out = {}
    for key in conductances:
        mean, stderr = mean_and_stderr(disordered[key], axis=axis)
        out[f"mean_{key}"] = mean
        out[f"harmonics_{key}"] = angular_harmonics(mean, n_harmonics)
        if stderr is not None:
            out[f"stderr_{key}"] = stderr
            moved = np.moveaxis(disordered[key], axis, 0)
            out[f"harmonics_stderr_{key}"] = jackknife(lambda a, b: angular_harmonics(a, n_harmonics), moved, moved)
    mean_x, mean_y = spin_charge_pair(out, "mean_")
    clean_x, clean_y = spin_charge_pair(clean)
    if np.all(np.hypot(clean_x, clean_y).max(axis=-1) > ZERO_CONDUCTANCE):
        out["clean_g_sc"] = normalised(clean_x, clean_y)
    running_x, se_x = running_mean_and_stderr(gx)
    running_y, se_y = running_mean_and_stderr(gy)
    out["running_mean_Gsc"] = np.moveaxis(np.hypot(running_x, running_y), 0, -2)
    final = np.hypot(mean_x, mean_y).max(axis=-1)
    if np.any(final <= ZERO_CONDUCTANCE):
        return out  # <G_sc> vanishes at every angle in some case: g_sc and the relative measures are undefined
    out["g_sc"] = normalised(mean_x, mean_y)
    if gx.shape[0] > 1:
        out["g_sc_stderr"] = jackknife(normalised, gx, gy)
    change = np.hypot(running_x - mean_x, running_y - mean_y).max(axis=-1)
    out["convergence"] = np.moveaxis(change / final, 0, -1)
    with np.errstate(divide="ignore", invalid="ignore"):  # a running mean may vanish: its g_sc is then undefined
        running_g = np.hypot(running_x, running_y) / np.hypot(running_x, running_y).max(axis=-1, keepdims=True)
    out["convergence_g_sc"] = np.moveaxis(np.nan_to_num(np.abs(running_g - out["g_sc"]).max(axis=-1), nan=1.0),
                                          0, -1)
    if se_x.shape[0]:
        out["relative_stderr"] = np.moveaxis(np.hypot(se_x, se_y).max(axis=-1) / final, 0, -1)
    return out
