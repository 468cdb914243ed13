"""A junction as a function of named parameters: what observables scan, differentiate and average.

A :class:`System` pairs a traceable builder ``values -> (Stack, energy)`` with the current value of
every named parameter, so that scans, sensitivities and ensembles work the same way for any junction.
The paper's junction (:func:`junction_system`) has the numbers of ``JunctionParams`` (the energy is
``mu``; the t2g junction also ``t_h``, ``delta_E``, ``lam``, ``gamma``, ``gate``). Any stack (:func:`stack_system`) has ``energy``, ``theta``, ``phi``, every number of a layer
as ``layers[z].field`` and of a lead as ``LEAD.field`` (e.g. ``M.dxc``), and a layer field name alone
(``alpha1``, ``K0``, ...) for the layers where it is set (non-zero), which must share one value:
setting it sets them all, and its derivative is the sum of theirs.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from .junction import JunctionParams, junction, number_fields, params_dict, plain, validate
from .stack import LAYER_NUMBERS, Stack, check_real, concrete, validate_stack


@dataclasses.dataclass(frozen=True)
class System:
    """Named real parameters and the traceable map from them to (Stack, energy).

    ``kind``: "junction" or "stack"; ``values``: name -> current value; ``build``: values ->
    (Stack, energy), traceable in every value; ``energy_name``: the name of the Fermi energy
    ("mu" or "energy"); ``describe``: JSON-able description of everything (for result files).
    """

    kind: str
    values: Mapping[str, Any]
    build: Callable[[Mapping[str, Any]], Tuple[Stack, Any]] = dataclasses.field(compare=False)
    energy_name: str
    base: Any = dataclasses.field(compare=False)

    @property
    def names(self) -> Tuple[str, ...]:
        return tuple(self.values)

    def check_names(self, names, what: str = "parameter") -> None:
        """ValueError unless every name is a parameter, suggesting the nearest valid name for a misspelt one."""
        from ..io.config import did_you_mean

        for name in names:
            if name not in self.values:
                raise ValueError(f"{what} {name!r} is not a parameter of this {self.kind}"
                                 f"{did_you_mean(name, self.names)}; its parameters are: {', '.join(self.names)}")

    def with_values(self, **changes) -> "System":
        """The same system with some parameters set (validated by building it)."""
        self.check_names(changes)
        system = dataclasses.replace(self, values={**self.values, **changes})
        system.check()
        return system

    def stack(self, values: Optional[Mapping[str, Any]] = None) -> Stack:
        return self.build(self.values if values is None else values)[0]

    def energy(self):
        return self.values[self.energy_name]

    def check(self) -> None:
        """Validate in plain Python (ValueError naming the parameter)."""
        if self.kind == "junction":
            validate(self.base.replace(**self.values))
        validate_stack(self.stack())
        check_real(self.energy_name, self.energy(), shapes=None)

    def describe(self) -> dict:
        """Everything that defines the system, as JSON-able values."""
        if self.kind == "junction":
            return {"kind": "junction", "params": params_dict(self.base.replace(**self.values))}
        from ..io.describe import stack_dict

        return {"kind": "stack", "stack": stack_dict(self.stack()), "energy": plain(self.energy())}


def junction_system(p: JunctionParams) -> System:
    """The paper's junction with the numbers of ``JunctionParams`` as named parameters."""
    validate(p)
    fields = number_fields(p)
    values = {name: getattr(p, name) for name in fields}

    def build(v):
        return junction(p.replace(**{name: v[name] for name in fields})), v["mu"]

    return System("junction", values, build, "mu", p)


# ---------------------------------------------------------------------------------------------
# Any stack: parameters addressed by path


def _get(obj, path):
    """The value at ``path`` (attribute names and tuple indices) inside ``obj``."""
    for key in path:
        obj = obj[key] if isinstance(key, int) else getattr(obj, key)
    return obj


def _set(obj, path, value):
    """``obj`` with the value at ``path`` replaced (traceable: only dataclass and tuple copies)."""
    if not path:
        return value
    key, rest = path[0], path[1:]
    if isinstance(key, int):
        return obj[:key] + (_set(obj[key], rest, value),) + obj[key + 1:]
    return obj.replace(**{key: _set(getattr(obj, key), rest, value)})


def _leaf_paths(stack: Stack) -> dict:
    """name -> path of every number of the stack that a parameter can address: the data fields of its
    layers and leads (hopping tables and unset angles or lead onsite apart)."""
    owners = [(f"layers[{z}]", ("layers", z)) for z in range(stack.Lz)]
    owners += [(lead.name, ("side_leads", k)) for k, lead in enumerate(stack.side_leads)]
    owners += [(lead.name, (where,)) for where, lead in stack.vertical_leads]
    paths = {"theta": ("theta",), "phi": ("phi",)}
    for prefix, path in owners:
        owner = _get(stack, path)
        paths.update({f"{prefix}.{f.name}": path + (f.name,) for f in dataclasses.fields(owner)
                      if not f.metadata.get("static") and f.name not in ("hoppings", "up")
                      and getattr(owner, f.name) is not None})
    return paths


def _groups(stack: Stack) -> dict:
    """Layer field name -> the layers where it is set (non-zero), when they share one value; a field that
    is traced in some layer (under a JAX transformation) has no group (its layers' names remain)."""
    traced = {field for field in LAYER_NUMBERS for layer in stack.layers if concrete(getattr(layer, field)) is None}
    values = {field: {z: float(getattr(layer, field)) for z, layer in enumerate(stack.layers)
                      if float(getattr(layer, field)) != 0.0} for field in LAYER_NUMBERS if field not in traced}
    return {field: tuple(set_in) for field, set_in in values.items() if len(set(set_in.values())) == 1}


def stack_system(stack: Stack, energy) -> System:
    """A stack with its numbers as named parameters (see the module docstring) and ``energy``."""
    validate_stack(stack)
    paths = _leaf_paths(stack)
    groups = _groups(stack)
    values = {"energy": energy}
    values.update({name: _get(stack, path) for name, path in paths.items()
                   if np.ndim(_get(stack, path)) == 0 or name in ("theta", "phi")})
    values.update({field: getattr(stack.layers[layers[0]], field) for field, layers in groups.items()})

    def build(v):
        s = stack
        for name, value in v.items():
            if name in paths:
                s = _set(s, paths[name], value)
        for field, layers in groups.items():
            # A group overrides its member layers only when it is set to something other than its
            # starting value (or traced), so that setting one member alone is not undone by the group.
            for z in layers if field in v and not _unchanged(v[field], values[field]) else ():
                s = _set(s, ("layers", z, field), v[field])
        return s, v["energy"]

    return System("stack", values, build, "energy", stack)


def _unchanged(value, start) -> bool:
    a, b = concrete(value), concrete(start)
    return a is not None and b is not None and a.shape == b.shape and bool(np.all(a == b))


def varied_leaves(system: System, names) -> Stack:
    """A Stack-shaped pytree of booleans: the leaves that move when the named parameters move
    (non-zero first derivative), for the planner (``plan.plan(varied=...)``)."""
    values = dict(system.values)
    flags = None
    for name in names:
        x0 = jnp.asarray(values[name], dtype=float)

        def f(x, name=name):
            return system.build({**values, name: x})[0]

        with jax.enable_x64(True):
            _, tangent = jax.jvp(f, (x0,), (jnp.ones_like(x0),))
        moved = jax.tree_util.tree_map(lambda t: bool(np.any(np.asarray(t) != 0)), tangent)
        flags = moved if flags is None else jax.tree_util.tree_map(lambda a, b: a or b, flags, moved)
    return flags
