"""A tiny random Stable Diffusion pipeline (and SDXL), built from configs with no hub id.

Small UNet, a VAE with SD's 8x downscale, a 2-layer CLIP text encoder and a byte-level BPE
tokenizer (the vision room's tiny one over these words). Imported by ``conftest.py`` and by other
test folders (the server's images routes) under this module's own name.
"""

from __future__ import annotations

from polymodal.vision.synthetic import tiny_tokenizer

WORDS = ("a", "photo", "of", "the", "cat", "dog", "red", "blue", "house", "lighthouse")


def build_tiny_pipeline(seed: int = 0, in_channels: int = 4):
    """A random-weight StableDiffusionPipeline of tiny widths (no hub id anywhere);
    ``in_channels=9``: an inpainting model (latents + mask + masked image), saved as
    ``StableDiffusionInpaintPipeline`` like the released ones."""
    import torch
    from diffusers import (
        AutoencoderKL,
        PNDMScheduler,
        StableDiffusionInpaintPipeline,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = tiny_tokenizer(WORDS)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16),
        layers_per_block=1,
        sample_size=8,
        in_channels=in_channels,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=16,
        attention_head_dim=2,
        norm_num_groups=4,
    )
    vae = AutoencoderKL(
        block_out_channels=(8, 8, 8, 8),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        norm_num_groups=4,
        layers_per_block=1,
        sample_size=64,
    )
    text = CLIPTextConfig(
        vocab_size=len(tokenizer.get_vocab()),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=77,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    scheduler = PNDMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        skip_prk_steps=True,
        steps_offset=1,
    )
    cls = StableDiffusionInpaintPipeline if in_channels == 9 else StableDiffusionPipeline
    return cls(
        unet=unet.eval(),
        vae=vae.eval(),
        text_encoder=CLIPTextModel(text).eval(),
        tokenizer=tokenizer,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def build_tiny_sdxl(seed: int = 0):
    """A random-weight StableDiffusionXLPipeline: two text encoders, pooled + time embeddings."""
    import torch
    from diffusers import StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    sd = build_tiny_pipeline(seed)
    tokenizer = sd.tokenizer
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16),
        layers_per_block=1,
        sample_size=8,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=2,
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=6 * 8 + 16,  # six size/crop numbers + pooled
        cross_attention_dim=32,  # the two encoders' hidden states side by side
        norm_num_groups=4,
    )
    text = CLIPTextConfig(
        vocab_size=len(tokenizer.get_vocab()),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=77,
        projection_dim=16,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return StableDiffusionXLPipeline(
        unet=unet.eval(),
        vae=sd.vae,
        text_encoder=CLIPTextModel(text).eval(),
        text_encoder_2=CLIPTextModelWithProjection(text).eval(),
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        scheduler=sd.scheduler,
    )
