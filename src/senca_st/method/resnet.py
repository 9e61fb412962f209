"""A frozen ImageNet ResNet-50 that turns an H&E patch into 2048 pooled features.

torchvision's wheels are CUDA builds that may not import on a CPU-only machine,
so this module carries a plain-torch ResNet-50 (v1.5 Bottleneck: stride on the
3x3 convolution) whose parameter and buffer names are exactly torchvision's.
torchvision's published ImageNet files (``resnet50-11ad3fa6.pth``, IMAGENET1K_V2;
``resnet50-0676ba61.pth``, V1) therefore load into it with ``strict=True``.
When torchvision does import, its own ``resnet50`` is used instead.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from senca_st.errors import InputError

LOG = logging.getLogger("senca_st")

#: Side of the square input the published weights were trained at.
INPUT_PX = 224
FEATURE_DIM = 2048
#: The published files and the sha256 prefix torchvision puts in each name.
TORCHVISION_FILES = {
    "resnet50-11ad3fa6.pth": "https://download.pytorch.org/models/resnet50-11ad3fa6.pth",
    "resnet50-0676ba61.pth": "https://download.pytorch.org/models/resnet50-0676ba61.pth",
}


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 (carries the stride) -> 1x1 expand (x4), plus the shortcut."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet50(nn.Module):
    """ResNet-50 with torchvision's module names; ``forward`` returns the (n, 2048) pooled features.

    ``fc`` is kept (so ImageNet files load strictly) but not applied.
    """

    def __init__(self) -> None:
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = self._make_layer(64, 3)
        self.layer2 = self._make_layer(128, 4, stride=2)
        self.layer3 = self._make_layer(256, 6, stride=2)
        self.layer4 = self._make_layer(512, 3, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512 * Bottleneck.expansion, 1000)
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _make_layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * Bottleneck.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * Bottleneck.expansion, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * Bottleneck.expansion),
            )
        layers = [Bottleneck(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * Bottleneck.expansion
        layers += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


class _TorchvisionFeatures(nn.Module):
    """torchvision's resnet50 with ``fc`` bypassed, so it returns pooled features like ours."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.net
        x = n.maxpool(n.relu(n.bn1(n.conv1(x))))
        x = n.layer4(n.layer3(n.layer2(n.layer1(x))))
        return torch.flatten(n.avgpool(x), 1)


def build_resnet50(prefer_torchvision: bool = True) -> nn.Module:
    """An untrained ResNet-50 with torchvision's state-dict names (torchvision's own when it imports)."""
    if prefer_torchvision:
        try:
            from torchvision.models import resnet50  # noqa: PLC0415 - optional, often a CUDA-only wheel

            return resnet50(weights=None)
        except Exception as err:  # ImportError, or a CUDA wheel failing to load its libraries
            LOG.debug("torchvision unavailable (%s); using senca_st.method.resnet.ResNet50", err)
    return ResNet50()


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise InputError(path, "ResNet-50 weights file not found", "Set features.weights to torchvision's resnet50-11ad3fa6.pth or set features.download_weights: true.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise InputError(path, f"cannot read the ResNet-50 weights ({err.__class__.__name__}: {err})", "Download the file again.") from err
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise InputError(path, "is not a state dict", "Use torchvision's resnet50-11ad3fa6.pth.")
    return state


def load_encoder(weights_path: str | Path | None, prefer_torchvision: bool = True, seed: int = 0) -> nn.Module:
    """The frozen feature extractor, in eval mode: (n, 3, H, W) normalised images -> (n, 2048).

    With ``weights_path`` empty or None the network is randomly initialised and
    a WARNING says so: its features are not ImageNet features, only good for
    testing the pipeline's plumbing.  The initialisation is drawn from ``seed``
    (without touching the caller's random state) so that reruns of a section
    give the same features, hence the same clusters.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = build_resnet50(prefer_torchvision)
    if weights_path:
        path = Path(weights_path)
        state = _read_state_dict(path)
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as err:
            first = str(err).splitlines()[0]
            raise InputError(
                path,
                f"is not a torchvision ResNet-50 state dict ({first})",
                "Use torchvision's resnet50-11ad3fa6.pth or resnet50-0676ba61.pth.",
            ) from err
        LOG.info("loaded ImageNet ResNet-50 weights from %s", path)
    else:
        LOG.warning(
            "WARNING: no ResNet-50 weights given (features.weights is empty): the image encoder is RANDOMLY "
            "INITIALISED and its features are NOT ImageNet features. Set features.weights or "
            "features.download_weights: true for real results."
        )
    encoder = net if isinstance(net, ResNet50) else _TorchvisionFeatures(net)
    encoder.eval()
    for p in encoder.parameters():
        p.requires_grad_(False)
    return encoder
