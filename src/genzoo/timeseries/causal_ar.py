"""Causal convolutional autoregressive model of a series: the PixelCNN idea in one dimension.

Model (PixelCNN, van den Oord et al. 2016a; dilated causal convolutions as in WaveNet,
van den Oord et al. 2016b): the joint density of a standardised series factorises as

    p(z_0..z_{T-1}) = prod_t p(z_t | z_<t),

and every conditional is produced at once by a stack of causal convolutions, the layers of the
image models applied to a ``1 x T`` image (:mod:`genzoo.nn.causal1d` over
:class:`~genzoo.nn.masked.ShiftedConv2d`): a first layer of ``k + 1`` taps whose tap on ``t`` is
masked (mask A), so it sees ``z_{t-k} .. z_{t-1}``; then residual gated blocks with dilations
``d_1, d_2, ...`` (mask B); then a 1x1 head. The conditional is a mixture of ``K`` Gaussians,

    p(z_t | z_<t) = sum_k w_k N(z_t; m_k, s_k^2),   (w, m, log s) = head(features_t),

with ``log s`` clamped below at -7 (as PixelCNN++ does for its logistics); ``K = 1`` is a plain
Gaussian. The output at ``t`` depends on exactly the ``R = k + (k - 1) * sum(d_i)`` previous
values (``k``: kernel size), the *receptive field*: the model is an order-``R`` Markov chain, and
``log p(test | history)`` uses only the last ``R`` values of the history (more history changes
nothing; tested). The network's input has a second channel that is 1 at observed steps and 0 in
the zero padding before the series start, so the first ``R`` steps of a series are predicted from
a visibly shorter context rather than from fake zeros.

Training: maximum likelihood (mean ``-log p(z_t | z_<t)`` over every position of random windows of
the standardised training series) with AdamW, a short warm-up and cosine decay, for a fixed
number of steps; gradient norm clipped at ``grad_clip``. By default the last 10% of the training
series is held out for validation (conditioned on everything before it) and the weights with the
lowest validation NLL, measured every ``eval_every`` steps, are kept: on a series of 80 values a
30k-parameter network otherwise memorises the data and its predictive scales collapse. The test
part of a series is never seen. Initialisation and batches draw from seeds derived from
``random_state`` (initialisation inside ``torch.random.fork_rng``: the global RNG is untouched).
Densities are reported in original units (Jacobian ``-log scale_`` per step; see
:mod:`genzoo.timeseries.base`). Simulation is ancestral sampling, one step at a time, all paths in
one batch, each step reading the last ``R`` values only.

Deviations: no skip connections (the head reads the last residual stream); a continuous
(Gaussian mixture) output instead of a softmax over quantised values; training windows start
anywhere in the series, so early positions of a window see a truncated (zero-padded, marked
unobserved) context, exactly as the first steps of a series do.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.core.params import Constraint, Float, Int
from genzoo.core.params import Sequence as SequenceOf
from genzoo.distributions.gaussian import LOG_2PI
from genzoo.distributions.logistic import MIN_LOG_SCALE
from genzoo.errors import ConfigError, TrainingError
from genzoo.nn.causal1d import CausalConv1d, GatedCausalBlock
from genzoo.timeseries.base import SeriesModel, register_forecaster
from genzoo.training.batches import derive_seed, seeded_generator
from genzoo.training.schedule import LRSchedule


class CausalConvNet(nn.Module):
    """Dilated causal convolutions → mixture-of-Gaussians parameters of ``z_t`` given ``z_<t``.

    Shapes: ``z [B, T]`` (and ``observed [B, T]``, default all ones) → ``(logits, means,
    log_scales)``, each ``[B, T, K]``; position ``t`` depends only on ``z[:, t-R:t]``.
    """

    def __init__(
        self, channels: int, kernel_size: int, dilations: Sequence[int], n_components: int
    ) -> None:
        super().__init__()
        self.n_components = n_components
        self.input = CausalConv1d(2, channels, kernel_size + 1, mask_type="A")
        self.blocks = nn.ModuleList(
            GatedCausalBlock(channels, kernel_size, int(d)) for d in dilations
        )
        self.head = nn.Sequential(
            nn.ReLU(),
            nn.Conv1d(channels, channels, 1),
            nn.ReLU(),
            nn.Conv1d(channels, 3 * n_components, 1),
        )
        self.receptive_field = kernel_size + (kernel_size - 1) * sum(int(d) for d in dilations)

    def forward(self, z: Tensor, observed: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        if observed is None:
            observed = torch.ones_like(z)
        h = self.input(torch.stack([z, observed], dim=1))
        for block in self.blocks:
            h = block(h)
        out = self.head(h).transpose(1, 2)  # [B, T, 3K]
        logits, means, log_scales = out.split(self.n_components, dim=-1)
        return logits, means, log_scales.clamp(min=MIN_LOG_SCALE)


def mixture_log_prob(z: Tensor, logits: Tensor, means: Tensor, log_scales: Tensor) -> Tensor:
    """``log sum_k w_k N(z; m_k, s_k^2)``: ``z [...]``, parameters ``[..., K]`` → ``[...]``."""
    u = (z.unsqueeze(-1) - means) * torch.exp(-log_scales)
    comp = -0.5 * (LOG_2PI + u**2) - log_scales
    return torch.logsumexp(F.log_softmax(logits, dim=-1) + comp, dim=-1)


def mixture_moments(logits: Tensor, means: Tensor, log_scales: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and standard deviation of the mixture: parameters ``[..., K]`` → two ``[...]``."""
    w = torch.softmax(logits, dim=-1)
    mean = (w * means).sum(-1)
    second = (w * (torch.exp(2 * log_scales) + means**2)).sum(-1)
    return mean, torch.sqrt((second - mean**2).clamp(min=0.0))


@torch.no_grad()
def _params(net: CausalConvNet, z: np.ndarray) -> tuple[Tensor, Tensor, Tensor]:
    """Float64 mixture parameters ``[T, K]`` of every step of ``z`` ``[T]`` (net in eval mode)."""
    x = torch.as_tensor(z, dtype=torch.float32)[None]
    return tuple(p[0].double() for p in net(x))


def _log_densities(net: CausalConvNet, z: np.ndarray) -> np.ndarray:
    """``log p(z_t | z_<t)`` for every ``t``: ``[T]`` float64."""
    x = torch.as_tensor(z, dtype=torch.float64)
    return mixture_log_prob(x, *_params(net, z)).numpy()


class _Windows:
    """Random windows ``[batch_size, window]`` of a series ``[T]`` (starts from ``generator``)."""

    def __init__(
        self, z: np.ndarray, window: int, batch_size: int, generator: torch.Generator
    ) -> None:
        self.series = torch.as_tensor(z, dtype=torch.float32)
        self.offsets = torch.arange(window)
        self.batch_size, self.generator = batch_size, generator

    def draw(self) -> Tensor:
        high = self.series.shape[0] - self.offsets.shape[0] + 1
        starts = torch.randint(0, high, (self.batch_size,), generator=self.generator)
        return self.series[starts[:, None] + self.offsets]


@register_forecaster("causal_ar")
class CausalConvForecaster(SeriesModel):
    """Dilated causal convolutions with a Gaussian-mixture output: PixelCNN in one dimension.

    Args:
        channels: width of the residual stream.
        kernel_size: taps ``k`` of every gated block (receptive field ``k + (k-1) * sum(d)``).
        dilations: dilation of each gated block.
        n_components: Gaussians ``K`` in each predictive mixture (1: a Gaussian).
        n_steps: AdamW steps (the training budget).
        batch_size: windows per step.
        window: window length (clipped to the training length).
        lr: AdamW's peak learning rate.
        weight_decay: AdamW's decoupled weight decay.
        grad_clip: maximum gradient norm.
        validation_fraction: the last this fraction of the training series is held out (its
            past still conditions it); every ``eval_every`` steps its NLL is measured and the
            weights with the lowest are kept (0: no validation, the last weights are kept).
        eval_every: steps between validation measurements.
        difference: lag ``m`` of the differences modelled (0: the values themselves).
        random_state: integer seed of the initialisation and batch generators.

    Fitted attributes: ``net_`` (:class:`CausalConvNet`, eval mode), ``receptive_field_``,
    ``loss_history_`` (training NLL per step, standardised nats), ``validation_history_``
    (``[n, 2]``: step, validation NLL in standardised nats), ``best_step_``, ``n_validation_``,
    ``train_log_likelihood_`` (nats, original units, whole training series), ``mean_``,
    ``scale_``, ``level_mean_``, ``level_scale_``, ``n_train_``.
    """

    params: ClassVar[dict[str, Constraint]] = {
        "channels": Int(min=1),
        "kernel_size": Int(min=1),
        "dilations": SequenceOf(Int(min=1), min_length=1),
        "n_components": Int(min=1),
        "n_steps": Int(min=1),
        "batch_size": Int(min=1),
        "window": Int(min=2),
        "lr": Float(min=0.0, min_open=True),
        "weight_decay": Float(min=0.0),
        "grad_clip": Float(min=0.0, min_open=True),
        "validation_fraction": Float(0.0, 0.5, max_open=True),
        "eval_every": Int(min=1),
        "random_state": Int(),
    }

    def __init__(
        self,
        *,
        channels: int = 32,
        kernel_size: int = 2,
        dilations: Sequence[int] = (1, 2, 4, 8, 16),
        n_components: int = 3,
        n_steps: int = 1000,
        batch_size: int = 32,
        window: int = 128,
        lr: float = 3e-3,
        weight_decay: float = 1e-4,
        grad_clip: float = 1.0,
        validation_fraction: float = 0.1,
        eval_every: int = 25,
        difference: int = 0,
        random_state: int = 0,
    ) -> None:
        self.channels = channels
        self.kernel_size = kernel_size
        self.dilations = tuple(dilations)
        self.n_components = n_components
        self.n_steps = n_steps
        self.batch_size = batch_size
        self.window = window
        self.lr = lr
        self.weight_decay = weight_decay
        self.grad_clip = grad_clip
        self.validation_fraction = validation_fraction
        self.eval_every = eval_every
        self.difference = difference
        self.random_state = random_state

    def _new_net(self) -> CausalConvNet:
        """A freshly initialised network; its initialisation depends on ``random_state`` only."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(self.random_state, 0))
            return CausalConvNet(self.channels, self.kernel_size, self.dilations, self.n_components)

    def _fit_standardized(self, z: np.ndarray) -> None:
        n_val = round(float(self.validation_fraction) * z.shape[0])
        n_fit = z.shape[0] - n_val
        if n_fit < 2:
            raise ConfigError(
                f"{z.shape[0]} training values leave {n_fit} to fit after holding out "
                f"{n_val} for validation; lower validation_fraction or use a longer series"
            )
        net = self._new_net()
        windows = _Windows(
            z[:n_fit],
            min(int(self.window), n_fit),
            self.batch_size,
            seeded_generator(self.random_state, 1),
        )
        optimizer = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        schedule = LRSchedule(
            self.lr, "cosine", warmup_steps=min(50, self.n_steps // 10), total_steps=self.n_steps
        )
        losses = np.empty(self.n_steps)
        validation: list[tuple[int, float]] = []
        best_state, best_nll = None, math.inf
        for step in range(self.n_steps):
            losses[step] = self._train_step(net, optimizer, windows.draw(), schedule(step), step)
            if n_val and ((step + 1) % self.eval_every == 0 or step == self.n_steps - 1):
                net.eval()  # the held-out end, conditioned on everything before it
                nll = -float(_log_densities(net, z)[n_fit:].mean())
                validation.append((step + 1, nll))
                if nll < best_nll:
                    best_nll, best_state = nll, copy.deepcopy(net.state_dict())
        if best_state is not None:
            net.load_state_dict(best_state)
        net.eval()
        self.net_ = net
        self.receptive_field_ = int(net.receptive_field)
        history = np.array(validation).reshape(-1, 2)
        self.loss_history_, self.validation_history_ = losses, history
        self.best_step_ = int(history[np.argmin(history[:, 1]), 0]) if n_val else self.n_steps
        self.n_validation_ = n_val

    def _train_step(
        self, net: CausalConvNet, optimizer: torch.optim.Optimizer, x: Tensor, lr: float, step: int
    ) -> float:
        """One AdamW step on the mean NLL of the windows ``x [B, W]``; returns that NLL."""
        net.train()
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss = -mixture_log_prob(x, *net(x)).mean()
        if not torch.isfinite(loss):
            raise TrainingError(
                f"non-finite training loss at step {step}; lower lr (now {self.lr}) or "
                "check the series for extreme values"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), self.grad_clip)
        optimizer.step()
        return loss.item()

    def _params(self, z: np.ndarray) -> tuple[Tensor, Tensor, Tensor]:
        return _params(self.net_, z)

    def _log_densities(self, z: np.ndarray, start: int) -> np.ndarray:
        return _log_densities(self.net_, z)[start:]

    def _moments(self, z: np.ndarray, start: int) -> tuple[np.ndarray, np.ndarray]:
        mean, std = mixture_moments(*self._params(z))
        return mean.numpy()[start:], std.numpy()[start:]

    def _next_log_density(self, z: np.ndarray, v: np.ndarray) -> np.ndarray:
        context = np.append(z[-self.receptive_field_ :], 0.0)  # placeholder for the next value
        logits, means, log_scales = (p[-1] for p in self._params(context))
        x = torch.as_tensor(v, dtype=torch.float64)[:, None]
        return mixture_log_prob(x, logits, means, log_scales)[:, 0].numpy()

    # -- simulation --------------------------------------------------------------------------------
    def _random_source(self, random_state: Any) -> torch.Generator:
        if isinstance(random_state, torch.Generator):
            return random_state
        if random_state is not None and not Int().accepts(random_state):
            raise ConfigError(
                "the convolutional model draws from torch: pass an integer seed or a "
                f"torch.Generator, not {type(random_state).__name__}"
            )
        gen = torch.Generator()
        if random_state is None:
            gen.seed()
        else:
            gen.manual_seed(int(random_state))
        return gen

    def _level_noise(self, rng: torch.Generator, shape: tuple[int, int]) -> np.ndarray:
        return torch.randn(shape, generator=rng, dtype=torch.float64).numpy()

    @torch.no_grad()
    def _simulate(
        self, z: np.ndarray, horizon: int, n_paths: int, rng: torch.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        r = self.receptive_field_
        tail = torch.as_tensor(z[-r:] if z.shape[0] else z, dtype=torch.float32)
        known = tail.shape[0]
        buf = torch.zeros(n_paths, known + horizon)
        buf[:, :known] = tail
        components = torch.empty(n_paths, horizon, dtype=torch.int64)
        rows = torch.arange(n_paths)
        for h in range(horizon):
            pos = known + h
            # the value at ``pos`` is a placeholder: the output at ``pos`` cannot see it
            logits, means, log_scales = (
                p[:, -1] for p in self.net_(buf[:, max(0, pos - r) : pos + 1])
            )
            comp = torch.multinomial(torch.softmax(logits, -1), 1, generator=rng)[:, 0]
            eps = torch.randn(n_paths, generator=rng)
            buf[:, pos] = means[rows, comp] + torch.exp(log_scales[rows, comp]) * eps
            components[:, h] = comp
        return buf[:, known:].double().numpy(), components.numpy()

    # -- persistence -------------------------------------------------------------------------------
    def _fitted_state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        scalars = {
            "receptive_field_": self.receptive_field_,
            "best_step_": self.best_step_,
            "n_validation_": self.n_validation_,
        }
        arrays = {f"net.{k}": v for k, v in self.net_.state_dict().items()}
        arrays |= {
            "loss_history": self.loss_history_,
            "validation_history": self.validation_history_,
        }
        return scalars, arrays

    def _restore(self, scalars: dict[str, Any], arrays: dict[str, torch.Tensor]) -> None:
        net = CausalConvNet(self.channels, self.kernel_size, self.dilations, self.n_components)
        net.load_state_dict({k[4:]: v for k, v in arrays.items() if k.startswith("net.")})
        net.eval()
        self.net_ = net
        self.receptive_field_ = int(scalars["receptive_field_"])
        self.best_step_ = int(scalars["best_step_"])
        self.n_validation_ = int(scalars["n_validation_"])
        self.loss_history_ = arrays["loss_history"].numpy()
        self.validation_history_ = arrays["validation_history"].numpy()
