"""JSON-able descriptions of the model objects, for result files."""

from __future__ import annotations

import dataclasses
import math

import numpy as np


def plain(value):
    """A value as JSON-able Python: numbers, lists, {"re": .., "im": ..} for complex arrays; dict keys as text."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {str(list(k)) if isinstance(k, tuple) else str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
    arr = np.asarray(value)
    if np.iscomplexobj(arr):
        return {"re": arr.real.tolist(), "im": arr.imag.tolist()}
    return arr.tolist()


def stack_dict(stack) -> dict:
    """The stack's full description (every layer and lead field) as JSON-able values."""

    def obj(x):
        return None if x is None else {f.name: plain(getattr(x, f.name)) for f in dataclasses.fields(x)}

    return {"Lx": stack.Lx, "Ly": stack.Ly, "theta": plain(stack.theta), "phi": plain(stack.phi), "seed": stack.seed,
            "layers": [obj(layer) for layer in stack.layers], "side_leads": [obj(lead) for lead in stack.side_leads],
            "top": obj(stack.top), "bottom": obj(stack.bottom)}
