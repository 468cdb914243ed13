"""Repeated calls reuse plans and compiled programs; the batching rule maps chunks without changing a number."""

import types

import jax
import numpy as np
import pytest

from jaxsge import JunctionParams, junction, solve, transmissions
from jaxsge.core.batching import (MAP_ORDER_ACCELERATOR, PROGRESS_STEPS, VMAP, Mapping, chunk_size, mapping,
                                  progress_steps)
from jaxsge.observables import sensitivity
from jaxsge.observables.scan import conversion_scan
from jaxsge.solve import transmissions as tm

P = JunctionParams(Lx=7, Ly=6, Lz=3, W=4, n_barrier=1, theta=np.pi / 3, phi=np.linspace(0.0, 1.0, 3))


def test_other_numbers_of_the_same_structure_are_not_planned_or_traced_again():
    """Two calls with other angles, alpha3, xi and mu (same geometry, same open channels): the second
    call compiles nothing (the jitted functions' caches do not grow) and, for other angles alone,
    finds its plan in the plan cache."""
    transmissions(P)
    compiled, plans = (tm.angles_at._cache_size(), tm.upper_at._cache_size()), tm.cached_plan.cache_info()
    transmissions(P.replace(phi=np.linspace(1.0, 2.0, 3), alpha3=-0.25, xi=5.0, mu=1.12))
    assert (tm.angles_at._cache_size(), tm.upper_at._cache_size()) == compiled
    transmissions(P.replace(phi=np.linspace(2.0, 3.0, 3)))
    assert tm.cached_plan.cache_info().hits == plans.hits + 1
    assert (tm.angles_at._cache_size(), tm.upper_at._cache_size()) == compiled


def test_scans_and_sensitivities_are_traced_once():
    phi = np.linspace(0.0, 1.0, 4)
    conversion_scan(P, phi=phi)
    compiled = tm.angles_at._cache_size()
    conversion_scan(P.replace(alpha3=-0.3), phi=phi + 0.5)
    assert tm.angles_at._cache_size() == compiled
    sensitivity.sensitivities(P, ("alpha3",), phi=phi[:2])
    compiled = tm.points_at._cache_size()
    sensitivity.sensitivities(P.replace(alpha3=-0.3), ("alpha3",), phi=phi[2:])
    assert tm.points_at._cache_size() == compiled


def test_plan_cache_refuses_bad_angles_like_the_planner():
    with pytest.raises(ValueError, match="phi .*must hold finite numbers"):
        transmissions(P.replace(phi=np.array([0.1, np.nan, 0.2])))


@pytest.mark.parametrize("how", [Mapping("map", 1), Mapping("map", 2)])
def test_a_loop_over_the_chunk_gives_the_vmapped_numbers(how):
    """lax.map (one or two evaluations per step, the last step padded) against vmap: same numbers to 1e-13."""
    with jax.enable_x64(True):
        s = junction(P.replace(K0=0.5))
        pl = tm.plan_for(s, P.mu)
        base = s.replace(theta=0.0, phi=0.0)
        upper = tm.upper_at(base, P.mu, 0, pl)
        theta, phi = np.full(3, np.pi / 3), np.array([0.1, 0.7, 2.0])
        ref = tm.angles_at(base, theta, phi, P.mu, 0, upper, pl, False, False, VMAP)
        out = tm.angles_at(base, theta, phi, P.mu, 0, upper, pl, False, False, how)
        points = tm.points_at(base, theta, phi, np.full(3, P.mu), np.array([0, 1, 2]), pl, False, False, how)
        points_ref = tm.points_at(base, theta, phi, np.full(3, P.mu), np.array([0, 1, 2]), pl, False, False, VMAP)
    np.testing.assert_allclose(np.asarray(out[0]), np.asarray(ref[0]), atol=1e-13, rtol=0)
    np.testing.assert_allclose(np.asarray(points[0]), np.asarray(points_ref[0]), atol=1e-13, rtol=0)


def test_the_batching_rule():
    """CPU: vmap at every size; an accelerator: vmap below MAP_ORDER_ACCELERATOR, a loop from it."""
    gpu = types.SimpleNamespace(platform="gpu")
    cpu = types.SimpleNamespace(platform="cpu")
    assert mapping(10 ** 6, cpu) == VMAP
    assert mapping(MAP_ORDER_ACCELERATOR - 1, gpu) == VMAP
    assert mapping(MAP_ORDER_ACCELERATOR, gpu).kind == "map"
    assert mapping(5000, gpu) == Mapping("map", 1)


def test_progress_steps_rule():
    """Loop-like chunks of large evaluations are cut into at least PROGRESS_STEPS balanced calls; the memory chunk is
    kept when it is smaller; a vmap on an accelerator stays whole."""
    assert progress_steps(10 ** 4, VMAP) == PROGRESS_STEPS  # the tests run on CPU
    assert progress_steps(100, VMAP) == 1
    gpu = types.SimpleNamespace(platform="gpu")
    assert progress_steps(10 ** 4, VMAP, gpu) == 1  # small latency-bound LUs that the batch fills
    assert progress_steps(10 ** 4, Mapping("map", 1), gpu) == PROGRESS_STEPS
    assert chunk_size(1.0, 10 ** 6, 64, "x", steps=16) == 4
    assert chunk_size(1.0, 10 ** 6, 100, "x", steps=16) == 7  # 15 calls of 7 (the last padded by 5)
    assert chunk_size(1.0, 10 ** 6, 5, "x", steps=16) == 1
    assert chunk_size(1.0, 30, 64, "x", steps=1) == 30  # memory bound, no progress cut: as before
    assert chunk_size(1.0, 30, 64, "x", steps=16) == 4
    assert chunk_size(1.0, 10 ** 6, 64, "x", how=Mapping("map"), steps=16) == 4
    assert chunk_size(1.0, 10 ** 6, 64, "x", how=Mapping("map")) == 64


def test_the_driver_with_a_mesh_stacks_per_case_and_a_writer_equals_solve():
    """The ensemble's use of the one driver (``solve.transmissions.run`` with stacks per case, a mesh of the local
    devices and a per-block writer): every block holds whole units (points sharing an upper state) and every T
    equals ``solve``'s for that case and realization (1e-13); a deadline already past computes the first block
    only when it is free, else nothing."""
    import time

    from jaxsge.core.batching import local_mesh, memory_budget

    with jax.enable_x64(True):
        cases = [junction(P.replace(K0=0.5, alpha3=a)) for a in (-0.2, -0.3)]
        pl = tm.plan_for(cases[0], P.mu, realizations=[0])
        assert tm.plan_for(cases[1], P.mu, realizations=[0]) == pl
        stacks = jax.tree_util.tree_map(lambda *v: np.stack([np.asarray(x, dtype=float) for x in v]),
                                        *[s.replace(phi=0.0) for s in cases])
        units = [(0, 0), (1, 0), (0, 2)]  # (case, realization), three angles each
        phi = np.array([0.1, 0.9, 2.3])
        grid = (np.full(9, np.pi / 3), np.tile(phi, 3), np.full(9, P.mu),
                np.repeat([r for _, r in units], 3).astype(np.int64), (3, 3))
        case_of = np.repeat([c for c, _ in units], 3)
        blocks = []

        def driver(**options):
            return tm.run(stacks, grid, pl, reflection=False, budget=memory_budget(), cases=case_of,
                          mesh=local_mesh(), on_chunk=lambda positions, out: blocks.append((positions, out)), **options)

        assert driver() is None
        assert sorted(np.concatenate([p for p, _ in blocks]).tolist()) == list(range(9))
        for positions, out in blocks:
            assert all(np.sum(positions // 3 == u) == 3 for u in set((positions // 3).tolist()))  # whole units
            for k, position in enumerate(positions):
                c, r = units[position // 3]
                expected = solve(cases[c].replace(phi=phi[position % 3]), P.mu, realizations=[r], reflection=False)
                np.testing.assert_allclose(out.T[k], expected.T[0], atol=1e-13, rtol=0)
        blocks.clear()
        driver(deadline=time.perf_counter() - 1.0, first_free=False)
        assert blocks == []
        driver(deadline=time.perf_counter() - 1.0, first_free=True)
        assert len(blocks) == 1 and blocks[0][0].size == 3  # one unit per call on CPU
