"""Sampler names as A1111 and ComfyUI write them, mapped to diffusers classes and flags."""

from __future__ import annotations

import pytest

from polymodal.diffusion.prompts import to_compel
from polymodal.diffusion.schedulers import make_scheduler, scheduler_spec
from polymodal.errors import BadInputError

SD21_CONFIG = {  # Stable Diffusion 2.1's scheduler_config.json, as far as schedulers read it
    "_class_name": "DDIMScheduler",
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "prediction_type": "v_prediction",
    "steps_offset": 1,
}


@pytest.mark.parametrize(
    ("name", "cls", "flags"),
    [
        ("DPM++ 2M Karras", "DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
        ("DPM++ 2M", "DPMSolverMultistepScheduler", {"use_karras_sigmas": False}),
        ("DPM++ 2M SDE Karras", "DPMSolverMultistepScheduler",
         {"algorithm_type": "sde-dpmsolver++", "use_karras_sigmas": True}),
        ("Euler a", "EulerAncestralDiscreteScheduler", {}),
        ("Euler", "EulerDiscreteScheduler", {}),
        ("DDIM", "DDIMScheduler", {"clip_sample": False}),
        ("UniPC", "UniPCMultistepScheduler", {}),
        ("LCM", "LCMScheduler", {}),
        ("PNDM", "PNDMScheduler", {}),
    ],
)  # fmt: skip
def test_each_name_builds_its_class_keeping_the_models_training_settings(name, cls, flags):
    scheduler = make_scheduler(scheduler_spec(name), SD21_CONFIG)
    assert type(scheduler).__name__ == cls
    assert scheduler.config.prediction_type == "v_prediction"  # SD 2.1 must stay v-prediction
    assert scheduler.config.beta_schedule == "scaled_linear"
    for key, value in flags.items():
        assert scheduler.config[key] == value


def test_other_spellings_and_a_separate_schedule_type():
    assert scheduler_spec("dpm++ 2m karras").name == "DPM++ 2M Karras"
    assert scheduler_spec("dpmpp_2m", "karras").name == "DPM++ 2M Karras"  # ComfyUI
    assert scheduler_spec("DPM++ 2M", "Karras").name == "DPM++ 2M Karras"  # A1111 1.9+
    assert scheduler_spec("euler_ancestral").name == "Euler a"
    assert scheduler_spec("PLMS").name == "PNDM"
    spec = scheduler_spec("DPM++ 2M Karras")
    assert (spec.sampler, spec.schedule) == ("DPM++ 2M", "Karras")


def test_unknown_names_list_the_known_ones():
    with pytest.raises(BadInputError) as caught:
        scheduler_spec("Eular a")
    message = str(caught.value)
    assert message.startswith("Unknown scheduler 'Eular a'. Did you mean 'Euler a'?")
    assert "DPM++ 2M Karras" in message and "UniPC" in message and "LCM" in message


def test_a1111_weights_become_compels():
    assert to_compel("a (red house:1.2), (dog: 0.8) and (plain)") == (
        "a (red house)1.2, (dog)0.8 and (plain)"
    )
