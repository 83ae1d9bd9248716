"""Reading .pt files whose tensors are views: transposed (strides not C order), sliced (an offset into
the storage), and several tensors sharing one storage; with PyTorch and with minircan's own reader, in
both of PyTorch's formats (zip and the legacy one of PyTorch 0.4). Every value must come back exactly."""

import numpy as np
import pytest
import torch

from minircan.pt_format import load_pt_state_dict, read_pt


def _views():
    g = torch.Generator().manual_seed(3)
    base = torch.randn(6, 5, 4, generator=g, dtype=torch.float64)
    plane = torch.randn(7, 9, generator=g)  # float32
    tensors = {
        "transposed": plane.t(),                          # strides (1, 9)
        "permuted": base.permute(2, 0, 1),                # strides (1, 20, 4)
        "sliced": base[2:5, 1:4, ::2],                    # offset 44, step 2 in the last axis
        "row_of_plane": plane[4],                         # offset 36 into plane's storage
        "column_of_plane": plane[:, 7],                   # offset 7, stride 9
        "whole": base,                                    # shares its storage with three entries above
        "expanded": torch.arange(3.0).reshape(3, 1).expand(3, 4),  # stride 0
    }
    assert not tensors["transposed"].is_contiguous() and tensors["sliced"].storage_offset() == 44
    assert tensors["whole"].untyped_storage().data_ptr() == tensors["sliced"].untyped_storage().data_ptr()
    return tensors


@pytest.mark.parametrize("legacy", [False, True])
@pytest.mark.parametrize("use_torch", [False, True])
def test_strided_and_shared_storages_read_exactly(tmp_path, legacy, use_torch):
    tensors = _views()
    path = tmp_path / "views.pt"
    torch.save(tensors, path, _use_new_zipfile_serialization=not legacy)
    back = read_pt(path, use_torch=use_torch)
    assert list(back) == list(tensors)
    for k, t in tensors.items():
        ours = back[k]
        assert isinstance(ours, np.ndarray), k
        assert ours.shape == tuple(t.shape) and ours.dtype == t.numpy().dtype, k
        assert np.array_equal(ours, t.numpy()), k
    # Each array owns its values: writing to one changes no other (they came from one storage).
    back["whole"][...] = 0
    back["transposed"][...] = 0
    assert np.array_equal(back["sliced"], tensors["sliced"].numpy())
    assert np.array_equal(back["row_of_plane"], tensors["row_of_plane"].numpy())


@pytest.mark.parametrize("legacy", [False, True])
def test_state_dict_of_views_loads_the_same_with_and_without_torch(tmp_path, legacy):
    w = torch.randn(4, 3, 3, 3, dtype=torch.float64)
    sd = {"module.conv.weight": w.transpose(0, 1).contiguous().transpose(0, 1),  # non-contiguous, same values
          "module.conv.bias": torch.randn(10, dtype=torch.float64)[3:7]}        # an offset into a storage
    torch.save({"state_dict": sd}, tmp_path / "m.pt", _use_new_zipfile_serialization=not legacy)
    ours = load_pt_state_dict(tmp_path / "m.pt", use_torch=False)
    theirs = load_pt_state_dict(tmp_path / "m.pt", use_torch=True)
    assert list(ours) == list(theirs) == ["conv.weight", "conv.bias"]
    for k, v in (("conv.weight", sd["module.conv.weight"]), ("conv.bias", sd["module.conv.bias"])):
        assert np.array_equal(ours[k], v.numpy()) and np.array_equal(theirs[k], v.numpy()), k
        assert ours[k].flags.c_contiguous and theirs[k].flags.c_contiguous, k
