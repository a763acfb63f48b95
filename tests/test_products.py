"""The backward pass's matrix products equal numpy's, for every vector width netspec
generates (4, 8 and 16 floats), with tails of rows, columns and vectors, operands read
transposed through their strides, and row counts known only when the code runs."""
import ctypes

import numpy as np
import pytest
from llvmlite import ir

from netspec.backends.llvm import jit
from netspec.backends.llvm.builder import F32_PTR, I64, Buffer, KernelBuilder
from netspec.backends.llvm.products import Matrix, multiply_add

CALL = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)


def compiled(width, rows, inner, columns, accumulate, transposed_a, rows_at_run_time):
    """product(c, a, b, rows): c (+)= a @ b, with a stored as its transpose if `transposed_a`."""
    module = ir.Module(name="product")
    function = ir.Function(module, ir.FunctionType(ir.VoidType(), [F32_PTR] * 3 + [I64]), "product")
    c, a, b, count = function.args
    k = KernelBuilder(function, "product")
    a_matrix = Matrix(Buffer(a, rows * inner), 1, rows) if transposed_a else Matrix(Buffer(a, rows * inner), inner)
    multiply_add(k, width, Matrix(Buffer(c, rows * columns), columns), a_matrix, Matrix(Buffer(b, inner * columns),
                                                                                          columns),
                 count if rows_at_run_time else rows, inner, columns, accumulate)
    k.b.ret_void()
    key = f"product {width} {rows} {inner} {columns} {accumulate} {transposed_a} {rows_at_run_time}"
    return CALL(jit.compile_object(key, lambda: str(module), "product").address)


@pytest.mark.parametrize("width", [4, 8, 16])
@pytest.mark.parametrize("rows, inner, columns", [(1, 1, 1), (7, 5, 3), (13, 9, 50), (6, 16, 48), (25, 3, 97)])
@pytest.mark.parametrize("accumulate, transposed_a, rows_at_run_time", [
    (True, False, False), (False, True, False), (True, True, True), (False, False, True)])
def test_multiply_add_equals_numpy(width, rows, inner, columns, accumulate, transposed_a, rows_at_run_time):
    rng = np.random.default_rng(rows * inner * columns)
    a = rng.standard_normal((rows, inner)).astype(np.float32)
    b = rng.standard_normal((inner, columns)).astype(np.float32)
    c = rng.standard_normal((rows, columns)).astype(np.float32)
    stored_a = np.ascontiguousarray(a.T) if transposed_a else a
    expected = (c if accumulate else 0) + a.astype(np.float64) @ b.astype(np.float64)
    # A guard band after c: nothing may be written past its last element.
    result = np.concatenate([c.ravel(), np.full(64, 7.0, np.float32)])
    compiled(width, rows, inner, columns, accumulate, transposed_a, rows_at_run_time)(
        result.ctypes.data, stored_a.ctypes.data, b.ctypes.data, rows)
    np.testing.assert_allclose(result[:c.size].reshape(c.shape), expected, rtol=1e-5, atol=1e-5)
    assert (result[c.size:] == 7.0).all()
