"""Large arrays reused from the heap in processes started with static malloc thresholds."""
import json
import os
import platform
import subprocess
import sys
import threading

import pytest

from hoag_shine import _allocator
from hoag_shine._allocator import (GLIBC_DEFAULT_THRESHOLD, M_MMAP_THRESHOLD,
                                   M_TRIM_THRESHOLD, reusing_heap, static_thresholds)

DEFAULT = GLIBC_DEFAULT_THRESHOLD


@pytest.mark.parametrize("environ, expected", [
    ({}, None),
    ({"PATH": "/bin", "GLIBC_TUNABLES": "glibc.malloc.check=3"}, None),
    ({"MALLOC_TRIM_THRESHOLD_": "65536"}, {"trim": 65536, "mmap": DEFAULT}),
    ({"MALLOC_MMAP_THRESHOLD_": "0x100000"}, {"trim": DEFAULT, "mmap": 1048576}),
    ({"MALLOC_TOP_PAD_": "0"}, {"trim": DEFAULT, "mmap": DEFAULT}),
    # tunables: glibc cuts the variable at its colons while it reads it
    ({"GLIBC_TUNABLES": "glibc.malloc.check=3:glibc.malloc.trim_threshold=4096"}, None),
    ({"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=262144",
      "glibc.malloc.trim_threshold": "1048576"}, None),
    ({"GLIBC_TUNABLES": "glibc.malloc.arena_max=1", "MALLOC_TRIM_THRESHOLD_": "65536"},
     {"trim": 65536, "mmap": DEFAULT}),
    ({"MALLOC_TRIM_THRESHOLD_": "010"}, {"trim": 8, "mmap": DEFAULT}),  # strtoul, base 0
    # values that cannot be restored exactly, or that glibc itself would not take
    ({"MALLOC_TRIM_THRESHOLD_": "lots"}, None),
    ({"MALLOC_TRIM_THRESHOLD_": ""}, None),
    ({"MALLOC_TRIM_THRESHOLD_": "1_000"}, None),
    ({"MALLOC_TRIM_THRESHOLD_": str(2 ** 32)}, None),
    ({"MALLOC_MMAP_THRESHOLD_": str(2 ** 30)}, None),  # above glibc's largest: ignored
    ({"MALLOC_MMAP_THRESHOLD_": str(2 ** 30), "MALLOC_TRIM_THRESHOLD_": "65536"},
     {"trim": 65536, "mmap": DEFAULT}),
    ({"GLIBC_TUNABLES": "glibc.malloc.check=3,glibc.malloc.trim_threshold=4096"}, None),
])
def test_static_thresholds_read_from_the_startup_environment(environ, expected):
    assert static_thresholds(environ) == expected


@pytest.fixture(autouse=True)
def fresh_process_setting():
    """Each test reads the (patched) start-up environment anew."""
    _allocator._static_setting.cache_clear()
    yield
    _allocator._static_setting.cache_clear()


class _FakeLibc:
    def __init__(self, refuse=()):
        self.calls = []
        self.refuse = refuse

    def mallopt(self, parameter, value):
        self.calls.append(("mallopt", parameter, value))
        return int(parameter not in self.refuse)

    def malloc_trim(self, pad):
        self.calls.append(("malloc_trim", pad))
        return 1


@pytest.fixture
def fake_libc(monkeypatch):
    libc = _FakeLibc()
    monkeypatch.setattr(_allocator, "_glibc", lambda: libc)
    return libc


def test_adaptive_thresholds_are_left_alone(fake_libc, monkeypatch):
    """A process started without static thresholds: no mallopt (it would stop the adaptation)."""
    monkeypatch.setattr(_allocator, "_startup_environ", lambda: {"HOME": "/root"})
    with reusing_heap(), reusing_heap():
        pass
    assert fake_libc.calls == []


def test_static_thresholds_are_raised_once_and_restored(fake_libc, monkeypatch):
    monkeypatch.setattr(_allocator, "_startup_environ",
                        lambda: {"MALLOC_TRIM_THRESHOLD_": "65536"})
    with pytest.raises(KeyboardInterrupt):
        with reusing_heap():
            with reusing_heap():  # nested (or concurrent) blocks share the setting
                assert len(fake_libc.calls) == 2
            assert len(fake_libc.calls) == 2
            raise KeyboardInterrupt
    assert fake_libc.calls == [
        ("mallopt", M_MMAP_THRESHOLD, _allocator.BLOCK_MMAP_THRESHOLD),
        ("mallopt", M_TRIM_THRESHOLD, _allocator.BLOCK_TRIM_THRESHOLD),
        ("mallopt", M_MMAP_THRESHOLD, DEFAULT),
        ("mallopt", M_TRIM_THRESHOLD, 65536),
        ("malloc_trim", 0)]
    fake_libc.calls.clear()
    with reusing_heap():
        pass
    assert len(fake_libc.calls) == 5  # a later block raises them again


_COUNT_FAULTS = """
import json, resource
import numpy as np
from hoag_shine._allocator import reusing_heap

def faults():
    a = np.ones(2 ** 17)  # 1 MiB
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(100):
        b = a * 2.0
        del b
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

outside = faults()
with reusing_heap():
    inside = faults()
print(json.dumps([outside, inside, faults()]))
"""


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                    reason="glibc's allocator on Linux")
def test_arrays_reuse_the_heap_in_a_process_started_like_a_dask_worker():
    """Page faults, not time: 100 arrays of 1 MiB each fault in 256 pages unless reused."""
    env = dict(os.environ, MALLOC_TRIM_THRESHOLD_="65536")
    out = subprocess.run([sys.executable, "-c", _COUNT_FAULTS], env=env, check=True,
                         capture_output=True, text=True).stdout
    outside, inside, after = json.loads(out)
    assert outside > 100 * 200 and after > 100 * 200
    assert inside < 100 * 20


def test_a_refused_setting_is_not_restored(fake_libc, monkeypatch):
    """mallopt says 0 for a value it refuses: that threshold was not changed."""
    monkeypatch.setattr(_allocator, "_startup_environ",
                        lambda: {"MALLOC_TRIM_THRESHOLD_": "65536"})
    fake_libc.refuse = (M_MMAP_THRESHOLD,)
    with reusing_heap():
        pass
    assert fake_libc.calls[2:] == [("mallopt", M_TRIM_THRESHOLD, 65536), ("malloc_trim", 0)]


def test_concurrent_blocks_share_one_setting(fake_libc, monkeypatch):
    """Threads of one worker: raised by the first block in, restored by the last one out."""
    monkeypatch.setattr(_allocator, "_startup_environ",
                        lambda: {"MALLOC_TRIM_THRESHOLD_": "65536"})
    inside, leave = threading.Barrier(4), threading.Event()

    def block():
        with reusing_heap():
            inside.wait(timeout=30)
            leave.wait(timeout=30)

    threads = [threading.Thread(target=block) for _ in range(3)]
    for thread in threads:
        thread.start()
    inside.wait(timeout=30)
    assert len(fake_libc.calls) == 2  # raised once, not yet restored
    leave.set()
    for thread in threads:
        thread.join(timeout=30)
    assert len(fake_libc.calls) == 5 and fake_libc.calls[-1] == ("malloc_trim", 0)


_FAULTS_AFTER_A_BLOCK = """
import json, resource
import numpy as np
from hoag_shine._allocator import reusing_heap

def faults():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(100):
        a = np.ones(200 * 1024 // 8)
        del a
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

faults()
before = faults()
with reusing_heap():
    pass
print(json.dumps([before, faults()]))
"""


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                    reason="glibc's allocator on Linux")
def test_thresholds_set_by_tunables_are_left_as_they_were():
    """Two tunables: a block must not leave 200 KiB arrays faulting in afresh."""
    env = dict(os.environ, GLIBC_TUNABLES="glibc.malloc.mmap_threshold=262144:"
                                          "glibc.malloc.trim_threshold=1048576")
    out = subprocess.run([sys.executable, "-c", _FAULTS_AFTER_A_BLOCK], env=env, check=True,
                         capture_output=True, text=True).stdout
    before, after = json.loads(out)
    assert after <= before + 100 * 5  # 100 arrays of 50 pages each, had they been mapped anew
