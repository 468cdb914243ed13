"""A new lead kind, written here only (``model.stack.Lead``), works without any change to the package.

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
"""

from typing import Any

import jax.numpy as jnp
import numpy as np
import pytest

from jaxsge import Layer, SideLead, Stack, VerticalLead, solve
from jaxsge.core.lattice import magnetization, spin_along
from jaxsge.core.precision import x64
from jaxsge.model.stack import Lead, SiteCoupling, channel_index, pytree, static

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


def junction(on_top_layer: bool):
    """3 x 4 layers, Rashba in layer 0, a normal side lead L and the wide-band lead W, a magnetic top lead."""
    layers = (Layer(onsite=4.0, alpha1=0.3, dxc=0.2),  # exchange along the stack's magnetization (Krylov applies)
              Layer(onsite=4.2, tz=1.0))
    wide = WideBand("W", layer=1 if on_top_layer else 0, sites=((2, 1), (2, 2), (1, 3)), gamma_up=0.8,
                    gamma_down=0.35)
    return Stack(Lx=3, Ly=4, layers=layers, side_leads=(SideLead("L", "-x", layers=0), wide),
                 top=VerticalLead("M", onsite=6.0, dxc=0.5), theta=0.7, phi=0.3)


@x64
def reference(stack, energy):
    """T (n_leads, 2, n_leads, 2) between different leads (reflections zero) by Fisher-Lee on Kwant's H."""
    wide = stack.side_leads[1]
    plain = stack.replace(side_leads=stack.side_leads[:1])
    syst = kwant_model.build(plain, kwant_model.potentials(plain))
    h = syst.hamiltonian_submatrix(sparse=False)
    index = {tuple(site.tag): i for i, site in enumerate(syst.sites)}  # tag (x, y, z); 2 states per site

    def states(tags):
        return np.array([2 * index[tag] + s for tag in tags for s in range(2)])

    def axis_projectors(n_sigma):
        return [(np.eye(2) + sign * n_sigma) / 2 for sign in (1, -1)]

    gammas, sigma_total = [], np.zeros_like(h)
    axes = [SIGMA[2], None, np.einsum("i,ijk->jk", np.asarray(magnetization(stack.theta, stack.phi)), SIGMA)]
    kwant_leads = [0, None, 1]  # L, W, M in jaxsge's lead order
    for a, lead_index in enumerate(kwant_leads):
        if lead_index is None:
            rows = states([(x, y, wide.layer) for x, y in wide.sites])
            sigma = np.diag(np.tile([-0.5j * wide.gamma_up, -0.5j * wide.gamma_down], len(wide.sites)))
            n_sigma = SIGMA[2]
        else:
            rows = states([tuple(syst.sites[i].tag) for i in syst.lead_interfaces[lead_index]])
            sigma = syst.leads[lead_index].selfenergy(energy)
            n_sigma = axes[a]
        sigma_total[np.ix_(rows, rows)] += sigma
        gamma = 1j * (sigma - sigma.conj().T)
        per_spin = []
        for p in axis_projectors(n_sigma):
            proj = np.kron(np.eye(rows.size // 2), p)
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


@pytest.mark.parametrize("on_top_layer, path, fold", [(False, "dense", True), (False, "krylov", True),
                                                      (False, "dense", False), (True, "dense", True)])
def test_new_lead_kind_equals_fisher_lee(on_top_layer, path, fold):
    """A wide-band lead on the lowest layer (dense LU, Krylov, no folding) or on an upper dense slice."""
    stack = junction(on_top_layer)
    energy = 4.3
    r = solve(stack, energy, path=path, fold=fold, smatrix=True)
    assert r.leads == ("L", "W", "M")
    ref = reference(stack, energy)
    off = ~np.eye(3, dtype=bool)[:, None, :, None].repeat(2, 1).repeat(2, 3)
    assert np.max(np.abs(np.where(off, r.T - ref, 0.0))) < TOL
    assert np.max(np.abs(np.where(off, ref, 0.0))) > 1e-3  # the lead does couple
    np.testing.assert_array_equal(r.n_open[1], [3, 3])  # its three sites, both spins
    S = np.asarray(r.S)
    open_ = np.abs(S).sum(axis=0) > 0
    S = S[np.ix_(open_, open_)]
    assert np.max(np.abs(S.conj().T @ S - np.eye(S.shape[0]))) < TOL
    assert np.max(np.abs(r.T.sum(axis=(0, 1)) - r.n_open)) < TOL


def test_new_lead_kind_is_validated_by_its_own_rule():
    stack = junction(False)
    bad = stack.replace(side_leads=(stack.side_leads[0], stack.side_leads[1].replace(sites=((3, 0),))))
    with pytest.raises(ValueError, match=r"lead 'W': sites \(\(3, 0\),\) must lie in the layer"):
        solve(bad, 4.3)
