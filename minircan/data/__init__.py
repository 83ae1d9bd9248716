"""Images in and out, MATLAB-exact bicubic resizing, the BI / BD degradations, datasets and training patches.

    from minircan.data import read_image, imresize, degrade, div2k_pairs, PatchSampler
    pairs = div2k_pairs("~/data/DIV2K", scale=2)             # [ImagePair(name, hr, lr)], uint8 (H, W, 3)
    sampler = PatchSampler(pairs, scale=2, patch_size=48, batch_size=16, seed=0)
    lr, hr = sampler.next_batch()                             # float32 (16, 3, 48, 48), (16, 3, 96, 96), 0..255

Layers, bottom up: ``images`` (files <-> uint8 arrays) -> ``imresize`` (MATLAB bicubic, modcrop) ->
``degradations`` (HR -> LR) -> ``datasets`` (pairs of images) -> ``patches`` (random training batches).
"""

from .datasets import (
    SAMPLE_TRAIN,
    SAMPLE_VAL,
    ImagePair,
    benchmark_pairs,
    div2k_pairs,
    make_pairs,
    sample_images,
)
from .degradations import DEGRADATIONS, degrade, gaussian_kernel
from .images import IMAGE_EXTENSIONS, list_images, read_image, read_image_with_alpha, write_image
from .imresize import imresize, modcrop
from .patches import PatchSampler

__all__ = [
    "DEGRADATIONS",
    "IMAGE_EXTENSIONS",
    "SAMPLE_TRAIN",
    "SAMPLE_VAL",
    "ImagePair",
    "PatchSampler",
    "benchmark_pairs",
    "degrade",
    "div2k_pairs",
    "gaussian_kernel",
    "imresize",
    "list_images",
    "make_pairs",
    "modcrop",
    "read_image",
    "read_image_with_alpha",
    "sample_images",
    "write_image",
]
