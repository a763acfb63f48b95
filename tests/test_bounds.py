"""Generated code never leaves its buffers: random valid specs run under the
bounds-checked build (every load and store tested against its buffer) and must
count zero violations while matching the reference executor."""
import os

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st
from llvmlite import ir

import netspec
from netspec.backends.llvm import jit
from netspec.backends.llvm.builder import F32_PTR, OUT_OF_BOUNDS, Buffer, KernelBuilder
from reference import run as reference_run
from specs import random_spec, random_weights

# `make fuzz` (NETSPEC_FUZZ=long) runs thousands; CI runs a bounded number.
LONG = os.environ.get("NETSPEC_FUZZ") == "long"


@settings(max_examples=3000 if LONG else 120, deadline=None, suppress_health_check=list(HealthCheck))
@given(spec=random_spec(max_size=14), batch=st.integers(1, 37), seed=st.integers(0, 10**6))
def test_random_specs_stay_in_bounds_and_match_reference(spec, batch, seed):
    network = netspec.loads(spec)
    rng = np.random.default_rng(seed)
    weights = random_weights(network.graph, rng)
    x = rng.normal(size=(batch, *network.input_shape)).astype(np.float32)
    model = network.compile(weights=weights, bounds_check=True, threads=1)
    got = model(x)
    assert model.out_of_bounds_accesses == 0, spec
    expected = reference_run(network.graph, weights, x)
    assert np.isfinite(expected).all()  # a NaN on both sides would compare equal
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(expected).max())))


def test_the_bounds_check_catches_an_access_past_the_end():
    """The checker itself must be able to fail: a load one past a 4-float buffer is counted."""
    module = ir.Module(name="probe")
    function = ir.Function(module, ir.FunctionType(ir.VoidType(), [F32_PTR]), "probe")
    k = KernelBuilder(function, "probe", guarded=True)
    buffer = Buffer(function.args[0], 4)
    k.store(k.load(buffer, 3), buffer, 0)     # inside
    k.store(k.load(buffer, 4), buffer, 0)     # one past the end: load skipped and counted
    k.vstore(k.vload(buffer, 0, 4), buffer, 1)  # a vector reaching past the end: store skipped and counted
    k.b.ret_void()
    compiled = jit.compile_object("bounds-probe", lambda: str(module), "probe")
    import ctypes

    counter = ctypes.c_int64.from_address(compiled.engine.get_global_value_address(OUT_OF_BOUNDS))
    data = np.arange(4, dtype=np.float32)
    ctypes.CFUNCTYPE(None, ctypes.c_void_p)(compiled.address)(data.ctypes.data)
    assert counter.value == 2
    assert data.tolist() == [0.0, 1.0, 2.0, 3.0]  # the first store wrote 3 to [0], then the second wrote 0 (skipped load)
