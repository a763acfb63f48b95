"""The on-disk cache of compiled code: reuse, corruption, concurrency; and exp's accuracy."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import netspec
from netspec.backends.llvm import jit

RUN = textwrap.dedent("""
    import sys, numpy as np, netspec
    model = netspec.loads(open(sys.argv[1]).read()).compile()
    print(model.from_cache, float(model(np.ones((1, 2, 6, 6), np.float32)).sum()))
""")


def run_fresh_process(spec, cache):
    env = {**os.environ, "NETSPEC_CACHE_DIR": str(cache)}
    out = subprocess.run([sys.executable, "-c", RUN, str(spec)], env=env, capture_output=True, text=True, check=True)
    from_cache, total = out.stdout.split()
    return from_cache == "True", float(total)


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "net.net"
    path.write_text("network cached\ninput 2x6x6\nconv 3 kernel=3 padding=1\nrelu\nmaxpool kernel=2\n")
    return path


def test_second_process_reuses_the_cache(spec, tmp_path):
    cache = tmp_path / "cache"
    first = run_fresh_process(spec, cache)
    second = run_fresh_process(spec, cache)
    assert (first[0], second[0]) == (False, True)
    assert first[1] == second[1]
    assert len(list(cache.glob("*.o"))) == 1


@pytest.mark.parametrize("damage", ["truncate", "flip", "foreign"])
def test_damaged_cache_entries_are_rebuilt(spec, tmp_path, damage):
    cache = tmp_path / "cache"
    _, expected = run_fresh_process(spec, cache)
    (entry,) = cache.glob("*.o")
    data = entry.read_bytes()
    if damage == "truncate":
        entry.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        entry.write_bytes(data[:-10] + bytes([data[-10] ^ 0xFF]) + data[-9:])
    else:
        entry.write_bytes(b"\x7fELF" + os.urandom(200))
    from_cache, total = run_fresh_process(spec, cache)
    assert not from_cache and total == expected
    assert jit._read_entry(entry) is not None  # rewritten whole


def test_concurrent_compiles_leave_a_valid_entry(spec, tmp_path):
    cache = tmp_path / "cache"
    env = {**os.environ, "NETSPEC_CACHE_DIR": str(cache)}
    processes = [subprocess.Popen([sys.executable, "-c", RUN, str(spec)], env=env, stdout=subprocess.PIPE, text=True)
                 for _ in range(4)]
    totals = {float(p.communicate()[0].split()[1]) for p in processes}
    assert len(totals) == 1
    (entry,) = cache.glob("*.o")
    assert jit._read_entry(entry) is not None
    assert not list(cache.glob(".tmp-*"))


def test_exp_is_within_two_ulp_of_libm():
    model = netspec.loads("network e\ninput 200000\nsigmoid\n").compile()
    x = np.linspace(-87.0, 88.0, 200000).astype(np.float32)
    # sigmoid(x) = 1 / (1 + exp(-x)); compare with float64 math rounded to float32
    got = model(x)[0].astype(np.float64)
    expected = 1.0 / (1.0 + np.exp(-x.astype(np.float64)))
    ulp = np.spacing(expected.astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(got - expected) / ulp) <= 3.0


def test_special_values_propagate():
    model = netspec.loads("network e\ninput 6\ntanh\n").compile()
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30], np.float32)
    got = model(x)[0]
    assert np.isnan(got[0])
    assert got[1:].tolist() == [1.0, -1.0, 0.0, -0.0, np.float32(1e-30)]
    relu = netspec.loads("network r\ninput 3\nrelu\n").compile()(np.array([np.nan, -np.inf, np.inf], np.float32))[0]
    assert np.isnan(relu[0]) and relu[1:].tolist() == [0.0, np.inf]
    x = np.array([-200, 200, -90, 90, -88], np.float32)
    big = netspec.loads("network s\ninput 5\nsigmoid\n").compile()(x)[0]
    # float32 sigmoid as PyTorch computes it: exp(90) overflows, so sigmoid(-90) is 0
    assert big[:4].tolist() == [0.0, 1.0, 0.0, 1.0]
    assert big[4] == pytest.approx(1 / (1 + np.exp(88.0)), rel=1e-6)  # 6.05e-39, a subnormal


@pytest.mark.parametrize("parts", [2, 3])
def test_a_network_compiled_in_parts_matches_the_reference(parts, tmp_path, monkeypatch):
    from reference import run as reference_run
    from specs import random_weights

    from netspec.backends.llvm import runtime

    monkeypatch.setenv("NETSPEC_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(runtime, "parts_to_compile", lambda bounds_check: parts)
    network = netspec.loads("network parted\ninput 2x8x8\nconv 4 kernel=3 padding=1\nrelu\nmaxpool kernel=2\n"
                            "conv 5 kernel=3\nflatten\ndense 6\ntanh\ndense 3\n")
    rng = np.random.default_rng(3)
    weights = random_weights(network.graph, rng)
    x = rng.normal(size=(5, 2, 8, 8)).astype(np.float32)
    model = network.compile(weights=weights)
    assert not model.from_cache
    expected = reference_run(network.graph, weights, x)
    np.testing.assert_allclose(model(x), expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


def test_compiling_forks_beside_the_compile_notice_but_not_beside_other_threads():
    """`netspec run` compiles inside notice_if_slow, whose timer thread only waits: the
    compiler may still fork then; with any other thread running it must not. (In a fresh
    interpreter: a test session has other tests' threads.)"""
    import subprocess
    import sys

    probe = ("import threading\n"
             "from netspec.backends.llvm import jit\n"
             "from netspec.progress import notice_if_slow\n"
             "with notice_if_slow('compiling...', after=60):\n"
             "    print(jit._alone())\n"
             "release = threading.Event()\n"
             "other = threading.Thread(target=release.wait)\n"
             "other.start()\n"
             "print(jit._alone())\n"
             "release.set()\n")
    printed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert printed.split() == ["True", "False"]
