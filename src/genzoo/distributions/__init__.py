"""Pixel likelihoods shared by the models."""

from genzoo.distributions.categorical import categorical_log_prob, inverse_cdf_sample
from genzoo.distributions.logistic import (
    logistic_mixture_channels,
    logistic_mixture_log_prob,
    logistic_mixture_logits,
)

__all__ = [
    "categorical_log_prob",
    "inverse_cdf_sample",
    "logistic_mixture_channels",
    "logistic_mixture_log_prob",
    "logistic_mixture_logits",
]
