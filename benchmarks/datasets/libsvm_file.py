"""Any two-class LIBSVM file, and train/test pairs of such files stacked (local only)."""
from hoag_shine.cli_data import load_libsvm_file as load  # noqa: F401
from hoag_shine.cli_data import load_libsvm_pair as load_train_test  # noqa: F401
