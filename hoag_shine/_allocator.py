"""Heap reuse for array-heavy work in processes started with static malloc thresholds.

glibc serves an allocation above its *mmap threshold* with a fresh mapping,
whose pages fault in on first touch and go back to the system on ``free``.
By default the threshold adapts: after an array of 1 MB is freed, arrays of
that size come from the heap and are reused. Setting any of
``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TOP_PAD_``,
``MALLOC_MMAP_MAX_`` (or their ``GLIBC_TUNABLES`` spellings, which this
module leaves alone) when a process starts fixes it at 128 KiB. Dask's nanny starts its workers with
``MALLOC_TRIM_THRESHOLD_=65536``: there, every vector of more than 16,384
floats is a new mapping, and an evaluation of a 20 newsgroups split (130,107
coefficients, a few hundred such vectors per inner iteration) took 2.5 times
as long as in a plain process.

:func:`reusing_heap` raises both thresholds for the duration of a block in
such a process only, and then restores the values the process started with
and returns the freed memory to the system, as those settings intend. A
process whose thresholds adapt is left alone: setting a threshold would stop
the adaptation for good.
"""
import ctypes
import functools
import re
import threading
from contextlib import contextmanager

#: mallopt's parameter numbers (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
#: glibc's value of each threshold when the environment does not set it
GLIBC_DEFAULT_THRESHOLD = 128 * 1024
#: glibc's largest mmap threshold (32 MiB with 64-bit longs); a larger value
#: is ignored, and then fixes nothing
GLIBC_MAX_MMAP_THRESHOLD = (4 * 2 ** 20 * ctypes.sizeof(ctypes.c_long)
                            if ctypes.sizeof(ctypes.c_long) == 8 else 512 * 1024)
#: thresholds inside the block: arrays up to the largest mmap threshold come
#: from the heap, which keeps up to 512 MiB free
BLOCK_MMAP_THRESHOLD, BLOCK_TRIM_THRESHOLD = GLIBC_MAX_MMAP_THRESHOLD, 512 * 2 ** 20

#: mallopt takes a C int
C_INT_MAX = 2 ** 31 - 1

#: variables whose presence at start-up fixes the thresholds, and what they set
STATIC_VARIABLES = {"MALLOC_TRIM_THRESHOLD_": "trim", "MALLOC_MMAP_THRESHOLD_": "mmap",
                    "MALLOC_TOP_PAD_": None, "MALLOC_MMAP_MAX_": None}
#: their GLIBC_TUNABLES spellings
STATIC_TUNABLES = ("glibc.malloc.trim_threshold", "glibc.malloc.mmap_threshold",
                   "glibc.malloc.top_pad", "glibc.malloc.mmap_max")
_NUMBER = re.compile(r"0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*")

_lock = threading.Lock()
_active = {"blocks": 0, "restore": None}


def _parse_size(value):
    """A size as C's ``strtoul`` with base 0 reads it, or None when it is not one."""
    if not _NUMBER.fullmatch(value):
        return None
    if value[:2] in ("0x", "0X"):
        return int(value, 16)
    return int(value, 8 if value[0] == "0" else 10)


def static_thresholds(environ):
    """The thresholds that ``environ``, a process's start-up environment, fixes.

    Parameters
    ----------
    environ : mapping of str to str
        Environment variables as the process saw them when it started.

    Returns
    -------
    dict or None
        ``{"trim": bytes, "mmap": bytes}`` when the environment fixes
        glibc's thresholds (values it does not name are glibc's defaults),
        None when they adapt, and None too when a value is one this module
        could not restore exactly (not a number, beyond a C int, or set
        through ``GLIBC_TUNABLES``), so that such a process is left alone.
    """
    # glibc cuts GLIBC_TUNABLES at its colons in the start-up environment
    # while it reads it (later tunables show up as entries of their own):
    # thresholds set there cannot be read back, and are left alone
    tunables = environ.get("GLIBC_TUNABLES", "").split(":") + list(environ)
    if any(item.partition("=")[0] in STATIC_TUNABLES for item in tunables):
        return None
    settings = {name: environ[name] for name in STATIC_VARIABLES if name in environ}
    thresholds = {"trim": GLIBC_DEFAULT_THRESHOLD, "mmap": GLIBC_DEFAULT_THRESHOLD}
    fixed = False
    for name, value in settings.items():
        size = _parse_size(value)
        if size is None or size > C_INT_MAX:
            return None
        if STATIC_VARIABLES[name] == "mmap" and size > GLIBC_MAX_MMAP_THRESHOLD:
            continue  # glibc ignores it: the threshold still adapts
        fixed = True
        if STATIC_VARIABLES[name] is not None:
            thresholds[STATIC_VARIABLES[name]] = size
    return thresholds if fixed else None


def _startup_environ():
    """This process's environment at start-up (what glibc read), or {} if unknown."""
    try:
        with open("/proc/self/environ", "rb") as file:
            raw = file.read()
    except OSError:
        return {}
    pairs = (item.partition(b"=") for item in raw.split(b"\0") if item)
    return {key.decode(errors="replace"): value.decode(errors="replace")
            for key, _, value in pairs}


def _glibc():
    """glibc's shared library, or None on another C library."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
    except (OSError, AttributeError):
        return None
    return libc


@contextmanager
def reusing_heap():
    """Run a block with large arrays reused from the heap, where glibc's thresholds are static.

    Nested and concurrent blocks (threads of one worker) share one raised
    setting, restored when the last of them ends. Anywhere else (adaptive
    thresholds, another C library) the block runs unchanged.
    """
    with _lock:
        if _active["blocks"] == 0:
            _active["restore"] = _raise_thresholds()
        _active["blocks"] += 1
    try:
        yield
    finally:
        with _lock:
            _active["blocks"] -= 1
            if _active["blocks"] == 0 and _active["restore"] is not None:
                _active["restore"]()
                _active["restore"] = None


@functools.lru_cache(maxsize=1)
def _static_setting():
    """``(thresholds, libc)`` when this process's thresholds are static, else None.

    Read once per process: its start-up environment does not change (a
    forked child shares its parent's, and its allocator state).
    """
    thresholds = static_thresholds(_startup_environ())
    libc = _glibc() if thresholds is not None else None
    return None if libc is None else (thresholds, libc)


def _raise_thresholds():
    """Raise both thresholds if they are static; return the function restoring them."""
    setting = _static_setting()
    if setting is None:
        return None
    thresholds, libc = setting
    raised = [(parameter, thresholds[name])
              for parameter, name, value in (
                  (M_MMAP_THRESHOLD, "mmap", BLOCK_MMAP_THRESHOLD),
                  (M_TRIM_THRESHOLD, "trim", BLOCK_TRIM_THRESHOLD))
              if libc.mallopt(parameter, max(value, thresholds[name])) == 1]
    if not raised:
        return None

    def restore():
        for parameter, value in raised:
            libc.mallopt(parameter, value)
        libc.malloc_trim(0)

    return restore
