"""Whether an image size fits in free memory, and the largest that does.

The weights are already resident when this is asked; what grows with the size is the
activations, and their peak is the VAE decode at full resolution (its last blocks hold
several 128-channel fp32 maps of the whole image). Measured on SD's VAE (the same in SD 1.5,
2.1 and SDXL), fp32 on this CPU: the decode's peak RSS grew 313 MB at 256x256 and 616 MB at
384x384, 3.9 KB per added pixel plus ~60 MB. The UNet works on the 8x smaller latent and
peaks lower with PyTorch's memory-efficient attention. With a 512 MB headroom the estimate
errs on the safe side.
"""

from __future__ import annotations

import math

from polymodal.diffusion.options import MIN_SIDE, SIZE_STEP
from polymodal.errors import TooLargeError

#: Peak activation bytes per output pixel, fp32 (the VAE decode, measured: module docstring).
BYTES_PER_PIXEL = 4096
#: Kept free for everything else the process and the machine need.
HEADROOM_MB = 512


def free_memory_mb() -> float:
    """Memory available to this process now (``MemAvailable``), in MB."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    try:
        import psutil

        return psutil.virtual_memory().available / 2**20
    except ImportError:  # pragma: no cover - neither source: do not guess a limit
        return math.inf


def needed_mb(width: int, height: int) -> float:
    """The estimated peak memory of generating one ``width`` x ``height`` image, in MB."""
    return width * height * BYTES_PER_PIXEL / 2**20


def largest_fitting(width: int, height: int, free_mb: float) -> tuple[int, int] | None:
    """The largest size of the same shape (multiples of 8) that fits in ``free_mb``."""
    budget = (free_mb - HEADROOM_MB) * 2**20 / BYTES_PER_PIXEL
    if budget <= 0:
        return None
    scale = math.sqrt(budget / (width * height))
    fit_w = int(width * scale) // SIZE_STEP * SIZE_STEP
    fit_h = int(height * scale) // SIZE_STEP * SIZE_STEP
    if min(fit_w, fit_h) < MIN_SIDE:
        return None
    return fit_w, fit_h


def check_fits(width: int, height: int, free_mb: float | None = None) -> None:
    """Raise one sentence with the largest size that fits when ``width`` x ``height`` does not."""
    free = free_memory_mb() if free_mb is None else free_mb
    if needed_mb(width, height) + HEADROOM_MB <= free:
        return
    fit = largest_fitting(width, height, free)
    advice = (
        f"the largest of that shape that fits is {fit[0]}x{fit[1]}"
        if fit
        else "close other programs or use a smaller size"
    )
    raise TooLargeError(
        f"A {width}x{height} image needs about {needed_mb(width, height):,.0f} MB and "
        f"{free:,.0f} MB are free: {advice}.",
        param="size",
    )
