"""An export back into a Keras `TextClassifier` (what benchmarks/compress.py distils, prunes and quantizes from)."""

import json

import numpy as np
import pytest

from kerastune.export.text_classifier_export import export_text_classifier
from kerastune.export.classifier_from_export import load_classifier
from kerastune.models.backbones import load_backbone
from kerastune.models.text_classifier import TextClassifier
from tests.tiny_backbone import write_tiny_backbone


def test_the_rebuilt_model_predicts_as_the_exported_one(tmp_path):
    backbone_dir = write_tiny_backbone(tmp_path / "backbone")
    backbone, tokenizer = load_backbone(backbone_dir, dropout=0.0)
    model = TextClassifier(backbone, 3, pooling="mean", dropout=0.0)
    features = {"token_ids": np.array([[2, 12, 13, 3, 0]], "int32"), "segment_ids": np.zeros((1, 5), "int32"),
                "padding_mask": np.array([[1, 1, 1, 1, 0]], "int32")}
    path = export_text_classifier(model, tokenizer, ["a", "b", "c"], export_dir=str(tmp_path / "exports"),
                                  config={"backbone": backbone_dir, "pooling": "mean", "dropout": 0.0})
    rebuilt, _, names, config = load_classifier(path)
    assert names == ["a", "b", "c"] and config["pooling"] == "mean" and rebuilt is not model
    np.testing.assert_allclose(rebuilt(features), model(features), atol=1e-6)
    with open(f"{path}/config.json", "w") as f:  # a config that does not describe the export
        json.dump({"backbone": backbone_dir, "pooling": "mean", "dropout": 0.1}, f)
    with pytest.raises(ValueError, match="the config does not describe this export"):
        load_classifier(path)
