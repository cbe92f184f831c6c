"""Folder transcription on Ray: the same files, byte for byte, as the local path, the same report
for a bad file, resumable, through the Python API and ``polymodal transcribe --ray``.

One local Ray cluster serves the module (starting one costs seconds); the library's
``scale.connect`` reuses it as it would reuse a notebook's ``ray.init``. The clips are the
three short notes of the folder tests: their windows fall in one 5 s context step, so their
words do not depend on which files share an encoder pass (``speech.distributed``'s parity note)
and any split of them between actors must give the local path's bytes.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from speech_clips import CLIP_TEXTS
from typer.testing import CliRunner

import polymodal
from polymodal import scale
from polymodal.cli import _register, app
from polymodal.errors import BadInputError, DependencyMissingError, ModelUnavailableError
from polymodal.speech import distributed

ray = pytest.importorskip("ray")
_register()

TINY = "whisper-tiny.en"
GiB = 2**30


@pytest.fixture(scope="module")
def ray_cluster():
    ray.init(num_cpus=2, object_store_memory=256 * 2**20, include_dashboard=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def notes(tmp_path_factory, speak_to, bad_files) -> Path:
    """Three spoken notes (one in a sub-folder), a file that is not audio, and a text file."""
    folder = tmp_path_factory.mktemp("ray") / "notes"
    (folder / "older").mkdir(parents=True)
    for i, text in enumerate(CLIP_TEXTS):
        speak_to(text, (folder / "older" if i == 2 else folder) / f"note{i}.wav")
    shutil.copy(bad_files["text"], folder / "broken.wav")
    (folder / "readme.txt").write_text("not media, skipped by the walk")
    return folder


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def _outcomes(report) -> list[tuple]:
    """A report's records without the output folder, which differs between the two runs."""
    return [(f.path, f.status, f.reason, f.language, f.duration) for f in report.files]


@pytest.fixture(scope="module")
def both_runs(ray_cluster, notes, tiny, tmp_path_factory):
    """The folder transcribed locally and on Ray (two actors), with the progress each reported."""
    out = tmp_path_factory.mktemp("outputs")
    local_progress, ray_progress = [], []
    local = polymodal.transcribe_folder(
        notes, out / "local", "all", model=tiny, progress=local_progress.append
    )
    on_ray = polymodal.write_transcripts(
        notes,
        out / "ray",
        formats="all",
        model=polymodal.RayTranscriber(TINY, cpus_per_actor=1),
        progress=ray_progress.append,
    )
    return {
        "local": (local, out / "local", local_progress),
        "ray": (on_ray, out / "ray", ray_progress),
    }


@pytest.mark.slow
def test_ray_writes_the_local_paths_files_byte_for_byte(both_runs):
    (_, local_dir, _), (_, ray_dir, _) = both_runs["local"], both_runs["ray"]
    local, on_ray = _files(local_dir), _files(ray_dir)
    assert len(local) == 3 * 4 and "older/note2.json" in local
    assert on_ray == local
    assert not list(ray_dir.rglob(".*")), "no temporary files left behind"


@pytest.mark.slow
def test_ray_reports_the_bad_file_and_progress_as_the_local_path_does(both_runs):
    (local, _, local_progress), (on_ray, _, ray_progress) = both_runs["local"], both_runs["ray"]
    assert _outcomes(on_ray) == _outcomes(local)
    assert (on_ray.written, on_ray.skipped, on_ray.failed) == (3, 0, 1)
    broken = next(f for f in on_ray.files if f.path.name == "broken.wav")
    assert "not an audio or video file" in broken.reason
    assert ray_progress == local_progress
    assert [(p.stage, p.done, p.total, p.unit) for p in ray_progress][-1] == (
        "transcribe",
        4,
        4,
        "files",
    )


@pytest.mark.slow
def test_a_rerun_on_ray_skips_up_to_date_files_and_redoes_a_changed_one(
    both_runs, notes, tmp_path, monkeypatch
):
    out = tmp_path / "out"
    shutil.copytree(both_runs["ray"][1], out)  # copy2 keeps the outputs' times
    good = [notes / "note0.wav", notes / "note1.wav"]  # named directly: outputs in out/ itself

    def no_cluster(*args, **kwargs):
        raise AssertionError("nothing to transcribe: Ray must not be needed")

    with monkeypatch.context() as patch:
        patch.setattr(distributed, "connect", no_cluster)
        idle = polymodal.transcribe_folder(good, out, "all", model=TINY, ray=True)
    assert (idle.written, idle.skipped, idle.failed) == (0, 2, 0)

    os.utime(notes / "note1.wav")  # the source changed: only it (and the bad file) is redone
    again = polymodal.transcribe_folder(notes, out, "all", model=TINY, ray=True)
    statuses = {f.path.name: f.status for f in again.files}
    assert statuses == {
        "note0.wav": "skipped",
        "note1.wav": "written",
        "note2.wav": "skipped",
        "broken.wav": "failed",
    }
    assert _files(out) == _files(both_runs["local"][1])


@pytest.mark.slow
def test_the_cli_transcribes_a_folder_on_ray(both_runs, notes, tmp_path):
    out = tmp_path / "cli"
    result = _transcribe(notes, "--out", out, "--format", "all", "--model", TINY, "--ray")
    assert result.exit_code == 2, repr(result.exc_info)  # the bad file fails the run, as locally
    assert "3 written, 0 up to date, 1 failed" in result.stdout
    assert _files(out) == _files(both_runs["local"][1])


@pytest.mark.slow
def test_a_model_the_cluster_cannot_load_is_the_local_paths_error(ray_cluster, notes, tmp_path):
    with pytest.raises(ModelUnavailableError, match="Unknown model 'no-such-model'") as caught:
        polymodal.transcribe_folder(notes, tmp_path, model="no-such-model", ray=True)
    assert caught.value.param == "model"
    assert not list(tmp_path.iterdir()), "nothing written"


def test_a_loaded_model_cannot_travel_to_the_actors():
    class Loaded:
        def transcribe_many(self, *args, **kwargs): ...

    with pytest.raises(BadInputError, match="each actor loads the model itself") as caught:
        polymodal.RayTranscriber(Loaded())
    assert caught.value.param == "model"


def test_ray_flags_without_an_output_folder_are_an_error(tmp_path):
    clip = tmp_path / "clip.wav"
    clip.write_bytes(b"never read")
    for flags in (["--ray"], ["--address", "ray://head:10001"]):
        result = _transcribe(clip, *flags)
        assert result.exit_code == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
        assert "writes its transcripts into a folder" in lines[0] and "(--out)" in lines[0]


def test_a_missing_ray_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails as if not installed
    with pytest.raises(DependencyMissingError, match=r"pip install 'polymodal\[ray\]'"):
        scale.connect()


def test_connect_reuses_an_initialised_session(monkeypatch):
    """A test's or a notebook's ``ray.init`` stands: no second init, whatever the address."""

    class Initialised:
        def is_initialized(self):
            return True

        def init(self, *args, **kwargs):
            raise AssertionError("a second ray.init")

    session = Initialised()
    monkeypatch.setattr(scale, "require_ray", lambda: session)
    assert scale.connect("ray://elsewhere:10001") is session


@pytest.mark.parametrize(
    ("resources", "items", "kwargs", "expected"),
    [
        # CPUs only: as many actors as CPUs and memory allow, never more than the items
        ({"CPU": 16.0, "memory": 64 * GiB}, 100, {"cpus": 2, "memory": 2 * GiB}, (8, 0.0, 8)),
        ({"CPU": 16.0, "memory": 6 * GiB}, 100, {"cpus": 2, "memory": 2 * GiB}, (3, 0.0, 8)),
        ({"CPU": 2.0}, 3, {"cpus": 1}, (2, 0.0, 2)),  # few items: spread over both actors
        ({"CPU": 1.0}, 5, {"cpus": 2}, (1, 0.0, 5)),  # a small node still gets one actor
        # GPUs: one actor per GPU, each with one, unless the work is kept on CPUs
        ({"CPU": 32.0, "GPU": 4.0}, 100, {"cpus": 2}, (4, 1.0, 8)),
        ({"CPU": 32.0, "GPU": 4.0}, 100, {"cpus": 2, "gpus": False}, (16, 0.0, 7)),
    ],
)
def test_the_pool_is_sized_from_the_clusters_resources(resources, items, kwargs, expected):
    plan = scale.plan_pool(resources, items, batch_size=8, **kwargs)
    assert (plan.size, plan.num_gpus, plan.batch_size) == expected


def test_a_local_cluster_on_a_small_host_gets_a_small_object_store():
    assert scale.local_object_store_bytes(24 * GiB) == scale.LOCAL_OBJECT_STORE_BYTES
    assert scale.local_object_store_bytes(256 * GiB) is None


def _transcribe(*args):
    return CliRunner().invoke(app, ["transcribe", *map(str, args)])
