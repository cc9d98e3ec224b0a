"""The smaller students a fine-tuned classifier is distilled into.

Two students. `student_from_teacher`: the teacher's own architecture with fewer Transformer
layers, initialised from the teacher's: its embeddings, head and every kept layer's weights are
copied (by default evenly spaced layers ending with the last, as DistilBERT (Sanh et al., 2019,
section 3) keeps one layer in two). `conv_student_from_teacher`: a text classifier over a
`ConvEncoder` (no attention) that starts from the teacher's word-piece table, far cheaper to
serve. `kerastune.training.knowledge_distillation.enable_distillation(student, teacher)` then trains
either student on the teacher's soft targets plus the labels (the recipes' `distill_from=` does the
same for a student they build from a config).
"""

import keras
import numpy as np

TRANSFORMER_LAYER = "transformer_layer_{}"


def _num_layers(backbone):
    count = backbone.get_config().get("num_layers")
    if not isinstance(count, int):
        raise ValueError(f"The teacher's backbone has no num_layers in its config: a BERT-style backbone "
                         f"(KerasHub BertBackbone, kerastune BertEncoder) is expected. Received: "
                         f"backbone={type(backbone).__name__}")
    return count


def kept_layers(teacher_layers, student_layers):
    """The teacher layers a student of `student_layers` starts from: evenly spaced, ending with the last.

    Example:

    >>> kept_layers(6, 2), kept_layers(6, 3), kept_layers(12, 4)
    ([2, 5], [1, 3, 5], [2, 5, 8, 11])
    """
    if not isinstance(student_layers, int) or not 1 <= student_layers <= teacher_layers:
        raise ValueError(f"The student needs between 1 and the teacher's {teacher_layers} layers. "
                         f"Received: num_layers={student_layers!r}")
    return [round((j + 1) * teacher_layers / student_layers) - 1 for j in range(student_layers)]


def student_from_teacher(teacher, num_layers, layers=None):
    """A copy of `teacher` with `num_layers` Transformer layers, each initialised from a teacher layer.

    Args:
        teacher: a kerastune task model with a `.backbone` (`TextClassifier`, `TokenClassifier`).
        num_layers: int, the student's depth.
        layers: list of teacher layer indices to copy (length `num_layers`), or None for
            `kept_layers(teacher depth, num_layers)`.

    Returns:
        The student, a new model of the teacher's class (not compiled).

    Example:

    >>> student = student_from_teacher(teacher, num_layers=2)  # doctest: +SKIP
    """
    backbone = teacher.backbone
    layers = kept_layers(_num_layers(backbone), num_layers) if layers is None else list(layers)
    if len(layers) != num_layers:
        raise ValueError(f"layers names one teacher layer per student layer ({num_layers}). Received: layers={layers}")
    student_backbone = backbone.__class__.from_config({**backbone.get_config(), "num_layers": num_layers})
    config = {**teacher.get_config(), "backbone": keras.saving.serialize_keras_object(student_backbone)}
    student = teacher.__class__.from_config(config)
    for layer in student.backbone.layers:
        source = layer.name
        if layer.name.startswith(TRANSFORMER_LAYER.format("")):
            source = TRANSFORMER_LAYER.format(layers[int(layer.name.rsplit("_", 1)[1])])
        if layer.weights:
            layer.set_weights(backbone.get_layer(source).get_weights())
    for layer in student.layers:  # the task head: pooling, dropout, logits
        if layer.weights and layer is not student.backbone:
            layer.set_weights(teacher.get_layer(layer.name).get_weights())
    return student


def conv_student_from_teacher(teacher, filters=256, kernel_sizes=(3, 5), dropout=0.1, freeze_embeddings=True,
                              table=None, num_layers=1):
    """A `TextClassifier` over a `ConvEncoder` that starts from the teacher's word-piece table (or `table`).

    The student reads the teacher's token ids (the same tokenizer and export), so its soft targets
    come from `enable_distillation(student, teacher)` batch by batch. Its features are max-pooled over time
    (`pooling="pooled"`); the head starts untrained. Tang et al. (2019) distil BERT into a
    BiLSTM of this size class; a convolution is cheaper to serve on a CPU.

    Args:
        teacher: a fine-tuned kerastune `TextClassifier`.
        filters, kernel_sizes, dropout, num_layers: the `ConvEncoder`'s.
        freeze_embeddings: bool, keep the teacher's word-piece table as it is (only the convolutions and
            the head train), so the word pieces the transfer set never shows stay where the ones it
            shows are: distilled from the SST-2 MiniLM classifier (dev 90.48), 87.16 dev frozen vs
            85.89 trained (benchmarks/README.md). False trains the table too.
        table: None for the teacher's input table, or an array (the teacher's vocabulary, any width), e.g.
            `kerastune.compression.contextual_table.contextual_token_table(teacher.backbone, batches)`.

    Returns:
        The student, a new `TextClassifier` (not compiled).

    Example:

    >>> student = conv_student_from_teacher(teacher, filters=256, kernel_sizes=(3, 5))  # doctest: +SKIP
    """
    from kerastune.models.backbones import max_sequence_length
    from kerastune.models.conv_encoder import ConvEncoder
    from kerastune.models.text_classifier import TextClassifier

    if not isinstance(teacher, TextClassifier):
        raise ValueError(f"A convolutional student learns a text classifier's logits. Received: "
                         f"teacher={type(teacher).__name__}")
    embedding = getattr(teacher.backbone, "token_embedding", None)
    if embedding is None:
        raise ValueError(f"The teacher's backbone has no token_embedding to start the student from. "
                         f"Received: backbone={type(teacher.backbone).__name__}")
    vocabulary = int(embedding.embeddings.shape[0])
    table = keras.ops.convert_to_numpy(embedding.embeddings) if table is None else np.asarray(table, "float32")
    if table.ndim != 2 or table.shape[0] != vocabulary:
        raise ValueError(f"table needs one row per word piece of the teacher's vocabulary ({vocabulary}). "
                         f"Received: table of shape {table.shape}")
    encoder = ConvEncoder(table.shape[0], table.shape[1], filters=filters, kernel_sizes=kernel_sizes, dropout=dropout,
                          max_sequence_length=max_sequence_length(teacher.backbone), num_layers=num_layers)
    encoder.token_embedding.set_weights([table])
    if not isinstance(freeze_embeddings, bool):
        raise ValueError(f"freeze_embeddings must be True or False. Received: freeze_embeddings={freeze_embeddings!r}")
    encoder.token_embedding.trainable = not freeze_embeddings
    return TextClassifier(encoder, num_classes=teacher.num_classes, pooling="pooled", dropout=teacher.dropout)
