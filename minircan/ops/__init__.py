"""Differentiable ops: one ``Function`` per op, computing with the kernels of its tensors' device.

arithmetic (+ - * / neg pow sum mean abs reshape), conv (conv2d), activation (ReLU, sigmoid),
pooling (global average pooling), shuffle (pixel shuffle / unshuffle), loss (L1, MSE).
"""
