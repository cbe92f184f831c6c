"""What runs the UNet's forward pass, below :mod:`polymodal.diffusion.speed`.

* :mod:`~polymodal.diffusion.backends.deepcache` - DeepCache: the UNet's deep features reused
  across steps (the ``fast`` preset);
* :mod:`~polymodal.diffusion.backends.int8` - the UNet's Linear layers in int8, checked
  against fp32 once per model and shape (the ``fast`` preset, on the CPU);
* :mod:`~polymodal.diffusion.backends.onnx` - the UNet exported once per model and shape,
  checked for parity against PyTorch, and run by OpenVINO (or ONNX Runtime without it).

All attach to the model's own ``UNet2DConditionModel`` as diffusers hooks (``HookRegistry``)
and detach after the request, so the UNet stays the swappable diffusers component it was:
LoRA loading, ``save_pretrained`` and every other caller see the plain module.
"""
