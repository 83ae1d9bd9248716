"""Inference records no graph: every way of applying a model (whole, tiled, chopped, self-ensemble, and
super_resolve, which training's evaluation uses) runs it with gradients off, so that no node keeps its
saved activations alive. A dropped no_grad gives the same pixels with 70 % more memory: only a direct look
at the graph notices, which is what this does."""

import numpy as np
import pytest

import minircan
from minircan import nn
from minircan.inference import super_resolve, upscale_image
from minircan.models import RCAN


class Recorder(nn.Module):
    """The tiny RCAN, noting for every call whether gradients were on and whether its output has a node."""

    def __init__(self):
        super().__init__()
        minircan.manual_seed(0)
        self.model = RCAN.from_config("tiny", scale=2)
        self.calls = []

    def forward(self, x):
        y = self.model(x)
        self.calls.append((minircan.is_grad_enabled(), y.grad_fn, y.requires_grad))
        return y


@pytest.mark.parametrize("how", [dict(tile=0), dict(tile=8, overlap=2), dict(tile="chop"),
                                 dict(tile=0, ensemble=True)])
def test_inference_records_no_graph(rng, how):
    model = Recorder()
    assert all(p.requires_grad for p in model.parameters() if p.requires_grad)  # a graph would be recorded
    lr = (rng.random((3, 25, 23)) * 255).astype(np.float32)
    sr = upscale_image(model, lr, 2, **how)
    assert sr.shape == (3, 50, 46) and np.isfinite(sr).all()
    assert model.calls, "the model was never called"
    for enabled, node, requires_grad in model.calls:
        assert not enabled and node is None and not requires_grad, (how, enabled, node)
    assert minircan.is_grad_enabled()  # and the mode is on again afterwards


def test_super_resolve_records_no_graph(rng):
    model = Recorder()
    lr = rng.integers(0, 256, (9, 10, 3), dtype=np.uint8)
    assert super_resolve(model, lr, 2).shape == (18, 20, 3)
    assert model.calls and all(not e and n is None and not r for e, n, r in model.calls), model.calls
    # The same model called with gradients on does record: the check above can see a graph.
    y = model(minircan.tensor(lr.transpose(2, 0, 1)[None].astype(np.float32)))
    assert y.grad_fn is not None and model.calls[-1][0]
