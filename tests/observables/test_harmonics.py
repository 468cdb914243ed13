"""Angular harmonics of |G_sc(phi)| on a small clean square junction [Eq. (6) of G. Fleury, M. Barth,
C. Gorini, PRB 108, L081402 (2023)]; the full study is scripts/harmonics_study.py, docs/harmonics.md."""

import pytest

from scripts.harmonics_study import build_stack, harmonics, matched_alpha1, phi_grid, spin_charge_scan

# L = 8 (W = 4 or 6) does not separate the textures (cubic/linear A4 ratio 1.0-1.2 at alpha3 = -0.2);
# L = 10, W = 6 is the smallest size that does. The ratio is a property of this cavity, not a law:
# over L = 8..20 it fluctuates and falls below 1 for some sizes (docs/harmonics.md, survey).
L, W, LZ, N_BARRIER, N_PHI = 10, 6, 3, 1, 16


def _rel(alpha1, alpha3):
    stack = build_stack(L, W, LZ, N_BARRIER, alpha1=alpha1, alpha3=alpha3, phi=phi_grid(N_PHI))
    return harmonics(*spin_charge_scan(stack), n_max=6)[0]


@pytest.fixture(scope="module")
def spectra():
    out = {}
    for alpha3 in (-0.01, -0.02, -0.2):
        out["linear", alpha3] = _rel(matched_alpha1(alpha3), 0.0)
        out["cubic", alpha3] = _rel(0.0, alpha3)
    return out


def test_only_fourfold_harmonics_survive(spectra):
    # Odd m vanish (G_sc(phi + pi) = -G_sc(phi)), and so do m = 2, 6 (pi/2 rotation symmetry).
    for rel in spectra.values():
        assert rel[1::2].max() < 1e-9
        assert max(rel[2], rel[6]) < 1e-9
        assert rel[4] > 1e-7


def test_cubic_fourfold_exceeds_linear_at_matched_splitting(spectra):
    # Measured cubic/linear A4/A0: 8.2 at alpha3 = -0.2, 14.9 at -0.01; threshold 4 leaves a factor 2.
    for alpha3 in (-0.01, -0.2):
        assert spectra["cubic", alpha3][4] > 4 * spectra["linear", alpha3][4]


def test_fourfold_is_second_order_in_spin_orbit(spectra):
    # To first order in the spin-orbit strength |G_sc| is isotropic for any C4 texture, so A4/A0
    # grows as the square of the strength: doubling it multiplies A4/A0 by 4 (measured 3.98-4.00).
    for texture in ("linear", "cubic"):
        assert spectra[texture, -0.02][4] / spectra[texture, -0.01][4] == pytest.approx(4.0, rel=0.02)
