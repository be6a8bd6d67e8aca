"""Where the splits of a held-out criterion are evaluated: in the calling process,
or on the workers of the active joblib backend (threads, processes, Dask)."""
