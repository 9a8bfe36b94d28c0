"""Training of the mlserve models on deterministic synthetic data."""
