"""Optimisers against torch.optim: 20 steps on the same problem give the same parameters (float64)."""

import numpy as np
import pytest
import torch

import minircan
import minircan.functional as F
from minircan import nn, optim


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    w0 = rng.standard_normal((3, 2, 3, 3))
    b0 = rng.standard_normal(3)
    xs = [rng.standard_normal((2, 2, 5, 5)) for _ in range(20)]
    ts = [rng.standard_normal((2, 3, 5, 5)) for _ in range(20)]
    return w0, b0, xs, ts


def _run_minircan(make_opt, sched_step=None):
    w0, b0, xs, ts = _problem()
    w, b = nn.Parameter(w0.copy()), nn.Parameter(b0.copy())
    opt = make_opt([w, b])
    sched = optim.StepLR(opt, step_size=sched_step, gamma=0.5) if sched_step else None
    for x, t in zip(xs, ts):
        opt.zero_grad()
        F.l1_loss(F.conv2d(minircan.tensor(x), w, b, padding=1), minircan.tensor(t)).backward()
        opt.step()
        if sched:
            sched.step()
    return w.data, b.data


def _run_torch(make_opt, sched_step=None):
    w0, b0, xs, ts = _problem()
    w, b = torch.tensor(w0, requires_grad=True), torch.tensor(b0, requires_grad=True)
    opt = make_opt([w, b])
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=sched_step, gamma=0.5) if sched_step else None
    for x, t in zip(xs, ts):
        opt.zero_grad()
        torch.nn.functional.l1_loss(torch.nn.functional.conv2d(torch.tensor(x), w, b, padding=1),
                                    torch.tensor(t)).backward()
        opt.step()
        if sched:
            sched.step()
    return w.detach().numpy(), b.detach().numpy()


CASES = {
    "sgd": (lambda p: optim.SGD(p, lr=0.05), lambda p: torch.optim.SGD(p, lr=0.05)),
    "sgd_momentum_wd": (lambda p: optim.SGD(p, lr=0.05, momentum=0.9, dampening=0.1, weight_decay=1e-2),
                        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, dampening=0.1, weight_decay=1e-2)),
    "sgd_nesterov": (lambda p: optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True),
                     lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True)),
    "adam": (lambda p: optim.Adam(p, lr=1e-2), lambda p: torch.optim.Adam(p, lr=1e-2)),
    "adam_paper": (lambda p: optim.Adam(p, lr=1e-4, betas=(0.9, 0.999), eps=1e-8),
                   lambda p: torch.optim.Adam(p, lr=1e-4, betas=(0.9, 0.999), eps=1e-8)),
    "adam_wd": (lambda p: optim.Adam(p, lr=3e-3, betas=(0.8, 0.99), weight_decay=0.1),
                lambda p: torch.optim.Adam(p, lr=3e-3, betas=(0.8, 0.99), weight_decay=0.1)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_optimizer_matches_torch_for_20_steps(name):
    mine, ref = CASES[name]
    for a, b in zip(_run_minircan(mine), _run_torch(ref)):
        assert np.abs(a - b).max() <= 1e-12 * max(1.0, np.abs(b).max()), name


def test_step_lr_matches_torch():
    mine = lambda p: optim.Adam(p, lr=1e-2)  # noqa: E731
    ref = lambda p: torch.optim.Adam(p, lr=1e-2)  # noqa: E731
    for a, b in zip(_run_minircan(mine, sched_step=6), _run_torch(ref, sched_step=6)):
        assert np.abs(a - b).max() <= 1e-12 * max(1.0, np.abs(b).max())


def test_step_lr_halves_on_schedule():
    # The paper: lr 1e-4, halved every 2e5 iterations.
    opt = optim.Adam([nn.Parameter(np.zeros(1))], lr=1e-4)
    sched = optim.StepLR(opt, step_size=200_000, gamma=0.5)
    seen = {}
    for it in range(1, 400_001):
        sched.step()
        if it in (199_999, 200_000, 399_999, 400_000):
            seen[it] = opt.lr
    assert seen == {199_999: 1e-4, 200_000: 5e-5, 399_999: 5e-5, 400_000: 2.5e-5}


def test_optimizer_state_dict_resumes_exactly():
    w0, b0, xs, ts = _problem()

    def steps(opt, w, b, pairs):
        for x, t in pairs:
            opt.zero_grad()
            F.l1_loss(F.conv2d(minircan.tensor(x), w, b, padding=1), minircan.tensor(t)).backward()
            opt.step()

    w, b = nn.Parameter(w0.copy()), nn.Parameter(b0.copy())
    opt = optim.Adam([w, b], lr=1e-2)
    steps(opt, w, b, zip(xs, ts))
    w2, b2 = nn.Parameter(w0.copy()), nn.Parameter(b0.copy())
    opt2 = optim.Adam([w2, b2], lr=1e-2)
    steps(opt2, w2, b2, zip(xs[:10], ts[:10]))
    saved, saved_w, saved_b = opt2.state_dict(), w2.data.copy(), b2.data.copy()
    w3, b3 = nn.Parameter(saved_w), nn.Parameter(saved_b)
    opt3 = optim.Adam([w3, b3], lr=0.5)
    opt3.load_state_dict(saved)
    steps(opt3, w3, b3, zip(xs[10:], ts[10:]))
    assert np.array_equal(w3.data, w.data) and np.array_equal(b3.data, b.data)


def test_empty_parameter_list_is_an_error():
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])


def test_cosine_schedule_matches_torch():
    p = nn.Parameter(np.zeros(1))
    opt = optim.Adam([p], lr=2e-3)
    sched = optim.CosineAnnealingLR(opt, T_max=50, eta_min=1e-5)
    tp = torch.zeros(1, requires_grad=True)
    topt = torch.optim.Adam([tp], lr=2e-3)
    tsched = torch.optim.lr_scheduler.CosineAnnealingLR(topt, T_max=50, eta_min=1e-5)
    for _ in range(50):
        topt.step()
        sched.step()
        tsched.step()
        assert abs(opt.lr - topt.param_groups[0]["lr"]) <= 1e-15
