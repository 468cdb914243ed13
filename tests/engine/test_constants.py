"""No compiled program carries a large constant: the paper-size programs are lowered (not run) on
CPU and every constant literal in their StableHLO is at most 1 MiB. A NumPy array built eagerly
from the geometry (once an identity of order Lx Ly: 50 MB at the paper's size, 13 GB at L = 200)
would be baked into the program; JAX's own warning about captured constants is an error in the
test suite (pyproject.toml), and is armed here at 4 MiB for everything a program captures in all
(at the paper's size about 1.5 MB: some seventy small tables of L^2 numbers, sine modes and shifts)."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsge import JunctionParams, junction
from jaxsge.core.batching import VMAP
from jaxsge.observables import sensitivity
from jaxsge.solve.transmissions import angles_at, plan_for, points_at, upper_at

LIMIT = 2 ** 20  # bytes, per constant
TOTAL = 4 * 2 ** 20  # bytes, all the constants a program captures
ITEMSIZE = {"f64": 8, "f32": 4, "complex<f64>": 16, "complex<f32>": 8, "i64": 8, "i32": 4, "ui32": 4, "i8": 1,
            "ui8": 1, "i1": 1, "index": 8, "ui64": 8, "i16": 2, "f16": 2, "bf16": 2}
CONSTANT = re.compile(r"dense(?:_resource)?<[^>]*>\s*:\s*tensor<((?:\d+x)*)([a-z0-9<>]+)>")


def constant_sizes(text: str) -> list:
    """(bytes, type) of every dense constant literal in a StableHLO module."""
    sizes = []
    for dims, dtype in CONSTANT.findall(text):
        n = int(np.prod([int(d) for d in dims.split("x") if d], dtype=np.int64))
        sizes.append((n * ITEMSIZE[dtype], dims + dtype))
    return sizes


def check(lowered, what: str) -> None:
    sizes = constant_sizes(lowered.as_text())
    assert sizes, f"{what}: no constant found; the pattern no longer matches the StableHLO text"
    largest = max(sizes)
    assert largest[0] <= LIMIT, f"{what}: a constant of {largest[0] / 2 ** 20:.1f} MiB ({largest[1]})"


@pytest.fixture(autouse=True)
def constants_warning_armed():
    """JAX warns (an error here) when a program captures more than TOTAL bytes in all."""
    old = jax.config.jax_captured_constants_warn_bytes
    jax.config.update("jax_captured_constants_warn_bytes", TOTAL)
    yield
    jax.config.update("jax_captured_constants_warn_bytes", old)


CASES = {  # the paper's size (configs/paper.toml): every path of the lowest slice, and the spin-block layers
    "dense": (dict(), dict(path="dense", precision="double")),
    "mixed": (dict(), dict(path="dense", precision="mixed")),
    "krylov": (dict(K0=0.5, disorder_layers="2deg"), dict(path="krylov")),
    "spin_blocks": (dict(K0=0.5), dict(path="dense", precision="double")),
}


@pytest.mark.parametrize("reflection", [False, True])
@pytest.mark.parametrize("case", CASES)
def test_paper_size_programs_carry_no_large_constant(case, reflection):
    changes, options = CASES[case]
    p = JunctionParams(Lx=50, Ly=50, W=30, **changes)
    with jax.enable_x64(True):
        stack = junction(p)
        pl = plan_for(stack, p.mu, realizations=[0] if p.K0 else None, **options)
        assert (pl.solver, pl.precision) == (options["path"], options.get("precision", "double"))
        base = stack.replace(theta=0.0, phi=0.0)
        upper = jax.eval_shape(lambda: upper_at(base, p.mu, 0, pl))
        check(upper_at.lower(base, p.mu, 0, pl), f"{case}: upper state")
        check(angles_at.lower(base, jnp.zeros(1), jnp.zeros(1), p.mu, 0, upper, pl, reflection, False),
              f"{case}: angles")


def test_paper_size_sensitivity_program_carries_no_large_constant():
    p = JunctionParams(Lx=50, Ly=50, W=30)
    system = sensitivity.as_system(p)
    with jax.enable_x64(True):
        wrt = ("alpha3",)
        pl = plan_for(system.stack({**system.values, "theta": 0.0, "phi": 0.0}), p.mu, path="dense",
                      precision="double", varied=sensitivity.varied_leaves(system, wrt))
        stack, energy, tangent, d_energy = sensitivity._tangents(system, wrt)
        lowered = points_at.lower(stack, jnp.zeros(1), jnp.zeros(1), jnp.full(1, energy), jnp.zeros(1, int), pl,
                                  False, False, VMAP, None, sensitivity.Derivatives(stack.lead_names, True),
                                  (tangent, d_energy))
    check(lowered, "sensitivities")


def test_paper_size_density_program_carries_no_large_constant():
    from jaxsge.observables.densities import local_request

    p = JunctionParams(Lx=50, Ly=50, W=30)
    with jax.enable_x64(True):
        stack = junction(p)
        pl = plan_for(stack, p.mu, path="dense", precision="double")
        local, _, _ = local_request(stack, 0, ("charge", "sx", "sy", "sz"))
        base = stack.replace(theta=0.0, phi=0.0)
        upper = jax.eval_shape(lambda: upper_at(base, p.mu, 0, pl))
        lowered = angles_at.lower(base, jnp.zeros(1), jnp.zeros(1), p.mu, 0, upper, pl, True, False, VMAP, local)
    check(lowered, "densities")
