"""TensorFlow's own matrix-multiply speed on this machine, here and now: the denominator of MFU figures and of
what-the-CPU-allows ceilings (benchmarks/shakespeare_char.py, benchmarks/serving.py)."""

import time

import tensorflow as tf


def matmul_gflops(rows, hidden_dim, intermediate_dim, dtype="float32", depth=12, seconds=1.0,
                  jit_compile=(False, True)):
    """TensorFlow's best speed (GFLOP/s) multiplying (rows, hidden) by (hidden, intermediate) and the result by
    (intermediate, hidden), `depth` matmuls in all in one traced call (an encoder's feed-forward matmuls; a
    6-layer encoder has 12), so a call's fixed cost does not count as matmul time. The same two weight
    matrices serve every pair, so they stay in the CPU's caches: a peak, not what a forward pass that
    streams each layer's own weights gets (`encoder_matmul_gflops`).

    Args:
        rows, hidden_dim, intermediate_dim: ints, the shapes (`hidden_dim == intermediate_dim`: square matmuls).
        dtype: str, `"float32"` or `"bfloat16"`.
        depth: even int, matmuls per call.
        seconds: float, how long each kind of kernel is timed.
        jit_compile: tuple of bools, the kernels tried (a traced graph: oneDNN; XLA); the faster counts.
    """
    up = tf.cast(tf.random.normal([hidden_dim, intermediate_dim]) / hidden_dim ** 0.5, dtype)
    down = tf.cast(tf.random.normal([intermediate_dim, hidden_dim]) / intermediate_dim ** 0.5, dtype)

    def feed_forward(x):
        for _ in range(depth // 2):
            x = tf.matmul(tf.matmul(x, up), down)
        return tf.reduce_sum(x)  # one number back

    flop = 2 * rows * hidden_dim * intermediate_dim * (depth // 2) * 2
    return _best_gflops(feed_forward, _inputs(rows, hidden_dim, dtype), flop, seconds, jit_compile)


def encoder_matmul_weights(num_layers, hidden_dim, intermediate_dim, dtype="float32"):
    """Per layer, the kernels of a BERT encoder layer as one forward pass multiplies by them: the query, key and
    value projections side by side (hidden, 3 x hidden), the attention output (hidden, hidden) and the two
    feed-forward matrices. Each layer has its own variables, as a trained encoder does."""
    shapes = [(hidden_dim, 3 * hidden_dim), (hidden_dim, hidden_dim), (hidden_dim, intermediate_dim),
              (intermediate_dim, hidden_dim)]
    return [[tf.Variable(tf.cast(tf.random.normal(s) / s[0] ** 0.5, dtype)) for s in shapes]
            for _ in range(num_layers)]


def encoder_matmul_gflops(rows, num_layers, hidden_dim, intermediate_dim, dtype="float32", seconds=1.0,
                          jit_compile=(False, True)):
    """TensorFlow's best speed (GFLOP/s) at an encoder's own matmuls: `rows` tokens through every layer's
    projections and feed-forward matrices (`encoder_matmul_weights`), layer after layer, in one traced call.

    Unlike `matmul_gflops`, every layer's weights are its own, so a pass reads all of them (a 6-layer,
    384-wide encoder: 42 MB in float32) as a real forward pass does: at one sentence's few rows that
    reading, not the arithmetic, sets the time. Attention scores and everything that is not a matmul are
    left out: no graph of the encoder can answer faster than this speed allows.

    Args:
        rows: int, tokens per pass (one sentence's length, or a batch's tokens).
        num_layers, hidden_dim, intermediate_dim: ints, the encoder's shape.
        dtype, seconds, jit_compile: as `matmul_gflops`.
    """
    layers = encoder_matmul_weights(num_layers, hidden_dim, intermediate_dim, dtype)

    def forward(x):
        for qkv, output, up, down in layers:
            x = tf.matmul(tf.matmul(x, qkv)[:, :hidden_dim], output)  # the query third stands in for the context
            x = tf.matmul(tf.matmul(x, up), down)
        return tf.reduce_sum(tf.cast(x, tf.float32))

    flop = 2 * rows * num_layers * (4 * hidden_dim * hidden_dim + 2 * hidden_dim * intermediate_dim)
    return _best_gflops(forward, _inputs(rows, hidden_dim, dtype), flop, seconds, jit_compile)


def _inputs(rows, hidden_dim, dtype):
    return tf.cast(tf.random.normal([rows, hidden_dim]), dtype)  # the scaled weights keep x's values near 1


def _best_gflops(fn, x, flop, seconds, jit_compile):
    """`flop` over the time of one call of `fn(x)`, the fastest of the kernels in `jit_compile` (calls/s over
    `seconds` each)."""
    best = 0.0
    for compile_with_xla in jit_compile:
        run = tf.function(fn, jit_compile=compile_with_xla)
        for _ in range(3):
            run(x).numpy()
        calls, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            run(x).numpy()
            calls += 1
        best = max(best, flop * calls / (time.perf_counter() - start) / 1e9)
    return best
