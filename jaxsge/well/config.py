"""The config of ``jaxsge well``: a ``[well]`` table and one table per figure, checked before any computation.

``[well]`` holds the fields of :class:`jaxsge.well.model.WellParams`; the figure tables (fig2 ... fig6,
derivatives, numerics) and their defaults are :data:`DEFAULT_SECTIONS` (``configs/well_paper.toml``
writes them all out). docs/configs.md ("The well command") lists every setting, its units and its
allowed range, as checked by :func:`validate_sections`. ``--set d=3`` changes a well parameter,
``--set fig3.n_alpha=51`` or ``--set fig4.alpha_L=0.02,0.06`` a figure setting. Numbers are read by
:mod:`jaxsge.io.config` (expressions of pi allowed); integer settings must be exact integers (151.5
is refused, never truncated). Every error is a ValueError naming the parameter, its value and what
is allowed.
"""

from __future__ import annotations

import copy
from typing import Iterable

from ..io.config import SIZE_LIMIT, did_you_mean, parse_integer, parse_number, parse_numbers, read_toml, split_overrides
from .model import PARAM_FIELDS, WellParams, validate

DEFAULT_SECTIONS = {
    "fig2": {"alpha_L": [0.046, 0.05], "alpha_R": 0.0},
    "fig3": {"alpha_L_max": 0.15, "n_alpha": 151, "alpha_R": [-0.025, 0.0, 0.025], "resolved_alpha_R": -0.025},
    "fig4": {"alpha_R": -0.025, "alpha_L": [0.02, 0.04, 0.062, 0.08, 0.1], "n_z": 601, "margin": 0.5},
    "fig5": {"d": [0.52, 1.0, 3.0], "alpha": 0.01, "n_z": 601, "margin": 0.5},
    "fig6": {"d_min": 0.1, "d_max": 10.0, "n_d": 397, "alpha": [0.001, 0.01], "guide_from": 4.0,
             "maxima_below": 2.0, "n_fine": 381},
    "derivatives": {"step_alpha": 1e-6, "step_d": 1e-6},
    "numerics": {"n_k_factor": 1},
}
#: Integer settings and their smallest value (a linspace of n points needs n >= 2).
INTEGER_MINIMUM = {"n_alpha": 2, "n_z": 2, "n_d": 2, "n_fine": 2, "n_k_factor": 1}
#: Every figure setting as ``section.key``.
SETTING_NAMES = [f"{s}.{k}" for s in DEFAULT_SECTIONS for k in DEFAULT_SECTIONS[s]]


def parse_setting(section: str, key: str, value):
    """One figure setting from a TOML value or an override string, by the type of its default."""
    name = f"{section}.{key}"
    if isinstance(DEFAULT_SECTIONS[section][key], list):
        return list(parse_numbers(value, name))
    if key in INTEGER_MINIMUM:
        return parse_integer(value, name, minimum=INTEGER_MINIMUM[key], maximum=SIZE_LIMIT)
    return parse_number(value, name)


def load_well_config(path=None, overrides: Iterable[str] = ()) -> tuple[WellParams, dict]:
    """WellParams and the figure settings from a TOML file (None: the defaults) and ``NAME=VALUE`` overrides.

    Everything is checked (:func:`validate_sections`) before this returns.
    """
    raw = {} if path is None else read_toml(path)
    well = WellParams().as_dict()
    sections = copy.deepcopy(DEFAULT_SECTIONS)

    def assign(name, value):
        section, dot, key = name.partition(".")
        if name in SETTING_NAMES:
            sections[section][key] = parse_setting(section, key, value)
        elif not dot and name in PARAM_FIELDS:
            well[name] = parse_number(value, name)
        else:
            raise ValueError(f"unknown parameter {name!r}{did_you_mean(name, (*PARAM_FIELDS, *SETTING_NAMES))}; "
                             f"allowed: {', '.join((*PARAM_FIELDS, *SETTING_NAMES))}")

    for table, entries in raw.items():
        if table not in ("well", *DEFAULT_SECTIONS):
            raise ValueError(f"config file {str(path)!r}: unknown entry {table!r}; allowed tables: well, "
                             f"{', '.join(DEFAULT_SECTIONS)} (well parameters go in the [well] table)")
        if not isinstance(entries, dict):
            raise ValueError(f"config file {str(path)!r}: {table} must be a table [{table}]")
        for key, value in entries.items():
            assign(key if table == "well" else f"{table}.{key}", value)
    for name, value in split_overrides(overrides):
        assign(name, value)
    params = WellParams(**well)
    validate_sections(params, sections)
    return params, sections


def require(ok: bool, name: str, value, allowed: str) -> None:
    if not ok:
        raise ValueError(f"{name} = {value} must be {allowed}")


def validate_sections(p: WellParams, sections: dict) -> None:
    """Check the well parameters and every figure setting against what the computations need.

    Plain Python on plain numbers (:func:`load_well_config` produces them); the grids each
    figure builds from them are checked by :func:`jaxsge.well.figures.figure_numerics`.
    """
    validate(p)
    names = {f"{s}.{k}" for s in sections for k in sections[s]}
    if names != set(SETTING_NAMES):
        raise ValueError(f"figure settings: missing {sorted(set(SETTING_NAMES) - names)}, "
                         f"unknown {sorted(names - set(SETTING_NAMES))}")
    fig3, fig5, fig6 = (sections[s] for s in ("fig3", "fig5", "fig6"))
    steps = sections["derivatives"]
    require(fig3["alpha_L_max"] > 0, "fig3.alpha_L_max", fig3["alpha_L_max"],
            "> 0 eV nm^2 (the scan runs over [0, alpha_L_max])")
    for section in ("fig4", "fig5"):
        require(sections[section]["margin"] >= 0, f"{section}.margin", sections[section]["margin"],
                ">= 0 nm (the profiles cover [-margin, d + margin])")
    require(min(fig5["d"]) > 0, "fig5.d", fig5["d"], "a list of widths > 0 nm")
    require(fig6["d_min"] > 0, "fig6.d_min", fig6["d_min"], "> 0 nm (a width of the ferromagnet)")
    require(fig6["d_max"] > fig6["d_min"], "fig6.d_max", fig6["d_max"], f"> fig6.d_min = {fig6['d_min']} nm")
    require(fig6["d_min"] < fig6["maxima_below"] <= fig6["d_max"], "fig6.maxima_below", fig6["maxima_below"],
            f"in (fig6.d_min, fig6.d_max] = ({fig6['d_min']}, {fig6['d_max']}] nm")
    require(steps["step_alpha"] > 0, "derivatives.step_alpha", steps["step_alpha"], "> 0 eV nm^2")
    # The central difference in d evaluates d - step_d at the Fig. 2 point (d) and the Fig. 5 (c) point.
    widths = min(float(p.d), fig5["d"][-1])
    require(0 < steps["step_d"] < widths, "derivatives.step_d", steps["step_d"],
            f"> 0 and below the widths it is taken at (d = {float(p.d)}, fig5.d[-1] = {fig5['d'][-1]} nm)")
    # spin_derivatives refuses the spin-degenerate point, where the roots are double.
    if float(p.Delta) == float(p.Delta_L) == float(p.Delta_R) == 0:
        require(sections["fig2"]["alpha_L"][0] != 0 or sections["fig2"]["alpha_R"] != 0, "fig2.alpha_L[0]",
                sections["fig2"]["alpha_L"][0], "non-zero when fig2.alpha_R = 0 and Delta = Delta_L = Delta_R = 0 "
                "(the derivative check at this point would be spin-degenerate)")
        require(fig5["alpha"] != 0, "fig5.alpha", fig5["alpha"],
                "non-zero when Delta = Delta_L = Delta_R = 0 (the derivative check at the Fig. 5 (c) point would be "
                "spin-degenerate)")
