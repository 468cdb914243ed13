"""General layered junctions (``stack.Stack``) from TOML files, and their result files.

A stack config reads like the Hamiltonian, layer by layer, bottom to top::

    Lx = 20
    Ly = 20
    energy = 1.1
    theta = "pi/2"
    phi = 0.0                      # or a list of angles

    [[layers]]                     # z = 0
    name = "2deg"
    onsite = 4.0
    alpha3 = -0.2

    [[layers]]                     # z = 1 .. 3: three identical layers
    repeat = 3
    onsite = 6.0
    dxc = -0.05
    alpha1 = 0.1
    hoppings = [{offset = [1, 1], value = "0.05j"}]   # H[r, r+d]: a number or a 2x2 list

    [[side_leads]]
    name = "L"
    edge = "-x"                    # -x, +x, -y, +y
    layers = 0                     # or [first, last]
    width = 12

    [top]
    name = "M"
    onsite = 6.0
    dxc = -0.6

Layer keys: the fields of ``stack.Layer`` plus ``repeat`` and ``onsite_file`` (a .npy (Lx, Ly)
profile, relative to the config); lead keys: the fields of ``stack.SideLead`` /
``stack.VerticalLead``. Alternatively ``preset`` = "three_terminal", "five_terminal",
"barrier", "2deg" or "both" (``presets``) with the parameters of ``shared/model.md`` as
top-level keys (and ``alpha1`` for the barrier). Numbers may be written as strings with pi
("pi/4"); complex entries as Python literals ("0.1j", "1-2j").
"""

from __future__ import annotations

import dataclasses
import math
import pathlib
from typing import Iterable, Optional

import numpy as np

from . import presets
from .config import _coerce, parse_number, read_toml
from .model import JunctionParams
from .stack import Layer, SideLead, Stack, VerticalLead

PRESETS = ("three_terminal", "five_terminal") + presets.MECHANISMS
STACK_KEYS = ("Lx", "Ly", "theta", "phi", "seed", "energy", "layers", "side_leads", "top", "bottom", "preset")


def _number(value, name):
    return parse_number(value, name) if isinstance(value, str) else value


def _complex(value, name):
    if isinstance(value, str):
        try:
            return complex(value.replace(" ", ""))
        except ValueError:
            raise ValueError(f"{name} = {value!r} is not a number (complex numbers as '0.1j', '1-2j')") from None
    if isinstance(value, list):
        return [_complex(v, name) for v in value]
    return value


def _table(entries, name):
    if not isinstance(entries, list):
        raise ValueError(f"{name} must be a list of {{offset = [dx, dy], value = ...}} tables")
    out = {}
    for entry in entries:
        if not isinstance(entry, dict) or set(entry) != {"offset", "value"}:
            raise ValueError(f"{name}: each entry needs exactly the keys offset and value, got {entry!r}")
        out[tuple(entry["offset"])] = np.asarray(_complex(entry["value"], name), dtype=complex)
    return out


def _fields(cls, table: dict, where: str, base: Optional[pathlib.Path]) -> dict:
    names = {f.name for f in dataclasses.fields(cls)}
    extra = {"repeat", "onsite_file"} if cls is Layer else set()
    unknown = set(table) - names - extra
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(names | extra)}")
    out = {}
    for key, value in table.items():
        if key in ("hoppings", "up"):
            out[key] = _table(value, f"{where}.{key}")
        elif key == "onsite_file":
            path = pathlib.Path(value)
            path = path if path.is_absolute() or base is None else base / path
            try:
                out["onsite"] = np.load(path)
            except (OSError, ValueError) as err:
                raise ValueError(f"{where}.onsite_file {str(path)!r} could not be read as a .npy array: {err}") from None
        elif key in ("name", "edge", "repeat", "layers", "width", "offset"):
            out[key] = value
        elif isinstance(value, list):
            out[key] = tuple(_number(v, f"{where}.{key}") for v in value)
        else:
            out[key] = _number(value, f"{where}.{key}")
    return out


def _layers(entries, base) -> tuple:
    if not isinstance(entries, list) or not entries:
        raise ValueError("layers must be a non-empty array of tables [[layers]]")
    layers = []
    for z, table in enumerate(entries):
        fields = _fields(Layer, table, f"layers[{z}]", base)
        repeat = fields.pop("repeat", 1)
        if not isinstance(repeat, int) or repeat < 1:
            raise ValueError(f"layers[{z}].repeat = {repeat!r} must be an integer >= 1")
        layers += [Layer(**fields)] * repeat
    return tuple(layers)


def load_stack(config, overrides: Iterable[str] = ()) -> tuple:
    """(Stack, energy) from a stack config with ``name=value`` overrides of its top-level numbers."""
    path = pathlib.Path(config)
    values = dict(read_toml(path))
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"--set {item!r}: expected name=value")
        name, value = (s.strip() for s in item.split("=", 1))
        values[name] = value
    base = path.parent
    preset = values.pop("preset", None)
    energy = values.pop("energy", None)
    if preset is not None:
        if preset not in PRESETS:
            raise ValueError(f"preset = {preset!r} must be one of {PRESETS}")
        alpha1 = float(_number(values.pop("alpha1", 0.2), "alpha1"))
        p = JunctionParams(**{k: _coerce(k, v, base) for k, v in values.items()})
        if preset in presets.MECHANISMS:
            stack = presets.mechanism(preset, p, alpha1=alpha1)
        else:
            stack = getattr(presets, preset)(p)
        return stack, float(p.mu if energy is None else _number(energy, "energy"))
    unknown = set(values) - set(STACK_KEYS)
    if unknown:
        raise ValueError(f"unknown key(s) {sorted(unknown)} in {str(config)!r}; allowed: {STACK_KEYS} "
                         "(or a preset with the parameters of shared/model.md)")
    for key in ("Lx", "Ly", "layers"):
        if key not in values:
            raise ValueError(f"{str(config)!r} must set {key}")
    angles = {}
    for key in ("theta", "phi"):
        if key in values:
            v = values[key]
            angles[key] = (np.array([_number(a, key) for a in v], dtype=float) if isinstance(v, list)
                           else float(_number(v, key)))
    stack = Stack(
        Lx=int(_number(values["Lx"], "Lx")), Ly=int(_number(values["Ly"], "Ly")),
        layers=_layers(values["layers"], base),
        side_leads=tuple(SideLead(**_fields(SideLead, t, f"side_leads[{i}]", base))
                         for i, t in enumerate(values.get("side_leads", []))),
        top=VerticalLead(**_fields(VerticalLead, values["top"], "top", base)) if "top" in values else None,
        bottom=VerticalLead(**_fields(VerticalLead, values["bottom"], "bottom", base)) if "bottom" in values else None,
        seed=int(values.get("seed", 0)), **angles)
    if energy is None:
        raise ValueError(f"{str(config)!r} must set energy (the Fermi energy, units of the hopping)")
    return stack, float(_number(energy, "energy"))


def stack_dict(stack: Stack) -> dict:
    """The stack's full description as JSON-able values (for result files)."""

    def plain(value):
        if value is None or isinstance(value, (str, bool, int)):
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else str(value)
        if isinstance(value, (tuple, list)):
            return [plain(v) for v in value]
        arr = np.asarray(value)
        if np.iscomplexobj(arr):
            return {"re": arr.real.tolist(), "im": arr.imag.tolist()}
        return arr.tolist()

    def obj(x):
        return None if x is None else {f.name: plain(getattr(x, f.name)) for f in dataclasses.fields(x)}

    return {"Lx": stack.Lx, "Ly": stack.Ly, "theta": plain(stack.theta), "phi": plain(stack.phi), "seed": stack.seed,
            "layers": [obj(layer) for layer in stack.layers], "side_leads": [obj(lead) for lead in stack.side_leads],
            "top": obj(stack.top), "bottom": obj(stack.bottom)}
