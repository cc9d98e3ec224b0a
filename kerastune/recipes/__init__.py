"""Recipe functions: data + model + compile under a strategy, returned for the user to fit."""

from kerastune.recipes.causal_lm import CausalLMConfig, CausalLMRun, causal_lm
from kerastune.recipes.text_classifier import TextClassifierConfig, TextClassifierRun, text_classifier  # noqa: E402,F401
from kerastune.recipes.token_classifier import TokenClassifierConfig, TokenClassifierRun, token_classifier  # noqa: E402,F401
from kerastune.recipes.masked_lm import MaskedLMConfig, MaskedLMRun, masked_lm  # noqa: E402,F401
from kerastune.recipes.image_classifier import ImageClassifierConfig, ImageClassifierRun, image_classifier  # noqa: E402,F401
from kerastune.recipes.prompt_classifier import (PromptClassifierConfig, PromptClassifierRun, distill_ensemble,  # noqa: E402,F401
                                                 ensemble_probabilities, prompt_classifier)
from kerastune.recipes.continual import ContinualConfig, ContinualRun, ContinualTask, continual  # noqa: E402,F401
from kerastune.recipes.sentence_encoder import SentenceEncoderConfig, SentenceEncoderRun, sentence_encoder  # noqa: E402,F401
from kerastune.recipes.question_answering import (QuestionAnsweringConfig, QuestionAnsweringRun,  # noqa: E402,F401
                                                  question_answering)
from kerastune.recipes.sequence_to_sequence import (SequenceToSequenceConfig, SequenceToSequenceRun,  # noqa: E402,F401
                                                    sequence_to_sequence)
from kerastune.recipes.preset_causal_lm import (PresetCausalLMConfig, PresetCausalLMRun,  # noqa: E402,F401
                                                preset_causal_lm)
from kerastune.recipes.preset_seq2seq import PresetSeq2SeqConfig, PresetSeq2SeqRun, preset_seq2seq  # noqa: E402,F401
