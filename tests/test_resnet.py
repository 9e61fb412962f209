"""Our ResNet-50 has torchvision's state-dict layout, so the published ImageNet files load strictly."""

from __future__ import annotations

import logging

import pytest
import torch

from senca_st.errors import InputError
from senca_st.method.resnet import ResNet50, load_encoder

# Names and shapes as in torchvision's resnet50-11ad3fa6.pth (hard-coded, not derived from our model).
TORCHVISION_KEYS = {
    "conv1.weight": (64, 3, 7, 7),
    "bn1.running_mean": (64,),
    "layer1.0.conv1.weight": (64, 64, 1, 1),
    "layer1.0.downsample.0.weight": (256, 64, 1, 1),
    "layer1.0.downsample.1.num_batches_tracked": (),
    "layer2.0.conv2.weight": (128, 128, 3, 3),
    "layer2.0.downsample.0.weight": (512, 256, 1, 1),
    "layer3.5.bn3.weight": (1024,),
    "layer4.0.downsample.0.weight": (2048, 1024, 1, 1),
    "layer4.2.conv3.weight": (2048, 512, 1, 1),
    "layer4.2.bn3.running_var": (2048,),
    "fc.weight": (1000, 2048),
    "fc.bias": (1000,),
}
N_TENSORS = 320  # torchvision resnet50().state_dict() has 320 entries (161 params + 159 BN buffers)


def test_state_dict_names_and_shapes_match_torchvision():
    sd = ResNet50().state_dict()
    assert len(sd) == N_TENSORS
    for name, shape in TORCHVISION_KEYS.items():
        assert name in sd, name
        assert tuple(sd[name].shape) == shape, name
    assert sum(p.numel() for p in ResNet50().parameters()) == 25_557_032  # torchvision's count


def test_loads_a_torchvision_format_file_strictly(tmp_path):
    torch.manual_seed(0)
    donor = ResNet50()
    sd = {k: v.clone() for k, v in donor.state_dict().items()}
    sd["bn1.running_mean"] += 0.5  # something load must carry over
    path = tmp_path / "resnet50-11ad3fa6.pth"
    torch.save(sd, path)
    enc = load_encoder(str(path), prefer_torchvision=False)
    assert torch.equal(enc.state_dict()["bn1.running_mean"], sd["bn1.running_mean"])
    assert not enc.training and not any(p.requires_grad for p in enc.parameters())
    out = enc(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 2048)


def test_wrong_file_is_an_input_error(tmp_path):
    sd = ResNet50().state_dict()
    sd.pop("fc.bias")
    path = tmp_path / "bad.pth"
    torch.save(sd, path)
    with pytest.raises(InputError, match="not a torchvision ResNet-50"):
        load_encoder(str(path), prefer_torchvision=False)
    with pytest.raises(InputError, match="not found"):
        load_encoder(str(tmp_path / "missing.pth"), prefer_torchvision=False)


def test_no_weights_warns_loudly(caplog):
    logger = logging.getLogger("senca_st")
    logger.propagate = True
    with caplog.at_level(logging.WARNING, logger="senca_st"):
        load_encoder(None, prefer_torchvision=False)
    assert any(r.levelno == logging.WARNING and "NOT ImageNet features" in r.getMessage() for r in caplog.records)


def test_random_encoder_is_the_same_on_every_run():
    """Without weights the network is random, but seeded: reruns give the same features (and clusters)."""
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = load_encoder(None, prefer_torchvision=False)
    after = torch.rand(1)
    b = load_encoder(None, prefer_torchvision=False)
    c = load_encoder(None, prefer_torchvision=False, seed=1)
    assert torch.equal(before, after), "building the encoder must not move the caller's random state"
    wa, wb, wc = (dict(e.named_parameters())["conv1.weight"] for e in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)
