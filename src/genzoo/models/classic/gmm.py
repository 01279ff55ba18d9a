"""Gaussian mixture on pixel vectors — fitted by scikit-learn's ``GaussianMixture`` (EM, Dempster
et al. 1977), with the discrete likelihood bounded as in Theis, van den Oord & Bethge, "A note on
the evaluation of generative models", ICLR 2016.

Units. Pixels stay in *level units*: an image ``x in {0..K-1}^D`` is the unit cube
``[x, x + 1)`` of the continuous space, and the mixture ``p(v) = sum_k w_k N(v; mu_k, Sigma_k)``
is a density over ``v in R^D``. Bins have volume 1, so no Jacobian enters::

    log P(x) = log \\int_{[0,1)^D} p(x + u) du  >=  E_u[log p(x + u)]     (Jensen; Theis et al.)

Fitting. EM runs on the *dequantised* training vectors ``x + u``, ``u ~ U[0, 1)^D`` drawn once
from the fit's generator (so the continuous model is fitted to data with a density; pixels that
are constant in training still get variance ``>= 1/12``). scikit-learn does the EM — one
iteration per ``fit`` call with ``warm_start`` so every iteration is logged; its fitted
``means_``, ``precisions_cholesky_`` and ``weights_`` are copied into torch buffers.

``log_prob`` (``density == "bound"``) is a deterministic, closed-form lower bound on the
discrete ``log P(x)``. For one Gaussian the Theis bound is exact in closed form::

    E_u[log N(x + u; mu, Sigma)] = log N(x + 1/2; mu, Sigma) - tr(Sigma^{-1}) / 24

(``u`` has mean ``1/2`` and covariance ``I/12``). For the mixture, Jensen per component gives
``\\int_bin N_k >= exp(E_u log N_k)``, hence::

    log P(x) >= log sum_k w_k exp(E_u[log N_k(x + u)])    (<= E_u[log p(x + u)], by convexity)

— slightly looser than Theis et al.'s bound, but exact arithmetic instead of a Monte Carlo
estimate. Mass outside ``[0, K)^D`` is never counted, so ``sum_x exp(log_prob(x)) <= 1``.

Sampling draws ``v`` from the mixture and returns ``clip(floor(v), 0, K-1)``: the discrete model
whose edge bins extend to infinity, whose ``log P(x)`` is at least the bin integral, hence at
least ``log_prob``. Completion conditions each component's Gaussian on the known sub-pixels at
their bin centres ``x + 1/2`` (exact Gaussian conditioning, an approximation of conditioning on
the bins), draws the component from its posterior and the unknown sub-pixels from the
conditional Gaussian.

Class-conditional (``num_classes``): one mixture per class and the label frequencies as prior,
a Gaussian generative classifier (``predict``/``predict_proba``); features are the
log-responsibilities. Deviations: none beyond the dequantisation and level units above.
"""

from __future__ import annotations

import math
import warnings
from typing import ClassVar

import torch
from torch import Tensor

from genzoo.core.params import Constraint, Float, OneOf
from genzoo.distributions.categorical import inverse_cdf_sample
from genzoo.distributions.gaussian import standard_normal
from genzoo.errors import TrainingError
from genzoo.models.classic.mixture import Callback, MixtureModel, _uniform
from genzoo.models.registry import register_model

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")
LOG_2PI = math.log(2 * math.pi)


@register_model("gmm")
class GaussianMixture(MixtureModel):
    """Gaussian mixture over ``D = C*H*W`` sub-pixels in level units (scikit-learn's EM).

    Args:
        components: mixture components ``K`` (per class when class-conditional).
        covariance_type: ``"full"``, ``"tied"``, ``"diag"`` or ``"spherical"`` (scikit-learn's).
        reg_covar: added to the covariances' diagonal at every M-step (squared level units).
        max_iter: at most this many EM iterations.
        tol: stop when scikit-learn's mean log-density per image changes by less than this.
        init_params: scikit-learn's initialisation (``"kmeans"``, ``"k-means++"``, ...).
    """

    density = "bound"
    per_dim_log_prob = False
    params: ClassVar[dict[str, Constraint]] = {
        "covariance_type": OneOf(*COVARIANCE_TYPES),
        "reg_covar": Float(min=0.0),
        "init_params": OneOf(*INIT_PARAMS),
    }

    def __init__(
        self,
        *,
        shape: tuple[int, int, int] | list[int],
        levels: int,
        num_classes: int | None = None,
        components: int = 10,
        covariance_type: str = "full",
        reg_covar: float = 1e-6,
        max_iter: int = 100,
        tol: float = 1e-3,
        init_params: str = "kmeans",
    ) -> None:
        super().__init__(
            shape=shape,
            levels=levels,
            num_classes=num_classes,
            components=components,
            max_iter=max_iter,
            tol=tol,
        )
        self.covariance_type, self.reg_covar, self.init_params = (
            covariance_type,
            reg_covar,
            init_params,
        )
        g, k, d = self.groups, self.components, self.num_dims
        # unfitted: every component N(levels / 2, (levels / 4)^2 I)
        self.register_buffer("means", torch.full((g, k, d), self.levels / 2))
        shapes = {"full": (g, k, d, d), "tied": (g, d, d), "diag": (g, k, d), "spherical": (g, k)}
        p = torch.zeros(shapes[covariance_type])
        if covariance_type in ("full", "tied"):
            p[...] = torch.eye(d)
        else:
            p[...] = 1.0
        #: scikit-learn's ``precisions_cholesky_`` per class: ``precision = P P^T``
        self.register_buffer("precisions_cholesky", p * (4.0 / self.levels))

    # ------------------------------------------------------------------ densities
    def _factor(self, g: int, k: int) -> Tensor:
        """Component ``(g, k)``'s ``P`` (``precision = P P^T``): ``[D, D]``, or diagonal ``[D]``."""
        p = self.precisions_cholesky.double()
        if self.covariance_type == "full":
            return p[g, k]
        if self.covariance_type == "tied":
            return p[g]
        if self.covariance_type == "diag":
            return p[g, k]
        return p[g, k].expand(self.num_dims)

    def _gaussian_bound(self, centred: Tensor, factor: Tensor) -> Tensor:
        """``E_u[log N(x + u)]`` from ``x + 1/2 - mu`` ``[B, D]`` and ``P``: ``[B]``."""
        if factor.dim() == 1:
            y, log_det, trace = centred * factor, factor.log().sum(), factor.pow(2).sum()
        else:
            y = centred @ factor
            log_det, trace = factor.diagonal().log().sum(), factor.pow(2).sum()
        return -0.5 * (self.num_dims * LOG_2PI + y.pow(2).sum(-1)) + log_det - trace / 24.0

    def component_log_prob(self, x: Tensor) -> Tensor:
        """Per-component closed-form bound ``E_u[log N_{g,k}(x + u)]``: float64 ``[B, G, K]``."""
        centre = x.double() + 0.5
        means = self.means.double()
        out = centre.new_empty(x.shape[0], self.groups, self.components)
        for g in range(self.groups):
            for k in range(self.components):
                out[:, g, k] = self._gaussian_bound(centre - means[g, k], self._factor(g, k))
        return out

    # ------------------------------------------------------------------ sampling
    def _covariance(self, g: int, k: int) -> Tensor:
        """``Sigma_{g,k}``: ``[D, D]``, or the variances ``[D]`` of a diagonal type."""
        factor = self._factor(g, k)
        if factor.dim() == 1:
            return factor.pow(-2)
        return torch.linalg.inv(factor @ factor.T)  # (P P^T)^{-1}

    def _quantise(self, v: Tensor) -> Tensor:
        return v.floor().clamp(0, self.levels - 1).long()

    def _sample_components(
        self, group: Tensor, component: Tensor, generator: torch.Generator | None
    ) -> Tensor:
        z = standard_normal((len(group), self.num_dims), generator, group.device).double()
        v = torch.empty_like(z)
        for g, k in {(int(a), int(b)) for a, b in zip(group, component)}:
            rows = (group == g) & (component == k)
            factor = self._factor(g, k)
            if factor.dim() == 1:
                noise = z[rows] / factor
            else:  # x = mu + P^{-T} z has covariance P^{-T} P^{-1} = (P P^T)^{-1}
                noise = torch.linalg.solve(factor.T, z[rows].T).T
            v[rows] = self.means.double()[g, k] + noise
        return self._quantise(v)

    def _complete(
        self, group: Tensor, x: Tensor, observed: Tensor, generator: torch.Generator | None
    ) -> Tensor:
        out = x.clone()
        covariances: dict[int, list[Tensor]] = {}
        for i in range(len(x)):
            g, o = int(group[i]), observed[i]
            u = ~o
            if not bool(u.any()):
                continue
            covs = covariances.setdefault(
                g, [self._covariance(g, k) for k in range(self.components)]
            )
            means = self.means.double()[g]
            log_post, conditionals = [], []
            for k in range(self.components):
                log_marginal, mean, scale = _condition(means[k], covs[k], o, x[i].double() + 0.5)
                log_post.append(self.log_weights.double()[g, k] + log_marginal)
                conditionals.append((mean, scale))
            u01 = _uniform((1,), generator, x.device)
            k = int(inverse_cdf_sample(torch.stack(log_post)[None], u01)[0])
            mean, scale = conditionals[k]
            z = standard_normal((int(u.sum()),), generator, x.device).double()
            draw = mean + (scale @ z if scale.dim() == 2 else scale * z)
            out[i, u] = self._quantise(draw)
        return out

    # ------------------------------------------------------------------ EM (scikit-learn)
    def _load(self, g: int, estimator) -> None:
        """Copy a fitted scikit-learn ``GaussianMixture`` into group ``g``'s buffers."""
        dtype = self.means.dtype
        self.means[g] = torch.as_tensor(estimator.means_, dtype=dtype)
        self.precisions_cholesky[g] = torch.as_tensor(estimator.precisions_cholesky_, dtype=dtype)
        self.log_weights[g] = torch.as_tensor(estimator.weights_, dtype=dtype).log()

    @torch.no_grad()
    def _fit_groups(
        self, xs: list[Tensor], generator: torch.Generator, max_iter: int, callback: Callback
    ) -> None:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.mixture import GaussianMixture as SkGaussianMixture

        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
        data = [
            (
                x.double().cpu() + torch.rand(x.shape, generator=generator, dtype=torch.float64)
            ).numpy()
            for x in xs
        ]
        estimators = [
            SkGaussianMixture(
                n_components=self.components,
                covariance_type=self.covariance_type,
                reg_covar=self.reg_covar,
                tol=self.tol,
                max_iter=1,  # one EM iteration per call: each is logged
                warm_start=True,
                init_params=self.init_params,
                random_state=seed + g,
            )
            for g in range(self.groups)
        ]
        n = sum(len(x) for x in xs)
        previous = None
        for _ in range(max_iter):
            density = 0.0
            for g, (estimator, values) in enumerate(zip(estimators, data)):
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", ConvergenceWarning)
                        estimator.fit(values)
                except ValueError as exc:  # degenerate data: too few or collapsed images
                    group = f" (class {g})" if self.groups > 1 else ""
                    raise TrainingError(
                        f"{self.name}: scikit-learn cannot fit the mixture to {len(values)} "
                        f"image(s){group}: {str(exc).splitlines()[0]}; add images, lower "
                        "--components or raise --reg-covar"
                    ) from exc
                self._load(g, estimator)
                density += float(estimator.lower_bound_) * len(values)
            bound = sum(
                float(self.log_prob(x.view(-1, *self.shape), self._labels(g, len(x))).sum())
                for g, x in enumerate(xs)
            )
            # scikit-learn's lower_bound_: mean log-density of the dequantised training vectors
            # at the parameters *before* this iteration's M-step (what EM never lowers)
            stop = callback(bound, {"dequantized_log_density_nats": density / n})
            if stop or (previous is not None and abs(density - previous) / n < self.tol):
                return
            previous = density

    def _labels(self, g: int, n: int) -> Tensor | None:
        if self.num_classes is None:
            return None
        return torch.full((n,), g, dtype=torch.long, device=self.means.device)


def _condition(
    mean: Tensor, cov: Tensor, observed: Tensor, point: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """Gaussian ``N(mean, cov)`` conditioned on ``v_o = point_o``.

    Returns ``(log N(point_o; mean_o, cov_oo), conditional mean [U], scale)`` with ``scale`` the
    Cholesky factor ``[U, U]`` of the conditional covariance (or standard deviations ``[U]``
    for a diagonal ``cov [D]``).
    """
    o, u = observed, ~observed
    r = point[o] - mean[o]
    if cov.dim() == 1:  # independent dimensions: the unknown ones are unaffected
        var = cov[o]
        log_marginal = -0.5 * (LOG_2PI * len(r) + (r.pow(2) / var).sum() + var.log().sum())
        return log_marginal, mean[u], cov[u].sqrt()
    if not bool(o.any()):
        return mean.new_zeros(()), mean, torch.linalg.cholesky(cov)
    chol = torch.linalg.cholesky(cov[o][:, o])
    solved = torch.cholesky_solve(r[:, None], chol)[:, 0]
    log_marginal = -0.5 * (LOG_2PI * len(r) + r @ solved) - chol.diagonal().log().sum()
    cross = cov[u][:, o]
    conditional_mean = mean[u] + cross @ solved
    conditional_cov = cov[u][:, u] - cross @ torch.cholesky_solve(cross.T, chol)
    eye = torch.eye(len(conditional_mean), dtype=cov.dtype, device=cov.device)
    scale = torch.linalg.cholesky(0.5 * (conditional_cov + conditional_cov.T) + 1e-9 * eye)
    return log_marginal, conditional_mean, scale
