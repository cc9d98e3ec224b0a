import keras
import numpy as np
import pytest

from kerastune.peft.projections import low_rank_equations, project


@pytest.mark.parametrize(
    "equation, x_shape, kernel_shape",
    [
        ("...a,ab->...b", (2, 3, 4), (4, 5)),  # a Dense layer's, as a matmul
        ("...a,ab->...b", (6, 4), (4, 5)),
        ("abc,cde->abde", (2, 3, 4), (4, 2, 3)),  # multi-head query/key/value, as an einsum
        ("abcd,cde->abe", (2, 3, 2, 4), (2, 4, 5)),  # attention output
        ("...ab,bc->...ac", (2, 3, 4), (4, 5)),  # not `...x,xy->...y`: an einsum
    ],
)
def test_project_equals_numpy_einsum(equation, x_shape, kernel_shape):
    rng = np.random.default_rng(0)
    x = rng.normal(size=x_shape).astype("float32")
    kernel = rng.normal(size=kernel_shape).astype("float32")
    got = keras.ops.convert_to_numpy(project(equation, x, kernel))
    np.testing.assert_allclose(got, np.einsum(equation, x, kernel), rtol=1e-5, atol=1e-5)


def test_low_rank_equations_of_dense_run_as_matmuls_and_match_numpy():
    layer = keras.layers.Dense(6)
    layer.build((None, 4))
    down, up, merge = low_rank_equations(layer)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 3, 4)).astype("float32")
    a, b = rng.normal(size=(4, 2)).astype("float32"), rng.normal(size=(2, 6)).astype("float32")
    through_rank = keras.ops.convert_to_numpy(project(up, project(down, x, a), b))
    np.testing.assert_allclose(through_rank, x @ (a @ b), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(keras.ops.einsum(merge, a, b)), a @ b, rtol=1e-5)
