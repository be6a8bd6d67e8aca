"""UCI adult (LIBSVM a9a files): 48,842 x 123, train and test stacked."""
from hoag_shine.cli_data import load_adult as load  # noqa: F401
