"""Causal self-attention: the mask, and parity with a softmax attention written out by loops."""

from __future__ import annotations

import math

import pytest
import torch

from genzoo.errors import ConfigError
from genzoo.nn.attention import CausalSelfAttention, strictly_causal_attention


def reference_attention(query, key, value):
    """``out[b, h, p] = sum_{k<p} softmax_k(q_p . k_k / sqrt(d)) v_k``, zeros at ``p = 0``."""
    query, key, value = query.detach(), key.detach(), value.detach()
    batch, heads, n, d = query.shape
    out = torch.zeros(batch, heads, n, value.shape[-1], dtype=value.dtype)
    for b in range(batch):
        for h in range(heads):
            for p in range(1, n):
                scores = [float(query[b, h, p] @ key[b, h, k]) / math.sqrt(d) for k in range(p)]
                top = max(scores)
                weights = [math.exp(s - top) for s in scores]
                total = sum(weights)
                for k in range(p):
                    out[b, h, p] += weights[k] / total * value[b, h, k]
    return out


@pytest.mark.parametrize(("n", "dk", "dv"), [(1, 4, 5), (2, 4, 5), (7, 4, 5), (7, 6, 3), (9, 4, 4)])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_matches_loop_reference(n, dk, dv, dtype, generator):
    """float32 runs the fused CPU kernel, float64 the math one; both equal the loops."""
    q, k = (torch.randn(2, 3, n, dk, generator=generator, dtype=dtype) for _ in range(2))
    v = torch.randn(2, 3, n, dv, generator=generator, dtype=dtype)
    torch.testing.assert_close(strictly_causal_attention(q, k, v), reference_attention(q, k, v))


def test_module_matches_reference_with_heads(generator):
    torch.manual_seed(0)
    attn = CausalSelfAttention(3, 4, key_channels=6, value_channels=4, heads=2).double()
    query = torch.randn(2, 3, 3, 4, generator=generator, dtype=torch.float64)
    context = torch.randn(2, 4, 3, 4, generator=generator, dtype=torch.float64)
    q = attn.query(query).reshape(2, 2, 3, 12).transpose(-1, -2)
    k, v = attn.key_value(context).split([6, 4], dim=1)
    k = k.reshape(2, 2, 3, 12).transpose(-1, -2)
    v = v.reshape(2, 2, 2, 12).transpose(-1, -2)
    expected = reference_attention(q, k, v).transpose(-1, -2).reshape(2, 4, 3, 4)
    torch.testing.assert_close(attn(query, context), expected)


def test_output_at_p_ignores_context_at_and_after_p(generator):
    """Changing context at positions >= p (or queries at positions > p) leaves output p alone."""
    torch.manual_seed(0)
    attn = CausalSelfAttention(3, 5, key_channels=8, value_channels=6, heads=2).double()
    h, w = 3, 4
    query = torch.randn(1, 3, h, w, generator=generator, dtype=torch.float64)
    context = torch.randn(1, 5, h, w, generator=generator, dtype=torch.float64)
    base = attn(query, context).flatten(2)
    for p in range(h * w):
        late = torch.arange(h * w).view(h, w) >= p
        noise = torch.randn(1, 5, h, w, generator=generator, dtype=torch.float64)
        changed = attn(query, torch.where(late, context + noise, context)).flatten(2)
        assert torch.equal(changed[..., : p + 1], base[..., : p + 1]), f"context leak at p={p}"
        if p < h * w - 1:  # and something after p does see it
            assert not torch.equal(changed[..., p + 1 :], base[..., p + 1 :])
        later = torch.arange(h * w).view(h, w) > p
        changed = attn(torch.where(later, query + 1.0, query), context).flatten(2)
        assert torch.equal(changed[..., : p + 1], base[..., : p + 1]), f"query leak at p={p}"


def test_every_earlier_position_is_attended(generator):
    attn = CausalSelfAttention(2, 2, key_channels=4, value_channels=4, heads=2).double()
    query = torch.randn(1, 2, 4, 4, dtype=torch.float64, generator=generator)
    context = torch.randn(1, 2, 4, 4, dtype=torch.float64, generator=generator, requires_grad=True)
    attn(query, context)[0, :, 3, 3].sum().backward()
    seen = context.grad.abs().sum(1)[0].flatten() > 0
    assert seen[:15].all() and not seen[15]


def test_gradients_are_finite_at_the_first_position():
    attn = CausalSelfAttention(2, 2, key_channels=2, value_channels=2)
    query = torch.randn(2, 2, 1, 3, requires_grad=True)
    attn(query, torch.randn(2, 2, 1, 3)).sum().backward()
    assert torch.isfinite(query.grad).all()


def test_heads_must_divide_channels():
    with pytest.raises(ConfigError, match="divide"):
        CausalSelfAttention(2, 2, key_channels=6, value_channels=4, heads=4)
