"""Discretized mixture of logistics over whole pixels (Salimans, Karpathy, Chen & Kingma,
"PixelCNN++", ICLR 2017).

A pixel ``x = (x_0, .., x_{C-1})`` with values in ``[0, levels)`` is scaled to ``v in [-1, 1]``
(bin width ``2 / (levels - 1)``) and modelled as

    p(x) = sum_k pi_k prod_c p_k(x_c | x_<c),

where ``p_k(x_c | x_<c)`` is the mass of the bin of ``v_c`` under a logistic with scale
``exp(log_scale_kc)`` (clamped below at ``-7``) and mean ``mu_kc + sum_{c'<c} a_k(c, c') v_c'``
(the linear colour dependence, ``a = tanh(raw)``). The lowest bin integrates from ``-inf`` and the
highest to ``+inf``, so the levels always sum to one, for any ``levels >= 2``.

Parameter layout, ``params [B, P, H, W]`` with ``P = logistic_mixture_channels(K, C)``: the first
``K`` channels are the mixture logits; then slot ``s`` of component ``k`` is channel
``K + s * K + k``, with slots = means of colours ``0..C-1``, log-scales of colours ``0..C-1``,
then the ``C (C - 1) / 2`` coefficients ``a(c, c')`` in the order ``(1,0), (2,0), (2,1), ...``.

Numerics: everything is computed in log space, in at least float32. The mass of an inner bin
with standardised edges ``b < a`` is ``sigmoid(a) - sigmoid(b) = sigmoid(a) sigmoid(-b) (1 -
exp(-d))`` with ``d = a - b = bin width / scale``; its logarithm is a sum of three terms that
neither cancel nor underflow in the tails, where the plain difference of sigmoids underflows to 0
(which is why PixelCNN++ falls back to the mid-bin density there). The remaining underflow is
``1 - exp(-d)`` for a bin that is narrow compared with the scale: for ``d < 1e-6`` the last term
is ``log d - d / 2`` with ``log d = log(width) - log_scale`` (never underflows), which makes the
bin mass the mid-bin density times the width, exact to ``O(d^2)`` (below float precision).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from genzoo.errors import ConfigError

#: log-scales are clamped below at this value (PixelCNN++)
MIN_LOG_SCALE = -7.0
#: standardised bin widths below this use the mid-bin density (see the module docstring)
_NARROW_BIN = 1e-6


def logistic_mixture_channels(num_mixtures: int, colors: int) -> int:
    """Number of parameters per pixel: ``K * (1 + 2 C + C (C - 1) / 2)`` (``10 K`` for RGB)."""
    if int(num_mixtures) < 1 or int(colors) < 1:
        raise ConfigError(
            f"num_mixtures and colors must be positive, got {num_mixtures} and {colors}"
        )
    return int(num_mixtures) * _slots(int(colors))


def logistic_mixture_log_prob(params: Tensor, x: Tensor, levels: int) -> Tensor:
    """Per-sub-pixel conditional log-probabilities ``log p(x_c | x_<c)`` in nats.

    Args:
        params: ``[B, P, H, W]`` mixture parameters (layout in the module docstring).
        x: LongTensor ``[B, C, H, W]`` in ``[0, levels)``.
        levels: number of discrete values per sub-pixel, ``>= 2``.

    Returns:
        ``[B, C, H, W]`` (float32 or wider); the sum over ``C`` is the log-probability of the
        whole pixel under the mixture.
    """
    prefix, norm, _, _, log_pk = _prefix(params, x, levels)
    return torch.logsumexp(prefix + log_pk, dim=1) - norm


def logistic_mixture_logits(params: Tensor, x: Tensor, levels: int) -> Tensor:
    """Normalised log-probabilities of every level of every sub-pixel.

    Entry ``[:, l, c]`` is ``log p(x_c = l | x_<c)``: it depends on ``x`` only through the
    earlier channels of the same pixel. Gathering at ``x`` gives
    :func:`logistic_mixture_log_prob`.

    Args:
        params: ``[B, P, H, W]`` mixture parameters.
        x: LongTensor ``[B, C, H, W]`` in ``[0, levels)``.
        levels: number of discrete values per sub-pixel, ``>= 2``.

    Returns:
        ``[B, levels, C, H, W]`` (float32 or wider).
    """
    prefix, norm, mean, log_scale, _ = _prefix(params, x, levels)
    log_pk = _all_bins_log_prob(mean.unsqueeze(1), log_scale.unsqueeze(1), levels)
    return torch.logsumexp(prefix.unsqueeze(1) + log_pk, dim=2) - norm.unsqueeze(1)


def logistic_mixture_sample(
    params: Tensor, colors: int, levels: int, generator: torch.Generator | None = None
) -> Tensor:
    """Draw whole pixels from the mixture directly: LongTensor ``[B, C, H, W]``.

    One component ``k ~ pi`` per pixel, then colour by colour a logistic draw
    ``v = mean_kc + s_kc (log u - log(1 - u))`` whose bin is the level; the mean of colour ``c``
    uses the *discrete* earlier colours (bin centres), as :func:`logistic_mixture_log_prob`
    conditions on them. The bin of a continuous draw has exactly the bin's mass (the edge bins
    reach to infinity), so this samples ``p(x)`` exactly, at ``O(K C)`` work per pixel instead of
    the ``O(K C levels)`` of a table of every level's probability.

    Args:
        params: ``[B, P, H, W]`` mixture parameters; colors: ``C``; levels: values per sub-pixel.
        generator: the source of randomness (its device is where the uniforms are drawn).
    """
    b, _, h, w = params.shape
    x = torch.zeros((b, colors, h, w), dtype=torch.long, device=params.device)
    mean, log_scale, log_w = _components(params, x, levels)  # means for x_<c = 0: fixed below
    device = generator.device if generator is not None else torch.device("cpu")
    u = torch.rand((b, 1 + colors, h, w), generator=generator, device=device, dtype=mean.dtype)
    u = u.to(params.device).clamp_(torch.finfo(mean.dtype).tiny, 1.0)
    cdf = log_w.softmax(1).cumsum(1)  # [B, K, H, W]
    k = (cdf < u[:, :1] * cdf[:, -1:]).sum(1, keepdim=True).clamp_(max=log_w.shape[1] - 1)
    scale = torch.exp(log_scale.gather(1, k.unsqueeze(2).expand(-1, 1, colors, -1, -1)))
    for c in range(colors):
        if c:  # the linear dependence on the colours drawn so far
            mean = _components(params, x, levels)[0]
        m = mean[:, :, c].gather(1, k).squeeze(1)
        logistic = torch.log(u[:, 1 + c]) - torch.log1p(-u[:, 1 + c])
        v = m + scale[:, 0, c] * logistic
        level = torch.floor((v + 1.0) * ((levels - 1) / 2.0) + 0.5).clamp_(0, levels - 1)
        x[:, c] = level.long()
    return x


def logistic_mixture_mean(params: Tensor, x: Tensor, levels: int) -> Tensor:
    """Expected level of every sub-pixel given the earlier colours of ``x``: ``[B, C, H, W]``.

    ``E[x_c | x_<c] = sum_k w_kc sum_{l=1}^{levels-1} P_k(x_c >= l)`` with the components'
    posterior weights ``w_kc`` given ``x_<c``; each survival probability is one sigmoid of a
    bin's lower edge, so no table of log-probabilities is formed.
    """
    prefix, norm, mean, log_scale, _ = _prefix(params, x, levels)
    weights = torch.exp(prefix - norm.unsqueeze(1))  # [B, K, C, H, W]
    edges = _upper_edge(torch.arange(levels - 1, device=mean.device), levels, mean.dtype)
    inv_scale = torch.exp(-log_scale).unsqueeze(-1)
    survival = torch.sigmoid((mean.unsqueeze(-1) - edges) * inv_scale).sum(-1)
    return (weights * survival).sum(1)


# ---------------------------------------------------------------------------- internals
def _components(params: Tensor, x: Tensor, levels: int) -> tuple[Tensor, Tensor, Tensor]:
    """The conditional means, clamped log-scales ``[B, K, C, H, W]`` and log mixture weights."""
    prefix, _, mean, log_scale, _ = _prefix(params, x, levels)
    return mean, log_scale, prefix[:, :, 0]


def _slots(colors: int) -> int:
    return 1 + 2 * colors + colors * (colors - 1) // 2


def _prefix(params: Tensor, x: Tensor, levels: int) -> tuple[Tensor, ...]:
    """Posterior-reweighted log mixture weights per channel.

    Returns ``prefix [B, K, C, H, W] = log pi_k + sum_{c'<c} log p_k(x_c' | x_<c')``, its
    ``logsumexp`` over ``k`` (``log p(x_<c)``, ``[B, C, H, W]``), the conditional means and
    clamped log-scales ``[B, K, C, H, W]`` of every channel given ``x_<c``, and
    ``log p_k(x_c | x_<c)``.
    """
    levels = int(levels)
    if levels < 2:
        raise ConfigError(f"levels must be at least 2, got {levels}")
    same = params.dim() == x.dim() == 4 and params.shape[0] == x.shape[0]
    if not same or params.shape[2:] != x.shape[2:]:
        raise ConfigError(
            f"params [B, P, H, W] and x [B, C, H, W] must agree in B, H, W; "
            f"got {list(params.shape)} and {list(x.shape)}"
        )
    colors = x.shape[1]
    if params.shape[1] % _slots(colors):
        raise ConfigError(
            f"params has {params.shape[1]} channels; a mixture over {colors} colours needs a "
            f"multiple of {_slots(colors)} (see logistic_mixture_channels)"
        )
    k = params.shape[1] // _slots(colors)
    params = params.to(torch.promote_types(params.dtype, torch.float32))
    log_w = F.log_softmax(params[:, :k], dim=1)  # [B, K, H, W]
    rest = params[:, k:].unflatten(1, (-1, k)).transpose(1, 2)  # [B, K, slots - 1, H, W]
    mu, log_scale = rest[:, :, :colors], rest[:, :, colors : 2 * colors].clamp(min=MIN_LOG_SCALE)
    coeffs = torch.tanh(rest[:, :, 2 * colors :])
    v = _scaled(x, levels, params.dtype)
    means, t = [mu[:, :, 0]], 0
    for c in range(1, colors):
        m = mu[:, :, c]
        for earlier in range(c):  # coefficient order (1,0), (2,0), (2,1), ...
            m = m + coeffs[:, :, t] * v[:, None, earlier]
            t += 1
        means.append(m)
    mean = torch.stack(means, dim=2)
    log_pk = _bin_log_prob(x.unsqueeze(1), mean, log_scale, levels)  # [B, K, C, H, W]
    before = torch.cat([torch.zeros_like(log_pk[:, :, :1]), log_pk[:, :, :-1].cumsum(2)], 2)
    prefix = log_w.unsqueeze(2) + before
    return prefix, torch.logsumexp(prefix, dim=1), mean, log_scale, log_pk


def _scaled(x: Tensor, levels: int, dtype: torch.dtype) -> Tensor:
    """Integer levels to the centres of their bins in ``[-1, 1]``."""
    return x.to(dtype) * (2.0 / (levels - 1)) - 1.0


def _upper_edge(x: Tensor, levels: int, dtype: torch.dtype) -> Tensor:
    """Upper edge of the bin of integer level ``x`` in ``[-1, 1]`` (= lower edge of ``x + 1``)."""
    return (x.to(dtype) + 0.5) * (2.0 / (levels - 1)) - 1.0


def _log1mexp(d: Tensor) -> Tensor:
    """``log(1 - exp(-d))`` for ``d > 0``, accurate for small and large ``d``."""
    return torch.where(d < math.log(2.0), torch.log(-torch.expm1(-d)), torch.log1p(-torch.exp(-d)))


def _log_width(log_scale: Tensor, levels: int) -> Tensor:
    """``log(1 - exp(-d))`` with ``d = bin width / scale``; ``log d - d / 2`` for narrow bins."""
    log_d = math.log(2.0 / (levels - 1)) - log_scale
    d = torch.exp(log_d)
    exact = _log1mexp(d.clamp(min=_NARROW_BIN))  # clamped: no inf (nor NaN gradient) unused
    return torch.where(d < _NARROW_BIN, log_d - 0.5 * d, exact)


def _bin_log_prob(
    x: Tensor, mean: Tensor, log_scale: Tensor, levels: int, *, edges: bool = True
) -> Tensor:
    """Log-mass of the bin of integer level ``x`` under ``Logistic(mean, exp(log_scale))``.

    Broadcasts ``x`` against ``mean`` and ``log_scale`` (already clamped). ``edges=False``
    treats the first and last bins like inner ones (wrong; kept for the tests' negative control).
    """
    inv_scale = torch.exp(-log_scale)
    log_cdf_upper = F.logsigmoid(inv_scale * (_upper_edge(x, levels, mean.dtype) - mean))
    log_sf_lower = F.logsigmoid(-(inv_scale * (_upper_edge(x - 1, levels, mean.dtype) - mean)))
    inner = log_cdf_upper + log_sf_lower + _log_width(log_scale, levels)
    if not edges:
        return inner
    return torch.where(x == 0, log_cdf_upper, torch.where(x == levels - 1, log_sf_lower, inner))


def _all_bins_log_prob(mean: Tensor, log_scale: Tensor, levels: int) -> Tensor:
    """:func:`_bin_log_prob` of every level along dim 1 (``mean``, ``log_scale``: size 1 there).

    The same arithmetic, with each edge's two log-sigmoids computed once for its two bins.
    """
    shape = [1] * mean.dim()
    shape[1] = levels - 1
    edges = _upper_edge(torch.arange(levels - 1, device=mean.device), levels, mean.dtype)
    z = torch.exp(-log_scale) * (edges.view(shape) - mean)  # [.., levels - 1, ..]
    zero = torch.zeros_like(z.narrow(1, 0, 1))
    upper = torch.cat([F.logsigmoid(z), zero], dim=1)  # the last bin extends to +inf
    lower = torch.cat([zero, F.logsigmoid(-z)], dim=1)  # the first bin from -inf
    inner = torch.ones(levels, dtype=mean.dtype, device=mean.device)
    inner[0] = inner[-1] = 0.0
    shape[1] = levels
    return upper + lower + _log_width(log_scale, levels) * inner.view(shape)
