"""Advisor fixtures: a tiny DETR checkpoint (saved once per session) and controlled outputs."""

from __future__ import annotations

import pytest

# The detect tests build their controlled outputs against these ids.
TINY_LABELS = {0: "N/A", 1: "person", 2: "car", 3: "dog", 4: "cat", 5: "traffic light"}


@pytest.fixture(scope="session")
def tiny_detr_dir(tmp_path_factory):
    """A randomly initialised DetrForObjectDetection with a tiny ResNet, saved like a checkpoint."""
    transformers = pytest.importorskip("transformers")
    backbone = transformers.ResNetConfig(
        embedding_size=8,
        hidden_sizes=[8, 16],
        depths=[1, 1],
        layer_type="basic",
        out_features=["stage2"],
    )
    config = transformers.DetrConfig(
        use_timm_backbone=False,
        backbone_config=backbone,
        use_pretrained_backbone=False,
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_ffn_dim=16,
        decoder_ffn_dim=16,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        num_queries=4,
        id2label=TINY_LABELS,
        label2id={v: k for k, v in TINY_LABELS.items()},
    )
    path = tmp_path_factory.mktemp("tiny-detr")
    transformers.DetrForObjectDetection(config).save_pretrained(path)
    transformers.DetrImageProcessorPil(
        size={"shortest_edge": 32, "longest_edge": 32}
    ).save_pretrained(path)
    return path
