"""TensorFlow's own matrix-multiply speed on this machine, here and now: the denominator of MFU figures and of
what-the-CPU-allows ceilings (benchmarks/shakespeare_char.py, benchmarks/serving.py)."""

import time

import tensorflow as tf


def matmul_gflops(rows, hidden_dim, intermediate_dim, dtype="float32", depth=12, seconds=1.0,
                  jit_compile=(False, True)):
    """TensorFlow's best speed (GFLOP/s) multiplying (rows, hidden) by (hidden, intermediate) and the result by
    (intermediate, hidden), `depth` matmuls in all in one traced call (an encoder's feed-forward matmuls; a
    6-layer encoder has 12), so a call's fixed cost does not count as matmul time.

    Args:
        rows, hidden_dim, intermediate_dim: ints, the shapes (`hidden_dim == intermediate_dim`: square matmuls).
        dtype: str, `"float32"` or `"bfloat16"`.
        depth: even int, matmuls per call.
        seconds: float, how long each kind of kernel is timed.
        jit_compile: tuple of bools, the kernels tried (a traced graph: oneDNN; XLA); the faster counts.
    """
    up = tf.cast(tf.random.normal([hidden_dim, intermediate_dim]) / hidden_dim ** 0.5, dtype)
    down = tf.cast(tf.random.normal([intermediate_dim, hidden_dim]) / intermediate_dim ** 0.5, dtype)
    x = tf.cast(tf.random.normal([rows, hidden_dim]), dtype)  # the scaled weights keep x's values near 1

    def feed_forward(x):
        for _ in range(depth // 2):
            x = tf.matmul(tf.matmul(x, up), down)
        return tf.reduce_sum(x)  # one number back

    flop = 2 * rows * hidden_dim * intermediate_dim * (depth // 2) * 2
    best = 0.0
    for compile_with_xla in jit_compile:
        run = tf.function(feed_forward, jit_compile=compile_with_xla)
        for _ in range(3):
            run(x).numpy()
        calls, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            run(x).numpy()
            calls += 1
        best = max(best, flop * calls / (time.perf_counter() - start) / 1e9)
    return best
