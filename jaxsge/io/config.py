"""The one configuration layer: TOML files and ``--set NAME=VALUE`` overrides, coerced one way, validated early.

Two kinds of config, told apart by a top-level key ``layers`` (what each may hold: ``docs/configs.md``):
a **junction** (flat keys named as in ``docs/model.md``, optionally a ``preset``: "paper",
"three_terminal", "five_terminal", a Fig. 2 mechanism, ``model.junction.mechanism``, or "t2g", the
three-orbital 2DEG of ``model.junction.t2g`` with its keys ``t_h, delta_E, lam, gamma, gate,
t2g_coupling``) and a **stack**
(``[[layers]]``, ``[[side_leads]]``, ``[top]``, ``[bottom]`` tables written like the Hamiltonian, plus
``repeat`` and ``onsite_file``; top-level keys and ``--set`` may name any parameter of its
``model.system.System``, such as ``layers[2].alpha1`` or ``M.dxc``). Both take the run settings
``n_phi``, ``n_realizations`` and ``kT``; for ensembles a parameter may be a list (``K0 = [0.5, 1.0]``,
``--set xi=7.2,9.6``). Numbers may be expressions of pi; integers must be exact (never truncated).
Everything is checked here, in plain Python, before any computation: an error is a ValueError
naming the parameter, its value and what is allowed.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import math
import operator
import pathlib
import tomllib
from typing import Iterable, Optional

import numpy as np

from ..model.junction import (DISORDER_LAYERS, MECHANISMS, NUMBER_FIELDS, SIDE_LEADS, T2G_COUPLINGS, T2G_FIELDS,
                              JunctionParams, mechanism, t2g, validate)
from ..model.stack import Layer, SideLead, Stack, VerticalLead, check_sign
from ..model.system import System, junction_system, stack_system

PRESETS = ("paper", "three_terminal", "five_terminal") + MECHANISMS + ("t2g",)
INTEGER_JUNCTION = ("Lx", "Ly", "Lz", "W", "n_barrier", "seed")
# What each preset sets (a value given for it too would be overwritten silently: refused).
PRESET_SETS = {"barrier": "alpha3", "2deg": "alpha1", "three_terminal": "side_leads", "five_terminal": "side_leads"}
CHOICES = {"disorder_layers": DISORDER_LAYERS, "preset": PRESETS, "t2g_coupling": T2G_COUPLINGS}
NUMBER_JUNCTION = NUMBER_FIELDS + T2G_FIELDS  # the numbers of JunctionParams (T2G_FIELDS: preset "t2g" only)
OTHER_JUNCTION = ("disorder_layers", "side_leads", "dxc_profile", "disorder_file", "preset", "t2g_coupling")
JUNCTION_KEYS = INTEGER_JUNCTION + NUMBER_JUNCTION + OTHER_JUNCTION
SETTINGS = {"n_phi": "integer", "n_realizations": "integer", "kT": "number"}
SEED_LIMIT = 2 ** 63
SIZE_LIMIT = 100_000
# Bounds of the integer keys of both kinds of config; any other integer key is 1 .. SIZE_LIMIT.
INTEGER_BOUNDS = {"seed": (0, SEED_LIMIT - 1), "n_barrier": (0, SIZE_LIMIT), "width": (0, SIZE_LIMIT),
                  "offset": (0, SIZE_LIMIT), "layers": (0, SIZE_LIMIT)}

_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.Pow: operator.pow, ast.USub: operator.neg, ast.UAdd: operator.pos}


def _evaluate(text: str, name: str, integer: bool):
    """A number from text such as "0.3", "-pi/4", "1.2*6" or (integers) "2**20"; nothing but numbers,
    pi and + - * / ** is accepted. Float arithmetic for numbers (an overflow is an error, not
    infinity); exact integer arithmetic, bounded, for integers."""

    def ev(node):
        if isinstance(node, ast.Constant) and type(node.value) in ((int,) if integer else (int, float)):
            return node.value if integer else float(node.value)
        if isinstance(node, ast.Name) and node.id == "pi" and not integer:
            return math.pi
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS and not (integer and isinstance(node.op, ast.Div)):
            left, right = ev(node.left), ev(node.right)
            if integer and isinstance(node.op, ast.Pow):
                if right < 0:  # 2**-1 is 0.5: not an integer
                    raise TypeError
                if right > 64 or abs(left) > SEED_LIMIT:
                    raise OverflowError
            value = _OPS[type(node.op)](left, right)
            if integer and abs(value) > 2 ** 64:
                raise OverflowError
            return value
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](ev(node.operand))
        raise ValueError
    try:
        value = ev(ast.parse(text.strip(), mode="eval").body)
    except OverflowError:
        raise ValueError(f"{name} = {text!r} is too large") from None
    except (ValueError, SyntaxError, ZeroDivisionError, TypeError, RecursionError, MemoryError):
        kind = "an integer (digits, + - * **)" if integer else "a number (numbers and pi with + - * / ** are accepted)"
        raise ValueError(f"{name} = {text!r} is not {kind}") from None
    if not integer and not math.isfinite(value):
        raise ValueError(f"{name} = {text!r} is not a finite number")
    return value


def parse_number(value, name: str) -> float:
    """A finite real number from a TOML value or an override string."""
    if isinstance(value, str):
        return _evaluate(value, name, integer=False)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} = {value!r} must be a number")
    try:
        number = float(value)
    except OverflowError:
        raise ValueError(f"{name} = {value!r} is too large") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} = {value!r} must be a finite number")
    return number


def parse_integer(value, name: str, minimum: Optional[int] = None, maximum: Optional[int] = None) -> int:
    """An exact integer (never rounded through float: "8.7" and 2.7 are refused), within bounds."""
    if isinstance(value, str):
        text = value.strip()
        try:
            number = _evaluate(text, name, integer=True)
        except ValueError:  # "8.0" or "1e3" is accepted, "8.7" refused with the message above
            try:
                as_float = float(text)
            except ValueError:
                as_float = math.nan
            if not (math.isfinite(as_float) and as_float.is_integer() and abs(as_float) < 2 ** 53):
                raise
            number = int(as_float)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer() and abs(value) < 2 ** 53:
        number = int(value)
    else:
        raise ValueError(f"{name} = {value!r} must be an integer")
    if minimum is not None and number < minimum or maximum is not None and number > maximum:
        lo = "" if minimum is None else f"{minimum} <= "
        hi = "" if maximum is None else f" <= {maximum}"
        raise ValueError(f"{name} = {number} must satisfy {lo}{name}{hi}")
    return number


def parse_numbers(value, name: str) -> tuple:
    """A number, a list of numbers or a comma-separated string as a tuple of floats."""
    items = value.split(",") if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else [value]
    if not items:
        raise ValueError(f"{name} must be a number or a non-empty list of numbers")
    return tuple(parse_number(v, name) for v in items)


def read_toml(config) -> dict:
    """The tables of a TOML file (a UTF-8 byte-order mark is accepted), with a ValueError naming the file if
    it is missing, not a regular file, unreadable or invalid."""
    path = pathlib.Path(config)
    where = f"config file {str(config)!r}"
    if not path.exists():
        raise ValueError(f"{where} does not exist")
    if path.is_dir():
        raise ValueError(f"{where} is a folder; give a TOML file")
    if not path.is_file():  # a device, a FIFO (reading it could block forever), a socket
        raise ValueError(f"{where} is not a regular file; give a TOML file")
    try:
        text = path.read_bytes().decode("utf-8-sig")  # a byte-order mark, as some editors write, is dropped
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{where} is not valid TOML: {err}") from None
    except UnicodeDecodeError as err:
        raise ValueError(f"{where} is not UTF-8 text, as TOML files are (byte {err.start} is "
                         f"{err.object[err.start:err.start + 1]!r})") from None
    except RecursionError:
        raise ValueError(f"{where} nests arrays or tables too deeply to be read") from None
    except (OSError, MemoryError) as err:
        why = getattr(err, "strerror", None) or str(err) or "out of memory"
        raise ValueError(f"{where} cannot be read: {why}") from None


def did_you_mean(name: str, allowed) -> str:
    """' (did you mean 'x'?)' for the allowed name closest to a misspelt ``name``, or ''."""
    close = difflib.get_close_matches(str(name), [str(a) for a in allowed], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def split_overrides(overrides: Iterable[str]) -> list:
    """(name, value) pairs from ``--set NAME=VALUE`` strings."""
    out = []
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"--set {item!r}: expected NAME=VALUE")
        name, value = (part.strip() for part in item.split("=", 1))
        if not name:
            raise ValueError(f"--set {item!r}: the name is empty")
        out.append((name, value))
    return out


def load_array(path, name: str, base: Optional[pathlib.Path]) -> np.ndarray:
    """A real .npy array (path relative to the config's folder); its shape is checked by the model."""
    if not isinstance(path, (str, pathlib.Path)):
        raise ValueError(f"{name} = {path!r} must be a path (a string)")
    path = pathlib.Path(path)
    path = path if path.is_absolute() or base is None else base / path
    if not path.is_file():
        raise ValueError(f"{name} {str(path)!r} " + ("is a folder" if path.is_dir() else "does not exist" if not
                         path.exists() else "is not a regular file") + "; give a .npy file (numpy.save)")
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        why = ("it is text or pickled data, not the .npy format" if "pickle" in str(err) else str(err))
        raise ValueError(f"{name} {str(path)!r} could not be read as a .npy array ({why}); save it with "
                         "numpy.save") from None
    if not isinstance(array, np.ndarray):  # an .npz archive: several arrays
        array.close()
        raise ValueError(f"{name} {str(path)!r} is an .npz archive of several arrays; give one array saved with "
                         "numpy.save (.npy)")
    if array.dtype == bool or not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise ValueError(f"{name} {str(path)!r} must hold real numbers (it holds {array.dtype})")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} {str(path)!r} holds NaN or infinity")
    return array.astype(float)


@dataclasses.dataclass(frozen=True)
class Config:
    """A loaded config: the system, the run settings and (ensembles) the list-valued parameters in order."""

    system: System
    settings: dict
    lists: tuple
    path: str

    @property
    def kind(self) -> str:
        return self.system.kind


def _setting(name: str, value):
    if SETTINGS[name] == "integer":
        return parse_integer(value, name, minimum=1, maximum=10 ** 9)
    number = parse_number(value, name)
    check_sign(name, number, strict=False)
    return number


def load_config(config, overrides: Iterable[str] = (), allow_lists: bool = False) -> Config:
    """A Config from a junction or stack TOML file and ``--set`` overrides (see the module docstring).

    ``allow_lists``: list values of parameters are ensemble cases (kept in ``Config.lists``, in
    the order given); otherwise a list is an error (except theta and phi of a stack, which
    are angle grids).
    """
    path = pathlib.Path(config)
    raw = read_toml(path)
    pairs = split_overrides(overrides)
    settings = {name: _setting(name, value) for name, value in [*raw.items(), *pairs] if name in SETTINGS}
    sources = [(name, value, from_command_line) for from_command_line, items in ((False, raw.items()), (True, pairs))
               for name, value in items if name not in SETTINGS]  # everything else, the file first
    build = _stack_config if "layers" in raw else _junction_config
    system, lists = build(sources, path.parent, allow_lists, str(path))
    return Config(system, settings, tuple(lists), str(path))


def _integer(key: str, value, name: Optional[str] = None) -> int:
    """An integer config key within its bounds (``INTEGER_BOUNDS``)."""
    return parse_integer(value, name or key, *INTEGER_BOUNDS.get(key, (1, SIZE_LIMIT)))


def _list_or_number(name, value, allow_lists, lists):
    """A number; or, for ensembles, a list kept aside (its first value stands in the system)."""
    is_list = isinstance(value, list) or (isinstance(value, str) and "," in value)
    if is_list and not allow_lists:
        raise ValueError(f"{name} = {value!r}: a list of values is only accepted by the ensemble command")
    lists[:] = [(n, v) for n, v in lists if n != name]  # a later value replaces an earlier list
    if not is_list:
        return parse_number(value, name)
    values = parse_numbers(value, name)
    lists.append((name, values))
    return values[0]


# ---------------------------------------------------------------------------------------------
# Junction configs


def _junction_value(name, value, base, allow_lists, lists):
    if name in INTEGER_JUNCTION:
        return _integer(name, value)
    if name in NUMBER_JUNCTION:
        return _list_or_number(name, value, allow_lists, lists)
    if name in CHOICES:
        if value not in CHOICES[name]:
            raise ValueError(f"{name} = {value!r} must be one of {CHOICES[name]}")
        return value
    if name == "side_leads":
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
            raise ValueError(f"side_leads = {value!r} must be a list of lead names among {SIDE_LEADS}")
        return tuple(v.strip() for v in items)
    if name == "dxc_profile":
        return np.asarray(parse_numbers(value, name), dtype=float)
    if name == "disorder_file":
        return load_array(value, name, base)
    raise ValueError(f"unknown parameter {name!r}{did_you_mean(name, JUNCTION_KEYS + tuple(SETTINGS))}; allowed: "
                     f"{', '.join(JUNCTION_KEYS + tuple(SETTINGS))}")


def _junction_config(sources, base, allow_lists, where):
    lists, values = [], {}
    for name, value, from_command_line in sources:
        if isinstance(value, dict):
            raise ValueError(f"{where}: table [{name}] is not part of a junction config (a stack config has "
                             "[[layers]])")
        folder = pathlib.Path.cwd() if from_command_line else base  # --set paths: from here
        values[name] = _junction_value(name, value, folder, allow_lists, lists)
    if "disorder_file" in values:
        values["disorder"] = values.pop("disorder_file")
    preset = values.pop("preset", "paper")
    overwritten = PRESET_SETS.get(preset)
    if overwritten in values:
        raise ValueError(f"{where}: preset = {preset!r} sets {overwritten} itself, and {overwritten} is also given; "
                         f"remove one of them")
    t2g_only = sorted(k for k in values if k in T2G_FIELDS or k == "t2g_coupling")
    if t2g_only and preset != "t2g":
        raise ValueError(f"{where}: {', '.join(t2g_only)} belong to the t2g junction; add preset = \"t2g\" "
                         f"(the preset is {preset!r})")
    p = JunctionParams(**values)
    if preset == "t2g":
        p = t2g(p, **({"alpha3": values["alpha3"]} if "alpha3" in values else {}))
    elif preset in MECHANISMS:
        p = mechanism(preset, p, alpha1=values.get("alpha1", 0.2))
    elif preset != "paper":
        p = p.replace(side_leads=("L", "R") if preset == "three_terminal" else SIDE_LEADS)
    validate(p)
    return junction_system(p), lists


# ---------------------------------------------------------------------------------------------
# Stack configs


def _complex(value, name):
    if isinstance(value, str):
        try:
            number = complex(value.replace(" ", ""))
        except ValueError:
            raise ValueError(f"{name} = {value!r} is not a number (complex numbers as '0.1j', '1-2j')") from None
        if not (math.isfinite(number.real) and math.isfinite(number.imag)):
            raise ValueError(f"{name} = {value!r} must be finite")
        return number
    if isinstance(value, list):
        return [_complex(v, name) for v in value]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} = {value!r} must be a number or a list of lists of numbers (a 2x2 or 2n x 2n' block)")
    return parse_number(value, name)


def _table(entries, name):
    if not isinstance(entries, list):
        raise ValueError(f"{name} must be a list of {{offset = [dx, dy], value = ...}} tables")
    out = {}
    for entry in entries:
        if not isinstance(entry, dict) or set(entry) != {"offset", "value"}:
            raise ValueError(f"{name}: each entry needs exactly the keys offset and value, got {entry!r}")
        offset = entry["offset"]
        if not (isinstance(offset, list) and len(offset) == 2):
            raise ValueError(f"{name}: offset = {offset!r} must be [dx, dy]")
        key = tuple(parse_integer(v, f"{name}.offset") for v in offset)
        try:
            block = np.asarray(_complex(entry["value"], f"{name}.value"), dtype=complex)
        except ValueError as err:
            if str(err).startswith(name):
                raise
            block = np.zeros(0)  # a ragged nested list: refused below with the key
        if not (block.ndim == 0 or (block.ndim == 2 and block.size and not block.shape[0] % 2
                                    and not block.shape[1] % 2)):
            raise ValueError(f"{name}: the value at offset {list(key)} = {entry['value']!r} must be a number, a 2x2 "
                             "list [[a, b], [c, d]] or, on layers of n orbitals, a (2n x 2n') list of rows")
        out[key] = block
    return out


def _fields(cls, table, where: str, base) -> dict:
    if not isinstance(table, dict):
        raise ValueError(f"{where} must be a table")
    names = {f.name for f in dataclasses.fields(cls)}
    extra = {"repeat", "onsite_file"} if cls is Layer else set()
    unknown = sorted(set(table) - names - extra)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}{did_you_mean(unknown[0], names | extra)}; allowed: "
                         f"{sorted(names | extra)}")
    if "onsite" in table and "onsite_file" in table:
        raise ValueError(f"{where}: give onsite or onsite_file, not both")
    out = {}
    for key, value in table.items():
        name = f"{where}.{key}"
        if key in ("hoppings", "up"):
            out[key] = _table(value, name)
        elif key == "onsite_file":
            out["onsite"] = load_array(value, name, base)
        elif key in ("name", "edge"):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} = {value!r} must be a non-empty string")
            out[key] = value
        elif key == "layers" and isinstance(value, list):
            out[key] = tuple(_integer(key, v, name) for v in value)
        elif key in ("repeat", "width", "offset", "layers", "orbitals"):
            out[key] = _integer(key, value, name)
        elif key == "spin_axis":
            out[key] = parse_numbers(value, name)
        elif key == "orbital_names":
            if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                raise ValueError(f"{name} = {value!r} must be an array of strings, one per orbital")
            out[key] = tuple(value)
        elif isinstance(value, list):
            out[key] = np.asarray(parse_numbers(value, name))
        else:
            out[key] = parse_number(value, name)
    if cls is SideLead:
        for required in ("name", "edge"):
            if required not in out:
                raise ValueError(f"{where}: a side lead needs a {required}")
    return out


def _layers(entries, base) -> tuple:
    if not isinstance(entries, list) or not entries:
        raise ValueError("layers must be a non-empty array of tables [[layers]]")
    layers = []
    for z, table in enumerate(entries):
        fields = _fields(Layer, table, f"layers[{z}]", base)
        repeat = fields.pop("repeat", 1)
        layers += [Layer(**fields)] * repeat
    if len(layers) > SIZE_LIMIT:
        raise ValueError(f"the stack has {len(layers)} layers; at most {SIZE_LIMIT}")
    return tuple(layers)


def _stack_config(sources, base, allow_lists, where):
    lists, structural = [], {}
    parameters = []  # System parameters set at top level or by --set, applied after building
    for name, value, from_command_line in sources:
        if name in ("Lx", "Ly", "seed"):
            structural[name] = _integer(name, value)
        elif name in ("theta", "phi") and isinstance(value, list) and not allow_lists:
            structural[name] = np.asarray(parse_numbers(value, name))
        elif name in ("layers", "side_leads", "top", "bottom"):
            if from_command_line:
                raise ValueError(f"--set {name}: tables cannot be set from the command line")
            structural[name] = value
        else:
            parameters.append((name, value))
    for key in ("Lx", "Ly", "layers"):
        if key not in structural:
            raise ValueError(f"{where} must set {key}")
    side = structural.get("side_leads", [])
    if not isinstance(side, list):
        raise ValueError("side_leads must be an array of tables [[side_leads]]")
    stack = Stack(Lx=structural["Lx"], Ly=structural["Ly"], layers=_layers(structural["layers"], base),
                  side_leads=tuple(SideLead(**_fields(SideLead, t, f"side_leads[{i}]", base))
                                   for i, t in enumerate(side)),
                  **{k: VerticalLead(**_fields(VerticalLead, structural[k], k, base))
                     for k in ("top", "bottom") if k in structural},
                  **{k: structural[k] for k in ("seed", "theta", "phi") if k in structural})
    system = stack_system(stack, 0.0)
    for name, _ in parameters:  # names first, so that a junction key says so rather than "not a number"
        if name in JUNCTION_KEYS and name not in system.values:
            raise ValueError(f"{name!r} is a key of junction configs; this is a stack config (it has [[layers]]), "
                             f"whose parameters are: {', '.join(system.names)}")
    system.check_names([name for name, _ in parameters])
    values = {name: _list_or_number(name, value, allow_lists, lists) for name, value in parameters}
    energy = values.pop("energy", None)
    system = stack_system(stack, 0.0 if energy is None else energy)
    if energy is None:
        raise ValueError(f"{where} must set energy (the Fermi energy, units of the hopping)")
    return (system.with_values(**values) if values else system), lists
