"""PET's classifier: a backbone and its masked-LM head scoring each label's word at the cloze's mask."""

import keras
from keras import ops

from kerastune.api import register
from kerastune.models.backbone_task import BackboneTask, freeze_unused_pooler
from kerastune.models.bert_encoder import INPUT_NAMES
from kerastune.models.classifier_defaults import classifier_compile_arguments
from kerastune.training import adamw

NEGATIVE = -1e9  # score of a padded verbaliser slot: exp() of it is 0


@register
class PromptClassifier(BackboneTask):
    """Backbone -> MLM head at the `[MASK]` -> log-probabilities of each label's word(s).

    Pattern-Exploiting Training (Schick & Schuetze, 2021): with `l = log_softmax(MLM logits at the
    mask)` over the vocabulary, the score of label `y` with words `V(y)` is
    `s(y) = log sum_{w in V(y)} exp(l_w)` (one word: `s(y) = l_{v(y)}`). The model returns these
    scores as logits, so `softmax(s)` is PET's distribution over labels and sparse cross-entropy on
    them is PET's loss. The mask position is found in the input (the first `[MASK]` id), so the
    model takes the usual three inputs and exports like any classifier (the cloze is built by
    `kerastune.data.prompt_pattern.PromptTokenizer`).

    Args:
        backbone: a BERT-style backbone (`{"token_ids", "segment_ids", "padding_mask"}` ->
            `{"sequence_output", ...}`) with a `token_embedding` layer.
        masked_lm_head: a layer called `(sequence_output, mask_positions)` -> vocabulary logits
            (batch, masks, vocabulary): kerastune's `TiedMaskedLMHead` or KerasHub's `MaskedLMHead`,
            tied to `backbone.token_embedding`.
        verbalizer_token_ids: list (num_labels) of lists of word-piece ids
            (`kerastune.data.prompt_pattern.verbalizer_token_ids`).
        mask_token_id: int, the tokenizer's `[MASK]` id.

    Call arguments:
        inputs: dict of int32 (batch, seq) `token_ids` (holding one `[MASK]` each), `segment_ids`,
            `padding_mask`.

    Returns:
        label scores, float32 (batch, num_labels): log-probabilities (unnormalised over labels).

    Example:

    >>> import numpy as np
    >>> from kerastune.models import BertEncoder, TiedMaskedLMHead
    >>> encoder = BertEncoder(50, 1, 2, 8, 16, max_sequence_length=16)
    >>> head = TiedMaskedLMHead(encoder.token_embedding)
    >>> model = PromptClassifier(encoder, head, [[7], [8, 9]], mask_token_id=4)
    >>> x = {k: np.ones((2, 5), "int32") for k in ("token_ids", "segment_ids", "padding_mask")}
    >>> x["token_ids"][:, 3] = 4
    >>> model(x).shape
    TensorShape([2, 2])
    """

    def __init__(self, backbone, masked_lm_head, verbalizer_token_ids, mask_token_id, **kwargs):
        ids = [[int(i) for i in ([w] if isinstance(w, int) else w)] for w in verbalizer_token_ids]
        if len(ids) < 2 or not all(ids):
            raise ValueError("verbalizer_token_ids must give at least one word-piece id to each of at least 2 labels. "
                             f"Received: verbalizer_token_ids={verbalizer_token_ids!r}")
        vocabulary = backbone.token_embedding.input_dim
        bad = [i for w in ids for i in w if not 0 <= i < vocabulary]
        if bad:
            raise ValueError(f"verbalizer ids {bad} are outside the vocabulary [0, {vocabulary}). "
                             f"Received: verbalizer_token_ids={verbalizer_token_ids!r}")
        inputs = {name: keras.Input((None,), dtype="int32", name=name) for name in INPUT_NAMES}
        features = backbone(inputs)
        freeze_unused_pooler(backbone)  # the MLM head reads sequence_output only
        is_mask = ops.cast(ops.equal(inputs["token_ids"], int(mask_token_id)), "int32")
        mask_positions = ops.expand_dims(ops.argmax(is_mask, axis=1), -1)  # (batch, 1) the first [MASK]
        logits = masked_lm_head(features["sequence_output"], ops.cast(mask_positions, "int32"))  # (batch, 1, vocab)
        log_probs = ops.log_softmax(ops.cast(logits[:, 0, :], "float32"), axis=-1)  # (batch, vocab)
        width = max(len(w) for w in ids)
        flat = [w[j] if j < len(w) else 0 for w in ids for j in range(width)]
        padded = ops.convert_to_tensor([[0.0 if j < len(w) else NEGATIVE for j in range(width)] for w in ids])
        gathered = ops.take(log_probs, ops.convert_to_tensor(flat, "int32"), axis=1)  # (batch, labels * width)
        gathered = ops.reshape(gathered, (-1, len(ids), width)) + padded  # (batch, labels, width)
        scores = ops.logsumexp(gathered, axis=-1)  # (batch, labels)
        super().__init__(inputs=inputs, outputs=scores, **kwargs)
        self.backbone = backbone
        self.masked_lm_head = masked_lm_head
        self.verbalizer_token_ids = ids
        self.mask_token_id = int(mask_token_id)
        self.num_classes = len(ids)

    def compile(self, optimizer="auto", loss="auto", metrics="auto", **kwargs):
        """Defaults: `adamw(1e-5)`, sparse cross-entropy on the label scores (PET's loss), accuracy."""
        super().compile(**classifier_compile_arguments(optimizer, loss, metrics, lambda: adamw(1e-5)), **kwargs)

    def get_config(self):
        head_config = dict(self.masked_lm_head.get_config())
        head_config.pop("token_embedding", None)  # tied: from_config passes the backbone's again
        return self.task_config(
            masked_lm_head={"class_name": keras.saving.get_registered_name(type(self.masked_lm_head)),
                            "config": head_config},
            verbalizer_token_ids=self.verbalizer_token_ids,
            mask_token_id=self.mask_token_id,
        )

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        backbone = keras.saving.deserialize_keras_object(config.pop("backbone"))
        head = config.pop("masked_lm_head")
        head_cls = keras.saving.get_registered_object(head["class_name"])
        if head_cls is None:
            import keras_hub  # noqa: F401 (registers KerasHub's layers)
            head_cls = keras.saving.get_registered_object(head["class_name"])
        head_config = {k: v for k, v in head["config"].items() if k != "token_embedding"}
        config["masked_lm_head"] = head_cls(token_embedding=backbone.token_embedding, **head_config)
        return cls(backbone=backbone, **config)


def load_masked_lm_backbone(name_or_dir, dropout=None):
    """Returns `(backbone, masked_lm_head, tokenizer)` for a backbone that has a trained MLM head.

    - a kerastune backbone directory saved with its head (`save_backbone_directory(...,
      masked_lm_head=)`, e.g. `MaskedLMRun.save_backbone`, or `benchmarks/few_shot.py
      --build-mlm-head DIR` for all-MiniLM-L6-v2): a `BertEncoder` and its `TiedMaskedLMHead`;
    - a KerasHub masked-LM preset or preset directory (`keras_hub.models.BertMaskedLM`): its
      backbone and `MaskedLMHead`.

    A directory without a head (all-MiniLM-L6-v2 as shipped, a backbone directory saved without
    one) is an error saying how to train one.
    """
    import os

    from kerastune.models.backbone_directory import is_backbone_directory, load_backbone_directory, load_masked_lm_head
    from kerastune.models.bert_pretrainer import TiedMaskedLMHead

    name = str(name_or_dir)
    overrides = {} if dropout is None else {"dropout": dropout}
    how = ("train one over its tied word-piece table on unlabelled text: `benchmarks/few_shot.py --build-mlm-head DIR` "
           "(all-MiniLM-L6-v2) or `kerastune.recipes.masked_lm(backbone=DIR, ...)` then `run.save_backbone(...)`")
    if is_backbone_directory(name):
        encoder, tokenizer = load_backbone_directory(name, **overrides)
        head = TiedMaskedLMHead(encoder.token_embedding, activation=encoder.activation,
                                layer_norm_epsilon=encoder.layer_norm_epsilon, name="masked_lm_head")
        head.build((None, None, encoder.hidden_dim))
        if not load_masked_lm_head(name, head):
            raise ValueError(f"{name} is a backbone directory without a masked-LM head, which PET needs; {how}. "
                             f"Received: backbone={name!r}")
        return encoder, head, tokenizer
    if os.path.isdir(name) and os.path.exists(os.path.join(name, "config.json")) \
            and not os.path.exists(os.path.join(name, "metadata.json")):
        raise ValueError(f"{name} is a Hugging Face directory; PET reads a masked-LM head from a kerastune backbone "
                         f"directory or a KerasHub masked-LM preset. If this model ships without a head, {how}. "
                         f"Received: backbone={name!r}")
    import keras_hub

    try:
        task = keras_hub.models.BertMaskedLM.from_preset(name, preprocessor=None)
        tokenizer = keras_hub.tokenizers.BertTokenizer.from_preset(name)
    except (ValueError, FileNotFoundError, OSError) as error:
        raise ValueError(f"{name}: could not load a KerasHub BertMaskedLM (with its MLM head) from it "
                         f"({type(error).__name__}: {error}); {how}. Received: backbone={name!r}") from None
    return task.backbone, task.masked_lm_head, tokenizer
