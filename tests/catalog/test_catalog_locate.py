"""Resolving names to weights: packaged weights resolve offline, everything else fails with a
how-to naming the ``model`` parameter; ``polymodal models list`` shows what is here."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from polymodal import catalog, render
from polymodal.catalog import packaged
from polymodal.catalog.specs import hf_ref
from polymodal.errors import ModelUnavailableError


def test_whisper_base_is_joined_once_with_the_right_size(fresh_home):
    part1, part2 = packaged.whisper_base_parts()
    resolved = catalog.resolve("whisper-base", "whisper")
    model_bin = resolved.path / "model.bin"
    assert resolved.path == fresh_home / "models" / "whisper-base"
    assert model_bin.stat().st_size == part1.stat().st_size + part2.stat().st_size
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        assert (resolved.path / name).is_file()
    with model_bin.open("rb") as joined, part1.open("rb") as first:
        assert joined.read(4096) == first.read(4096)
    first_mtime = model_bin.stat().st_mtime_ns
    catalog.resolve("whisper-base", "whisper")
    assert model_bin.stat().st_mtime_ns == first_mtime, "a complete join must not be redone"
    assert not list(resolved.path.glob(".model.bin.*")), "no temporary file may be left"
    assert oct(model_bin.stat().st_mode & 0o777) == oct(0o644)


def test_a_truncated_join_is_redone(fresh_home):
    resolved = catalog.resolve("whisper-base", "whisper")
    model_bin = resolved.path / "model.bin"
    size = model_bin.stat().st_size
    with model_bin.open("r+b") as handle:
        handle.truncate(size // 2)
    catalog.resolve("whisper-base", "whisper")
    assert model_bin.stat().st_size == size


def test_packaged_models_are_available_offline():
    infos = {info.spec.name: info for info in catalog.list_models()}
    for name in ("whisper-base", "whisper-tiny.en", "resemblyzer"):
        assert infos[name].available, infos[name].note
        assert infos[name].path.exists()
    assert catalog.resolve("whisper-tiny.en", "whisper").path.joinpath("model.bin").is_file()


def test_hub_models_not_in_the_cache_say_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ModelUnavailableError) as error:
        catalog.resolve("whisper-small", "whisper")
    message = str(error.value)
    assert "Systran/faster-whisper-small" in message and "local model directory" in message
    assert error.value.param == "model"


def test_unknown_model_suggests_close_names():
    with pytest.raises(ModelUnavailableError, match="Did you mean whisper-small") as error:
        catalog.resolve("whisper-smal", "whisper")
    assert error.value.param == "model"


def test_unknown_model_sentence_serves_cli_and_python_callers():
    """The sentence must not send a server client to a CLI command alone."""
    with pytest.raises(ModelUnavailableError) as error:
        catalog.resolve("no-such-model", "clip")
    message = str(error.value)
    assert "list_models()" in message and "polymodal models list" in message
    assert "Run 'polymodal" not in message and "--" not in message


def test_model_of_another_family_is_refused():
    with pytest.raises(ModelUnavailableError, match="clip model, not a whisper model") as error:
        catalog.resolve("clip-vit-base-patch32", "whisper")
    assert error.value.param == "model"


def test_a_local_directory_resolves_as_itself(tmp_path):
    resolved = catalog.resolve(tmp_path, "clip")
    assert resolved.path == tmp_path.resolve()
    assert resolved.spec.family == "clip"


def test_a_default_set_to_a_local_directory_resolves_as_that_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("POLYMODAL_CLIP_MODEL", str(tmp_path))
    assert catalog.resolve(None, "clip").path == tmp_path.resolve()


def test_defaults_follow_settings(monkeypatch):
    assert catalog.default_model("whisper") == "whisper-base"
    monkeypatch.setenv("POLYMODAL_WHISPER_MODEL", "whisper-tiny.en")
    assert catalog.default_model("whisper") == "whisper-tiny.en"
    assert catalog.default_model("voice") == "resemblyzer"


def test_a_hugging_face_id_names_its_catalogue_entry():
    assert catalog.get_spec("openai/clip-vit-base-patch32").name == "clip-vit-base-patch32"
    assert catalog.get_spec("facebook/detr-resnet-50").name == "detr-resnet-50"


def test_model_info_round_trips_through_render():
    for info in catalog.list_models():
        assert render.from_data(type(info), json.loads(render.to_json(info))) == info


def test_models_list_cli_json():
    from polymodal.cli import _register, app

    _register()
    result = CliRunner().invoke(app, ["models", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["whisper-base"]["available"] is True
    assert rows["whisper-base"]["size_mb"] > 100
    assert {"family", "source", "memory_mb", "note"} <= set(rows["detr-resnet-50"])


def test_models_list_json_keeps_its_keys_and_values():
    """The JSON rows are what they were before the catalogue became data."""
    from polymodal.cli import _register, app

    _register()
    result = CliRunner().invoke(app, ["models", "list", "--json"])
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert list(rows["detr-resnet-50"]) == [
        "name", "family", "source", "size_mb", "memory_mb", "available", "default", "path", "note",
    ]  # fmt: skip
    tiny = rows["whisper-tiny.en"]
    assert tiny["path"] == str(catalog.resolve("whisper-tiny.en", "whisper").path)
    assert tiny["note"] == "packaged" and tiny["default"] is False and tiny["memory_mb"] == 350
    assert rows["whisper-base"]["default"] is True


def test_models_list_table_marks_defaults():
    from polymodal.cli import _register, app

    _register()
    result = CliRunner().invoke(app, ["models", "list", "--family", "voice"])
    assert result.exit_code == 0, result.output
    assert "resemblyzer *" in result.stdout and "whisper" not in result.stdout


def test_models_list_filters_by_family():
    from polymodal.cli import _register, app

    _register()
    result = CliRunner().invoke(app, ["models", "list", "--family", "nope", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout) == []


def test_detector_default_uses_the_revision_without_timm(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    assert hf_ref("facebook/detr-resnet-50@no_timm") == ("facebook/detr-resnet-50", "no_timm")
    with pytest.raises(ModelUnavailableError, match="--revision no_timm"):
        catalog.resolve("detr-resnet-50", "detector")


def test_a_diffusion_download_fetches_only_what_the_pipeline_reads(tmp_path, monkeypatch):
    """A Stable Diffusion repository also holds 7.7 GB of original checkpoints, fp16 variants and
    the safety checker; a download asks for the diffusers folders' configs and fp32 weights."""
    import fnmatch

    import huggingface_hub

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("POLYMODAL_ALLOW_DOWNLOAD", "1")
    asked: dict = {}

    def fake_download(repo_id, revision=None, local_files_only=False, **patterns):
        if local_files_only:
            raise FileNotFoundError(repo_id)
        asked.update(patterns, repo_id=repo_id)
        (tmp_path / "snapshot").mkdir(exist_ok=True)
        return str(tmp_path / "snapshot")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    catalog.resolve("sd-1.5", "diffusion")
    assert asked["repo_id"] == "stable-diffusion-v1-5/stable-diffusion-v1-5"

    def fetched(name: str) -> bool:
        allowed = any(fnmatch.fnmatch(name, p) for p in asked["allow_patterns"])
        return allowed and not any(fnmatch.fnmatch(name, p) for p in asked["ignore_patterns"])

    wanted = ["model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors"]
    wanted += [
        "text_encoder/model.safetensors",
        "tokenizer/vocab.json",
        "scheduler/scheduler_config.json",
    ]
    unwanted = ["v1-5-pruned.ckpt", "v1-5-pruned-emaonly.safetensors"]
    unwanted += [
        "unet/diffusion_pytorch_model.fp16.safetensors",
        "unet/diffusion_pytorch_model.bin",
    ]
    unwanted += ["safety_checker/model.safetensors"]
    assert all(fetched(n) for n in wanted) and not any(fetched(n) for n in unwanted)
