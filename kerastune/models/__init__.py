"""kerastune.models."""

from kerastune.models.gpt import GPT
from kerastune.models.bert_encoder import BertEncoder  # noqa: E402,F401
from kerastune.models.conv_encoder import ConvEncoder  # noqa: E402,F401
from kerastune.models.sentence_pooling import MaskedMeanPooling  # noqa: E402,F401
from kerastune.models.text_classifier import TextClassifier  # noqa: E402,F401
from kerastune.models.backbones import load_backbone  # noqa: E402,F401
from kerastune.models.token_classifier import TokenClassifier  # noqa: E402,F401
from kerastune.models.bert_pretrainer import BertPretrainer, TiedMaskedLMHead  # noqa: E402,F401
from kerastune.models.backbone_directory import load_backbone_directory, save_backbone_directory  # noqa: E402,F401
from kerastune.models.mlp_classifier import MLPClassifier  # noqa: E402,F401
from kerastune.models.prompt_classifier import PromptClassifier, load_masked_lm_backbone  # noqa: E402,F401
from kerastune.models.multi_task_classifier import MultiTaskClassifier  # noqa: E402,F401
from kerastune.models.text_generation import generate_responses  # noqa: E402,F401
from kerastune.models.sentence_encoder import SentenceEncoder  # noqa: E402,F401
from kerastune.models.in_batch_contrastive import InBatchContrastive  # noqa: E402,F401
from kerastune.models.span_extractor import SpanExtractor  # noqa: E402,F401
from kerastune.models.vision_transformer import VisionTransformer  # noqa: E402,F401
from kerastune.models.image_classifier import ImageClassifier  # noqa: E402,F401
from kerastune.models.seq2seq_transformer import Seq2SeqTransformer  # noqa: E402,F401
from kerastune.models.preset_causal_lm import load_causal_lm  # noqa: E402,F401
from kerastune.models.preset_responses import preset_responses  # noqa: E402,F401
from kerastune.models.preset_seq2seq_lm import load_seq2seq_lm  # noqa: E402,F401
