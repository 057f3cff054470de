"""Genomic prediction models on allele dosages (numpy/scipy; the MLP in torch).

- GBLUP: VanRaden's genomic relationship G = Z Z' / (2 sum p(1-p)), Z the
  dosages centred by the training allele frequencies; variance ratio
  lambda = var_e / var_g by REML (eigendecomposition of the projected G) or
  fixed from a given h2; GEBV = G_test,train (G + lambda I)^-1 (y - mu) by
  a Cholesky solve, mu the GLS mean.
- Ridge SNP-BLUP: every marker standardised to unit variance (rrBLUP with
  equal prior variance per standardised marker), the same REML ratio,
  marker effects solved explicitly.
- RKHS: a Gaussian kernel exp(-d^2 / (bandwidth x median d^2)) in place of G.
- BayesC-pi: Gibbs sampling of marker inclusion and effects (seeded; chain
  length and burn-in are parameters).
- MLP: the core's torch MLP on standardised dosages, early-stopped on 10 %
  of the training families.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import numpy as np
import numpy.typing as npt
import scipy.linalg
import scipy.linalg.blas
import scipy.optimize
from assay.kit import Dataset, Params, Predictions, Standardiser, checked, require_targets
from pydantic import Field, model_validator

Array = npt.NDArray[np.float64]
Heritability = Annotated[float, Field(gt=0, lt=1)]
"""A fixed h2 (None: estimated by REML)."""


def dosages(dataset: Dataset) -> Array:
    return np.asarray(dataset.inputs, dtype=np.float64)


def reml_ratio(kernel: Array, y: Array) -> float:
    """REML estimate of var_e / var_g for y = mu + g + e, g ~ N(0, var_g K).

    The intercept is projected out (P = I - 11'/n); on the eigenvectors of
    P K P the restricted likelihood is a one-dimensional function of the
    ratio, maximised over log-ratio in [-7, 7]."""
    n = len(y)
    centred = kernel - kernel.mean(axis=0, keepdims=True)
    centred = centred - centred.mean(axis=1, keepdims=True)
    values, vectors = np.linalg.eigh(centred)
    keep = np.argsort(values)[1:]  # drop the eigenvalue of the constant vector (zero)
    xi, eta2 = np.maximum(values[keep], 0.0), (vectors[:, keep].T @ (y - y.mean())) ** 2
    dof = n - 1

    def negative_log_likelihood(log_ratio: float) -> float:
        d = xi + np.exp(log_ratio)
        return float(0.5 * dof * np.log(np.sum(eta2 / d)) + 0.5 * np.sum(np.log(d)))

    best = scipy.optimize.minimize_scalar(
        negative_log_likelihood, bounds=(-7.0, 7.0), method="bounded"
    )
    return float(np.exp(best.x))


class KernelBLUP:
    """BLUP with a kernel over individuals; subclasses say how the kernel is built."""

    @checked
    def __init__(self, *, h2: Heritability | None = None) -> None:
        self.h2 = h2

    def _setup(self, x: Array) -> None:
        raise NotImplementedError

    def _kernel(self, a: Array, b: Array) -> Array:
        raise NotImplementedError

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        del valid, seed
        x, y = dosages(train), np.asarray(require_targets(train), dtype=np.float64)
        self._setup(x)
        self.x_train_ = x
        kernel = self._kernel(x, x)
        scale = float(np.mean(np.diag(kernel)))
        if self.h2 is None:
            self.ratio_ = reml_ratio(kernel, y)
        else:
            self.ratio_ = (1 - self.h2) / self.h2 * scale
        factor = scipy.linalg.cho_factor(kernel + self.ratio_ * np.eye(len(y)), lower=True)
        ones = np.ones(len(y))
        v_inv_y, v_inv_1 = scipy.linalg.cho_solve(factor, np.column_stack([y, ones])).T
        self.mu_ = float(v_inv_y.sum() / v_inv_1.sum())
        self.alpha_ = v_inv_y - self.mu_ * v_inv_1
        self.h2_estimate_ = scale / (scale + self.ratio_)

    def fitted_choices(self) -> dict[str, float]:
        return {"variance_ratio": round(self.ratio_, 6), "h2_estimate": round(self.h2_estimate_, 4)}

    def predict(self, dataset: Dataset) -> Predictions:
        return Predictions(
            values=self.mu_ + self._kernel(dosages(dataset), self.x_train_) @ self.alpha_
        )


class GBLUP(KernelBLUP):
    """VanRaden (2008) method 1 genomic relationship matrix."""

    def _setup(self, x: Array) -> None:
        self.p_ = x.mean(axis=0) / 2
        self.k_ = float(2 * np.sum(self.p_ * (1 - self.p_))) or 1.0

    def _kernel(self, a: Array, b: Array) -> Array:
        kernel: Array = ((a - 2 * self.p_) @ (b - 2 * self.p_).T) / self.k_
        return kernel


class RKHS(KernelBLUP):
    """Gaussian kernel on dosages; bandwidth relative to the median squared distance."""

    @checked
    def __init__(
        self, *, bandwidth: Annotated[float, Field(gt=0)] = 1.0, h2: Heritability | None = None
    ) -> None:
        super().__init__(h2=h2)
        self.bandwidth = bandwidth

    def _setup(self, x: Array) -> None:
        sq = np.sum(x**2, axis=1)
        d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0)
        self.h_ = self.bandwidth * float(np.median(d2[np.triu_indices(len(x), 1)]) or 1.0)

    def _kernel(self, a: Array, b: Array) -> Array:
        d2 = np.sum(a**2, 1)[:, None] + np.sum(b**2, 1)[None, :] - 2 * a @ b.T
        kernel: Array = np.exp(-np.maximum(d2, 0.0) / self.h_)
        return kernel


class RidgeSNPBLUP:
    """Marker effects with equal variance on standardised dosages; ratio by REML (or from h2)."""

    @checked
    def __init__(self, *, h2: Heritability | None = None) -> None:
        self.h2 = h2

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        del valid, seed
        x, y = dosages(train), np.asarray(require_targets(train), dtype=np.float64)
        self.scaler_ = Standardiser.columns(x)
        z = self.scaler_.apply(x)
        m = z.shape[1]
        kernel = z @ z.T / m
        ratio = reml_ratio(kernel, y) if self.h2 is None else (1 - self.h2) / self.h2
        # (Z'Z + m ratio I) b = Z'(y - mu): solved in the n-dimensional dual.
        self.mu_ = float(y.mean())
        factor = scipy.linalg.cho_factor(kernel + ratio * np.eye(len(y)), lower=True)
        self.effects_ = z.T @ scipy.linalg.cho_solve(factor, y - self.mu_) / m
        self.ratio_ = ratio

    def fitted_choices(self) -> dict[str, float]:
        return {"variance_ratio": round(self.ratio_, 6)}

    def predict(self, dataset: Dataset) -> Predictions:
        z = self.scaler_.apply(dosages(dataset))
        return Predictions(values=self.mu_ + z @ self.effects_)


class BayesCParams(Params):
    chain_length: int = Field(default=300, ge=1)
    """Gibbs iterations in all."""
    burn_in: int = Field(default=100, ge=0)
    """Iterations discarded before the posterior means are taken."""
    pi: float = Field(default=0.05, gt=0, le=1)
    """The starting probability that a marker has an effect."""

    @model_validator(mode="after")
    def _samples_left(self) -> BayesCParams:
        if self.burn_in >= self.chain_length:
            raise ValueError(
                f"burn_in ({self.burn_in}) must be below chain_length ({self.chain_length})"
            )
        return self


class BayesC:
    """BayesC-pi by Gibbs sampling (Habier et al. 2011).

    y = mu + sum_j z_j b_j delta_j + e; b_j ~ N(0, var_b) when included
    (delta_j = 1, probability pi ~ Beta(1, 1)); var_b and var_e scaled
    inverse chi-square with 4 degrees of freedom, the scale of var_b set so
    the prior genetic variance is half the phenotypic. Effects are the
    posterior means after `burn_in` of `chain_length` iterations."""

    params_model = BayesCParams

    def __init__(self, **params: Any) -> None:
        p = BayesCParams.model_validate(params)
        self.chain_length, self.burn_in, self.pi = p.chain_length, p.burn_in, p.pi

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        del valid
        rng = np.random.default_rng(seed)
        x, y = dosages(train), np.asarray(require_targets(train), dtype=np.float64)
        self.mean_ = x.mean(axis=0)
        z = x - self.mean_
        n, m = z.shape
        zz = np.einsum("ij,ij->j", z, z)
        var_y, nu = float(np.var(y)), 4.0
        var_e = 0.5 * var_y
        pi = self.pi
        scale_b = 0.5 * var_y / (np.sum(zz / n) * pi) * (nu - 2) / nu
        scale_e = 0.5 * var_y * (nu - 2) / nu
        var_b = scale_b * nu / (nu - 2)
        b, included = np.zeros(m), np.zeros(m, dtype=bool)
        mu = float(y.mean())
        resid = y - mu
        kept, sum_b, sum_mu = 0, np.zeros(m), 0.0
        axpy = scipy.linalg.blas.get_blas_funcs("axpy", (resid,))
        columns = [np.ascontiguousarray(z[:, j]) for j in range(m)]
        for iteration in range(self.chain_length):
            resid += mu
            mu = float(rng.normal(resid.mean(), np.sqrt(var_e / n)))
            resid -= mu
            log_prior = math.log(pi) - math.log1p(-pi)
            uniforms = rng.random(m)
            normals = rng.standard_normal(m)
            for j in range(m):
                zz_j = float(zz[j])
                if zz_j == 0.0:
                    continue
                old = float(b[j])
                rhs = float(columns[j] @ resid) + zz_j * old
                v0 = zz_j * var_e
                v1 = zz_j * zz_j * var_b + v0
                log_odds = log_prior - 0.5 * math.log(v1 / v0) + 0.5 * rhs * rhs * (1 / v0 - 1 / v1)
                new = 0.0
                odds_in = 1.0 / (1.0 + math.exp(-log_odds)) if log_odds > -700 else 0.0
                if uniforms[j] < odds_in:
                    c = zz_j + var_e / var_b
                    new = rhs / c + float(normals[j]) * math.sqrt(var_e / c)
                    included[j] = True
                else:
                    included[j] = False
                if new != old:
                    resid = axpy(columns[j], resid, a=old - new)
                    b[j] = new
            k = int(included.sum())
            var_b = (float(np.sum(b[included] ** 2)) + nu * scale_b) / rng.chisquare(k + nu)
            var_e = (float(resid @ resid) + nu * scale_e) / rng.chisquare(n + nu)
            pi = float(rng.beta(1 + k, 1 + m - k))
            if iteration >= self.burn_in:
                kept += 1
                sum_b += b
                sum_mu += mu
        self.effects_, self.mu_ = sum_b / kept, sum_mu / kept
        self.pi_ = pi

    def fitted_choices(self) -> dict[str, float]:
        return {"pi_last": round(self.pi_, 4)}

    def predict(self, dataset: Dataset) -> Predictions:
        return Predictions(values=self.mu_ + (dosages(dataset) - self.mean_) @ self.effects_)
