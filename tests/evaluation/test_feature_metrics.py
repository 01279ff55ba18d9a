"""Sample-quality metrics on feature vectors: FID against closed forms and scipy, FID on singular
covariances, KID's unbiasedness and exact estimator, precision/recall/density/coverage on Naeem et
al.'s Gaussian sanity case and on a hand-computed example, the blocked distances against a dense
reference, and bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.linalg
import torch

from genzoo.errors import ConfigError
from genzoo.evaluation import feature_metrics as sq
from genzoo.evaluation.feature_metrics import (
    density_coverage,
    frechet_distance,
    gaussian_frechet_distance,
    kernel_distance,
    precision_recall,
    sample_quality,
)

F64 = torch.float64

# Two full, non-commuting covariances (||S1 S2 - S2 S1||_max = 1.13), both positive definite.
S1 = torch.tensor(
    [[2.0, 0.8, 0.3, 0.0], [0.8, 1.5, -0.4, 0.2], [0.3, -0.4, 1.0, 0.5], [0.0, 0.2, 0.5, 0.8]],
    dtype=F64,
)
S2 = torch.tensor(
    [[1.0, -0.5, 0.0, 0.3], [-0.5, 2.5, 0.6, 0.0], [0.0, 0.6, 0.7, -0.2], [0.3, 0.0, -0.2, 1.2]],
    dtype=F64,
)
MU1 = torch.tensor([0.0, 0.0, 0.0, 0.0], dtype=F64)
MU2 = torch.tensor([1.0, -0.5, 0.5, 0.0], dtype=F64)


def gaussian(n: int, mu: torch.Tensor, sigma: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """``n`` draws of ``N(mu, sigma)``: ``[n, F]``."""
    chol = torch.linalg.cholesky(sigma)
    return mu + torch.randn(n, mu.shape[0], generator=g, dtype=F64) @ chol.T


# --------------------------------------------------------------------------------------------
# 1. FID against closed forms
# --------------------------------------------------------------------------------------------


def test_gaussian_frechet_distance_matches_independent_references() -> None:
    """Diagonal covariances: ``||mu1 - mu2||^2 + Σ (sqrt(s1) - sqrt(s2))^2``. Full ones: scipy's
    ``sqrtm(S1 S2)`` (fine here: both covariances are well-conditioned and full rank)."""
    s1 = torch.tensor([4.0, 1.0, 0.25, 9.0], dtype=F64)
    s2 = torch.tensor([1.0, 1.0, 1.0, 0.0], dtype=F64)  # one zero variance: singular
    expected = float(((MU1 - MU2) ** 2).sum() + ((s1.sqrt() - s2.sqrt()) ** 2).sum())
    got = gaussian_frechet_distance(MU1, torch.diag(s1), MU2, torch.diag(s2))
    assert got == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(1.5 + 1.0 + 0.0 + 0.25 + 9.0)

    covmean = scipy.linalg.sqrtm(S1.numpy() @ S2.numpy())
    reference = float(
        ((MU1 - MU2) ** 2).sum() + S1.trace() + S2.trace() - 2.0 * np.trace(covmean).real
    )
    got = gaussian_frechet_distance(MU1, S1, MU2, S2)
    assert got == pytest.approx(reference, rel=1e-10)
    # Symmetric in its two Gaussians; numpy input is accepted.
    assert gaussian_frechet_distance(MU2.numpy(), S2.numpy(), MU1, S1) == pytest.approx(
        got, rel=1e-12
    )
    # Negative control: the commuting-covariance formula (sorted eigenvalues) is wrong here.
    e1, e2 = torch.linalg.eigvalsh(S1), torch.linalg.eigvalsh(S2)
    commuting = float(((MU1 - MU2) ** 2).sum() + ((e1.sqrt() - e2.sqrt()) ** 2).sum())
    assert abs(commuting - got) > 0.5 * got


def test_fid_of_gaussian_samples_matches_closed_form() -> None:
    """FID of ``N = 20,000`` draws from each Gaussian (F = 4) is within 5% of the closed form.

    Tolerance: the estimate's leading fluctuation is the mean term, whose delta-method standard
    deviation is ``2 sqrt(δᵀ (S1 + S2) δ / N)`` (δ = mu1 - mu2); with the covariance terms the
    measured relative standard deviation over 30 seeds is ~1.0% and the bias ~0.2%, so 5% is
    ~5 standard deviations, while the commuting formula (54% off) and a 30% larger S2 (11% off)
    are both rejected.
    """
    n = 20_000
    g = torch.Generator().manual_seed(0)
    x, y = gaussian(n, MU1, S1, g), gaussian(n, MU2, S2, g)
    true = gaussian_frechet_distance(MU1, S1, MU2, S2)
    delta = MU1 - MU2
    mean_term_sd = 2.0 * math.sqrt(float(delta @ (S1 + S2) @ delta) / n)
    assert mean_term_sd < 0.01 * true  # the 5% tolerance is many standard deviations
    fid = frechet_distance(x, y)
    assert fid == pytest.approx(true, rel=0.05)
    # The test can fail: a Gaussian with a 30% larger S2 (11% larger FID) is outside it.
    assert abs(gaussian_frechet_distance(MU1, S1, MU2, 1.3 * S2) - fid) > 0.05 * true


# --------------------------------------------------------------------------------------------
# 2. FID with singular covariances
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "f"), [(500, 8), (10, 32)])
def test_fid_of_identical_sets_is_zero_even_with_singular_covariance(n: int, f: int) -> None:
    """A constant and a duplicated column (and, for ``N < F``, rank ``N - 1``) make the covariance
    singular; FID(x, x) is still 0 to 1e-10 of the trace (the eigvalsh-of-M route errs by
    ~1e-8 here), finite, non-negative and symmetric."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, f, generator=g, dtype=F64) * torch.logspace(0, 2, f, dtype=F64)
    x[:, 0] = 3.0
    x[:, 1] = x[:, 2]
    trace = float(torch.cov(x.T).trace())
    fid = frechet_distance(x, x)
    assert math.isfinite(fid) and 0.0 <= fid < 1e-10 * trace

    y = torch.randn(n, f, generator=g, dtype=F64)
    y[:, 3] = -1.0
    y[:, 4] = y[:, 5]
    forward, backward = frechet_distance(x, y), frechet_distance(y, x)
    assert math.isfinite(forward) and forward > 0.0
    assert forward == pytest.approx(backward, rel=1e-10)
    # Positive control: shifting the constant column by 0.1 adds exactly 0.1^2.
    shifted = x.clone()
    shifted[:, 0] += 0.1
    assert frechet_distance(x, shifted) == pytest.approx(0.01, rel=1e-6)


def test_fid_blocked_covariance_matches_torch_cov(monkeypatch: pytest.MonkeyPatch) -> None:
    """Row-blocked covariance (blocks of 2 rows here) equals ``torch.cov``; numpy input works."""
    monkeypatch.setattr(sq, "_BLOCK_ELEMENTS", 8)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(41, 4, generator=g, dtype=F64) + 5.0
    y = torch.randn(37, 4, generator=g, dtype=F64)
    mean, cov = sq._mean_and_covariance(x)
    torch.testing.assert_close(mean, x.mean(0))
    torch.testing.assert_close(cov, torch.cov(x.T))
    expected = gaussian_frechet_distance(x.mean(0), torch.cov(x.T), y.mean(0), torch.cov(y.T))
    assert frechet_distance(x.numpy(), y.float().numpy()) == pytest.approx(expected, rel=1e-6)


# --------------------------------------------------------------------------------------------
# 3. KID
# --------------------------------------------------------------------------------------------


def poly(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def test_kid_estimator_matches_direct_loop() -> None:
    """One subset covering every sample is the full U-statistic; compare to explicit loops."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(5, 3, generator=g, dtype=F64)
    y = torch.randn(5, 3, generator=g, dtype=F64) + 0.5

    def k(a: torch.Tensor, b: torch.Tensor) -> float:
        return (float(a @ b) / 3 + 1.0) ** 3

    n = 5
    xx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(n) for j in range(n)) / (n * n)
    expected = xx + yy - 2.0 * xy
    mean, std = kernel_distance(x, y, subsets=3, subset_size=100)
    assert mean == pytest.approx(expected, rel=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)  # every subset is a permutation of everything
    # Negative control: the biased (V-statistic) version differs.
    biased = float(poly(x, x).mean() + poly(y, y).mean() - 2.0 * poly(x, y).mean())
    assert abs(biased - expected) > 0.1 * abs(expected)


def test_kid_is_unbiased_for_one_distribution_and_positive_for_a_shift() -> None:
    """Two halves of one sample: across 20 repeats the mean KID is within 3 standard errors of 0,
    whereas the biased V-statistic on the same halves is far above 0 (so the test has power).
    A mean shift of 0.5 per feature gives a KID many standard errors above 0."""
    g = torch.Generator().manual_seed(4)
    f, half = 8, 200
    kids, biased = [], []
    for _ in range(20):
        z = torch.randn(2 * half, f, generator=g, dtype=F64)
        x, y = z[:half], z[half:]
        kids.append(kernel_distance(x, y, subsets=10, subset_size=100, generator=g)[0])
        biased.append(float(poly(x, x).mean() + poly(y, y).mean() - 2.0 * poly(x, y).mean()))
    kids_t, biased_t = torch.tensor(kids), torch.tensor(biased)
    se = float(kids_t.std() / math.sqrt(len(kids)))
    assert abs(float(kids_t.mean())) < 3.0 * se
    assert float(biased_t.mean()) > 3.0 * float(biased_t.std() / math.sqrt(len(biased)))
    assert float(biased_t.mean()) > 10.0 * se

    x = torch.randn(half, f, generator=g, dtype=F64)
    y = torch.randn(half, f, generator=g, dtype=F64) + 0.5
    mean, std = kernel_distance(x, y, subsets=20, subset_size=100, generator=g)
    assert mean > 10.0 * se and mean > 3.0 * std
    # Same generator seed, same answer.
    a = kernel_distance(x, y, subsets=5, subset_size=50, generator=torch.Generator().manual_seed(7))
    b = kernel_distance(x, y, subsets=5, subset_size=50, generator=torch.Generator().manual_seed(7))
    assert a == b


# --------------------------------------------------------------------------------------------
# 4. Naeem et al. 2020 sanity case
# --------------------------------------------------------------------------------------------


def test_prdc_on_identical_gaussians_and_failure_modes() -> None:
    """Two independent samples of ``N(0, I_64)``, ``N = M = 2000``.

    Expected values for identical distributions: the ball around real ``x_i`` reaches its k-th
    nearest other real point. Given ``x_i``, the other ``N - 1`` reals and the ``M`` fakes are
    i.i.d., so their distances to ``x_i`` are exchangeable:
    * a fake is inside the ball iff it ranks among the k nearest of itself and the ``N - 1``
      reals: probability ``k / N``, so ``E[density] = 1/(kM) · N · M · k/N = 1``;
    * no fake is inside iff the k nearest of all ``N + M - 1`` others are reals:
      ``E[coverage] = 1 - C(N-1, k) / C(N+M-1, k)`` → ``1 - 2^-k`` (0.969 for k = 5) when N = M.
    Over 10 seeds: density sd ≈ 0.05 (tolerance 0.15), coverage sd ≈ 0.005 (tolerance 0.03),
    precision ≈ recall ≈ 0.71 ± 0.01 with k = 5 (k = 3 gives ≈ 0.61 in 64-D, too close to the
    0.6 threshold, so this test uses Naeem et al.'s k = 5 for both pairs).
    """
    g = torch.Generator().manual_seed(5)
    n, d, k = 2000, 64, 5
    real = torch.randn(n, d, generator=g, dtype=F64)
    fake = torch.randn(n, d, generator=g, dtype=F64)
    precision, recall = precision_recall(real, fake, k=k)
    density, coverage = density_coverage(real, fake, k=k)
    expected_coverage = 1.0 - math.comb(n - 1, k) / math.comb(2 * n - 1, k)
    assert expected_coverage == pytest.approx(1.0 - 2.0**-k, abs=1e-3)
    assert density == pytest.approx(1.0, abs=0.15)
    assert coverage == pytest.approx(expected_coverage, abs=0.03)
    assert precision > 0.6 and recall > 0.6 and abs(precision - recall) < 0.06

    # Outliers: a quarter of the fakes moved 20 units away scale precision and density by ~3/4.
    outlier = fake.clone()
    outlier[: n // 4, 0] += 20.0
    p_out, _ = precision_recall(real, outlier, k=k)
    d_out, c_out = density_coverage(real, outlier, k=k)
    assert p_out == pytest.approx(0.75 * precision, abs=0.05)
    assert d_out == pytest.approx(0.75 * density, abs=0.1)
    assert c_out > coverage - 0.05  # coverage barely moves: 3/4 of the fakes still cover

    # A shift of 0.5 per feature (distance 4) lowers precision and density (to ~0.34, ~0.21).
    p_shift, _ = precision_recall(real, fake + 0.5, k=k)
    d_shift, _ = density_coverage(real, fake + 0.5, k=k)
    assert p_shift < precision - 0.3 and d_shift < 0.5 * density


def test_mode_dropping_lowers_recall_and_coverage_only() -> None:
    """Real: two modes at ``±10 e_1``; fake: only one. Recall and coverage halve; precision
    stays."""
    g = torch.Generator().manual_seed(6)
    n, d, k = 1000, 64, 5
    centre = torch.zeros(d, dtype=F64)
    centre[0] = 10.0
    real = torch.cat([torch.randn(n // 2, d, generator=g, dtype=F64) + s * centre for s in (1, -1)])
    both = torch.cat([torch.randn(n // 2, d, generator=g, dtype=F64) + s * centre for s in (1, -1)])
    one = torch.randn(n, d, generator=g, dtype=F64) + centre
    p_both, r_both = precision_recall(real, both, k=k)
    _, c_both = density_coverage(real, both, k=k)
    p_one, r_one = precision_recall(real, one, k=k)
    _, c_one = density_coverage(real, one, k=k)
    assert r_one == pytest.approx(0.5 * r_both, abs=0.05)
    assert c_one == pytest.approx(0.5 * c_both, abs=0.05)
    assert p_one == pytest.approx(p_both, abs=0.05)


# --------------------------------------------------------------------------------------------
# 5. Hand-computed example and the blocked implementation
# --------------------------------------------------------------------------------------------


def test_prdc_hand_computed_1d_example() -> None:
    """Real = {0, 1, 3, 10, 11}, fake = {0.5, 1.5, 2.5, 20}, k = 1 (no ties below).

    Real 1-NN radii: 0→1, 1→1, 3→2 (to 1), 10→1, 11→1; balls [-1,1], [0,2], [1,5], [9,11],
    [10,12]. Fake 0.5 lies in the balls of 0 and 1 (2.5 > 2 from 3); 1.5 in those of 1 and 3
    (1.5 > 1 from 0); 2.5 in that of 3 only (1.5 > 1 from 1); 20 in none.
    precision = 3/4; density = (2 + 2 + 1 + 0) / (1 · 4) = 1.25; reals 0, 1, 3 are covered,
    10 and 11 are not: coverage = 3/5.
    Fake 1-NN radii: 0.5→1, 1.5→1, 2.5→1, 20→17.5; real 0 and 1 lie within 1 of fake 0.5, real
    3 within 1 of fake 2.5, and 10, 11 within 17.5 of fake 20: recall = 1 — the far outlier's big
    ball inflates recall, the failure of recall that coverage avoids (Naeem et al. 2020).
    """
    real = torch.tensor([[0.0], [1.0], [3.0], [10.0], [11.0]])
    fake = np.array([[0.5], [1.5], [2.5], [20.0]])
    assert precision_recall(real, fake, k=1) == (0.75, 1.0)
    assert density_coverage(real, fake, k=1) == (1.25, 0.6)


def test_duplicates_are_neighbours_at_distance_zero() -> None:
    """Real = {0, 0, 5, 6}, k = 1: radii 0, 0, 1, 1 (the duplicate, not the point itself, is the
    neighbour). Fake = {0, 0.5, 5.5}: 0 is in both (closed) zero balls, 0.5 in none, 5.5 in the
    balls of 5 and 6: precision 2/3, density 4/3, coverage 1. Excluding every zero distance
    instead of the own index would give radii 5, 5 and density 7/3."""
    real = torch.tensor([[0.0], [0.0], [5.0], [6.0]])
    fake = torch.tensor([[0.0], [0.5], [5.5]])
    density, coverage = density_coverage(real, fake, k=1)
    assert density == pytest.approx(4 / 3) and coverage == 1.0
    assert precision_recall(real, fake, k=1)[0] == pytest.approx(2 / 3)


def dense_reference(real: torch.Tensor, fake: torch.Tensor, k: int) -> tuple[float, ...]:
    """PRDC from full distance matrices (torch.cdist, sort, nearest fake per real)."""
    d_rr = torch.cdist(real, real).fill_diagonal_(math.inf)
    d_ff = torch.cdist(fake, fake).fill_diagonal_(math.inf)
    r_real = d_rr.sort(1).values[:, k - 1]
    r_fake = d_ff.sort(1).values[:, k - 1]
    d_fr = torch.cdist(fake, real)  # [M, N]
    precision = (d_fr <= r_real[None]).any(1).double().mean()
    recall = (d_fr <= r_fake[:, None]).any(0).double().mean()
    density = (d_fr <= r_real[None]).sum().double() / (k * fake.shape[0])
    coverage = (d_fr.min(0).values <= r_real).double().mean()
    return tuple(float(v) for v in (precision, recall, density, coverage))


def test_blocked_distances_match_dense_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    """With blocks of 1-2 rows (chunk boundaries everywhere, self-index offsets exercised) the
    metrics equal a dense computation; ``sample_quality`` equals the separate functions."""
    g = torch.Generator().manual_seed(8)
    real = torch.randn(97, 6, generator=g, dtype=F64)
    fake = torch.randn(83, 6, generator=g, dtype=F64) * 1.3 + 0.2
    for k in (1, 4):
        expected = dense_reference(real, fake, k)
        monkeypatch.setattr(sq, "_BLOCK_ELEMENTS", 150)
        got = precision_recall(real, fake, k=k) + density_coverage(real, fake, k=k)
        monkeypatch.undo()
        assert got == pytest.approx(expected, abs=1e-12)
        # Radii of distinct k agree with the dense sort.
    radii = sq._knn_squared_radii(real, 4).sqrt()
    d_rr = torch.cdist(real, real).fill_diagonal_(math.inf).sort(1).values[:, :4]
    torch.testing.assert_close(radii, d_rr)

    out = sample_quality(
        real, fake, k_pr=2, k_dc=4, kid_subsets=4, kid_subset_size=50,
        generator=torch.Generator().manual_seed(9),
    )  # fmt: skip
    kid = kernel_distance(
        real, fake, subsets=4, subset_size=50, generator=torch.Generator().manual_seed(9)
    )
    assert (out["kid"], out["kid_std"]) == kid
    assert out["fid"] == frechet_distance(real, fake)
    assert (out["precision"], out["recall"]) == precision_recall(real, fake, k=2)
    assert (out["density"], out["coverage"]) == density_coverage(real, fake, k=4)
    assert {k: out[k] for k in ("num_real", "num_fake", "feature_dim", "k_pr", "k_dc")} == {
        "num_real": 97, "num_fake": 83, "feature_dim": 6, "k_pr": 2, "k_dc": 4,
    }  # fmt: skip
    assert (out["kid_subsets"], out["kid_subset_size"]) == (4, 50)
    assert json.loads(json.dumps(out)) == out


# --------------------------------------------------------------------------------------------
# 6. Bad input
# --------------------------------------------------------------------------------------------


def test_bad_input_raises_config_error() -> None:
    g = torch.Generator().manual_seed(10)
    x = torch.randn(10, 3, generator=g)
    cases = [
        lambda: frechet_distance(x, torch.randn(10, 4, generator=g)),  # feature dims differ
        lambda: frechet_distance(x[:1], x),  # N < 2
        lambda: frechet_distance(x, x[:1]),  # M < 2
        lambda: frechet_distance(x[:, 0], x),  # not 2-D
        lambda: frechet_distance(x, torch.full((4, 3), math.nan)),  # non-finite
        lambda: frechet_distance("features", x),  # not numbers
        lambda: gaussian_frechet_distance(
            torch.zeros(3), torch.eye(3), torch.zeros(2), torch.eye(2)
        ),
        lambda: gaussian_frechet_distance(
            torch.zeros(3), torch.eye(2), torch.zeros(3), torch.eye(3)
        ),
        lambda: kernel_distance(x, x[:, :2]),
        lambda: kernel_distance(x, x, subsets=0),
        lambda: kernel_distance(x, x, subset_size=1),
        lambda: precision_recall(x, x, k=10),  # k >= N
        lambda: precision_recall(x, x[:4], k=4),  # k >= M (fake radii)
        lambda: precision_recall(x, x, k=0),
        lambda: density_coverage(x[:5], x, k=5),  # k >= N
        lambda: density_coverage(x, x, k=2.5),
        lambda: sample_quality(x, x, k_dc=10),
        lambda: sample_quality(x, x[:3], k_pr=3),
    ]
    for i, case in enumerate(cases):
        with pytest.raises(ConfigError):
            case()
            pytest.fail(f"case {i} did not raise")
    # Boundary that must work: k = N - 1 (each radius reaches the farthest other real) and a
    # single fake equal to real 0, which then lies in all 10 balls: density 10/9, coverage 1.
    assert density_coverage(x, x[:1], k=9) == pytest.approx((10 / 9, 1.0))
