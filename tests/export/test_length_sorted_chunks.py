"""Where a request's chunks are cut: at most `chunk_size` texts, and with a token bound, before it is passed."""

import numpy as np
import tensorflow as tf

from kerastune.export.length_sorted_chunks import chunk_bounds


def test_chunks_stop_at_their_text_count_and_before_their_token_bound():
    lengths = np.array([5, 9, 2, 2, 7, 3, 3, 3, 8, 1])
    starts, stops = (t.numpy() for t in chunk_bounds(tf.constant(lengths), chunk_size=3, chunk_tokens=10))
    assert starts[0] == 0 and stops[-1] == len(lengths) and (starts[1:] == stops[:-1]).all()  # every text once
    for start, stop in zip(starts, stops):
        assert stop - start <= 3 and lengths[start:stop - 1].sum() < 10
    # greedy by the running total: cuts at each multiple of 10 tokens and every 3 texts
    assert starts.tolist() == [0, 2, 3, 5, 6, 7, 9]
    starts, stops = (t.numpy() for t in chunk_bounds(tf.constant(lengths), chunk_size=4))
    assert starts.tolist() == [0, 4, 8] and stops.tolist() == [4, 8, 10]
    starts, stops = chunk_bounds(tf.zeros([0], tf.int32), chunk_size=4, chunk_tokens=10)
    assert starts.shape == (0,) and stops.shape == (0,)
