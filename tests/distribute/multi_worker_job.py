"""One worker of the two-worker test: `TF_CONFIG=... python -m tests.distribute.multi_worker_job OUT.npz`.

Trains the tiny GPT below under `MultiWorkerMirroredStrategy` with `MultiWorkerTrainer` and saves
its loss curve and final weights. The test imports `tiny_gpt` and `batches` for its one-process reference.
"""

import json
import os
import sys

GLOBAL_BATCH = 8
EPOCHS, STEPS_PER_EPOCH = 3, 2


def batches(seed=0):
    """An endless, seeded stream of (token ids, next token ids) global batches of 8 x 8 tokens."""
    import numpy as np
    import tensorflow as tf

    ids = np.random.default_rng(seed).integers(0, 16, (GLOBAL_BATCH * EPOCHS * STEPS_PER_EPOCH, 9)).astype("int32")
    return tf.data.Dataset.from_tensor_slices((ids[:, :-1], ids[:, 1:])).batch(GLOBAL_BATCH).repeat()


def tiny_gpt(strategy):
    """A 1-layer GPT with learned positions (sparse embedding gradients), AdamW with warmup, cosine decay,
    weight decay and a clip norm small enough to clip every step: built and compiled under `strategy`."""
    import keras

    from kerastune.models import GPT
    from kerastune.training import adamw

    keras.utils.set_random_seed(7)
    with strategy.scope():
        model = GPT(vocabulary_size=16, sequence_length=8, num_layers=1, num_heads=2, hidden_dim=16,
                    position_encoding="learned", tie_embeddings=False)
        schedule = keras.optimizers.schedules.CosineDecay(0.0, 4, warmup_target=1e-2, warmup_steps=2)
        model.compile(adamw(schedule, weight_decay=0.1, global_clipnorm=0.1),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=False)
    return model


def main(out):
    import numpy as np
    import tensorflow as tf

    from kerastune.distribute import MultiWorkerTrainer, is_chief, worker_dir

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    model = tiny_gpt(strategy)
    history = MultiWorkerTrainer(model, strategy).fit(batches(), epochs=EPOCHS, steps_per_epoch=STEPS_PER_EPOCH,
                                                      verbose=0)
    weights = {f"w{i}": w for i, w in enumerate(model.get_weights())}
    np.savez(out, loss=np.array(history.history["loss"]), chief=is_chief(strategy),
             replicas=strategy.num_replicas_in_sync, worker_dir=worker_dir("runs/gpt", strategy), **weights)


if __name__ == "__main__":
    main(sys.argv[1])
    print(json.dumps({"done": sys.argv[1]}), flush=True)
    # Both workers reach this line together (the last step is collective). A plain exit makes the
    # chief's coordination service wait out the other worker's heartbeat timeout (about 30 s).
    os._exit(0)
