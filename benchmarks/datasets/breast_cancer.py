"""Breast cancer (ships with scikit-learn): 569 x 30, standardised; for quick runs."""
from hoag_shine.cli_data import load_breast_cancer as load  # noqa: F401
