"""Train SENCA-st on one section and return the spots' shared embedding.

A section up to ``batch_spots`` spots is one graph, trained full-batch: every
step runs the model over all spots (memory linear in the number of spots,
since attention only touches each spot's k neighbours) and takes the
contrastive terms on a random subset of at most ``max_contrast`` spots
(NT-Xent would otherwise be n x n).  A larger section trains in spatial
mini-batches, one tile with its halo per step (:mod:`senca_st.method.model.tiles`),
so its memory stays that of a ``batch_spots`` section.

An *epoch* here is ``steps_per_epoch`` such full-graph steps: with one graph,
a literal pass over the data is a single gradient step, and the paper's 10
epochs of mini-batches would otherwise be 10 steps.  See ``DEFAULT_SETTINGS``
(from ``senca_st/defaults.yaml``) for the values and why.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from senca_st.defaults import defaults
from senca_st.device import pick_device
from senca_st.errors import InputError
from senca_st.method.catalogue import RUN_LIST_KEYS
from senca_st.method.image_gate import ImageGate, image_gate
from senca_st.method.model.graph import index_with_self
from senca_st.method.model.hierarchy import assign_windows, contrastive_terms
from senca_st.method.model.infomax import infomax_loss
from senca_st.method.model.senca import SencaModel
from senca_st.method.model.tiles import Tile, batch_spots_for, receptive_hops, spatial_tiles
from senca_st.method.neighbourhood import graph_k, nearest_spots
from senca_st.method.scaling import standardised

LOG = logging.getLogger("senca_st")

#: Settings used when a call gives none: the ``train:`` block of the one defaults file
#: (``senca_st/defaults.yaml``, paper values unless it says otherwise) without the keys that
#: list runs, and the first of its seeds.
DEFAULT_SETTINGS: dict[str, Any] = {
    **{k: v for k, v in defaults()["train"].items() if k not in RUN_LIST_KEYS},
    "seed": defaults()["train"]["seeds"][0],
}


@dataclass
class _Batch:
    """A tile's inputs on the training device."""

    x: torch.Tensor
    f: torch.Tensor | None
    index: torch.Tensor
    windows: torch.Tensor | None
    n_windows: int
    n_core: int


def _batch(tile: Tile, arrays: dict[str, torch.Tensor | None], device: torch.device) -> _Batch:
    """The tile's rows of the per-spot arrays ``arrays['x']`` (RNA input) and ``arrays['f']`` (image features)."""
    nodes = torch.from_numpy(tile.nodes)
    whole = len(tile.nodes) == arrays["x"].shape[0] and tile.n_core == len(tile.nodes)
    rows = {k: None if v is None else (v if whole else v[nodes]).to(device) for k, v in arrays.items()}
    return _Batch(
        x=rows["x"],
        f=rows["f"],
        index=tile.index.to(device),
        windows=None if tile.windows is None else torch.from_numpy(tile.windows).to(device),
        n_windows=0 if tile.windows is None else int(tile.windows.max()) + 1,
        n_core=tile.n_core,
    )


class TrainingError(InputError):
    """Training could not finish for a reason the user can act on (NaN loss, out of GPU memory)."""

    def __init__(self, problem: str, hint: str = "") -> None:
        super().__init__(None, problem, hint)


@dataclass
class TrainResult:
    """What :func:`train_section` returns."""

    embedding: np.ndarray  # (n_spots, embedding) float32
    losses: list[dict[str, float]] = field(default_factory=list)  # one dict per epoch: term -> mean
    state_dict: dict[str, torch.Tensor] = field(default_factory=dict)
    device_used: str = "cpu"
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    # the image gate's agreements and decision (senca_st.method.image_gate); None: not asked
    image_gate: dict[str, float | bool] | None = None


def resolve_settings(settings: dict[str, Any] | None) -> dict[str, Any]:
    """``DEFAULT_SETTINGS`` overlaid with ``settings`` (unknown keys are kept and ignored)."""
    merged = dict(DEFAULT_SETTINGS)
    merged.update(settings or {})
    return merged


@contextlib.contextmanager
def _deterministic() -> Iterator[None]:
    """Deterministic kernels for the duration of training, restoring the caller's choice after."""
    before = torch.are_deterministic_algorithms_enabled()
    warn_before = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=warn_before)


def rna_input(expression: np.ndarray, n_pcs: int, scale_genes: bool, seed: int) -> np.ndarray:
    """What the RNA branch reads and its decoder reconstructs.

    ``n_pcs`` > 0: the top principal components of the (gene-standardised) HVG
    expression.  Per-spot counts are noisy; the leading components hold the
    programmes shared by many spots, so the autoencoder spends its capacity on
    them rather than on count noise (on HER2ST A1-D1 this, not the gene matrix,
    is what lifts the RNA-only ARI over plain PCA).  0: the HVGs themselves,
    z-scored per gene when ``scale_genes``.
    """
    if n_pcs > 0:
        from senca_st.method.baselines import pca_embedding

        return pca_embedding(expression, n_pcs, seed)
    return standardised(expression) if scale_genes else expression


def _check_inputs(expression: np.ndarray, coords: np.ndarray, image_features: np.ndarray | None, s: dict) -> int:
    """Raise :class:`TrainingError` for inputs training cannot use; return the graph's k (``auto`` resolved)."""
    n = expression.shape[0]
    if expression.ndim != 2 or n == 0 or expression.shape[1] == 0:
        raise TrainingError(f"expression must be a non-empty (spots, genes) matrix, got shape {expression.shape}")
    if coords.shape != (n, 2):
        raise TrainingError(f"coordinates have shape {coords.shape}, expected ({n}, 2)")
    if n < 2:
        raise TrainingError(f"a section needs at least 2 spots, this one has {n}")
    k = graph_k(s["k"], coords)
    if n <= k:
        raise TrainingError(f"a section needs more than k={k} spots, this one has {n}", "Lower train.k.")
    if not np.isfinite(expression).all():
        raise TrainingError("expression has NaN or infinite values", "Check the preprocessing output.")
    if s["use_image"]:
        if image_features is None:
            raise TrainingError("this method uses the image but no image features were given")
        if image_features.shape[0] != n:
            raise TrainingError(f"{image_features.shape[0]} image feature rows for {n} spots")
        if not np.isfinite(image_features).all():
            raise TrainingError("image features have NaN or infinite values", "Re-run the image_features rule.")
    return k


def _fit(
    module: torch.nn.Module,
    step_terms: Callable[[_Batch], dict[str, torch.Tensor]],
    tiles: list[Tile],
    arrays: dict[str, torch.Tensor | None],
    device: torch.device,
    s: dict[str, Any],
    gen: torch.Generator,
    log: Callable[[str], None],
) -> list[dict[str, float]]:
    """Optimise ``module``'s parameters on the sum of ``step_terms`` (``mse*`` terms x lambda_mse).

    An untiled section stays on the device from step to step; a tile is moved there per step, every
    tile once in a seeded order, then again.  Returns each epoch's mean of every term.
    """
    whole = _batch(tiles[0], arrays, device) if len(tiles) == 1 else None
    opt = torch.optim.Adam(module.parameters(), lr=float(s["lr"]), weight_decay=float(s["weight_decay"]))
    lam = float(s["lambda_mse"])
    order: list[int] = []
    losses = []
    for epoch in range(1, int(s["epochs"]) + 1):
        sums: dict[str, float] = {}
        for _ in range(int(s["steps_per_epoch"])):
            if whole is None and not order:
                order = torch.randperm(len(tiles), generator=gen).tolist()
            b = whole or _batch(tiles[order.pop()], arrays, device)
            module.train()
            terms = step_terms(b)
            for name, value in terms.items():
                if not torch.isfinite(value):
                    raise TrainingError(
                        f"epoch {epoch}: loss term {name!r} is {value.item()}",
                        "Lower train.lr or check the inputs for extreme values.",
                    )
            loss = sum(lam * v if name.startswith("mse") else v for name, v in terms.items())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            terms["total"] = loss.detach()
            for name, value in terms.items():
                sums[name] = sums.get(name, 0.0) + float(value.detach())
        losses.append({k: v / int(s["steps_per_epoch"]) for k, v in sums.items()})
        log(f"epoch {epoch}/{s['epochs']}: " + " ".join(f"{k}={v:.4f}" for k, v in losses[-1].items()))
    return losses


def _embed_tiles(model: SencaModel, tiles: list[Tile], arrays: dict[str, torch.Tensor | None], device: torch.device) -> torch.Tensor:
    """The embedding of every spot (on the CPU), each from the tile that holds it in its core."""
    out: torch.Tensor | None = None
    for tile in tiles:
        b = _batch(tile, arrays, device)
        z = model.embed(b.x, b.f, b.index)[: b.n_core].cpu()
        if out is None:
            out = torch.empty((arrays["x"].shape[0], z.shape[1]), dtype=z.dtype)
        out[torch.from_numpy(tile.nodes[: b.n_core])] = z
    assert out is not None
    return out


def train_section(
    expression: np.ndarray,
    coords: np.ndarray,
    image_features: np.ndarray | None,
    settings: dict[str, Any],
    log: Callable[[str], None] = LOG.info,
    gate: ImageGate | None = None,
) -> TrainResult:
    """Train SENCA-st on one section; return the shared embedding and the per-epoch losses.

    ``expression``: (n, genes) log-normalised HVG expression; ``coords``: (n, 2)
    spot positions; ``image_features``: (n, d) image-encoder features or None
    (required when ``settings['use_image']``).  Same settings and seed give the
    same embedding on the CPU.  With ``settings['image_gate']`` the fusion trains only
    where :func:`~senca_st.method.image_gate.image_gate` opens; closed, the result is
    ``senca_rna``'s under the same seed (``TrainResult.image_gate`` says which); ``gate``
    is the section's gate when it is already known (rule ``image_gate``), else it is computed here.
    """
    t0 = time.perf_counter()
    s = resolve_settings(settings)
    expression = np.asarray(expression, dtype=np.float32)
    coords = np.asarray(coords, dtype=np.float64)
    if image_features is not None:
        image_features = np.asarray(image_features, dtype=np.float32)
    k = _check_inputs(expression, coords, image_features, s)
    if s["k"] == "auto":
        log(f"k = {k}: the first ring of this section's spot lattice (train.k: auto)")
    s["k"] = k
    if not (s["use_image"] and s["image_gate"]):
        gate = None
    else:
        gate = gate if gate is not None else image_gate(expression, image_features, coords)
        log(gate.describe())
        s["use_image"] = gate.open
    device = pick_device(s["device"], log, "training")
    n = expression.shape[0]
    infomax_weight = float(s["graph_contrast"])

    x_np = rna_input(expression, int(s["rna_pcs"]), bool(s["scale_genes"]), int(s["seed"]))
    f_np = standardised(image_features) if s["use_image"] else None
    neighbours = nearest_spots(coords, int(s["k"]))
    batch = batch_spots_for(s["batch_spots"], device)
    if 0 < batch < n:
        depth = receptive_hops(int(s["layers"]), int(s["hops"]), bool(s["cross_attention"]) and bool(s["use_image"]))
        tiles = spatial_tiles(coords, neighbours, batch, depth, float(s["window"]) if s["hierarchy"] else None)
    else:  # the whole section is one batch
        windows_np = assign_windows(coords, float(s["window"])) if s["hierarchy"] else None
        tiles = [Tile(np.arange(n), n, index_with_self(neighbours), windows_np)]

    try:
        with _deterministic():
            torch.manual_seed(int(s["seed"]))
            gen = torch.Generator().manual_seed(int(s["seed"]))
            model = SencaModel(
                n_genes=x_np.shape[1],
                image_dim=f_np.shape[1] if f_np is not None else 2048,
                hidden=int(s["hidden"]),
                embedding=int(s["embedding"]),
                dropout=float(s["dropout"]),
                heads=int(s["heads"]),
                layers=int(s["layers"]),
                hops=int(s["hops"]),
                alpha=float(s["alpha"]),
                cross_attention=bool(s["cross_attention"]),
                use_image=bool(s["use_image"]),
                graph_contrast=infomax_weight > 0,
            ).to(device)
            arrays = {"x": torch.from_numpy(x_np), "f": torch.from_numpy(f_np) if f_np is not None else None}
            n_windows = sum(int(t.windows.max()) + 1 for t in tiles) if s["hierarchy"] else 0
            log(
                f"training on {device} ({n} spots, {expression.shape[1]} genes"
                f"{f' as {x_np.shape[1]} PCs' if s['rna_pcs'] else ''}, "
                f"{'image + RNA' if s['use_image'] else 'RNA only'}, k={s['k']}, "
                f"{n_windows} windows, {s['epochs']} epochs x {s['steps_per_epoch']} steps"
                + (
                    f"; {len(tiles)} tiles of <= {max(t.n_core for t in tiles)} spots + halo "
                    f"(<= {max(len(t.nodes) for t in tiles)} spots a step)"
                    if len(tiles) > 1
                    else ""
                )
                + ")"
            )
            contrast = dict(
                temperature=float(s["temperature"]), max_items=int(s["max_contrast"]), generator=gen,
                spot_level=bool(s["spot_contrast"]),
            )

            # The fusion's own random numbers (its dropout masks, its contrast's sampled spots) come
            # from streams of their own, so the RNA branch sees exactly the numbers senca_rna's does.
            fusion_gen = torch.Generator().manual_seed(int(s["seed"]) + 1)
            fusion_contrast = {**contrast, "generator": fusion_gen}
            cuda = [device.index or 0] if device.type == "cuda" else []

            def step_terms(b: _Batch) -> dict[str, torch.Tensor]:
                # the infomax term's corrupted graph: the tile's spots in a seeded random order
                corrupt = torch.randperm(b.x.shape[0], generator=gen).to(device) if infomax_weight > 0 else None
                out = model.rna_branch(b.x, b.index, corrupt)
                c = b.n_core  # loss on the tile's core only: its halo spots lack outer neighbours
                terms = {"mse": F.mse_loss(out["recon_x"][:c], b.x[:c])}
                terms.update(
                    contrastive_terms(out["view_a"][:c], out["view_b"][:c], b.windows, b.n_windows, **contrast)
                )
                if corrupt is not None:
                    terms["infomax"] = infomax_weight * infomax_loss(out["infomax_real"][:c], out["infomax_fake"][:c])
                if model.fusion is None:
                    return terms
                with torch.random.fork_rng(devices=cuda):
                    torch.manual_seed(int(torch.randint(2**62, (1,), generator=fusion_gen)))
                    fused = model.fusion(out["features"], b.f, b.index)
                terms["mse_fused"] = F.mse_loss(fused["recon_x"][:c], b.x[:c])
                terms["mse_image"] = F.mse_loss(fused["recon_f"][:c], b.f[:c])
                # the image's view learns the RNA branch's view, which the image's loss leaves alone
                image_terms = contrastive_terms(
                    out["view_a"][:c].detach(), fused["view_b"][:c], b.windows, b.n_windows, **fusion_contrast
                )
                terms.update({f"image_{k}": v for k, v in image_terms.items()})
                return terms

            losses = _fit(model, step_terms, tiles, arrays, device, s, gen, log)
            model.eval()
            z_all = _embed_tiles(model, tiles, arrays, device)
            if s["normalise_embedding"]:
                z_all = F.normalize(z_all, dim=1)
            embedding = z_all.numpy().astype(np.float32, copy=False)
    except (torch.OutOfMemoryError, RuntimeError) as err:
        # CUDA raises OutOfMemoryError; the CPU allocator a RuntimeError saying it "can't allocate memory"
        if not isinstance(err, torch.OutOfMemoryError) and "can't allocate memory" not in str(err):
            raise
        hint = "Lower train.max_contrast (spots per NT-Xent) or train.hidden"
        raise TrainingError(
            f"{device} ran out of memory training {n} spots ({err.__class__.__name__})",
            hint + (", or set train.device: cpu." if device.type == "cuda" else ", or run on a machine with more memory."),
        ) from err
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    seconds = time.perf_counter() - t0
    log(f"trained in {seconds:.1f} s")
    return TrainResult(embedding, losses, state, str(device), s, seconds, None if gate is None else gate.as_dict())


def train_step(
    preprocessed: str,
    features: str,
    embedding_out: str,
    model_out: str,
    method: str,
    settings: dict[str, Any],
    threads: int | None = None,
    gate: str = "",
) -> TrainResult:
    """Rule ``train``: preprocessed.h5ad (+ image_features.npy, image_gate.json) -> embedding.h5ad + model.pt.

    ``gate``: the section's ``image_gate.json`` (rule ``image_gate``); without it a gated
    fused variant computes the gate itself.
    """
    import anndata as ad
    import pandas as pd

    from senca_st.io.atomic import atomic_path
    from senca_st.io.store import read_image_features, read_preprocessed, write_h5ad
    from senca_st.method.catalogue import embedding_key

    if threads:
        torch.set_num_threads(int(threads))
    adata, X, coords = read_preprocessed(preprocessed)
    feats = None
    if settings.get("use_image", True):
        if not features:
            raise InputError(None, f"method {method} uses the image but the section has no image features")
        feats = read_image_features(features, adata.n_obs, preprocessed)
    known_gate = ImageGate.read(gate) if gate else None
    result = train_section(X, coords, feats, settings, log=LOG.info, gate=known_gate)
    key = embedding_key(method)
    out = ad.AnnData(obs=pd.DataFrame(index=adata.obs_names.copy()))
    out.obsm[key] = result.embedding
    out.uns["embedding_key"] = key
    out.uns["method"] = method
    out.uns["seconds"] = float(result.seconds)
    out.uns["device"] = result.device_used
    # term -> per-epoch means (h5ad stores a dict of arrays natively, not a list of dicts)
    terms = list(result.losses[0]) if result.losses else []
    out.uns["losses"] = {t: np.array([e.get(t, np.nan) for e in result.losses], dtype=np.float64) for t in terms}
    if result.image_gate is not None:
        out.uns["image_gate"] = result.image_gate
    write_h5ad(out, embedding_out)
    with atomic_path(model_out) as tmp:
        torch.save({"state_dict": result.state_dict, "settings": result.settings, "method": method}, tmp)
    return result
