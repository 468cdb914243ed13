"""The lowest layer solved matrix-free: preconditioned GMRES instead of one dense LU (docs/krylov.md),
and the mixed-precision path's refinement of a complex64 LU against the same operator (:func:`refined_solver`).

Where the lowest slice is one layer with the folded top lead right above it, its matrix in the
basis of sine modes (q) times spin along the top axis (s) is A = D - K: D(q, s) = E - onsite -
t eps_q + s Dxc/2 - sigma_M(q, s) is diagonal, and K (spin-orbit coupling, any hopping table,
the disorder potential, the side leads) is local in real space, applied as a stencil between
two sine transforms: O(L^3) per vector instead of O(L^4), nothing of order (2 L^2)^2 held.

Preconditioner (the Fermi-shell Schur complement): the modes with ``|Re D|`` < ``plan.KRYLOV_SHELL`` t
(the shell c, ``plan.krylov_shell``) are the near-resonant ones that the spin-orbit coupling and
the disorder mix; M is the exact inverse of A with its off-shell block A_ff replaced by D_f:

    y_f = D_f^-1 r_f,   x_c = S^-1 (r_c - (A y)_c),   x_f = y_f - D_f^-1 (A x_c)_f,
    S = A_cc - A_cf D_f^-1 A_fc   (dense, of the shell's size, one LU),

two applications of A per application of M; the transposed system A^T y = b uses A^T and S^T
(the same LU). The solves are wrapped in ``lax.custom_linear_solve``, so derivatives go through
them implicitly (one more solve per tangent), with the accuracy of the Krylov tolerance.
"""

from __future__ import annotations

import functools
import operator as op
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..core.linalg import lu_factor, lu_solve
from ..plan.plan import KrylovSetup


class LayerOperator(NamedTuple):
    """The lowest layer's matrix A = E - H - Sigma in its sine modes (sigma_z basis), matrix-free.

    ``diag``: (Lx, Ly, 2, 2) the mode-diagonal blocks (onsite, nearest-neighbour hopping,
    exchange, the folded top lead); ``table``: real-space hopping table {d: 2x2 H[r, r+d]}
    (half of the offsets) beyond the nearest neighbours, and an onsite block at d = (0, 0);
    ``profile``: (Lx, Ly) onsite potential or None; ``sides``: per side lead on this layer, (x, y)
    of its sites and its self-energy block (2W, 2W) on them (site-major, spin-minor). On a layer of
    n orbitals the site blocks are (2n x 2n) (index orbital * 2 + spin), a side lead's (2nW, 2nW).
    """

    diag: jnp.ndarray
    table: dict
    profile: object
    sides: tuple
    phix: np.ndarray
    phiy: np.ndarray

    def apply(self, x, transpose: bool = False):
        """A x (or A^T x) for x of shape (Lx, Ly, d, k) in the sine-mode basis (d = 2 n_orbitals)."""
        out = _spin_product(jnp.swapaxes(self.diag, -1, -2) if transpose else self.diag, x)
        k_real = self._local(_sine_transform(self.phix, self.phiy, x), transpose)
        return out - _sine_transform(self.phix, self.phiy, k_real)

    def _local(self, v, transpose: bool):
        """The real-space part K v: the hopping table (hard walls), the potential, the side leads."""
        Lx, Ly = v.shape[:2]
        out = jnp.zeros_like(v)
        if self.table:
            # Zero padding is the hard wall: every shifted neighbour is a static slice, no scatter.
            reach = max(max(abs(dx), abs(dy)) for dx, dy in self.table)
            padded = jnp.pad(v, ((reach, reach), (reach, reach), (0, 0), (0, 0)))
            for (dx, dy), block in self.table.items():
                # H[r, r+d] = B and H[r+d, r] = B^dagger; the transpose has H^T[r, r+d] = conj(B)
                # and H^T[r+d, r] = B^T.
                block = jnp.asarray(block)
                if (dx, dy) == (0, 0):  # an onsite block, once
                    out = out + _spin_product(block.T if transpose else block, v)
                    continue
                forward, backward = (jnp.conj(block), block.T) if transpose else (block, jnp.conj(block).T)
                ahead = padded[reach + dx:reach + dx + Lx, reach + dy:reach + dy + Ly]
                behind = padded[reach - dx:reach - dx + Lx, reach - dy:reach - dy + Ly]
                out = out + _spin_product(forward, ahead) + _spin_product(backward, behind)
        if self.profile is not None:
            out = out + self.profile[:, :, None, None] * v
        for x_sites, y_sites, block in self.sides:
            b = block.T if transpose else block
            w, d = x_sites.size, v.shape[2]
            on_sites = v[x_sites, y_sites].reshape(d * w, -1)
            out = out.at[x_sites, y_sites].add((b @ on_sites).reshape(w, d, -1))
        return out


def _sine_transform(phix, phiy, v):
    """v (Lx, Ly, ...) between real space and sine modes (its own inverse), by real matrix products on
    the real and imaginary parts: half the work of a complex product, and twice as fast again on CPU."""
    Lx, Ly = v.shape[:2]
    parts = jnp.stack([jnp.real(v), jnp.imag(v)], axis=-1)
    a = (phix.T @ parts.reshape(Lx, -1)).reshape(Lx, Ly, -1)
    a = jnp.einsum("yn,xyk->xnk", phiy, a).reshape(parts.shape)
    return a[..., 0] + 1j * a[..., 1]


def _spin_product(block, v):
    """block (d, d), or one per site or mode (Lx, Ly, d, d), acting on the site-state axis of v (Lx, Ly, d, k)
    (d = 2: spin; 2n with n orbitals), written elementwise so that XLA fuses every term of the stencil into
    one pass (a d x d dot product per term would be one pass each)."""
    return functools.reduce(op.add, (block[..., :, k, None] * v[:, :, k:k + 1, :] for k in range(block.shape[-1])))


def shell_preconditioner(operator, d, shell: np.ndarray):
    """The Fermi-shell Schur preconditioner of ``operator(v, transpose)`` in the basis (q, s along the
    axis), diagonal ``d``: S = A_cc - A_cf D_f^-1 A_fc from 2 n_c applications of A, and its LU.
    Returns ``apply(r, transpose)``: M^-1 r (M^-T r when ``transpose``) for r of shape (n, k)."""
    n = d.shape[0]
    off = np.ones(n, bool)
    off[shell] = False
    inverse_diag = jnp.where(off, 1.0 / jnp.where(off, d, 1.0), 0.0)
    columns = jnp.zeros((n, shell.size), complex).at[shell, np.arange(shell.size)].set(1.0)
    a_c = operator(columns, False)                      # A e_c: rows c give A_cc, rows f give A_fc
    factors = lu_factor(a_c[shell] - operator(a_c * inverse_diag[:, None], False)[shell])

    def apply(r, transpose: bool):
        y = (r * inverse_diag[:, None]).at[shell].set(0.0)
        x_c = lu_solve(factors, r[shell] - operator(y, transpose)[shell], transpose=transpose)
        x = jnp.zeros_like(r).at[shell].set(x_c)
        return (x + (y - operator(x, transpose) * inverse_diag[:, None])).at[shell].set(x_c)
    return apply


def gmres(operator, precondition, b, setup: KrylovSetup, flexible: bool = False):
    """Solve A x = b for every column of b (n, k): restarted GMRES, right-preconditioned
    (A M^-1 u = b, x = M^-1 u), modified Gram-Schmidt, Givens rotations; all
    columns advance together, each in its own Krylov space. Returns (x, iterations, the largest
    relative residual ||b - A x|| / ||b|| of the columns, recomputed at the end).

    ``flexible``: keep the preconditioned vectors z_j = M^-1 v_j and update x by them (FGMRES,
    Y. Saad, SIAM J. Sci. Comput. 14, 461 (1993)): for a preconditioner that is linear only to
    its rounding (a complex64 LU), A Z = V H then holds in double precision, and the final update
    costs no application of M; twice the basis memory."""
    n, k = b.shape
    m = setup.restart

    def safe(v):
        return jnp.where(v > 0, v, 1.0)

    scale = safe(jnp.linalg.norm(b, axis=0))

    def cycle(state):
        x, iterations, _ = state
        r = b - operator(x)
        beta = jnp.linalg.norm(r, axis=0)
        basis = jnp.zeros((m + 1, n, k), complex).at[0].set(r / safe(beta))
        zs = jnp.zeros((m if flexible else 0, n, k), complex)
        hess = jnp.zeros((m + 1, m, k), complex)
        g = jnp.zeros((m + 1, k), complex).at[0].set(beta)
        cs = jnp.zeros((m, k))
        sn = jnp.zeros((m, k), complex)

        def step(carry):
            j, basis, zs, hess, g, cs, sn = carry
            z = precondition(basis[j])
            if flexible:
                zs = zs.at[j].set(z)
            w = operator(z)

            def orthogonalize(i, carry):  # modified Gram-Schmidt: only the j + 1 vectors in use are read
                w, h = carry
                coef = jnp.einsum("nk,nk->k", jnp.conj(basis[i]), w)
                return w - basis[i] * coef, h.at[i].add(coef)

            # One pass suffices: MGS-GMRES is backward stable (Paige, Rozloznik and Strakos, SIAM J.
            # Matrix Anal. Appl. 28, 264 (2006)); a second pass cost 40 % more time for nothing.
            w, h = jax.lax.fori_loop(0, j + 1, orthogonalize, (w, jnp.zeros((m + 1, k), complex)))
            norm = jnp.linalg.norm(w, axis=0)
            basis = basis.at[j + 1].set(w / safe(norm))
            h = h.at[j + 1].set(norm)

            def rotate(i, h):
                a, c = h[i], h[i + 1]
                rotated = jnp.where(i < j, cs[i] * a + sn[i] * c, a)
                lower = jnp.where(i < j, -jnp.conj(sn[i]) * a + cs[i] * c, c)
                return h.at[i].set(rotated).at[i + 1].set(lower)

            h = jax.lax.fori_loop(0, m, rotate, h)
            a, c = h[j], h[j + 1]
            r_ = jnp.sqrt(jnp.abs(a) ** 2 + jnp.abs(c) ** 2)
            c_new = jnp.where(r_ > 0, jnp.abs(a) / safe(r_), 1.0)
            phase = jnp.where(jnp.abs(a) > 0, a / safe(jnp.abs(a)), 1.0)
            s_new = jnp.where(r_ > 0, phase * jnp.conj(c) / safe(r_), 0.0)
            h = h.at[j].set(c_new * a + s_new * c).at[j + 1].set(0.0)
            cs, sn = cs.at[j].set(c_new), sn.at[j].set(s_new)
            g = g.at[j + 1].set(-jnp.conj(s_new) * g[j]).at[j].set(c_new * g[j])
            hess = hess.at[:, j].set(h)
            return j + 1, basis, zs, hess, g, cs, sn

        def going(carry):
            j, *_, g, _, _ = carry
            estimate = jnp.abs(g[j]) / scale
            return (j < m) & (iterations + j < setup.max_iter) & jnp.any(estimate > setup.tol)

        steps, basis, zs, hess, g, cs, sn = jax.lax.while_loop(going, step, (0, basis, zs, hess, g, cs, sn))
        # Least squares: the leading steps x steps block of the rotated Hessenberg matrix is upper
        # triangular; unused steps get unit diagonal and zero right-hand side.
        used = jnp.arange(m) < steps
        upper = jnp.moveaxis(hess[:m], -1, 0)
        upper = jnp.where(used[None, :, None] & used[None, None, :], upper, jnp.eye(m)[None])
        # A zero right-hand side (a column of zero cotangents in reverse mode) leaves a zero pivot
        # with a zero right-hand side: its coefficients are 0, not 0/0.
        upper = upper + jnp.eye(m)[None] * (jnp.diagonal(upper, axis1=1, axis2=2) == 0)[:, :, None]
        rhs = jnp.where(used[:, None], g[:m], 0.0).T
        coef = jax.scipy.linalg.solve_triangular(upper, rhs[..., None], lower=False)[..., 0]
        x = x + (jnp.einsum("ink,ki->nk", zs, coef) if flexible
                 else precondition(jnp.einsum("ink,ki->nk", basis[:m], coef)))
        residual = jnp.max(jnp.linalg.norm(b - operator(x), axis=0) / scale)
        return x, iterations + steps, residual

    def unfinished(state):
        _, iterations, residual = state
        return (residual > setup.tol) & (iterations < setup.max_iter)

    return jax.lax.while_loop(unfinished, cycle, (jnp.zeros_like(b), 0, jnp.array(jnp.inf)))


def layer_solver(operator: LayerOperator, chi, setup: KrylovSetup):
    """``solve(b, transpose)``: x with A x = b (A^T x = b when ``transpose``) for b (n, k) in the
    sigma_z mode basis, and the statistics (iterations, relative residual) as floats.

    The iteration runs in the basis of spin along the top axis (spinors ``chi``), where D (flat
    (n,), index q * 2 + s; (q * n_orb + o) * 2 + s with orbitals, whose diagonal blocks are
    orbital-diagonal: ``kernel._layer_operator``) is diagonal: A_n = R^dagger A R with R = chi on
    every mode, and A^T = R^* A_n^T R^T. The preconditioner is built once for both:
    S(A_n^T) = S(A_n)^T, the same LU.
    """
    n_orb = operator.diag.shape[-1] // 2
    if n_orb == 1:
        shape = operator.diag.shape[:2] + (2, -1)
        d = jnp.einsum("as,xyab,bs->xys", jnp.conj(chi), operator.diag, chi).reshape(-1)
    else:  # the spin axis of the (orbital, spin) site states
        Lx, Ly = operator.diag.shape[:2]
        shape = (Lx, Ly * n_orb, 2, -1)
        blocks = operator.diag.reshape(Lx, Ly, n_orb, 2, n_orb, 2)
        d = jnp.einsum("as,xyoaob,bs->xyos", jnp.conj(chi), blocks, chi).reshape(-1)

    def rotate(v, m):
        return jnp.einsum("ab,xybk->xyak", m, v.reshape(shape))

    def axis_operator(v, t):
        """A_n v, or A_n^T v when ``t``."""
        into, out = (chi, jnp.conj(chi).T) if not t else (jnp.conj(chi), chi.T)
        return rotate(operator.apply(rotate(v, into).reshape(operator.diag.shape[:3] + (-1,)), t),
                      out).reshape(v.shape)

    precondition = shell_preconditioner(axis_operator, d, np.asarray(setup.shell))
    implicit = _implicit_gmres(axis_operator, precondition, setup, flexible=False)

    def solve(b, transpose: bool):
        into, out = (jnp.conj(chi).T, chi) if not transpose else (chi.T, jnp.conj(chi))
        x, stats = implicit(rotate(b, into).reshape(-1, b.shape[-1]), transpose)
        return rotate(x, out).reshape(b.shape), stats

    return solve


def refined_solver(operator: LayerOperator, factors, setup: KrylovSetup):
    """``solve(b, transpose)`` of the mixed-precision path: x with A x = b (A^T x = b) for b (n, k)
    in the sigma_z mode basis, and the statistics (iterations, relative residual) as floats.

    ``factors``: ``core.linalg.lu_factor`` of A assembled in complex64 (half the memory and about
    half the time of the complex128 LU). Its solves precondition flexible GMRES against the exact
    complex128 operator (``operator.apply``, matrix-free), so the solution has the accuracy of the
    tolerance, not of single precision: iterative refinement in the form of GMRES-IR [E. Carson,
    N. J. Higham, SIAM J. Sci. Comput. 40, A817 (2018)]. The transposed system uses A^T and the
    transposed solves of the same factors.
    """
    shape = operator.diag.shape[:3] + (-1,)

    def matvec(v, t):
        return operator.apply(v.reshape(shape), t).reshape(v.shape)

    def precondition(r, t):
        # Each column scaled to unit size first: complex64 has the range of float32.
        scale = jnp.max(jnp.abs(r), axis=0)
        scale = jnp.where(scale > 0, scale, 1.0)
        x = lu_solve(factors, (r / scale).astype(factors[0].dtype), transpose=t)
        return x.astype(r.dtype) * scale

    return _implicit_gmres(matvec, precondition, setup, flexible=True)


def _implicit_gmres(operator, precondition, setup: KrylovSetup, flexible: bool):
    """``solve(b, transpose)`` by preconditioned GMRES (``operator(v, t)``, ``precondition(r, t)``)
    wrapped in ``lax.custom_linear_solve``: derivatives go through the solve implicitly (one more
    solve per tangent, with the transposed operator and preconditioner), not through its iterations."""
    def run(t):
        def solver(matvec, rhs):
            x, iterations, residual = gmres(matvec, lambda v: precondition(v, t), rhs, setup, flexible)
            return x, (iterations, residual)
        return solver

    def solve(b, transpose: bool):
        x, (iterations, residual) = jax.lax.custom_linear_solve(
            lambda v: operator(v, transpose), b, run(transpose), run(not transpose), has_aux=True)
        return x, jnp.stack([iterations, residual]).astype(float)

    return solve
