"""Sample-quality metrics on feature vectors: FID, KID, precision/recall, density/coverage.

Every metric compares ``real`` features ``[N, F]`` with ``fake`` (generated) features ``[M, F]``
produced by some feature network; this module never sees images. All arithmetic is float64.

* **FID** (Heusel et al. 2017, "GANs trained by a two time-scale update rule converge to a local
  Nash equilibrium"): the Fréchet (2-Wasserstein) distance between Gaussians fitted to the two sets,
  ``||mu1 - mu2||^2 + Tr(S1) + Tr(S2) - 2 Tr((S1^{1/2} S2 S1^{1/2})^{1/2})``, with sample means and
  unbiased (``N - 1``) covariances.
* **KID** (Bińkowski et al. 2018, "Demystifying MMD GANs"): the unbiased estimator of the squared
  MMD with the cubic polynomial kernel ``k(a, b) = (a·b / F + 1)^3``, averaged over random subsets.
* **Improved precision and recall** (Kynkäänniemi et al. 2019): a sample lies on the other set's
  manifold if it is inside at least one ball ``B(x_i, NND_k(x_i))`` around that set's samples,
  where ``NND_k`` is the distance to the ``k``-th nearest neighbour within the same set.
* **Density and coverage** (Naeem et al. 2020, "Reliable fidelity and diversity metrics for
  generative models"): ``density = 1/(kM) Σ_j Σ_i 1[fake_j ∈ B(real_i, NND_k(real_i))]`` and
  ``coverage = 1/N Σ_i 1[∃ j: fake_j ∈ B(real_i, NND_k(real_i))]``.

Numerics and deviations:

* **Trace term of FID.** ``scipy.linalg.sqrtm(S1 @ S2)`` — what several public FID implementations
  shipped — takes the square root of a *non-symmetric* product; with singular or nearly singular
  covariances (fewer samples than features, constant or duplicated features) it returns complex
  values with spurious imaginary parts, or NaN, and the real part silently drops them. Here both
  covariances are symmetrised and square-rooted by symmetric eigendecomposition (negative rounding
  eigenvalues clamped to 0), and the trace term is the sum of the singular values of ``B A`` with
  ``A = S1^{1/2}``, ``B = S2^{1/2}``: since ``M = A S2 A = (B A)^T (B A)`` is symmetric PSD, the
  eigenvalues of ``M^{1/2}`` are exactly those singular values. This is the same quantity as
  ``Σ sqrt(eigvalsh(M))`` but more accurate: the square root of ``eigvalsh``'s rounding noise on
  zero eigenvalues of ``M`` (``~1e-16 ||M||``) adds errors of ``~1e-8 ||S||`` that make FID(x, x)
  visibly non-zero for singular covariances, whereas singular values carry ``~1e-16 ||S||``
  absolute error. Everything is real; the result is clamped at 0 (it is a squared distance, so
  negative values can only be rounding).
* **FID is biased** upwards for finite samples (the bias shrinks roughly like ``1/N`` and depends
  on the generator), so FIDs are only comparable when computed with the *same* sample counts and
  the *same* feature network. KID is unbiased, so it is the better choice for small sample sizes.
* **Balls are closed**: ``d <= radius`` (as in Kynkäänniemi et al.'s definition). Naeem et al.'s
  reference code uses ``<``; the two differ only on exact ties, e.g. duplicated samples.
* **Nearest neighbours** exclude only the point's own index, so an exact duplicate is a legitimate
  neighbour at distance 0.
* **Memory.** Distances are formed in row blocks of at most ``_BLOCK_ELEMENTS`` entries (32 MB in
  float64) from squared norms and one matrix product, ``||a||^2 + ||b||^2 - 2 a·b``, clamped at 0;
  no ``[N, M]`` matrix is ever held, so ``N = M = 10,000`` needs only the inputs plus one block.
  Comparisons are made between squared distances, which preserves every ``<=`` decision.
* KID's standard deviation is the population standard deviation over subsets (0 for one subset).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor

from genzoo.errors import ConfigError

# Entries of one distance block: 2**22 float64 values = 32 MB.
_BLOCK_ELEMENTS = 1 << 22


# --------------------------------------------------------------------------------------------
# Input validation and blocked distances
# --------------------------------------------------------------------------------------------


def _as_tensor(x: Any, name: str) -> Tensor:
    """``x`` (tensor or array-like) as a detached float64 tensor."""
    if isinstance(x, Tensor):
        t = x.detach()
    else:
        try:
            t = torch.as_tensor(x)
        except (TypeError, ValueError, RuntimeError) as err:
            raise ConfigError(
                f"{name} must be a torch tensor or numpy array of numbers, got {type(x).__name__}"
            ) from err
    if t.is_complex() or t.dtype == torch.bool:
        raise ConfigError(f"{name} must hold real numbers, got dtype {t.dtype}")
    return t.to(torch.float64)


def _as_features(x: Any, name: str, *, min_samples: int = 1) -> Tensor:
    """Validated float64 features ``[N, F]`` with at least ``min_samples`` rows."""
    t = _as_tensor(x, name)
    if t.ndim != 2 or t.shape[1] == 0:
        raise ConfigError(
            f"{name} must be a 2-D array [num_samples, num_features], got shape {tuple(t.shape)}; "
            "flatten or pool the features first"
        )
    if t.shape[0] < min_samples:
        raise ConfigError(
            f"{name} has {t.shape[0]} samples but this metric needs at least {min_samples}; "
            "pass more samples"
        )
    if not bool(torch.isfinite(t).all()):
        raise ConfigError(f"{name} contains NaN or infinite values; check the feature network")
    return t


def _pair(real: Any, fake: Any, *, min_real: int, min_fake: int) -> tuple[Tensor, Tensor]:
    """Validated ``real`` ``[N, F]`` and ``fake`` ``[M, F]`` on one device."""
    r = _as_features(real, "real", min_samples=min_real)
    f = _as_features(fake, "fake", min_samples=min_fake).to(r.device)
    if r.shape[1] != f.shape[1]:
        raise ConfigError(
            f"real has {r.shape[1]} features but fake has {f.shape[1]}; both must come from the "
            "same feature network"
        )
    return r, f


def _is_int(value: Any) -> bool:
    """Whether ``value`` is an integer (``3`` or ``3.0``), excluding booleans."""
    try:
        return not isinstance(value, bool) and int(value) == value
    except (TypeError, ValueError):
        return False


def _check_k(k: int, num: int, name: str, what: str) -> int:
    """``k`` as an int with ``1 <= k < num`` (a point needs ``k`` *other* points)."""
    if not _is_int(k) or not 1 <= int(k) < num:
        raise ConfigError(
            f"{name}={k!r} must be an integer with 1 <= {name} < number of {what} samples ({num}); "
            f"lower {name} or pass more samples"
        )
    return int(k)


def _row_blocks(num_rows: int, row_length: int) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` ranges of rows holding at most ``_BLOCK_ELEMENTS`` entries (>= 1 row)."""
    step = max(1, _BLOCK_ELEMENTS // max(1, row_length))
    for start in range(0, num_rows, step):
        yield start, min(start + step, num_rows)


def _squared_distance_blocks(a: Tensor, b: Tensor) -> Iterator[tuple[int, int, Tensor]]:
    """``(start, stop, D)`` with ``D[i, j] = ||a[start + i] - b[j]||^2``, ``[stop - start, M]``."""
    a_sq = (a * a).sum(1)
    b_sq = (b * b).sum(1)
    for start, stop in _row_blocks(a.shape[0], b.shape[0]):
        d = a[start:stop] @ b.T
        d.mul_(-2.0).add_(a_sq[start:stop, None]).add_(b_sq[None, :]).clamp_min_(0.0)
        yield start, stop, d


def _knn_squared_radii(x: Tensor, k_max: int) -> Tensor:
    """Squared distances to the 1st..``k_max``-th nearest *other* row of ``x``: ``[N, k_max]``.

    Only each row's own index is excluded, so duplicates are neighbours at distance 0.
    """
    out = torch.empty(x.shape[0], k_max, dtype=x.dtype, device=x.device)
    for start, stop, d in _squared_distance_blocks(x, x):
        rows = torch.arange(stop - start, device=x.device)
        d[rows, rows + start] = float("inf")
        out[start:stop] = torch.topk(d, k_max, dim=1, largest=False, sorted=True).values
    return out


def _manifold_statistics(
    real: Tensor,
    fake: Tensor,
    *,
    real_sq_radii_pr: Tensor | None = None,
    fake_sq_radii_pr: Tensor | None = None,
    real_sq_radii_dc: Tensor | None = None,
    k_dc: int = 1,
) -> dict[str, float]:
    """Precision/recall and/or density/coverage in one blocked pass over fake-real distances."""
    n, m = real.shape[0], fake.shape[0]
    in_real = 0  # fakes inside the real manifold (precision)
    in_balls = 0  # (fake, real-ball) incidences (density)
    covered = torch.zeros(n, dtype=torch.bool, device=real.device)  # coverage
    recalled = torch.zeros(n, dtype=torch.bool, device=real.device)  # recall
    for start, stop, d in _squared_distance_blocks(fake, real):  # d: [block of fakes, N]
        if real_sq_radii_pr is not None:
            in_real += int((d <= real_sq_radii_pr[None, :]).any(1).sum())
        if fake_sq_radii_pr is not None:
            recalled |= (d <= fake_sq_radii_pr[start:stop, None]).any(0)
        if real_sq_radii_dc is not None:
            inside = d <= real_sq_radii_dc[None, :]
            in_balls += int(inside.sum())
            covered |= inside.any(0)
    out: dict[str, float] = {}
    if real_sq_radii_pr is not None:
        out["precision"] = in_real / m
    if fake_sq_radii_pr is not None:
        out["recall"] = float(recalled.double().mean())
    if real_sq_radii_dc is not None:
        out["density"] = in_balls / (k_dc * m)
        out["coverage"] = float(covered.double().mean())
    return out


# --------------------------------------------------------------------------------------------
# FID
# --------------------------------------------------------------------------------------------


def _psd_sqrt(sigma: Tensor) -> Tensor:
    """Symmetric square root of a symmetric PSD matrix ``[F, F]`` (negative eigenvalues -> 0)."""
    eigenvalues, eigenvectors = torch.linalg.eigh(sigma)
    return (eigenvectors * eigenvalues.clamp_min(0.0).sqrt()) @ eigenvectors.T


def gaussian_frechet_distance(mu1: Any, sigma1: Any, mu2: Any, sigma2: Any) -> float:
    """Fréchet distance between ``N(mu1, sigma1)`` and ``N(mu2, sigma2)``.

    ``||mu1 - mu2||^2 + Tr(S1) + Tr(S2) - 2 Tr((S1^{1/2} S2 S1^{1/2})^{1/2})``, with the trace term
    computed as the sum of singular values of ``S2^{1/2} S1^{1/2}`` (real arithmetic only; see the
    module docstring for why not ``sqrtm(S1 @ S2)``).

    Args:
        mu1, mu2: means ``[F]`` (tensors or arrays).
        sigma1, sigma2: covariances ``[F, F]``, symmetric positive semi-definite (they are
            symmetrised; tiny negative eigenvalues from rounding are treated as 0).

    Returns:
        The squared 2-Wasserstein distance, a float >= 0.
    """
    m1 = _as_tensor(mu1, "mu1")
    m2, s1, s2 = (
        _as_tensor(t, name).to(m1.device)
        for t, name in ((mu2, "mu2"), (sigma1, "sigma1"), (sigma2, "sigma2"))
    )
    if m1.ndim != 1 or m1.shape != m2.shape:
        raise ConfigError(
            f"mu1 and mu2 must be vectors [F] of equal length, got {tuple(m1.shape)} and "
            f"{tuple(m2.shape)}"
        )
    f = m1.shape[0]
    for name, s in (("sigma1", s1), ("sigma2", s2)):
        if s.shape != (f, f):
            raise ConfigError(f"{name} must be a [{f}, {f}] matrix, got shape {tuple(s.shape)}")
    for name, t in (("mu1", m1), ("mu2", m2), ("sigma1", s1), ("sigma2", s2)):
        if not bool(torch.isfinite(t).all()):
            raise ConfigError(f"{name} contains NaN or infinite values")
    s1 = 0.5 * (s1 + s1.T)
    s2 = 0.5 * (s2 + s2.T)
    trace_sqrt = torch.linalg.svdvals(_psd_sqrt(s2) @ _psd_sqrt(s1)).sum()
    diff = m1 - m2
    value = diff @ diff + s1.trace() + s2.trace() - 2.0 * trace_sqrt
    return max(float(value), 0.0)


def _mean_and_covariance(x: Tensor) -> tuple[Tensor, Tensor]:
    """Sample mean ``[F]`` and unbiased covariance ``[F, F]`` of ``x`` ``[N, F]``, in row blocks."""
    n, f = x.shape
    mean = x.sum(0) / n
    cov = torch.zeros(f, f, dtype=x.dtype, device=x.device)
    for start, stop in _row_blocks(n, f):
        centred = x[start:stop] - mean
        cov.addmm_(centred.T, centred)
    return mean, cov / (n - 1)


def frechet_distance(real: Any, fake: Any) -> float:
    """FID between feature sets: the Fréchet distance of their fitted Gaussians.

    Uses sample means and unbiased (``N - 1``) covariances. FID is biased upwards for small
    samples; compare numbers only at equal sample counts and with the same feature network.

    Args:
        real: features ``[N, F]`` with ``N >= 2``.
        fake: features ``[M, F]`` with ``M >= 2``.

    Returns:
        FID as a float >= 0 (in squared feature units).
    """
    r, f = _pair(real, fake, min_real=2, min_fake=2)
    mu_r, sigma_r = _mean_and_covariance(r)
    mu_f, sigma_f = _mean_and_covariance(f)
    return gaussian_frechet_distance(mu_r, sigma_r, mu_f, sigma_f)


# --------------------------------------------------------------------------------------------
# KID
# --------------------------------------------------------------------------------------------


def _polynomial_kernel(a: Tensor, b: Tensor) -> Tensor:
    """``(a·b / F + 1)^3``: ``[n, F] x [m, F] -> [n, m]``."""
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def _unbiased_mmd2(x: Tensor, y: Tensor) -> Tensor:
    """Unbiased MMD^2 of equal-size samples ``[m, F]`` (U-statistic, diagonals left out)."""
    m = x.shape[0]
    k_xx = _polynomial_kernel(x, x)
    k_yy = _polynomial_kernel(y, y)
    k_xy = _polynomial_kernel(x, y)
    off_xx = (k_xx.sum() - k_xx.diagonal().sum()) / (m * (m - 1))
    off_yy = (k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
    return off_xx + off_yy - 2.0 * k_xy.mean()


def kernel_distance(
    real: Any,
    fake: Any,
    *,
    subsets: int = 100,
    subset_size: int = 1000,
    generator: torch.Generator | None = None,
) -> tuple[float, float]:
    """KID: unbiased MMD^2 with the kernel ``(a·b / F + 1)^3``, averaged over random subsets.

    Each of ``subsets`` rounds draws ``min(subset_size, N, M)`` real and as many fake samples
    without replacement and evaluates ``mean_{i≠j} k(x_i, x_j) + mean_{i≠j} k(y_i, y_j)
    - 2 mean_{i,j} k(x_i, y_j)``. Each round is unbiased, so KID can be slightly negative.

    Args:
        real: features ``[N, F]``; fake: features ``[M, F]`` (``N, M >= 2``).
        subsets: number of random subsets (>= 1).
        subset_size: samples per subset and set (>= 2); capped at ``min(N, M)``.
        generator: draws the subsets; ``None`` uses a fresh generator seeded with 0, so the
            result is deterministic either way.

    Returns:
        ``(mean, std)`` over subsets (population standard deviation).
    """
    r, f = _pair(real, fake, min_real=2, min_fake=2)
    if not _is_int(subsets) or subsets < 1:
        raise ConfigError(f"subsets={subsets!r} must be a positive integer")
    if not _is_int(subset_size) or subset_size < 2:
        raise ConfigError(f"subset_size={subset_size!r} must be an integer >= 2")
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    m = min(int(subset_size), r.shape[0], f.shape[0])
    values = torch.empty(int(subsets), dtype=torch.float64)
    for s in range(int(subsets)):
        idx_r = torch.randperm(r.shape[0], generator=generator, device=generator.device)[:m]
        idx_f = torch.randperm(f.shape[0], generator=generator, device=generator.device)[:m]
        values[s] = _unbiased_mmd2(r[idx_r.to(r.device)], f[idx_f.to(f.device)]).cpu()
    return float(values.mean()), float(values.std(correction=0))


# --------------------------------------------------------------------------------------------
# Precision / recall, density / coverage
# --------------------------------------------------------------------------------------------


def precision_recall(real: Any, fake: Any, *, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019).

    ``precision = 1/M Σ_j 1[∃ i: ||fake_j - real_i|| <= NND_k(real_i)]``;
    ``recall = 1/N Σ_i 1[∃ j: ||real_i - fake_j|| <= NND_k(fake_j)]``, with ``NND_k`` the distance
    to the ``k``-th nearest neighbour in the sample's own set (excluding itself).

    Args:
        real: features ``[N, F]``; fake: features ``[M, F]``; ``1 <= k < min(N, M)``.

    Returns:
        ``(precision, recall)``, each in ``[0, 1]``.
    """
    r, f = _pair(real, fake, min_real=2, min_fake=2)
    k = _check_k(k, r.shape[0], "k", "real")
    k = _check_k(k, f.shape[0], "k", "fake")
    stats = _manifold_statistics(
        r,
        f,
        real_sq_radii_pr=_knn_squared_radii(r, k)[:, k - 1],
        fake_sq_radii_pr=_knn_squared_radii(f, k)[:, k - 1],
    )
    return stats["precision"], stats["recall"]


def density_coverage(real: Any, fake: Any, *, k: int = 5) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020).

    ``density = 1/(kM) Σ_j Σ_i 1[fake_j ∈ B(real_i, NND_k(real_i))]`` (can exceed 1);
    ``coverage = 1/N Σ_i 1[∃ j: fake_j ∈ B(real_i, NND_k(real_i))]``. For two samples of one
    distribution, ``E[density] = 1`` and ``E[coverage] = 1 - C(N-1, k) / C(N+M-1, k)``.

    Args:
        real: features ``[N, F]`` with ``1 <= k < N``; fake: features ``[M, F]``, ``M >= 1``.

    Returns:
        ``(density, coverage)``.
    """
    r, f = _pair(real, fake, min_real=2, min_fake=1)
    k = _check_k(k, r.shape[0], "k", "real")
    stats = _manifold_statistics(r, f, real_sq_radii_dc=_knn_squared_radii(r, k)[:, k - 1], k_dc=k)
    return stats["density"], stats["coverage"]


# --------------------------------------------------------------------------------------------
# Everything at once
# --------------------------------------------------------------------------------------------


def sample_quality(
    real: Any,
    fake: Any,
    *,
    k_pr: int = 3,
    k_dc: int = 5,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    generator: torch.Generator | None = None,
) -> dict[str, Any]:
    """FID, KID, precision/recall and density/coverage of ``fake`` against ``real``.

    The real-real neighbour radii for both ``k_pr`` and ``k_dc`` come from one blocked pass, and
    one pass over fake-real distances yields all four manifold metrics.

    Args:
        real: features ``[N, F]``; fake: features ``[M, F]`` from the same feature network.
        k_pr: neighbour rank of precision/recall, ``1 <= k_pr < min(N, M)``.
        k_dc: neighbour rank of density/coverage, ``1 <= k_dc < N``.
        kid_subsets, kid_subset_size, generator: as in :func:`kernel_distance`.

    Returns:
        JSON-able dict ``{"fid", "kid", "kid_std", "precision", "recall", "density",
        "coverage", "num_real", "num_fake", "feature_dim", "k_pr", "k_dc", "kid_subsets",
        "kid_subset_size"}``.
    """
    r, f = _pair(real, fake, min_real=2, min_fake=2)
    k_pr = _check_k(k_pr, r.shape[0], "k_pr", "real")
    k_pr = _check_k(k_pr, f.shape[0], "k_pr", "fake")
    k_dc = _check_k(k_dc, r.shape[0], "k_dc", "real")
    kid, kid_std = kernel_distance(
        r, f, subsets=kid_subsets, subset_size=kid_subset_size, generator=generator
    )
    real_radii = _knn_squared_radii(r, max(k_pr, k_dc))
    stats = _manifold_statistics(
        r,
        f,
        real_sq_radii_pr=real_radii[:, k_pr - 1],
        fake_sq_radii_pr=_knn_squared_radii(f, k_pr)[:, k_pr - 1],
        real_sq_radii_dc=real_radii[:, k_dc - 1],
        k_dc=k_dc,
    )
    return {
        "fid": frechet_distance(r, f),
        "kid": kid,
        "kid_std": kid_std,
        "precision": stats["precision"],
        "recall": stats["recall"],
        "density": stats["density"],
        "coverage": stats["coverage"],
        "num_real": int(r.shape[0]),
        "num_fake": int(f.shape[0]),
        "feature_dim": int(r.shape[1]),
        "k_pr": k_pr,
        "k_dc": k_dc,
        "kid_subsets": int(kid_subsets),
        "kid_subset_size": int(kid_subset_size),
    }
