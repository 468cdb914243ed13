"""New lead kinds, written here only (``model.stack.Lead``), work without any change to the package.

``WideBand`` is a wide-band lead: an energy-independent self-energy -i gamma_s / 2 on a few sites of
one layer (gamma per spin along z, on every orbital), each (site, orbital, spin) one channel of
broadening gamma_s. It implements the protocol's side-lead methods (``layers``, ``validate``,
``channels``, ``spinors``, ``site_coupling``) and nothing else; the solver's defaults turn its
real-space coupling into the dense path's slice terms and the Krylov path's operator.

Reference: the Fisher-Lee relation on the dense Green's function G = (E - H - sum Sigma)^-1 of the
junction built independently with Kwant (``validation.kwant_model.build`` of the stack without the
new lead: its Hamiltonian and its leads' self-energies), plus the wide-band self-energy written here:
T(a s <- b s') = Tr[Gamma_a^s G Gamma_b^s' G^dagger] between different leads (Gamma^s the
broadening projected on spin s of the lead's axis; the leads conserve it). Tolerance 1e-10.
Unitarity of S and current conservation (sum over a, s of T(a s <- b s') = n_open(b, s')) to 1e-10.

``AnisotropicTop`` is a top lead whose hopping across its cross-section (t_plane) differs from its
hopping along z (t_z, also its coupling to the stack): it gives its mode chains only
(``mode_chains``), and the solver folds the uniform layer under it into it. Reference: the same
Fisher-Lee relation with its self-energy from iterative decimation of its real-space cell
(``core.chains.decimation_self_energy``, not the closed form), 1e-10.
"""

from typing import Any

import jax.numpy as jnp
import numpy as np
import pytest

from jaxsge import Layer, SideLead, Stack, VerticalLead, solve
from jaxsge.core.chains import decimation_self_energy
from jaxsge.core.lattice import band_energies, magnetization, spin_along
from jaxsge.core.precision import x64
from jaxsge.plan.plan import subband_edges
from jaxsge.model.stack import SPIN_SIGN, Lead, SiteCoupling, channel_index, pytree, static

kwant_model = pytest.importorskip("jaxsge.validation.kwant_model")
pytest.importorskip("kwant")

TOL = 1e-10
SIGMA = np.array([[[0, 1], [1, 0]], [[0, -1j], [1j, 0]], [[1, 0], [0, -1]]])


@pytree
class WideBand(Lead):
    """-i gamma_s / 2 on the sites ``sites`` ((x, y) pairs) of layer ``layer``, spin s along z."""

    name: str = static()
    layer: int = static(0)
    sites: tuple = static(((0, 0),))
    gamma_up: Any = 1.0
    gamma_down: Any = 0.5

    @property
    def layers(self):
        return (self.layer, self.layer)

    def validate(self, stack, where):
        if not 0 <= self.layer < stack.Lz:
            raise ValueError(f"lead {self.name!r}: layer = {self.layer} must satisfy 0 <= layer < {stack.Lz}")
        if not all(0 <= x < stack.Lx and 0 <= y < stack.Ly for x, y in self.sites):
            raise ValueError(f"lead {self.name!r}: sites {self.sites} must lie in the layer")

    def channels(self, stack, where, energies, allow_closed, tolerance):
        n = stack.layers[self.layer].orbitals
        return tuple((i, o, s) for i in range(len(self.sites)) for o in range(n) for s in range(2))

    def spinors(self, theta, phi, setup):
        return spin_along(0.0, 0.0)

    def site_coupling(self, stack, where, theta, phi, energy, setup, channels):
        d = 2 * stack.layers[self.layer].orbitals
        k = len(self.sites)
        gamma = jnp.tile(jnp.stack([jnp.asarray(self.gamma_up, float), jnp.asarray(self.gamma_down, float)]),
                         k * d // 2)  # per state (site, orbital, spin)
        site, orbital, spin = channel_index(channels)
        state = site * d + 2 * orbital + spin
        vectors = np.zeros((k * d, state.size))
        vectors[state, np.arange(state.size)] = 1.0
        x, y = np.array(self.sites).T
        return SiteCoupling(np.full(k, self.layer), x, y, jnp.diag(-0.5j * gamma), vectors, gamma[state])


@pytree
class AnisotropicTop(Lead):
    """A top or bottom lead of one orbital: onsite ``onsite``, hopping -t_plane across, -t_z along z and to the
    stack, exchange -(dxc/2) n.sigma (angles None: the stack's), spin resolved along n (the default spinors)."""

    name: str = static("M")
    onsite: Any = 6.0
    t_plane: Any = 1.0
    t_z: Any = 1.0
    dxc: Any = 0.0
    theta: Any = None
    phi: Any = None

    def validate(self, stack, where):
        if stack.layers[-1 if where == "top" else 0].orbitals != 1:
            raise ValueError(f"lead {self.name!r} attaches to layers of one orbital")

    def mode_chains(self, stack, where):
        energies = self.onsite + band_energies(stack.Lx, stack.Ly, self.t_plane)
        return energies[:, :, None] - SPIN_SIGN * self.dxc / 2, self.t_z


def junction(on_top_layer: bool):
    """3 x 4 layers, Rashba in layer 0, a normal side lead L and the wide-band lead W, a magnetic top lead."""
    layers = (Layer(onsite=4.0, alpha1=0.3, dxc=0.2),  # exchange along the stack's magnetization (Krylov applies)
              Layer(onsite=4.2, tz=1.0))
    wide = WideBand("W", layer=1 if on_top_layer else 0, sites=((2, 1), (2, 2), (1, 3)), gamma_up=0.8,
                    gamma_down=0.35)
    return Stack(Lx=3, Ly=4, layers=layers, side_leads=(SideLead("L", "-x", layers=0), wide),
                 top=VerticalLead("M", onsite=6.0, dxc=0.5), theta=0.7, phi=0.3)


def vertical_junction():
    """3 x 3 layers: Rashba in layer 0 with side leads L (normal) and R (magnetic), layer 1 uniform (folded into
    the top lead), the anisotropic top lead."""
    layers = (Layer(onsite=4.0, alpha1=0.3), Layer(onsite=4.2, tz=0.9))
    return Stack(Lx=3, Ly=3, layers=layers,
                 side_leads=(SideLead("L", "-x", layers=0), SideLead("R", "+x", layers=0, dxc=0.3, theta=0.2, phi=0.1)),
                 top=AnisotropicTop("M", onsite=5.5, t_plane=0.6, t_z=1.3, dxc=0.4), theta=0.7, phi=0.3)


def n_sigma(theta, phi):
    return np.einsum("i,ijk->jk", np.asarray(magnetization(theta, phi)), SIGMA)


def anisotropic_self_energy(stack, lead, energy):
    """The top lead's self-energy on the top layer's sites (x, y, spin), by decimation of its real-space cell."""
    Lx, Ly = stack.Lx, stack.Ly
    hop = np.eye(Lx * Ly, k=Ly) + np.kron(np.eye(Lx), np.eye(Ly, k=1))  # (x, y) -> (x + 1, y) and (x, y + 1)
    cell = (np.kron(-lead.t_plane * (hop + hop.T), np.eye(2))
            + np.kron(np.eye(Lx * Ly), lead.onsite * np.eye(2) - lead.dxc / 2 * n_sigma(stack.theta, stack.phi)))
    return np.asarray(decimation_self_energy(cell, -lead.t_z * np.eye(2 * Lx * Ly), energy))


@x64
def reference(stack, energy):
    """T (n_leads, 2, n_leads, 2) between different leads (reflections zero) by Fisher-Lee on Kwant's H, the
    leads of this file written here, the others Kwant's (``validation.kwant_model.build``)."""
    plain = stack.replace(side_leads=tuple(lead for lead in stack.side_leads if isinstance(lead, SideLead)),
                          top=stack.top if isinstance(stack.top, VerticalLead) else None)
    syst = kwant_model.build(plain, kwant_model.potentials(plain))
    h = syst.hamiltonian_submatrix(sparse=False)
    index = {tuple(site.tag): i for i, site in enumerate(syst.sites)}  # tag (x, y, z); 2 states per site

    def states(tags):
        return np.array([2 * index[tag] + s for tag in tags for s in range(2)])

    gammas, sigma_total, kwant_lead = [], np.zeros_like(h), iter(range(len(syst.leads)))
    for where, lead in stack.leads:
        if isinstance(lead, WideBand):
            rows = states([(x, y, lead.layer) for x, y in lead.sites])
            sigma = np.diag(np.tile([-0.5j * lead.gamma_up, -0.5j * lead.gamma_down], len(lead.sites)))
            axis = SIGMA[2]
        elif isinstance(lead, AnisotropicTop):
            rows = states([(x, y, stack.Lz - 1) for x in range(stack.Lx) for y in range(stack.Ly)])
            sigma = anisotropic_self_energy(stack, lead, energy)
            axis = n_sigma(stack.theta, stack.phi)
        else:
            i = next(kwant_lead)
            rows = states([tuple(syst.sites[k].tag) for k in syst.lead_interfaces[i]])
            sigma = syst.leads[i].selfenergy(energy)
            magnetic = isinstance(lead, VerticalLead) or lead.dxc != 0
            axis = (n_sigma(*((stack.theta, stack.phi) if lead.theta is None else (lead.theta, lead.phi)))
                    if magnetic else n_sigma(*lead.spin_axis))
        sigma_total[np.ix_(rows, rows)] += sigma
        gamma = 1j * (sigma - sigma.conj().T)
        per_spin = []
        for sign in (1, -1):  # Gamma projected on spin + and - of the lead's axis (it conserves that spin)
            proj = np.kron(np.eye(rows.size // 2), (np.eye(2) + sign * axis) / 2)
            full = np.zeros_like(h)
            full[np.ix_(rows, rows)] = proj @ gamma @ proj
            per_spin.append(full)
        gammas.append(per_spin)
    g = np.linalg.inv(energy * np.eye(h.shape[0]) - h - sigma_total)
    n = len(gammas)
    T = np.zeros((n, 2, n, 2))
    for a in range(n):
        for b in range(n):
            if a != b:
                for s in range(2):
                    for sp in range(2):
                        T[a, s, b, sp] = np.real(np.trace(gammas[a][s] @ g @ gammas[b][sp] @ g.conj().T))
    return T


def check(r, ref, n_leads):
    """r's T equals the reference between different leads; S unitary; current conserved (1e-10)."""
    off = ~np.eye(n_leads, dtype=bool)[:, None, :, None].repeat(2, 1).repeat(2, 3)
    assert np.max(np.abs(np.where(off, r.T - ref, 0.0))) < TOL
    assert np.max(np.abs(np.where(off, ref, 0.0))) > 1e-3  # the leads do couple
    S = np.asarray(r.S)
    open_ = np.abs(S).sum(axis=0) > 0
    S = S[np.ix_(open_, open_)]
    assert np.max(np.abs(S.conj().T @ S - np.eye(S.shape[0]))) < TOL
    assert np.max(np.abs(r.T.sum(axis=(0, 1)) - r.n_open)) < TOL


@pytest.mark.parametrize("on_top_layer, path, fold", [(False, "dense", True), (False, "krylov", True),
                                                      (False, "dense", False), (True, "dense", True)])
def test_new_lead_kind_equals_fisher_lee(on_top_layer, path, fold):
    """A wide-band lead on the lowest layer (dense LU, Krylov, no folding) or on an upper dense slice."""
    stack = junction(on_top_layer)
    energy = 4.3
    r = solve(stack, energy, path=path, fold=fold, smatrix=True)
    assert r.leads == ("L", "W", "M")
    np.testing.assert_array_equal(r.n_open[1], [3, 3])  # its three sites, both spins
    check(r, reference(stack, energy), 3)


@pytest.mark.parametrize("path, fold", [("dense", True), ("krylov", True), ("dense", False)])
def test_new_vertical_lead_kind_equals_fisher_lee(path, fold):
    """The anisotropic top lead, with the uniform layer under it folded into it (or not: fold=False)."""
    stack = vertical_junction()
    energy = 4.3
    r = solve(stack, energy, path=path, fold=fold, smatrix=True)
    assert ("folded" in r.path) == fold
    check(r, reference(stack, energy), 3)
    edges = subband_edges(stack)  # the planner asks it for its band edges too
    chains = 5.5 + 0.6 * np.add.outer(*[-2 * np.cos(np.pi * np.arange(1, 4) / 4)] * 2)
    for e in (chains - 0.2 - 2.6, chains + 0.2 + 2.6):
        assert np.all(np.min(np.abs(edges[:, None] - e.ravel()[None, :]), axis=0) < 1e-12)


def test_new_lead_kind_is_validated_by_its_own_rule():
    stack = junction(False)
    bad = stack.replace(side_leads=(stack.side_leads[0], stack.side_leads[1].replace(sites=((3, 0),))))
    with pytest.raises(ValueError, match=r"lead 'W': sites \(\(3, 0\),\) must lie in the layer"):
        solve(bad, 4.3)
