"""Junction parameters from TOML files and ``name=value`` overrides.

A config is a flat TOML table whose keys are the parameter names of ``shared/model.md``
(Lx, Ly, Lz, W, n_barrier, t, mu, alpha3, dxc, U0, xi, theta, phi, K0, seed) plus
``disorder_layers`` ("all" or "2deg"), ``dxc_profile`` (a list of Lz numbers) and
``disorder_file`` (a .npy array of shape (Lz, Lx, Ly), the on-site potential in units of
energy, path relative to the config file). Numbers may be written as expressions of pi
("pi/4", "1.2*6") where a string is accepted (``--set``).
"""

from __future__ import annotations

import ast
import dataclasses
import math
import operator
import pathlib
import tomllib
from typing import Iterable, Optional

import numpy as np

from .model import GEOMETRY_FIELDS, JunctionParams

INTEGER_FIELDS = ("Lx", "Ly", "Lz", "W", "n_barrier", "seed")
NUMBER_FIELDS = ("t", "mu", "alpha3", "dxc", "U0", "xi", "theta", "phi", "K0")
OTHER_FIELDS = ("disorder_layers", "dxc_profile", "disorder_file")
ALLOWED = INTEGER_FIELDS + NUMBER_FIELDS + OTHER_FIELDS

_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.Pow: operator.pow, ast.USub: operator.neg, ast.UAdd: operator.pos}


def parse_number(text: str, name: str) -> float:
    """A real number from text such as "0.3", "-pi/4" or "1.2*6" (no names other than pi)."""

    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return node.value
        if isinstance(node, ast.Name) and node.id == "pi":
            return math.pi
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](ev(node.operand))
        raise ValueError
    try:
        return float(ev(ast.parse(text.strip(), mode="eval")))
    except (ValueError, SyntaxError, ZeroDivisionError, TypeError):
        raise ValueError(f"{name} = {text!r} is not a number (numbers and pi with + - * / ** are accepted)") from None


def _coerce(name: str, value, base: Optional[pathlib.Path]):
    if name not in ALLOWED:
        raise ValueError(f"unknown parameter {name!r}; allowed: {', '.join(ALLOWED)}")
    if name in INTEGER_FIELDS:
        number = parse_number(value, name) if isinstance(value, str) else value
        if isinstance(number, bool) or not float(number).is_integer():
            raise ValueError(f"{name} = {value!r} must be an integer")
        return int(number)
    if name in NUMBER_FIELDS:
        if isinstance(value, str):
            return parse_number(value, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{name} = {value!r} must be a number")
        return float(value)
    if name == "dxc_profile":
        items = value.split(",") if isinstance(value, str) else value
        return tuple(parse_number(v, name) if isinstance(v, str) else float(v) for v in items)
    if name == "disorder_file":
        path = pathlib.Path(value)
        return path if path.is_absolute() or base is None else base / path
    return str(value)


def read_toml(config) -> dict:
    """The tables of a TOML file, with a ValueError naming the file if it is missing or invalid."""
    path = pathlib.Path(config)
    if not path.is_file():
        raise ValueError(f"config file {str(config)!r} does not exist")
    with open(path, "rb") as fh:
        try:
            return tomllib.load(fh)
        except tomllib.TOMLDecodeError as err:
            raise ValueError(f"config file {str(config)!r} is not valid TOML: {err}") from None


def load_params(config: Optional[str] = None, overrides: Iterable[str] = ()) -> JunctionParams:
    """JunctionParams from a TOML file (or the defaults) with ``name=value`` overrides applied."""
    values = {}
    base = None
    if config is not None:
        base = pathlib.Path(config).parent
        values.update({k: _coerce(k, v, base) for k, v in read_toml(config).items()})
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"--set {item!r}: expected name=value")
        name, value = item.split("=", 1)
        values[name.strip()] = _coerce(name.strip(), value.strip(), pathlib.Path.cwd())
    disorder_file = values.pop("disorder_file", None)
    if disorder_file is not None:
        try:
            values["disorder"] = np.load(disorder_file)
        except (OSError, ValueError) as err:
            raise ValueError(f"disorder_file {str(disorder_file)!r} could not be read as a .npy array: {err}") from None
    if "dxc_profile" in values:
        values["dxc_profile"] = np.asarray(values["dxc_profile"], dtype=float)
    return JunctionParams(**values)


def params_dict(p: JunctionParams) -> dict:
    """The parameters as plain JSON-able values (arrays as lists), for result files."""
    out = {}
    for field in dataclasses.fields(p):
        value = getattr(p, field.name)
        if value is None:
            continue
        if field.name in GEOMETRY_FIELDS:
            out[field.name] = value
        else:
            arr = np.asarray(value)
            out[field.name] = arr.tolist() if arr.ndim else float(arr)
    return out
