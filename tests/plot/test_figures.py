"""The figure functions on synthetic data: units in labels, angles in multiples of pi, the absolute
scale stated, small anisotropy visible, closed curves, one colour per case, nothing overlapping or
clipped, and the junction drawing for the paper's junction and a general stack. Nothing is solved."""

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.legend import Legend

from jaxsge.model.junction import JunctionParams, junction
from jaxsge.model.stack import Layer, SideLead, Stack, VerticalLead
from jaxsge.plot import ensemble as ensemble_plot
from jaxsge.plot import well as well_plot
from jaxsge.plot.junction import draw_stack
from jaxsge.plot.style import closed, pi_fraction, radial_range
from jaxsge.plot.transport import (conductance_maps, energy_panels, phi_energy_maps, polar_panels,
                                   sensitivity_panels, sweep_panels)

PHI = 2 * np.pi * np.arange(32) / 32
# A few-percent anisotropy (3 %): g = 0.2 (1 + 0.03 cos 4 phi).
SMALL = 0.2 * (1 + 0.03 * np.cos(4 * PHI))


def rendered(fig):
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def texts(fig):
    """(name, artist) of every visible non-empty text outside legends, and the legends."""
    out = [(f"suptitle {i}", f._suptitle) for i, f in enumerate([fig, *fig.subfigs]) if f._suptitle is not None]
    for i, ax in enumerate(fig.axes):
        out += [(f"ax{i} title", ax.title), (f"ax{i} xlabel", ax.xaxis.label), (f"ax{i} ylabel", ax.yaxis.label),
                (f"ax{i} x offset", ax.xaxis.get_offset_text()), (f"ax{i} y offset", ax.yaxis.get_offset_text())]
        if ax.name != "3d":  # 3D text is placed by its own projection at draw time
            out += [(f"ax{i} text", t) for t in ax.texts]
    legends = [(f"legend {i}", leg) for i, leg in enumerate(fig.legends + [ax.get_legend() for ax in fig.axes])
               if leg is not None]
    return [(n, t) for n, t in out if t.get_visible() and t.get_text()], legends


def assert_clean_layout(fig, tol=1.0):
    """No label, title or legend outside the figure (clipped) and no legend over another text."""
    renderer = rendered(fig)
    frame = fig.bbox.expanded(1.0, 1.0)
    labels, legends = texts(fig)
    boxes = [(n, t.get_window_extent(renderer)) for n, t in labels]
    boxes += [(n, leg.get_window_extent(renderer)) for n, leg in legends]
    for name, box in boxes:
        assert frame.x0 - tol <= box.x0 and box.x1 <= frame.x1 + tol and frame.y0 - tol <= box.y0 \
            and box.y1 <= frame.y1 + tol, f"{name} is clipped: {box} outside {frame}"
    for lname, leg in legends:
        lbox = leg.get_window_extent(renderer).shrunk(0.98, 0.98)
        for name, box in boxes:
            if name != lname and box.width > 0 and box.height > 0:
                assert not lbox.overlaps(box), f"{lname} overlaps {name}"


def test_angles_in_multiples_of_pi():
    assert [pi_fraction(a) for a in (0, np.pi / 2, np.pi, 1.5 * np.pi, 2 * np.pi, -np.pi / 4)] == \
        ["0", r"\pi/2", r"\pi", r"3\pi/2", r"2\pi", r"-\pi/4"]
    assert pi_fraction(0.3) == r"0.0955\pi"


def test_closed_curves_repeat_the_first_point_at_two_pi():
    angles, ring = closed(PHI, SMALL)
    assert angles.size == PHI.size + 1 and angles[-1] == pytest.approx(2 * np.pi, abs=1e-15)
    assert ring[-1] == ring[0]
    part, values = closed(PHI[:8], SMALL[:8])  # a partial scan is not closed
    assert part.size == 8 and values.size == 8


def test_radial_range_shows_small_anisotropy():
    lo, hi = radial_range(0.97, 1.0)
    # The 3 % anisotropy fills more than half the radial extent (from 0 it would fill 3 %).
    assert 0 < lo < 0.97 and (1.0 - 0.97) / (hi - lo) > 0.5
    assert radial_range(0.2, 1.0)[0] == 0.0  # a curve near the origin: the axis starts at 0


@pytest.mark.parametrize("absolute", [False, True])
def test_polar_panels_state_the_scale_and_show_small_anisotropy(absolute, tmp_path):
    label = r"$\xi = 7.2\,a$"
    fig = polar_panels(PHI, [{label: SMALL}, {"": 0.05 * SMALL}], ["(a)", "(b)"], absolute=absolute,
                       suptitle=r"$\theta = \pi/2$", path=tmp_path / "polar.png")
    assert (tmp_path / "polar.png").stat().st_size > 0
    polar = [ax for ax in fig.axes if ax.name == "polar"]
    line = polar[0].get_lines()[0]
    x, y = line.get_data()
    assert x[-1] == pytest.approx(x[0] + 2 * np.pi) and y[-1] == y[0]  # closed at 2 pi
    assert y.max() == pytest.approx(SMALL.max() if absolute else 1.0, rel=1e-12)
    r_min, r_max = polar[0].get_ylim()
    assert (y.max() - y.min()) / (r_max - r_min) > 0.5  # the 6 % peak-to-peak anisotropy fills the panel
    legend = polar[0].get_legend()
    text = " ".join(t.get_text() for t in legend.get_texts()) + legend.get_title().get_text()
    assert f"{SMALL.max():.3g}" in text and "e^2/h" in text  # the absolute scale, with its unit
    assert "not 0" in legend.get_title().get_text()  # the radial offset is stated
    assert ("(" + r"$e^2/h$" + ")" in legend.get_title().get_text()) == absolute
    assert polar[0].get_xticklabels()[2].get_text() == r"$\pi/2$"
    assert_clean_layout(fig)


def test_polar_panels_with_fermi_contours_and_bands():
    k = np.linspace(-1.5, 1.5, 41)
    kx, ky = np.meshgrid(k, k)
    bands = np.stack([kx ** 2 + ky ** 2 - 1.0, kx ** 2 + ky ** 2 - 0.8])
    contours = [{"phi": 0.0, "k": k, "bands": bands}, {"phi": 1.5 * np.pi, "k": k, "bands": bands * 1.1}]
    fig = polar_panels(PHI, [{"clean": SMALL, "K": 0.9 * SMALL}], ["case"], errors=[{"K": 0.01 * SMALL}],
                       band="error bars: ± standard error over 8 realizations", contours=[contours],
                       colors={"clean": "k", "K": "C0"})
    inset = [ax for ax in fig.axes if ax.name != "polar"][0]
    assert inset.get_xlabel() == "$k_x a$" and inset.get_ylabel() == "$k_y a$"
    names = [t.get_text() for t in inset.get_legend().get_texts()]
    assert r"$\varphi = 3\pi/2$" in names and any("spin antiparallel" in n for n in names)
    polar = fig.axes[0]
    assert any("standard error over 8 realizations" in t.get_text() for t in polar.get_legend().get_texts())
    assert polar.collections[0].get_color()[0][:3] == pytest.approx((0.12156863, 0.46666667, 0.70588235))  # C0
    assert_clean_layout(fig)


def test_sensitivity_panels_units_pi_axis_and_legends_clear_of_offset_text():
    gx, gy = 1e-3 * np.cos(PHI), 1e-3 * np.sin(2 * PHI)
    fig = sensitivity_panels(PHI, {"Gsc_x": gx, "Gsc_y": gy}, {"Gsc_x": {"alpha3": 3e-3 * gx}, "Gsc_y": {"alpha3": gy}},
                             ["alpha3"], suptitle="test")
    assert "e^2/h" in fig.axes[0].get_ylabel() and "per $t$" in fig.axes[1].get_ylabel()
    assert [t.get_text() for t in fig.axes[-1].get_xticklabels()][:3] == ["$0$", r"$\pi/2$", r"$\pi$"]
    assert_clean_layout(fig)


ENERGY = np.linspace(0.8, 1.2, 21)


def test_energy_panels_units_colours_and_legends():
    """G_sc and G_cs against energy: labels with units (e^2/h, t), one colour per case in both panels, a line style
    per component, the energies computed as points, nothing clipped or overlapping."""
    curves = {rf"$\xi = {xi}\,a$": {"Gsc_x": 1e-3 * xi * np.cos(5 * ENERGY), "Gsc_y": 2e-3 * np.sin(5 * ENERGY),
                                     "Gcs_x": -1e-3 * xi * ENERGY, "Gcs_y": 1e-3 * ENERGY ** 2}
              for xi in (7.2, 9.6)}
    fig = energy_panels(ENERGY, curves, r"$\mu$ ($t$)", suptitle=r"$\theta = \pi/2$, $\varphi = 0$")
    top, bottom = fig.axes
    assert "e^2/h" in top.get_ylabel() and r"\mathrm{sc}" in top.get_ylabel()
    assert r"\mathrm{cs}" in bottom.get_ylabel() and bottom.get_xlabel() == r"$\mu$ ($t$)"
    lo, hi = bottom.get_xlim()
    assert lo < 0.8 and hi > 1.2 and hi - lo < 0.42  # every energy inside, whole markers, no wasted space
    for ax in (top, bottom):
        lines = [line for line in ax.get_lines() if line.get_marker() == "o"]
        assert [line.get_color() for line in lines] == ["C0", "C0", "C1", "C1"]
        assert [line.get_linestyle() for line in lines] == ["-", "--", "-", "--"]
        names = [t.get_text() for t in ax.get_legend().get_texts()]
        assert names[-2:] == list(curves)
    assert_clean_layout(fig)


def test_phi_energy_maps_pi_axis_units_and_full_turn(tmp_path):
    """The map: phi in multiples of pi over the full turn (first column repeated at 2 pi), energy in t, one colour
    scale in e^2/h over the panels, the normalised row on its own scale, colour bars labelled."""
    amp = [1e-2 * (1 + 0.3 * np.cos(PHI)[None, :] * ENERGY[:, None]), 5e-3 * (1 + 0.1 * np.sin(2 * PHI))[None, :]
           * np.ones((ENERGY.size, 1))]
    norm = [a / a.max(axis=1, keepdims=True) for a in amp]
    fig = phi_energy_maps(PHI, ENERGY, amp, [r"(a) $\xi = 7.2\,a$", r"(b) $\xi = 9.6\,a$"], r"$\mu$ ($t$)",
                          normalised=norm, suptitle="map", path=tmp_path / "map.png")
    assert (tmp_path / "map.png").stat().st_size > 1000
    maps = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(maps) == 4 and len(bars) == 2
    assert "e^2/h" in bars[0].get_ylabel() and "max" in bars[1].get_ylabel()
    assert [t.get_text() for t in maps[-1].get_xticklabels()] == ["$0$", r"$\pi/2$", r"$\pi$", r"$3\pi/2$",
                                                                   r"$2\pi$"]
    assert maps[-1].get_xlim() == (0.0, 2 * np.pi) and maps[0].get_ylabel() == r"$\mu$ ($t$)"
    mesh = maps[0].collections[0]
    assert mesh.get_array().shape == (ENERGY.size, PHI.size + 1)  # closed at 2 pi
    assert mesh.get_clim() == maps[1].collections[0].get_clim() == (0.0, max(a.max() for a in amp))
    assert maps[2].collections[0].get_clim()[1] == pytest.approx(1.0)
    assert_clean_layout(fig)
    # one panel, a title as long as the command writes: still whole
    title = (r"spin-charge conductance over $\varphi$ and the Fermi energy: $\theta = \pi/2$, $k_B T = 0\,t$, "
             r"$L_x \times L_y = 12 \times 12$")
    assert_clean_layout(phi_energy_maps(PHI, ENERGY, amp[:1], [""], r"$E$ ($t$)", normalised=norm[:1], suptitle=title))


def test_conductance_maps_diverge_around_zero_with_units(tmp_path):
    """The sweep's map: one row per component present, a diverging colour map whose scale is symmetric about zero
    and shared by the panels of a row, colour bars in e^2/h, phi in multiples of pi over the full turn."""
    gate = np.array([0.3, 0.5, 0.9])  # not equally spaced: the cells follow the values
    sign = np.cos(PHI)[None, :] * (gate[:, None] - 0.6)  # changes sign with phi and with the gate
    panels = [{"Gsc_x": 1e-2 * sign, "Gcs_x": -4e-3 * sign}, {"Gsc_x": 2e-2 * sign, "Gcs_x": 1e-3 * sign}]
    fig = conductance_maps(PHI, gate, panels, ["(a)", "(b)"], r"$\mathrm{gate}$ ($t$)", suptitle="sweep",
                           path=tmp_path / "map.png")
    assert (tmp_path / "map.png").stat().st_size > 1000
    maps = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(maps) == 4 and len(bars) == 2  # rows G_sc^x, G_cs^x (no y component here), two panels each
    assert all("e^2/h" in bar.get_ylabel() for bar in bars) and "G_{\\mathrm{sc}}^x" in bars[0].get_ylabel()
    for row, top in ((0, 2e-2 * 0.3), (1, 4e-3 * 0.3)):
        for ax in maps[2 * row: 2 * row + 2]:
            mesh = ax.collections[0]
            assert mesh.get_cmap().name == "RdBu_r" and mesh.get_array().shape == (gate.size, PHI.size + 1)
            np.testing.assert_allclose(mesh.get_clim(), (-top, top), rtol=1e-12)
    assert maps[-1].get_xlim() == (0.0, 2 * np.pi) and maps[0].get_ylabel() == r"$\mathrm{gate}$ ($t$)"
    assert_clean_layout(fig)


def test_sweep_panels_angle_average_and_anisotropy():
    """Mean over phi and (max - min)/mean against the parameter, one colour per case, the units stated."""
    gate = np.linspace(0.3, 0.9, 4)
    amp = 1e-2 * (1 + gate[:, None] * np.cos(4 * PHI)[None, :] / 2)
    fig = sweep_panels(gate, {"": {"sc": amp, "cs": 0.5 * amp}}, r"$\mathrm{gate}$ ($t$)", suptitle="sweep")
    top, bottom = fig.axes[:2]
    sc = [line for line in top.lines if line.get_linestyle() == "-"][0]
    np.testing.assert_allclose(sc.get_ydata(), amp.mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose([line for line in bottom.lines if line.get_linestyle() == "-"][0].get_ydata(), gate,
                               rtol=1e-12)  # (max - min)/mean = 2 (gate/2) for 1 + (gate/2) cos 4 phi
    assert "e^2/h" in top.get_ylabel() and "mean" in bottom.get_ylabel()
    assert_clean_layout(fig)


def test_ensemble_figures_one_colour_per_disorder_strength():
    cases, disorder, n = [{"xi": 7.2}, {"xi": 9.6}], ("K0", (0.5, 1.0)), 8
    shape = (2, 2, PHI.size)
    rng = np.random.default_rng(0)
    stats = {"mean_Gsc_x": 0.1 + 0.01 * rng.random(shape), "mean_Gsc_y": 0.01 * rng.random(shape),
             "stderr_Gsc_x": 0.002 * np.ones(shape), "stderr_Gsc_y": 0.002 * np.ones(shape),
             "g_sc_stderr": 0.01 * np.ones(shape), "clean_g_sc": np.ones((2, PHI.size)),
             "convergence": rng.random((2, 2, n)), "relative_stderr": rng.random((2, 2, n - 1)),
             "convergence_g_sc": rng.random((2, 2, n))}
    clean = {"Gsc_x": 0.12 * np.ones((2, PHI.size)), "Gsc_y": np.zeros((2, PHI.size))}
    figs = [ensemble_plot.plot_fig3(PHI, cases, disorder, stats, clean, n),
            ensemble_plot.plot_curves(PHI, cases, disorder, stats, clean, n),
            ensemble_plot.plot_convergence(cases, disorder, stats, n)]
    colors = {}
    for fig in figs:
        for ax in fig.axes:
            for line in ax.get_lines():
                if line.get_label().startswith(r"$K_0 = 0.5"):
                    colors.setdefault("0.5", set()).add(line.get_color())
        assert_clean_layout(fig)
    polar_legend = figs[0].axes[0].get_legend()
    assert any(r"$K_0 = 1\,t$" in t.get_text() for t in polar_legend.get_texts())
    assert any("8 realizations" in t.get_text() for t in polar_legend.get_texts())
    curves_legend = figs[1].axes[1].get_legend()
    assert any("mean ± standard error" in t.get_text() for t in curves_legend.get_texts())
    for fig in figs[:2]:  # error bars in the colour of their curve, no translucent bands that mix colours
        assert not any(type(c).__name__ == "PolyCollection" for ax in fig.axes for c in ax.collections)
    assert len(colors["0.5"]) == 1  # the same colour in every figure


def test_well_figures_not_clipped_and_legends_outside():
    d = np.linspace(0.1, 10, 50)
    fig6 = well_plot.thickness_scan(d, [{"label": "a", "S": 0.1 + 0 * d, "n_states": (d * 2).astype(int),
                                         "guide": 0.1}])
    assert_clean_layout(fig6)
    kappa = np.array([-1.0, 2.0, 5.0])
    fig2 = well_plot.states_panels([{"title": "t", "d": 2.2, "V_L": 5.0, "V_R": 5.0, "E_F": 3.0,
                                     "level": np.array([2.0, 1.0, -0.5]), "kappa": kappa,
                                     "S_state": np.array([0.1, -0.2, 0.05]), "chirality": np.array([1, -1, 1]),
                                     "S_total": 0.1}])
    assert_clean_layout(fig2)
    assert "nm" in fig2.axes[1].get_xlabel()


def general_stack():
    layers = (Layer(name="substrate", K0=0.5), Layer(name="2deg", alpha3=-0.2), Layer(name="spacer", dxc=-0.2),
              Layer(name="cap", alpha1=0.1, dxc=0.3))
    leads = (SideLead("L", "-x", layers=(0, 1)), SideLead("R", "+x", layers=(1, 2), width=6, offset=1),
             SideLead("F", "-y", layers=3, width=4))
    return Stack(12, 10, layers, leads, top=VerticalLead("M", dxc=-0.6), bottom=VerticalLead("S"), theta=0.3, phi=2.0)


@pytest.mark.parametrize("which", ["paper", "general"])
def test_draw_stack(which, tmp_path):
    stack = junction(JunctionParams(Lx=12, Ly=12, W=8)) if which == "paper" else general_stack()
    fig = draw_stack(stack, tmp_path / "junction.png", title=which)
    assert (tmp_path / "junction.png").stat().st_size > 0
    words = " ".join(t.get_text() for ax in fig.axes for t in ax.texts + [ax.title])
    for lead in stack.lead_names:
        assert lead in words
    for z, layer in enumerate(stack.layers):
        assert f"$z = {z}$  {layer.name}" in words
    if which == "paper":
        assert r"\alpha_3 = -0.2" in words and r"$\theta = \pi/2$" in words and "top lead M" in words
    else:
        assert "bottom lead S" in words and "(disorder)" in words and r"\alpha_1 = 0.1" in words
        assert "$z = 1$–$2$" in words  # R continues layers 1 and 2
    assert isinstance(fig.axes[0].get_legend(), Legend)
    assert_clean_layout(fig)
