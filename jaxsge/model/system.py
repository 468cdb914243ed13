"""A junction as a function of named parameters: what observables scan, differentiate and average.

A :class:`System` pairs a traceable builder ``values -> (Stack, energy)`` with the current value
of every named parameter, so that every observable works the same way for any junction:
scans set the angles and the energy, sensitivities differentiate through the builder,
ensembles set the disorder strength and other case parameters by name.

* The paper's junction (:func:`junction_system`): the names of ``JunctionParams`` (t, mu,
  alpha3, alpha1, dxc, U0, xi, theta, phi, K0), the energy being ``mu``.
* Any stack (:func:`stack_system`): ``energy``, ``theta``, ``phi``; every number of a layer as
  ``layers[z].field`` and of a lead as ``LEAD.field`` (e.g. ``M.dxc``); and a layer field name
  alone (``alpha1``, ``K0``, ...) for the layers where that field is set (non-zero), which
  must share one value: setting it sets them all, and its derivative is the sum of theirs.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable, Mapping, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from .junction import NUMBER_FIELDS, JunctionParams, junction, params_dict, validate
from .stack import Stack, concrete, validate_stack

LAYER_FIELDS = ("onsite", "t", "K0", "dxc", "theta", "phi", "alpha1", "alpha3", "beta", "tz")
SIDE_LEAD_FIELDS = ("onsite", "t", "tz", "dxc", "theta", "phi")
VERTICAL_LEAD_FIELDS = ("onsite", "t", "dxc", "theta", "phi")


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
        for name in names:
            if name not in self.values:
                raise ValueError(f"{what} {name!r} is not a parameter of this {self.kind}; its parameters are: "
                                 f"{', '.join(self.names)}")

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
            validate(self.base.replace(**{k: v for k, v in self.values.items() if k in NUMBER_FIELDS}))
        validate_stack(self.stack())
        energy = concrete(self.energy())
        if energy is not None and (energy.dtype == object or not np.all(np.isfinite(energy.astype(float)))):
            raise ValueError(f"{self.energy_name} = {energy.tolist()} must be finite")

    def describe(self) -> dict:
        """Everything that defines the system, as JSON-able values."""
        if self.kind == "junction":
            return {"kind": "junction", "params": params_dict(self.base.replace(**self.values))}
        from ..io.describe import stack_dict

        return {"kind": "stack", "stack": stack_dict(self.stack()), "energy": _plain(self.energy())}


def _plain(value):
    arr = np.asarray(value)
    return arr.tolist() if arr.ndim else float(arr)


def junction_system(p: JunctionParams) -> System:
    """The paper's junction with the numbers of ``JunctionParams`` as named parameters."""
    validate(p)
    values = {name: getattr(p, name) for name in NUMBER_FIELDS}

    def build(v):
        q = p.replace(**{name: v[name] for name in NUMBER_FIELDS})
        return junction(q), v["mu"]

    return System("junction", values, build, "mu", p)


# ---------------------------------------------------------------------------------------------
# Any stack: parameters addressed by path


_LAYER_PATH = re.compile(r"^layers\[(\d+)\]\.(\w+)$")


def _leaf_setters(stack: Stack) -> dict:
    """name -> (getter, setter) for every numeric leaf of the stack that a parameter can address."""
    out = {"theta": (lambda s: s.theta, lambda s, v: s.replace(theta=v)),
           "phi": (lambda s: s.phi, lambda s, v: s.replace(phi=v))}
    for z, layer in enumerate(stack.layers):
        for field in LAYER_FIELDS:
            if field in ("theta", "phi") and layer.theta is None:
                continue
            out[f"layers[{z}].{field}"] = (
                lambda s, z=z, f=field: getattr(s.layers[z], f),
                lambda s, v, z=z, f=field: s.replace(layers=s.layers[:z] + (s.layers[z].replace(**{f: v}),)
                                                      + s.layers[z + 1:]))
    for k, lead in enumerate(stack.side_leads):
        for field in SIDE_LEAD_FIELDS:
            if (field in ("theta", "phi") and lead.theta is None) or (field == "onsite" and lead.onsite is None):
                continue
            out[f"{lead.name}.{field}"] = (
                lambda s, k=k, f=field: getattr(s.side_leads[k], f),
                lambda s, v, k=k, f=field: s.replace(side_leads=s.side_leads[:k] + (s.side_leads[k].replace(**{f: v}),)
                                                     + s.side_leads[k + 1:]))
    for where, lead in stack.vertical_leads:
        for field in VERTICAL_LEAD_FIELDS:
            if field in ("theta", "phi") and lead.theta is None:
                continue
            out[f"{lead.name}.{field}"] = (
                lambda s, w=where, f=field: getattr(getattr(s, w), f),
                lambda s, v, w=where, f=field: s.replace(**{w: getattr(s, w).replace(**{f: v})}))
    return out


def _groups(stack: Stack) -> dict:
    """Layer field name -> the layers where it is set (non-zero), when they share one value."""
    out = {}
    for field in LAYER_FIELDS:
        if field in ("theta", "phi", "onsite"):
            continue
        layers = [z for z, layer in enumerate(stack.layers) if np.ndim(getattr(layer, field)) == 0
                  and float(getattr(layer, field)) != 0.0]
        values = {float(getattr(stack.layers[z], field)) for z in layers}
        if layers and len(values) == 1:
            out[field] = tuple(layers)
    return out


def stack_system(stack: Stack, energy) -> System:
    """A stack with its numbers as named parameters (see the module docstring) and ``energy``."""
    validate_stack(stack)
    setters = _leaf_setters(stack)
    groups = _groups(stack)
    values = {"energy": energy}
    for name, (get, _) in setters.items():
        value = get(stack)
        if np.ndim(value) == 0 or name in ("theta", "phi"):
            values[name] = value
    for field, layers in groups.items():
        values[field] = getattr(stack.layers[layers[0]], field)

    def build(v):
        s = stack
        for name, value in v.items():
            if name in setters:
                s = setters[name][1](s, value)
        for field, layers in groups.items():
            if field in v:
                for z in layers:
                    s = setters[f"layers[{z}].{field}"][1](s, v[field])
        return s, v["energy"]

    def build_checked(v):
        # A group overrides its member layers only when it is set to something other than its
        # starting value (or traced), so that setting one member alone is not undone by the group.
        return build({k: x for k, x in v.items() if not (k in groups and _unchanged(x, values[k]))})

    return System("stack", values, build_checked, "energy", stack)


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
