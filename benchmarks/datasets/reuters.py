"""Reuters-21578 money-fx (LIBSVM files): 11,069 x 8,315, train and test stacked."""
from hoag_shine.cli_data import load_reuters as load  # noqa: F401
