"""The sparse WaveRNN's per-sample loop, compiled with numba for the CPU: kernel.py's loop (same equations, same
uniforms and draws) with every matrix product over the kept 16×1 blocks only (pruning.py).

A block-sparse matrix W (M, K) is stored by rows of blocks (sparse.py builds it from a weight and its mask):
    starts  (M / 16 + 1,) int64  row block b's blocks are starts[b] : starts[b + 1], a multiple of 4 of them
                                 (padded with zero blocks of column 0)
    columns (blocks,) int32      each block's input k
    values  (blocks, 16) float32 each block's weights W[16·b : 16·b + 16, k]

`block_products` computes out = W x with a row block's 16 sums held in two 8-float vector registers, four blocks at
a time into four pairs of accumulators (a multiply-add's latency is four of its issue slots), written in LLVM IR:
numba's own loops over the same data vectorize along the blocks instead, with a gather per lane, or not at all, at
a quarter to a third of the speed (docs/speed.md).

Shapes as kernel.py's, but R (3H × H, rows half-major), O1 (K × K), O2 (B × K), O3, O4 each a block-sparse matrix
(starts, columns, values) in torch's (out, in) orientation; a matrix that is not pruned has every block.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from engine.models.compiled_ops import add_columns, draw_class, sigmoid, tanh

LANES, UNROLL = 8, 4  # floats per AVX register; blocks per pass of the inner loop


@intrinsic
def block_products(typingctx, x, starts, columns, values, out):
    """out (M,) ← W x for the block-sparse W (starts, columns, values) and x (K,); all C-contiguous float32 but
    starts (int64) and columns (int32)."""
    f32 = types.float32
    expected = (
        types.Array(f32, 1, "C"),
        types.Array(types.int64, 1, "C"),
        types.Array(types.int32, 1, "C"),
        types.Array(f32, 2, "C"),
        types.Array(f32, 1, "C"),
    )
    given = (x, starts, columns, values, out)
    if any(
        not isinstance(arg, types.Array) or (arg.dtype, arg.ndim, arg.layout) != (want.dtype, want.ndim, "C")
        for arg, want in zip(given, expected)
    ):
        return None

    def codegen(context, builder, signature, args):
        arrays = [context.make_array(kind)(context, builder, value) for kind, value in zip(signature.args, args)]
        x_data, starts_data, columns_data, values_data, out_data = (array.data for array in arrays)
        row_blocks = builder.sub(cgutils.unpack_tuple(builder, arrays[1].shape, 1)[0], ir.Constant(cgutils.intp_t, 1))
        vector = ir.VectorType(ir.FloatType(), LANES)
        fma = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(vector, [vector] * 3), f"llvm.fma.v{LANES}f32"
        )
        zero = ir.Constant(vector, None)
        accumulators = [[cgutils.alloca_once(builder, vector) for _ in range(2)] for _ in range(UNROLL)]

        def vector_at(pointer, index):
            return builder.bitcast(builder.gep(pointer, [index]), vector.as_pointer())

        with cgutils.for_range(builder, row_blocks) as row:
            first = builder.load(builder.gep(starts_data, [row.index]))
            last = builder.load(builder.gep(starts_data, [builder.add(row.index, ir.Constant(cgutils.intp_t, 1))]))
            for pair in accumulators:
                for accumulator in pair:
                    builder.store(zero, accumulator)
            passes = builder.udiv(builder.sub(last, first), ir.Constant(cgutils.intp_t, UNROLL))
            with cgutils.for_range(builder, passes) as step:
                base = builder.add(first, builder.mul(step.index, ir.Constant(cgutils.intp_t, UNROLL)))
                for offset, pair in enumerate(accumulators):
                    block = builder.add(base, ir.Constant(cgutils.intp_t, offset))
                    column = builder.sext(builder.load(builder.gep(columns_data, [block])), cgutils.intp_t)
                    x_k = builder.load(builder.gep(x_data, [column]))
                    broadcast = builder.shuffle_vector(
                        builder.insert_element(ir.Constant(vector, ir.Undefined), x_k, ir.Constant(ir.IntType(32), 0)),
                        ir.Constant(vector, ir.Undefined),
                        ir.Constant(ir.VectorType(ir.IntType(32), LANES), None),
                    )
                    start = builder.mul(block, ir.Constant(cgutils.intp_t, 2 * LANES))
                    for half, accumulator in enumerate(pair):
                        where = builder.add(start, ir.Constant(cgutils.intp_t, half * LANES))
                        weights = builder.load(vector_at(values_data, where), align=4)
                        builder.store(builder.call(fma, [broadcast, weights, builder.load(accumulator)]), accumulator)
            out_start = builder.mul(row.index, ir.Constant(cgutils.intp_t, 2 * LANES))
            for half in range(2):
                total = builder.load(accumulators[0][half])
                for pair in accumulators[1:]:
                    total = builder.fadd(total, builder.load(pair[half]))
                where = builder.add(out_start, ir.Constant(cgutils.intp_t, half * LANES))
                builder.store(total, vector_at(out_data, where), align=4)
        return context.get_dummy_value()

    return types.void(*given), codegen


@numba.njit(cache=True, fastmath=True, nogil=True, error_model="numpy")
def _gates(R_h, I_x, h) -> None:
    """h (K,) ← h_t of one half, from R·h_{t−1} and I*·x_t (+ conditioning), each (3K,) as [u | r | e]: kernel.py's
    `_gates` on one contiguous row, which the compiler spreads over the vector lanes (a fifth of the time)."""
    half = h.shape[0]
    for i in range(half):
        u_t = sigmoid(R_h[i] + I_x[i])
        r_t = sigmoid(R_h[half + i] + I_x[half + i])
        e_t = tanh(I_x[2 * half + i] + r_t * R_h[2 * half + i])
        h[i] = e_t + u_t * (h[i] - e_t)  # u_t ∘ h_{t−1} + (1 − u_t) ∘ e_t


@numba.njit(cache=True, fastmath=True, nogil=True, error_model="numpy")
def _affine(x, matrix, bias, out, relu) -> None:
    """out (M,) ← W x + bias for the block-sparse W and x (K,), then max(·, 0) when `relu`."""
    starts, columns, values = matrix
    block_products(x, starts, columns, values, out)
    for m in range(out.shape[0]):
        total = out[m] + bias[m]
        out[m] = max(total, np.float32(0.0)) if relu else total


@numba.njit(cache=True, fastmath=True, nogil=True, error_model="numpy")
def run_block(
    conditioning, uniforms, fed, byte_inputs, R, I_prev, I_c_t, O1, b1, O2, b2, O3, b3, O4, b4, h, x_prev, drawn, logits
) -> None:
    """Run L steps for N rows; the shapes are kernel.py's, the matrices block-sparse (module docstring)."""
    steps, rows, three_h = conditioning.shape
    half = three_h // 6
    n_bytes = byte_inputs.shape[0]
    teach = fed.shape[0] > 0
    keep_logits = logits.shape[0] > 0
    no_bias = np.zeros(three_h, np.float32)
    R_h, I_x = np.empty((rows, three_h), np.float32), np.empty((rows, three_h), np.float32)
    hidden = np.empty((rows, half), np.float32)
    P_c, P_f = np.empty((rows, n_bytes), np.float32), np.empty((rows, n_bytes), np.float32)
    for t in range(steps):
        add_columns(x_prev, I_prev, conditioning[t], I_x)
        for n in range(rows):
            _affine(h[n], R, no_bias, R_h[n], False)
            _gates(R_h[n, : 3 * half], I_x[n, : 3 * half], h[n, :half])
            _affine(h[n, :half], O1, b1, hidden[n], True)
            _affine(hidden[n], O2, b2, P_c[n], False)
            if keep_logits:
                logits[t, n, :n_bytes] = P_c[n]
            drawn[t, n, 0] = draw_class(P_c[n], uniforms[0, t, n], 1.0)
            c_t = byte_inputs[fed[t, n, 0] if teach else drawn[t, n, 0]]
            for j in range(3 * half):
                I_x[n, 3 * half + j] += c_t * I_c_t[j]
            _gates(R_h[n, 3 * half :], I_x[n, 3 * half :], h[n, half:])
            _affine(h[n, half:], O3, b3, hidden[n], True)
            _affine(hidden[n], O4, b4, P_f[n], False)
            if keep_logits:
                logits[t, n, n_bytes:] = P_f[n]
            drawn[t, n, 1] = draw_class(P_f[n], uniforms[1, t, n], 1.0)
            fed_bytes = fed[t, n] if teach else drawn[t, n]
            x_prev[n, 0] = byte_inputs[fed_bytes[0]]
            x_prev[n, 1] = byte_inputs[fed_bytes[1]]
