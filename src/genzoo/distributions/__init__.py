"""Pixel likelihoods shared by the models."""

from genzoo.distributions.categorical import categorical_log_prob, inverse_cdf_sample

__all__ = ["categorical_log_prob", "inverse_cdf_sample"]
