"""Exports for TF Serving: versioned, atomic, string-in SavedModels."""

from kerastune.export.versioned_directory import atomic_version_directory, next_version
from kerastune.export.export_writer import write_export  # noqa: E402
from kerastune.export.text_classifier_export import export_text_classifier  # noqa: E402
from kerastune.export.token_classifier_export import export_token_classifier  # noqa: E402
from kerastune.export.sentence_encoder_export import export_sentence_encoder  # noqa: E402
from kerastune.export.question_answerer_export import export_question_answerer  # noqa: E402
from kerastune.export.seq2seq_export import export_seq2seq  # noqa: E402
from kerastune.export.preset_causal_lm_export import export_preset_causal_lm  # noqa: E402
from kerastune.export.preset_seq2seq_export import export_preset_seq2seq  # noqa: E402

__all__ = ["atomic_version_directory", "next_version", "write_export", "export_text_classifier",
           "export_token_classifier", "export_sentence_encoder", "export_question_answerer", "export_seq2seq",
           "export_preset_causal_lm", "export_preset_seq2seq"]
