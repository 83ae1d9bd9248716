"""Where the time of a training step goes, in the spirit of ``torch.profiler``.

    from minircan import profiler
    with profiler.profile() as prof:
        loss = F.l1_loss(model(x), y)
        loss.backward()
        opt.step()
    print(prof.table())

Inside the block every ``Function``'s forward and backward (by the Function's name: ``Conv2d forward``),
every call of a device's kernel table (``conv2d_forward``, ``relu_backward``, ...), every optimizer's
``step`` and ``zero_grad``, and the engine's own parts (``Function.apply``, the topological sort, the
accumulation of leaf gradients, the backward loop) are timed with ``time.perf_counter``. The table then
splits the block's wall time into

    wall = ops (forwards + backwards) + optimizer + engine overhead,

engine overhead being everything else: recording the graph (``Function.apply`` around the forward), the
backward loop, Python between calls (modules, argument checks). Kernel rows are a second view of the same
time: each kernel runs inside some op.

How: on entry the context manager replaces those functions, by name, with timing wrappers (``setattr`` on
each Function class, on each kernel table, on the optimizers and the engine module) and puts the originals
back on exit, also on an exception. Outside the block nothing is wrapped and nothing is checked: the
profiler costs nothing when it is not in use. Inside, each wrapped call costs about a microsecond more.
The computed values are the same, bit for bit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from . import autograd
from .autograd import Function
from .device import made_devices
from .kernels.table import kernel_names

OP_KINDS = ("forward", "backward", "optimizer")
ENGINE_ROWS = {  # (kind, name) of the engine's own timed parts, and what each means
    "apply": "Function.apply (graph recording, includes the op's forward)",
    "backward pass": "autograd.backward (includes the ops' backwards)",
    "topological sort": "autograd.topological_order",
    "leaf gradients": "autograd._accumulate_leaf (summing into .grad)",
}

_active: Profile | None = None


@dataclass
class Row:
    """One line of a profile: ``kind`` (forward, backward, optimizer, kernel, engine), ``name``, how many
    calls and their total wall time in seconds (inclusive: a kernel's time is also in its op's)."""

    kind: str
    name: str
    count: int
    total_s: float


class Profile:
    """What ``profile()`` measured: ``rows()``, the parts of the wall time, and ``table()``."""

    def __init__(self) -> None:
        self._stats: dict[tuple[str, str], list] = {}  # (kind, name) -> [calls, seconds]
        self._depth: dict[str, int] = {}  # per group, to count the time of nested calls once
        self._outer: dict[str, float] = {}  # per group: the time of outermost calls only
        self.wall_s = 0.0  # the with block's wall time

    # ----- recording -------------------------------------------------------------------------------
    def _timed(self, kind: str, name: str, group: str, fn: Callable) -> Callable:
        stat = self._stats.setdefault((kind, name), [0, 0.0])
        depth, outer, clock = self._depth, self._outer, time.perf_counter
        depth.setdefault(group, 0)
        outer.setdefault(group, 0.0)

        def timed(*args: Any, **kwargs: Any) -> Any:
            depth[group] += 1
            t0 = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                dt = clock() - t0
                depth[group] -= 1
                stat[0] += 1
                stat[1] += dt
                if depth[group] == 0:
                    outer[group] += dt

        timed.__wrapped__ = fn
        return timed

    # ----- results ---------------------------------------------------------------------------------
    def rows(self, kind: str | None = None) -> list[Row]:
        """Every row that was called at least once (of one kind, if given), the longest first."""
        rows = [Row(k, n, c, t) for (k, n), (c, t) in self._stats.items() if c and (kind is None or k == kind)]
        return sorted(rows, key=lambda r: -r.total_s)

    def row(self, kind: str, name: str) -> Row:
        c, t = self._stats.get((kind, name), (0, 0.0))
        return Row(kind, name, c, t)

    def parts(self) -> dict[str, float]:
        """The wall time split into seconds of forward ops, backward ops, the optimizer and the engine:
        ops count their outermost calls only, so forward + backward + optimizer + engine == wall."""
        ops = self._outer.get("op", 0.0)
        fwd = sum(r.total_s for r in self.rows("forward"))
        bwd = sum(r.total_s for r in self.rows("backward"))
        opt = sum(r.total_s for r in self.rows("optimizer"))
        if abs(fwd + bwd + opt - ops) > 1e-9:  # nested ops: scale the inclusive sums down to the outer total
            s = ops / (fwd + bwd + opt)
            fwd, bwd, opt = fwd * s, bwd * s, opt * s
        return dict(forward=fwd, backward=bwd, optimizer=opt, engine=self.wall_s - ops, wall=self.wall_s,
                    kernels=self._outer.get("kernel", 0.0))

    def table(self, steps: int = 1, row_limit: int | None = None) -> str:
        """The profile as text, times per step (divided by ``steps``): ops, kernels, the engine's parts."""
        per = 1e3 / steps
        wall = self.wall_s or 1.0
        parts = self.parts()

        def line(name: str, count: float | str, t: float) -> str:
            calls = count if isinstance(count, str) else f"{count / steps:g}"
            return f"{name:<44}{calls:>8}{t * per:>12.2f}{100 * t / wall:>9.1f}%"

        head = f"{'':<44}{'calls':>8}{'ms/step':>12}{'of wall':>10}"
        out = [f"minircan profile: {steps} step(s), wall {self.wall_s * per:.2f} ms/step", ""]
        out += [f"{'op (forward and backward separately)':<44}{head[44:]}"]
        ops = [r for r in self.rows() if r.kind in OP_KINDS]
        out += [line(f"{r.name} {r.kind}" if r.kind != "optimizer" else r.name, r.count, r.total_s)
                for r in ops[:row_limit]]
        out += ["", f"{'kernel (each call of the kernel table)':<44}{head[44:]}"]
        out += [line(r.name, r.count, r.total_s) for r in self.rows("kernel")[:row_limit]]
        apply_, fwd_ = self.row("engine", "apply"), parts["forward"]
        bpass, topo, leaf = (self.row("engine", n) for n in ("backward pass", "topological sort", "leaf gradients"))
        loop = bpass.total_s - parts["backward"] - topo.total_s - leaf.total_s
        recorded = max(apply_.total_s - fwd_, 0.0)
        other = parts["engine"] - recorded - max(bpass.total_s - parts["backward"], 0.0)
        out += ["", f"{'engine overhead (wall - ops - optimizer)':<44}{head[44:]}",
                line("graph recording (Function.apply - forward)", apply_.count, recorded),
                line("topological sort", topo.count, topo.total_s),
                line("leaf gradient accumulation", leaf.count, leaf.total_s),
                line("backward loop (the rest of autograd.backward)", bpass.count, loop),
                line("other Python (modules, checks, zero_grad...)", "", other),
                "", "summary",
                line("ops, forward", "", parts["forward"]), line("ops, backward", "", parts["backward"]),
                line("optimizer", "", parts["optimizer"]), line("engine overhead", "", parts["engine"]),
                line("wall", "", parts["wall"]), line("(kernels, inside the ops)", "", parts["kernels"])]
        return "\n".join(out)


def _function_classes() -> list[type]:
    seen, todo = [], list(Function.__subclasses__())
    while todo:
        cls = todo.pop()
        if cls not in seen:
            seen.append(cls)
            todo.extend(cls.__subclasses__())
    return seen


@contextmanager
def profile() -> Iterator[Profile]:
    """Time every op, kernel, optimizer step and engine part run inside the ``with`` block; yields a
    ``Profile`` filled in when the block ends. Profiles do not nest."""
    global _active
    if _active is not None:
        raise RuntimeError("minircan.profiler.profile() is already active; profiles do not nest")
    prof = Profile()
    undo: list[Callable[[], None]] = []

    def patch(owner: Any, name: str, new: Any) -> None:
        # Put back exactly what was there: the object's own attribute, or nothing (it was inherited, or
        # came from the class of a kernel-table instance) so that lookup finds the original again.
        own = getattr(owner, "__dict__", {})
        if name in own:
            old = own[name]
            undo.append(lambda: setattr(owner, name, old))
        else:
            undo.append(lambda: delattr(owner, name))
        setattr(owner, name, new)

    _active = prof
    try:
        for cls in _function_classes():
            for kind in ("forward", "backward"):
                fn = getattr(cls, kind)
                if fn is getattr(Function, kind):
                    continue  # an abstract base (e.g. _Binary): never called as such
                patch(cls, kind, staticmethod(prof._timed(kind, cls.__name__, "op", fn)))
        apply_fn = Function.__dict__["apply"].__func__
        patch(Function, "apply", classmethod(prof._timed("engine", "apply", "apply", apply_fn)))
        for name in ("backward", "topological_order", "_accumulate_leaf"):
            label = {"backward": "backward pass", "topological_order": "topological sort",
                     "_accumulate_leaf": "leaf gradients"}[name]
            patch(autograd, name, prof._timed("engine", label, label, getattr(autograd, name)))
        from .optim import Optimizer

        for cls in [Optimizer, *_subclasses(Optimizer)]:
            for meth in ("step", "zero_grad"):
                if meth in cls.__dict__:
                    patch(cls, meth, _optimizer_wrapper(prof, meth, cls.__dict__[meth]))
        tables = []
        for dev in made_devices():
            if any(dev.kernels is t for t in tables):
                continue
            tables.append(dev.kernels)
            for name in kernel_names(dev.kernels):
                patch(dev.kernels, name, prof._timed("kernel", name, "kernel", getattr(dev.kernels, name)))
        t0 = time.perf_counter()
        try:
            yield prof
        finally:
            prof.wall_s = time.perf_counter() - t0
    finally:
        for restore in reversed(undo):
            restore()
        _active = None


def _subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_subclasses(sub)]
    return out


def _optimizer_wrapper(prof: Profile, meth: str, fn: Callable) -> Callable:
    """A method timing fn under the optimizer's own class name (``Adam.step``), whichever class defines it."""
    timers: dict[str, Callable] = {}

    def method(self, *args: Any, **kwargs: Any) -> Any:
        name = f"{type(self).__name__}.{meth}"
        if name not in timers:
            timers[name] = prof._timed("optimizer", name, "op", fn)
        return timers[name](self, *args, **kwargs)

    return method


def is_active() -> bool:
    """Whether a ``profile()`` block is running."""
    return _active is not None
