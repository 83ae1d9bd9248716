"""minircan: RCAN super-resolution from scratch on NumPy, with its own autograd and hand-written kernels.

    import minircan
    import minircan.functional as F
    x = minircan.tensor(np.random.rand(1, 3, 8, 8), requires_grad=True)
    y = F.conv2d(x, w, b, padding=1).relu().mean()
    y.backward()                      # x.grad, w.grad, b.grad

Layers, bottom up: ``minircan.kernels`` (array kernels, Numba / CUDA C) -> ``device`` (which array module
and kernel table a tensor uses) -> ``tensor`` and ``autograd`` (the engine) -> ``ops`` (one Function per
op) -> ``functional`` -> ``nn`` and ``optim``.
"""

import importlib.util as _ilu
import os as _os
import sys as _sys

# OpenBLAS's worker threads spin for 2^28 cycles (about 0.1 s) after every matrix product before they
# sleep; on a 2-core machine a spinning worker halves the speed of the Numba loop that runs next (measured
# here: a ReLU backward after a conv took 0.39 ms instead of 0.12 ms; a tiny-RCAN training step 101 ms
# instead of 88 ms). 2^4 cycles makes them sleep at once. OpenBLAS reads this when NumPy is first
# imported: it takes effect when minircan is imported before NumPy (as in every python -m minircan.*
# command); set it yourself otherwise. A value already in the environment is kept.
_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

__version__ = "0.1.0"


def _mount_source_kernels() -> None:
    # Installed, the top-level kernels/ folder is the subpackage minircan/kernels. In a source checkout
    # used without installing (PYTHONPATH=.), it sits beside the package: mount it under the same name.
    here = _os.path.dirname(__file__)
    if _os.path.isdir(_os.path.join(here, "kernels")):
        return
    src = _os.path.join(_os.path.dirname(here), "kernels")
    init = _os.path.join(src, "__init__.py")
    if not _os.path.isfile(init):
        raise ImportError(f"minircan: the kernels package is missing (looked in {here}/kernels and {src}); "
                          "reinstall minircan")
    spec = _ilu.spec_from_file_location("minircan.kernels", init, submodule_search_locations=[src])
    module = _ilu.module_from_spec(spec)
    _sys.modules["minircan.kernels"] = module
    spec.loader.exec_module(module)


if "minircan.kernels" not in _sys.modules:
    _mount_source_kernels()

from . import kernels  # noqa: E402
from .tensor import Tensor, ones, rand, randn, tensor, zeros  # noqa: E402  (first: it binds the ops)
from .autograd import Function, enable_grad, is_grad_enabled, no_grad  # noqa: E402
from .device import Device, device  # noqa: E402
from .gradcheck import GradcheckError, gradcheck  # noqa: E402
from .random import manual_seed  # noqa: E402
from . import cuda, functional, nn, optim  # noqa: E402
from . import models  # noqa: E402
from .checkpoint import load, save  # noqa: E402
from . import backends, threads  # noqa: E402

threads.apply_default()  # BLAS on one thread, Numba's loops on every core: see minircan/threads.py

__all__ = [
    "Device", "Function", "GradcheckError", "Tensor", "backends", "cuda", "device", "enable_grad", "functional",
    "gradcheck", "is_grad_enabled", "kernels", "load", "manual_seed", "models", "nn", "no_grad", "ones", "optim",
    "rand", "randn", "save", "tensor", "threads", "zeros",
]
