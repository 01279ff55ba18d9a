"""What ``genzoo train`` and ``genzoo eval`` print of a run's metrics (a
:class:`~genzoo.core.metrics.RunMetrics`)."""

from __future__ import annotations

from genzoo.core.metrics import ConditionalScores, RunMetrics, SampleQuality, describe_checks


def print_metrics(metrics: RunMetrics) -> None:
    """The test likelihood (or bound), accuracy, estimates and the figures written."""
    test, bound = metrics.test, metrics.bound
    if test is not None and bound is None:
        kind = "" if test.density in (None, "exact") else f" ({test.density})"
        note = describe_checks(test.checks)
        if not test.trusted:  # not a likelihood: no number printed as one
            print(
                f"test NLL{kind}: invalid — {note}; not a likelihood (the checks are in "
                "metrics.json)"
            )
        else:
            print(
                f"test NLL{kind}: {test.nll_nats:.2f} nats/image, {test.bits_per_dim:.4f} "
                f"bits/dim (uniform: {metrics.uniform_bits_per_dim:.2f}) on {test.num_images} "
                f"images" + (f" ({note})" if note else "")
            )
    if bound is not None:
        elbo, iwae, paired = bound.elbo, bound.iwae, bound.elbo_on_iwae_images
        print(
            f"test ELBO: {-elbo.nll_nats:.2f} nats/image = {elbo.bits_per_dim:.4f} bits/dim "
            f"(reconstruction {bound.reconstruction_nats:.2f}, KL {bound.kl_nats:.2f} nats) on "
            f"{elbo.num_images} images"
        )
        print(
            f"test IWAE bound (k={bound.k}): {iwae.bits_per_dim:.4f} bits/dim on the first "
            f"{iwae.num_images} images (ELBO there: {paired.bits_per_dim:.4f})"
        )
    if metrics.test_accuracy is not None:
        print(
            f"test accuracy (generative classifier, Bayes' rule): {metrics.test_accuracy:.4f} "
            f"on {metrics.num_test_images} images"
        )
    print_estimates(metrics)
    print_conditional(metrics)
    for path in metrics.files().values():
        print(f"wrote {path}")


def print_estimates(metrics: RunMetrics) -> None:
    """Sample quality (one line per metric group) and the continuous-space likelihood estimates."""
    if metrics.sample_quality is not None:
        _print_quality(metrics.sample_quality)
    parzen = metrics.parzen
    if parzen is not None:
        edge = ", at the edge of the grid" if parzen.sigma_at_grid_edge else ""
        print(
            f"Parzen-window log-density (unreliable: Theis et al. 2016): "
            f"{parzen.log_density_mean:.2f} ± {parzen.log_density_sem:.2f} nats/image on "
            f"{parzen.num_test} test images, {parzen.num_samples} samples, bandwidth "
            f"{parzen.sigma:.3g}{edge} chosen on {parzen.num_validation} training images; "
            "continuous density on [0, 1]^D, not comparable with bits/dim"
        )
    ais = metrics.ais
    if ais is not None:
        edge = ", at the edge of the grid" if ais.sigma_at_grid_edge else ""
        print(
            f"AIS log-likelihood (stochastic lower bound): {ais.log_likelihood_mean:.2f} ± "
            f"{ais.log_likelihood_sem:.2f} nats/image on the first {ais.num_images} test "
            f"images, sigma {ais.sigma:g}{edge}, {ais.steps} steps x {ais.chains} chains "
            f"(acceptance {ais.acceptance:.2f}); Gaussian observation model on [0, 1]^D, "
            "not comparable with bits/dim"
        )


def _print_quality(quality: SampleQuality) -> None:
    net, fake, floor = quality.feature_network, quality.samples, quality.floor
    shown = "" if net.test_accuracy is None else f", test accuracy {net.test_accuracy:.3f}"
    key = f" [{net.key}]" if net.key else ""
    print(
        f"sample quality: {fake.num_fake} samples vs {fake.num_real} test images, features "
        f"{net.name}{key}{shown}; floor: {floor.num_fake} training images vs the same test images"
    )
    print(f"  FID {fake.fid:.3f} (floor {floor.fid:.3f})")
    size = fake.kid_subset_size
    subsets = (
        "all images"  # every subset holds every image: one value
        if size >= max(fake.num_real, fake.num_fake)
        else f"{fake.kid_subsets} subsets of {min(size, fake.num_real, fake.num_fake)}"
    )
    print(
        f"  KID {fake.kid:.4f} ± {fake.kid_std:.4f} (floor {floor.kid:.4f} ± "
        f"{floor.kid_std:.4f}; {subsets})"
    )
    print(
        f"  precision {fake.precision:.3f}, recall {fake.recall:.3f} (floor "
        f"{floor.precision:.3f}, {floor.recall:.3f}; k={fake.k_pr})"
    )
    print(
        f"  density {fake.density:.3f}, coverage {fake.coverage:.3f} (floor "
        f"{floor.density:.3f}, {floor.coverage:.3f}; k={fake.k_dc})"
    )
    if quality.label_agreement is not None:
        tail = (
            ""
            if quality.floor_label_agreement is None
            else f" (floor {quality.floor_label_agreement:.3f})"
        )
        print(f"  samples classified as their requested class: {quality.label_agreement:.3f}{tail}")


def print_conditional(metrics: RunMetrics) -> None:
    """The scores of an image-conditional model's answers, with the task's baselines below."""
    if metrics.conditional is None:
        return
    first = metrics.conditional
    print(
        f"answers to {first.num_images} test conditions, {first.samples} per condition "
        f"(PSNR in dB of the MSE over images; SSIM window {first.ssim_window}x{first.ssim_window}; "
        "consistency: the task's condition of an answer equals the given one)"
    )
    for scores in [first, *(metrics.conditional_baselines or [])]:
        print("  " + conditional_line(scores))


def conditional_line(s: ConditionalScores) -> str:
    """One line of a method's conditional scores."""
    spread = (
        "deterministic"
        if s.deterministic
        else f"mean of {s.samples}: {s.psnr_mean:.2f}/{s.ssim_mean:.3f}, mode "
        f"{s.psnr_mode:.2f}/{s.ssim_mode:.3f}, diversity {s.diversity_std:.3f} levels"
    )
    text = (
        f"{s.method:<14} PSNR/SSIM one answer {s.psnr_sample:.2f}/{s.ssim_sample:.3f} ({spread}); "
        f"consistent {s.consistency_exact:.3f} (pixels {s.consistency_pixels:.3f}, error "
        f"{s.consistency_mae:.3f})"
    )
    if s.classifier_accuracy is not None:
        text += (
            f"; class kept {s.classifier_accuracy:.3f} (truth {s.classifier_accuracy_truth:.3f})"
        )
    if s.fid is not None:
        text += f"; FID {s.fid:.2f}, precision {s.precision:.3f}, recall {s.recall:.3f}"
    return text
