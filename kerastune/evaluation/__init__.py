"""kerastune.evaluation."""
from kerastune.evaluation.classification_report import classification_report, save_report  # noqa: F401
from kerastune.evaluation.sequence_labelling_report import sequence_labelling_report  # noqa: F401
from kerastune.evaluation.retrieval_report import retrieval_report  # noqa: F401
from kerastune.evaluation.squad_metrics import squad_report  # noqa: F401
from kerastune.evaluation.text_to_text_report import text_to_text_report  # noqa: F401
