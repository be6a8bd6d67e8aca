"""What every data-set loader shares; all but the network check live in the package.

The names, the data home and the local loaders are those of
:mod:`hoag_shine.cli_data`, so that ``hoag-shine`` and the benchmarks agree;
this package only adds downloading.
"""
import socket

from hoag_shine.cli_data import (DATA_HOME_ENV, HOW_TO_SET_DATA_HOME, DataHome,  # noqa: F401
                                 DatasetNotFound, as_csr, binarize_labels, find_file,
                                 resolve_data_home)


def network_available(host, port=443, timeout=3.0):
    """True when a TCP connection to ``host`` can be opened within ``timeout`` seconds."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError:
        return False
    return True
