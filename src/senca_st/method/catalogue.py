"""The methods the pipeline compares, as data.

Each method is a name used as the ``{method}`` wildcard.  SENCA-st variants are
the full model with one setting changed (the paper's ablations); baselines are
fixed recipes.  Keeping them here, not in the Snakefile, lets the rules, the
training code and the tests agree on what e.g. ``senca_k8`` means.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Method:
    """One way of embedding a section's spots before clustering."""

    name: str
    kind: str  # "senca" (trained model) or "baseline"
    needs_image: bool
    description: str
    overrides: dict[str, Any] = field(default_factory=dict)


METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        Method("senca", "senca", True, "SENCA-st, RNA + H&E, the paper's settings"),
        Method(
            "senca_no_crossattn",
            "senca",
            True,
            "SENCA-st without the neighbourhood cross-attention",
            {"cross_attention": False},
        ),
        Method(
            "senca_no_hierarchy",
            "senca",
            True,
            "SENCA-st without the hierarchical (window + global) contrastive loss",
            {"hierarchy": False},
        ),
        Method("senca_k8", "senca", True, "SENCA-st with an 8-nearest-spot graph", {"k": 8}),
        Method("senca_k16", "senca", True, "SENCA-st with a 16-nearest-spot graph", {"k": 16}),
        Method(
            "senca_rna",
            "senca",
            False,
            "SENCA-st RNA branch alone (sections without an H&E image)",
            {"use_image": False},
        ),
        Method("rna_pca", "baseline", False, "PCA of the HVG expression + agglomerative"),
        Method("image_only", "baseline", True, "PCA of the ResNet patch features + agglomerative"),
        Method("concat", "baseline", True, "PCA of expression and image features, concatenated"),
    ]
}


def method(name: str) -> Method:
    """Look up a method by name, with an error listing the valid ones."""
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; choose from {', '.join(METHODS)}") from None


#: Keys of the ``train:`` block that say which runs exist (the seeds; fewer of them past a size),
#: not how one run trains: no run's settings hold them, so changing them retrains nothing.
RUN_LIST_KEYS = ("seeds", "large_spots", "large_seeds")


def train_settings(base: dict[str, Any], name: str) -> dict[str, Any]:
    """The training settings for SENCA-st variant ``name``: ``base`` with its overrides.

    ``base`` is the config's ``train:`` block (what it omits, training fills from
    ``senca_st/defaults.yaml``), less the keys that say which runs exist
    (:data:`RUN_LIST_KEYS`).
    """
    m = method(name)
    if m.kind != "senca":
        raise ValueError(f"{name} is a baseline, not a SENCA-st variant")
    return {**{k: v for k, v in base.items() if k not in RUN_LIST_KEYS}, **m.overrides}


def embedding_key(name: str) -> str:
    """The ``obsm`` key under which a method's embedding is stored."""
    return "X_senca" if method(name).kind == "senca" else f"X_{name}"


def seeded(name: str) -> bool:
    """Whether ``name`` runs once per seed of ``train.seeds`` (and its regions are a consensus).

    SENCA-st variants do: their weights, dropout and the spots NT-Xent draws come
    from the seed, and their ARI moves with it.  The baselines (PCA, then the
    clustering rule with a fixed seed) are deterministic, so they run once: more
    runs would repeat the same clusters and only cost time (their ``ari_sd`` is
    0 by construction).
    """
    return method(name).kind == "senca"


def run_seeds(train: dict[str, Any]) -> list[int]:
    """The seeds every SENCA-st variant runs with, in increasing order.

    ``train.seeds`` is the list; ``train.seed`` (one number, the older form) when
    set wins and means that one seed alone, so an older overlay that sets
    ``seed`` still gets the single run it got before.  The order written does
    not matter: runs are listed and combined in increasing seed order.
    """
    if "seed" in train:
        return [int(train["seed"])]
    return sorted({int(s) for s in train["seeds"]})


def run_settings(base: dict[str, Any], name: str, seed: int) -> dict[str, Any]:
    """The settings of one training run: :func:`train_settings` with ``seed`` and without the seed list.

    The list is no setting of any one run; keeping it out of the train rule's
    params means that adding a seed trains that seed alone.  Keys are sorted:
    Snakemake compares params in order, and the same settings merged from
    overlays in another order (``train.seed`` from an overlay, say) must not
    retrain.
    """
    settings = train_settings(base, name)
    settings["seed"] = int(seed)
    return dict(sorted(settings.items()))
