"""Bad input gives a ValueError naming the parameter and its allowed range."""

import numpy as np
import pytest

from jaxsge import JunctionParams, transmissions

SMALL = dict(Lx=6, Ly=5, Lz=3, W=3, n_barrier=1)


@pytest.mark.parametrize("change,match", [
    (dict(W=7), r"W = 7 must satisfy 1 <= W <= min\(Lx, Ly\) = 5"),
    (dict(Lx=0), r"Lx = 0 must be a positive integer"),
    (dict(Lz=-1), r"Lz = -1 must be a positive integer"),
    (dict(n_barrier=3), r"n_barrier = 3 must satisfy 0 <= n_barrier < Lz = 3"),
    (dict(Lx=4.5), r"Lx = 4.5 must be an integer"),
    (dict(mu=float("nan")), r"mu = nan must be finite"),
    (dict(alpha3=float("inf")), r"alpha3 = inf must be finite"),
    (dict(t=0.0), r"t = 0.0: t must be > 0"),
    (dict(xi=-1.0), r"xi = -1.0: xi must be > 0"),
    (dict(K0=-0.1), r"K0 = -0.1: K0 must be >= 0"),
    (dict(disorder=np.zeros((3, 5, 6))), r"disorder array has shape \(3, 5, 6\); it must have shape \(Lz, Lx, Ly\) = \(3, 6, 5\)"),
    (dict(disorder=np.full((3, 6, 5), np.nan)), r"disorder array must hold finite real numbers"),
    (dict(dxc_profile=np.zeros(4)), r"dxc_profile has shape \(4,\); it must have shape \(Lz,\) = \(3,\)"),
    (dict(disorder_layers="top"), r"disorder_layers = 'top' must be one of"),
    (dict(mu=-1.0), r"no open channel in the side leads at energy -1.0"),
])
def test_bad_input_is_a_clear_error(change, match):
    with pytest.raises(ValueError, match=match):
        transmissions(JunctionParams(**SMALL).replace(**change))


def test_closed_lead_gives_zeros_only_when_asked():
    # Side strips open (band from 4 - 2cos(pi/4) - 2 = 0.59), M closed (from 6 - 4cos(pi/4) - 2 = 1.17).
    p = JunctionParams(Lx=3, Ly=3, Lz=3, W=3, n_barrier=1, dxc=0.0, mu=0.8)
    with pytest.raises(ValueError, match="no open channel in the magnetic lead M"):
        transmissions(p)
    r = transmissions(p, allow_closed=True)
    assert np.all(np.asarray(r.from_M()) == 0) and r.n_open[4].sum() == 0
