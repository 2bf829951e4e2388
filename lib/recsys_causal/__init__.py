"""recsys_causal: computation behind the causal-inference report for recommender systems."""

__version__ = "0.1.0"
