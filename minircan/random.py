"""The one random number generator minircan draws from (parameter initialisation, ``randn``)."""

import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Make minircan's random draws reproducible, like ``torch.manual_seed``."""
    global _generator
    _generator = np.random.default_rng(seed)


def generator() -> np.random.Generator:
    """The current NumPy Generator (re-created by ``manual_seed``)."""
    return _generator
