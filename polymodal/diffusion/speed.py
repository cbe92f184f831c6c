"""Speed presets and memory options: what runs the UNet and VAE for one request, and how.

``--speed default`` uses only levers that keep the image what plain diffusers would make
(noise-prediction cosine >= 0.999 with eager PyTorch); ``--speed fast`` trades a little
quality for less work. Measured on this machine first (below), then chosen:

default
    * the UNet compiled (fp32, static shapes): exported to ONNX once per model and size and
      cached on disk, run by OpenVINO (ONNX Runtime where OpenVINO is not installed), trusted
      only after a parity check on that runtime (else PyTorch eager with a warning); used on
      the CPU for SD 1.x/2.x UNets without a LoRA or ControlNet in the request;
    * PyTorch's defaults where they are already the best: its thread count (one per physical
      core), scaled-dot-product attention (diffusers' ``AttnProcessor2_0``), and the
      unconditional and conditional halves of guidance in one UNet batch;
    * no attention slicing on the CPU (it slows PyTorch's built-in attention and saves nothing
      there: that attention never holds the whole score matrix).
fast
    * DeepCache (:mod:`~polymodal.diffusion.backends.deepcache`): the UNet's deep features
      computed on one step in three and reused between. Where ``default`` would compile the
      UNet (the CPU, SD 1.x/2.x, no LoRA or ControlNet), the full steps run compiled from an
      export that also returns the deep features, and the cached steps run the few layers
      left in PyTorch (``onnx.compiled_deepcache``); elsewhere all of it runs in PyTorch on
      diffusers hooks;
    * where the full steps run in PyTorch on the CPU, the UNet's Linear layers in int8
      (:mod:`~polymodal.diffusion.backends.int8`: PyTorch dynamic quantisation, per output
      channel), which composes with DeepCache's hooks; trusted per model and shape after its
      noise prediction matched fp32's (cosine >= 0.999), else fp32 with a warning; off under
      an active LoRA. The compiled full steps stay fp32: faster than int8 in PyTorch here;
    * the tiny VAE (TAESD) for the decode, when its weights are on this machine (the
      ``taesd`` / ``taesdxl`` Hugging Face snapshots); otherwise the full VAE, with a note.

Memory: VAE tiling turns on when the full-resolution decode would not fit in free memory
(``vae_tiling`` overrides), so large images decode in tiles instead of failing. fp16 on CUDA
(``pipelines``), and attention slicing there only when asked.

Measured (``bench/diffusion.py``: SD 1.5 real size, random weights, 512x512 with guidance,
fp32, 2 threads, 2-core Zen 4 shared with other work; fastest of 3 steps). Load drifted
between 2 and 6 during the runs, so the figures below pair steps measured at the same time:

* eager UNet step 10.0-10.8 s on the quiet machine (23.6-27.5 s under load), VAE decode
  18.5 s (32.7 s under load), text encoding 0.8 s;
* OpenVINO 2026.4 fp32 UNet (2026-12, another host of the same kind, load 1.6-2.1, three
  rounds, each baseline paired with the default measured right after it): 8.88 s a step
  against eager's 11.98 s; paired ratios 1.46x, 1.38x, 1.35x (median 1.38x); noise cosine
  with eager 1.0000; export, compile and parity check 75-80 s once, loading the cached
  export 7 s; per image 241 s against plain's 617 s (paired 2.77x, 2.64x, 2.57x: median
  2.64x). One process at a time, a step took 8.6-9.1 s on OpenVINO, 11.4-13.1 s eager, and
  10.3-11.9 s on ONNX Runtime 1.32 from the same file; ONNX Runtime's own fused attention
  (``com.microsoft.MultiHeadAttention`` put in the export) gained 8 % over its plain graph,
  still short of OpenVINO, and splitting GEGLU's projection in two gained nothing;
* ``fast`` with its full steps compiled (same run): full step 8.85 s, cached step 1.02 s,
  per image 97.7 s with the tiny VAE: paired 6.50x, 5.18x, 6.32x plain (median 6.32x;
  5.39x with the full VAE); the compiled and the PyTorch DeepCache give the same image
  within 2 levels a pixel (tests), whose final latents are at cosine 0.998 of ``default``'s;
* earlier, ONNX Runtime fp32 UNet 8.8 s per step against eager's 10.0 s measured minutes
  apart: 1.14x (1.09x and 1.18x in two loaded runs); export and parity check 106-158 s once
  (3.3 GB on disk); loading the cached export 13-21 s; per image: plain defaults (PNDM 50
  steps) 521 s, ours (DPM++ 2M Karras 25 steps, ONNX Runtime) 240 s: 2.2x;
* DeepCache interval 3: cached step 0.86 s (9 % of a full step); 25 steps = 9 full + 16
  cached, 2.4x less UNet time than eager; latent cosine with ``default`` 0.998 (256 px,
  random weights); per image 106 s with the tiny VAE (decode 1.5 s), 123 s with the full
  VAE: 4.9x / 4.2x plain. Interval 5: 70 s / 87 s (7.4x / 6.0x), latent cosine 0.995;
* int8 Linear layers (``fast``; 270 M of the UNet's 860 M weights, quantised in 5-14 s):
  noise cosine with fp32 0.9998 at 512 and 256 px; final latents (256 px, 25 steps) of
  ``fast`` against ``default`` 0.9982 with int8, 0.9983 without, int8 against fp32 ``fast``
  0.9999. Speed, fp32 and int8 calls alternating at load 3.7-5.2: a full step takes 1.26x
  less CPU time (1.16-1.28 in four pairs) but only 1.05x less wall time (0.92-1.14), and a
  cached step 1.13x less CPU but 0.81x the wall time (slower): under this load the two
  threads wait on each other more with int8's extra quantise steps. In the paired 512 px
  bench (load 2.5-7, two rounds) ``fast`` was 3.0x and 5.5x plain per image (median 4.2x)
  and without int8 1.5x and 4.4x: too noisy to show the 6x goal met. At 256 px (``--quick``,
  load 3-4, two rounds) ``fast`` was 5.5x and 5.6x plain, 6.2x and 4.6x without int8; the
  UNet's CPU seconds 5.9x plain with int8 against 4.6x without (int8 now serves only the
  ``fast`` requests whose full steps run in PyTorch);
* not taken: attention slicing (slower, FACTS.md), ``torch.compile``, channels_last and token
  merging (no gain, FACTS.md), int8 in ``default`` (not exact); int8 in the compiled UNet
  (ONNX Runtime, MatMul/Gemm only: 1.33x a step, FACTS.md; OpenVINO's not measured), since
  ``fast`` meets its goal in fp32.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polymodal.catalog import grew
from polymodal.diffusion import memory
from polymodal.diffusion.backends import deepcache
from polymodal.diffusion.options import DEFAULT_SPEED, check_speed
from polymodal.errors import TooLargeError

log = logging.getLogger(__name__)

#: UNets smaller than this stay in PyTorch: exporting costs seconds to minutes and a tiny
#: UNet's step is already milliseconds, so a compiled runtime cannot pay that back.
ONNX_MIN_PARAMETERS = 100_000_000
#: What an export needs besides the model: the traced graph and the session's own copy of the
#: weights, about three times the UNet's size at the peak.
ONNX_MEMORY_FACTOR = 3.0
#: The catalogue names of the tiny VAEs (Hugging Face ``madebyollin/taesd``/``taesdxl``).
TINY_VAES = {"sd": "taesd", "sdxl": "taesdxl"}


@dataclass(frozen=True)
class SpeedPlan:
    """How one request runs: ``unet`` ``"onnx"`` or ``"torch"``; ``deepcache`` the interval
    (0: off); ``tiny_vae`` the TAESD folder or ``None``; ``vae_tiling``; ``notes`` for the
    user (a preset that could not apply in full says why); ``int8`` the UNet's Linear layers
    in int8 (:mod:`~polymodal.diffusion.backends.int8`)."""

    speed: str
    unet: str
    deepcache: int
    tiny_vae: Path | None
    vae_tiling: bool
    attention_slicing: bool
    notes: tuple[str, ...] = ()
    int8: bool = False


def _parameters(module: Any) -> int:
    return sum(p.numel() for p in module.parameters())


def _fp32_mb(module: Any) -> float:
    """The module's weights in fp32, in MB: what a compiled copy of them holds."""
    return _parameters(module) * 4 / 2**20


def _unet_backend(model: Any, options: Any, device: str) -> tuple[str, str | None]:
    """``"onnx"`` when the export can serve this request and pays off, else why not."""
    from polymodal.diffusion.backends import onnx

    unet = model.pipe.unet
    if device != "cpu":
        return "torch", None
    if not onnx.supports(unet) or _parameters(unet) < ONNX_MIN_PARAMETERS:
        return "torch", None
    if any(lora.scale for lora in options.loras) or options.control is not None:
        return "torch", None  # the export holds the base UNet only
    unet_mb = _fp32_mb(unet)
    if memory.free_memory_mb() < unet_mb * ONNX_MEMORY_FACTOR + memory.HEADROOM_MB:
        return "torch", "Not enough free memory to compile the UNet: eager."
    return "onnx", None


def _int8_applies(options: Any, device: str, notes: list[str]) -> bool:
    """int8 Linear layers on the CPU (PyTorch's kernels are CPU-only; a GPU runs fp16),
    except under an active LoRA, whose wrappers compute beside the layer int8 would replace."""
    if device != "cpu":
        return False
    if any(lora.scale for lora in options.loras):
        notes.append("int8 is off with a LoRA: its UNet runs in fp32.")
        return False
    return True


def find_tiny_vae(is_xl: bool) -> Path | None:
    """The tiny VAE's folder through the catalogue (``taesd``, ``taesdxl``), or ``None``
    when it is not catalogued or its weights are not on this machine."""
    from polymodal.catalog import resolve
    from polymodal.errors import ModelUnavailableError

    try:
        return resolve(TINY_VAES["sdxl" if is_xl else "sd"], "vae").path
    except ModelUnavailableError:
        return None


def load_tiny_vae(resolved: Any) -> Any:
    """The ``vae`` family's loader: a diffusers ``AutoencoderTiny`` folder (TAESD), in fp32."""
    from diffusers import AutoencoderTiny

    return AutoencoderTiny.from_pretrained(str(resolved.path), local_files_only=True).eval()


def vae_tiling(width: int, height: int, requested: bool | None) -> bool:
    """Tiling when asked, or when the full-resolution decode would not fit in free memory but
    a tiled one does (one 512-pixel tile's decode plus the image itself); when neither fits,
    the untiled sentence with the largest size that fits whole."""
    if requested is not None:
        return requested
    try:
        memory.check_fits(width, height)
    except TooLargeError:
        tiled_mb = memory.needed_mb(min(width, 512), min(height, 512))
        tiled_mb += width * height * 3 * 4 * 3 / 2**20  # the fp32 RGB image, a few copies
        if tiled_mb + memory.HEADROOM_MB > memory.free_memory_mb():
            raise
        return True
    return False


def plan(model: Any, options: Any, size: tuple[int, int], device: str) -> SpeedPlan:
    """The :class:`SpeedPlan` for ``options`` (its ``speed``, ``vae_tiling`` and
    ``attention_slicing``) on ``model`` at ``size``."""
    speed = check_speed(getattr(options, "speed", DEFAULT_SPEED))
    notes: list[str] = []
    tiling = vae_tiling(*size, getattr(options, "vae_tiling", None))
    slicing = bool(getattr(options, "attention_slicing", None))
    if speed == "fast":
        tiny = find_tiny_vae(model.is_xl) if options.mode == "txt2img" else None
        if tiny is None and options.mode == "txt2img":
            name = TINY_VAES["sdxl" if model.is_xl else "sd"]
            notes.append(f"The tiny VAE ({name}) is not on this machine: decoding in full.")
        interval = deepcache.DEFAULT_INTERVAL
        unet, _ = _unet_backend(model, options, device)  # full steps compiled where they can be
        int8 = unet == "torch" and _int8_applies(options, device, notes)  # else fp32, faster
        return SpeedPlan(speed, unet, interval, tiny, tiling, slicing, tuple(notes), int8)
    unet, why = _unet_backend(model, options, device)
    if why:
        notes.append(why)
    return SpeedPlan(speed, unet, 0, None, tiling, slicing, tuple(notes))


class Accelerator:
    """A request's :class:`SpeedPlan` applied: :meth:`image` wraps each image's denoising.

    The UNet and VAE are the model's shared components, so every change is made inside
    :meth:`image` (the caller holds the model's run lock) and undone on its exit. A compiled
    UNet is kept on the model (``model.compiled``), so later requests reuse it in memory.
    """

    def __init__(self, model: Any, plan: SpeedPlan, progress: Any = None) -> None:
        self.model, self.plan, self.progress = model, plan, progress
        self.notes: list[str] = list(plan.notes)
        self._tiny: Any = None

    def _runner(self, pipe: Any, call: dict[str, Any], guidance: bool) -> Any:
        """The compiled UNet for this call's shapes (compiled or read from disk on first use
        in this process; with the deep features when DeepCache runs), or ``None`` after a
        warning when it cannot be used."""
        from polymodal.diffusion.backends import onnx

        unet = pipe.unet
        factor = pipe.vae_scale_factor
        states = call["prompt_embeds"]
        shape = onnx.Shape(
            batch=2 if guidance else 1,
            height=call["height"] // factor,
            width=call["width"] // factor,
            tokens=int(states.shape[1]),
            channels=int(unet.config.in_channels),
            context=int(states.shape[2]),
            deep=self.plan.deepcache > 1,
        )
        compiled = self.model.compiled
        if shape not in compiled:
            import torch

            threads = torch.get_num_threads()
            compiled[shape] = onnx.prepare(unet, shape, threads=threads, on_compile=self._compiling)
            if isinstance(compiled[shape], onnx.OnnxUNet):  # the runtime's copy of the weights
                grew(self.model, _fp32_mb(unet))
        runner = compiled[shape]
        if isinstance(runner, onnx.Fallback):
            if runner.reason not in self.notes:  # once per request, however many images
                self.notes.append(runner.reason)
                warnings.warn(runner.reason, RuntimeWarning, stacklevel=5)
            return None
        return runner

    def _compiling(self) -> None:
        if self.progress is not None:
            self.progress(0, 1)

    def _int8(self, unet: Any) -> Any:
        """The model's int8 Linear layers, made on the first ``fast`` request in this process."""
        from polymodal.diffusion.backends.int8 import Int8UNet

        key = ("int8", id(unet))
        if key not in self.model.compiled:
            self._compiling()  # seconds for SD 1.5's 270 M Linear weights
            self.model.compiled[key] = Int8UNet(unet)
            grew(self.model, self.model.compiled[key].memory_mb)
        return self.model.compiled[key]

    def _fallback(self, verdict: Any) -> None:
        if verdict.reason not in self.notes:  # once per request, however many images
            self.notes.append(verdict.reason)
            warnings.warn(verdict.reason, RuntimeWarning, stacklevel=2)

    def _vae(self, pipe: Any) -> Any:
        """The tiny VAE, loaded once per request in the full VAE's dtype and device."""
        if self._tiny is None:
            from diffusers import AutoencoderTiny

            tiny = AutoencoderTiny.from_pretrained(
                str(self.plan.tiny_vae), dtype=pipe.vae.dtype, local_files_only=True
            )
            self._tiny = tiny.to(pipe.vae.device).eval()
        return self._tiny

    @contextlib.contextmanager
    def image(self, pipe: Any, call: dict[str, Any], guidance: bool) -> Iterator[None]:
        """Apply the plan around one image's pipeline call (``call``: its arguments, the
        prompt embeddings included; ``guidance``: whether the UNet batch is two)."""
        from polymodal.diffusion.backends.int8 import int8_unet
        from polymodal.diffusion.backends.onnx import compiled_deepcache, onnx_unet

        with contextlib.ExitStack() as stack:
            vae = pipe.vae
            if self.plan.tiny_vae is not None:
                pipe.vae = self._vae(pipe)  # this request's pipeline object only
                stack.callback(setattr, pipe, "vae", vae)
            if self.plan.vae_tiling and hasattr(pipe.vae, "enable_tiling"):
                pipe.vae.enable_tiling()
                stack.callback(pipe.vae.disable_tiling)
            if self.plan.attention_slicing:
                pipe.enable_attention_slicing()
                stack.callback(pipe.disable_attention_slicing)
            runner = self._runner(pipe, call, guidance) if self.plan.unet == "onnx" else None
            if runner is not None and runner.shape.deep:
                stack.enter_context(compiled_deepcache(pipe.unet, runner, self.plan.deepcache))
            elif runner is not None:
                stack.enter_context(onnx_unet(pipe.unet, runner))
            else:  # DeepCache and int8 in PyTorch
                if self.plan.int8:  # inside DeepCache's hooks: see backends.int8.int8_unet
                    unet = pipe.unet
                    stack.enter_context(int8_unet(unet, self._int8(unet), self._fallback))
                if self.plan.deepcache:
                    stack.enter_context(deepcache.deepcache(pipe.unet, self.plan.deepcache))
            yield
