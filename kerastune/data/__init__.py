"""kerastune.data."""
from kerastune.data.causal_lm_dataset import causal_lm_datasets, split_causal_lm_datasets, split_tokens  # noqa: F401
from kerastune.data.character_tokenizer import CharacterTokenizer  # noqa: F401
from kerastune.data.subword_tokenizer import (  # noqa: F401
    load_subword_tokenizer,
    save_subword_tokenizer,
    train_sentencepiece_tokenizer,
    train_wordpiece_tokenizer,
)
from kerastune.data.text_corpus import default_corpus, read_text_corpus  # noqa: F401
from kerastune.data.text_source import load_text, stream_text  # noqa: F401
from kerastune.data.corpus_tokenizer import build_tokenizer, load_tokenizer, save_tokenizer  # noqa: F401
from kerastune.data.token_directory import TokenDirectory, load_token_directory, prepare_token_directory  # noqa: F401
from kerastune.data.labelled_text import LabelledText, LabelledTextError, read_labelled_text, read_tfds  # noqa: F401
from kerastune.data.bert_inputs import align_words, dense_inputs, pad_id, tokenize_and_pack  # noqa: F401
from kerastune.data.classification_dataset import ClassificationDataset  # noqa: F401
from kerastune.data.conll import ConllError, TaggedSentences, read_conll, read_tfds_conll, tagged_sentences  # noqa: F401
from kerastune.data.token_classification_dataset import TokenClassificationDataset  # noqa: F401
from kerastune.data.masked_lm_dataset import MaskedLMDataset, next_sentence_pairs, split_documents  # noqa: F401
from kerastune.data.prompt_pattern import PromptPattern, PromptTokenizer, verbalizer_token_ids  # noqa: F401
from kerastune.data.text_encoding import encode_texts  # noqa: F401
from kerastune.data.chat_template import ChatTemplate  # noqa: F401
from kerastune.data.instruction_pairs import InstructionPairs, pairs_from_labelled_text, read_instruction_pairs  # noqa: F401
from kerastune.data.instruction_examples import (InstructionBatches, InstructionExamples,  # noqa: F401
                                                 encode_instruction_examples, instruction_dataset)
from kerastune.data.sentence_pairs import SentencePairs, read_sentence_pairs  # noqa: F401
from kerastune.data.contrastive_dataset import ContrastiveDataset  # noqa: F401
from kerastune.data.question_answers import (QuestionAnswers, QuestionAnswersError, read_question_answers,  # noqa: F401
                                             read_tfds_question_answers, write_squad_json)
from kerastune.data.entity_questions import entity_questions  # noqa: F401
from kerastune.data.question_context import best_answers, pack_question_context  # noqa: F401
from kerastune.data.sequence_pairs import pair_token_ids, sequence_pair_dataset  # noqa: F401
from kerastune.data.noisy_pairs import noisy_pairs, read_texts  # noqa: F401
from kerastune.data.question_answering_dataset import QuestionAnsweringDataset  # noqa: F401
from kerastune.data.seq2seq_examples import (Seq2SeqLayout, encode_seq2seq_examples,  # noqa: F401
                                             seq2seq_dataset)
