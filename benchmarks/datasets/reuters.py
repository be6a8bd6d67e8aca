"""Reuters-21578 money-fx (LIBSVM files): 11,069 x 8,315, train and test stacked."""
from .libsvm_file import load_train_test


def load(data_home=None):
    """Load ``reuters.trn.bz2`` + ``reuters.tst.bz2`` from ``<data home>/libsvm``."""
    return load_train_test("reuters", data_home, "Reuters-21578 money-fx")
