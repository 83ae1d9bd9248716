"""Models built from ``minircan.nn``: RCAN and its parts."""

from .files import infer_config, load_model, save_model
from .rcan import CONFIGS, RCAB, RCAN, ChannelAttention, MeanShift, ResidualGroup, Upsampler

__all__ = ["CONFIGS", "RCAB", "RCAN", "ChannelAttention", "MeanShift", "ResidualGroup", "Upsampler", "infer_config",
           "load_model", "save_model"]
