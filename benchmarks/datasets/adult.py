"""UCI adult (LIBSVM a9a files): 48,842 x 123, train and test stacked."""
from .libsvm_file import load_train_test


def load(data_home=None):
    """Load ``adult.trn.bz2`` + ``adult.tst.bz2`` from ``<data home>/libsvm``."""
    return load_train_test("adult", data_home, "UCI adult (a9a)")
