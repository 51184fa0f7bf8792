"""mold: a runnable reproduction of MoLSAKI (Chen et al., EMNLP 2025, arXiv 2604.15701)."""

__version__ = "0.1.0"
