"""GraphST, Banksy, SpaGCN and senca_rna on the same sections, scored alike: one table of ARI, NMI and seconds.

A measurement script, not a test (``make bench`` installs the ``[peers]`` extra and runs it):

    python benchmarks/peers.py [--methods graphst,banksy,spagcn,senca_rna] [--sections A1,B1,C1,D1,151673,151674]
        [--seeds 0] [--threads N] [--pipeline-ari results/metrics/ari.tsv] [--out peers.tsv]
        [--runs runs.tsv] [--her2st-root ../shared/data/her2st] [--dlpfc-root ../shared/data/dlpfc]
        [--configfile overlay.yaml ...]

Sections and k. HER2ST sections (``A1`` ...) are read from the almaan/her2st
layout with :func:`senca_st.io.sections.read_st_section`; DLPFC sections
(``151673`` ...) from ``{dlpfc-root}/{id}.h5ad`` with the pipeline's
:func:`senca_st.io.sections.read_h5ad_section` (``obs['layer']`` the label,
``obs['array_row', 'array_col']`` kept).  Every method is asked for k = the number
of annotated regions (HER2ST A1 5, B1 4, C1 3, D1 3; DLPFC 7), as the pipeline
does, and scored with :func:`senca_st.evaluation.metrics.agreement`: ARI and NMI over
annotated spots, unlabelled and ``undetermined`` spots left out.  Every spot is
clustered.

Each peer runs as its authors run it for domains (docs/benchmarks.md, "Peers by
their own recipes").  GraphST (package ``GraphST`` 1.1.1), following its
tutorial: its own preprocessing (3000 seurat_v3 HVGs, normalise, log1p, scale),
its 3-nearest-spot graph and 600 epochs of training on the CPU, then its
published clustering, mclust EEE on PCA-20 of the embedding (:func:`mclust_eee`,
``pymclustr`` in place of R's mclust).  ``--graphst-cluster leiden`` uses its
non-R option (a resolution search for exactly k, Ward where none gives k),
``ward`` Ward throughout.  Its tutorial refines the DLPFC domains (radius 50:
majority vote over the 50 nearest spots); we do that on Visium (DLPFC) and not
on legacy ST (HER2ST, where its docs do not; ``--graphst-refine``).  Banksy: see
:func:`run_banksy`.  ``senca_rna``: the pipeline's own code at
``config/config.yaml``'s settings (:func:`run_senca_rna`), with ``--configfile``
overlays laid over them as the pipeline's ``--configfile`` does (e.g. ``preprocess.hvg_flavor``,
``cluster.refine``; give such a run its own ``--runs`` file, since runs are kept by
section, method and seed alone).  STAGATE is on no
index this machine reaches, so it is not here.

SpaGCN (package ``SpaGCN`` 1.2.7), following its tutorial without histology
(``histology=False``: the image terms ``b``/``beta`` and ``alpha``/``s`` are
unused): pixel-distance adjacency, ``prefilter_genes(min_cells=3)``,
``prefilter_specialgenes``, ``normalize_per_cell``, ``log1p``; ``search_l`` for
p = 0.5, ``search_res`` for k domains (start 0.7, step 0.1, lr 0.05, 20
epochs), training (louvain init, lr 0.05, 200 epochs, tol 5e-3), then its
``refine`` on array coordinates with ``shape='hexagon'`` for Visium and
``'square'`` for ST.  The scored domains are the refined ones.  ``search_res``
may stop without exactly k (its ``max_run``); ``n_found`` says how many
domains came out.  SpaGCN 1.2.7 reads ``adata.X.A``, which SciPy >= 1.14 no
longer has for sparse matrices, so it gets a dense ``X`` (same values).

Seeds: ``--seeds 0,1,2`` runs each method once per seed (GraphST's
``random_seed``; SpaGCN's ``r_seed = t_seed = n_seed``; Banksy's PCA;
``senca_rna``'s ``train.seed`` and mixture); the table shows the
mean and, with several seeds, the sd over seeds.  ``seconds`` is the wall time
of one method call (its preprocessing, training, clustering and refinement; not
reading the files), on ``--threads`` threads (torch, BLAS, numba).  The
pipeline's ``seconds`` (rows ``senca (ari.tsv)``/``senca_rna (ari.tsv)`` from
``--pipeline-ari``) is its embedding step's wall time only.

``--runs FILE`` keeps one line per (section, method, seed) run: runs already
there are reused rather than run again, each finished run is added at once
(under a lock, so two invocations can share the file), and the table is built
from every run in the file for the requested sections and methods.
``--table-only`` runs nothing and prints the table of what ``--runs`` (and
``--pipeline-ari``) hold.  ``--out FILE`` writes the printed table as TSV
(atomically).
"""

from __future__ import annotations

import os
import sys


def _threads_from_argv(argv: list[str]) -> str | None:
    """``--threads N`` from the command line, before NumPy loads its BLAS (which reads the env once)."""
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--threads="):
            return arg.split("=", 1)[1]
    return None


if __name__ == "__main__":  # pragma: no cover - set before numpy/torch/numba are imported
    _n = _threads_from_argv(sys.argv[1:]) or str(len(os.sched_getaffinity(0)))
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[_var] = _n

import argparse  # noqa: E402
import contextlib  # noqa: E402
import fcntl  # noqa: E402
import math  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from senca_st.evaluation.metrics import agreement, n_regions  # noqa: E402
from senca_st.io.store import dense, write_tsv  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
METHODS = ("graphst", "banksy", "spagcn", "senca_rna")
PIPELINE_METHODS = ("senca", "senca_rna")  # rows read from the pipeline's ari.tsv (--pipeline-ari)
PIPELINE_SUFFIX = " (ari.tsv)"
HER2ST_SECTIONS = ("A1", "B1", "C1", "D1")
DLPFC_SECTIONS = ("151673", "151674")
DATASETS = ("her2st", "dlpfc")
RUN_COLUMNS = [
    "section", "dataset", "method", "seed", "ari", "nmi", "seconds",
    "n_spots", "n_annotated", "k", "n_found", "threads", "note",
]


# --------------------------------------------------------------------------- sections


@dataclass
class Section:
    """One section as every peer gets it: raw counts, coordinates, labels, layout."""

    name: str
    dataset: str
    adata: object  # anndata.AnnData: raw counts in X, obsm['spatial'] pixels, obs['array_row', 'array_col']
    labels: pd.Series  # NaN or 'undetermined' where not annotated

    @property
    def visium(self) -> bool:
        return self.dataset == "dlpfc"

    @property
    def k(self) -> int:
        return n_regions(self.labels)


def dataset_of(section: str) -> str:
    """``her2st`` for ST section ids (``A1`` ... ``H3``), ``dlpfc`` for spatialLIBD sample ids (``151673``)."""
    if re.fullmatch(r"[A-H][1-6]", section):
        return "her2st"
    if re.fullmatch(r"\d{6}", section):
        return "dlpfc"
    raise ValueError(f"section {section!r} is neither a HER2ST id (A1 ... H3) nor a DLPFC sample id (151673 ...)")


def read_her2st(root: Path, s: str) -> Section:
    from senca_st.io.sections import read_st_section

    d = Path(root) / "data"
    adata = read_st_section(
        d / "ST-cnts" / f"{s}.tsv.gz",
        d / "ST-spotfiles" / f"{s}_selection.tsv",
        d / "ST-pat" / "lbl" / f"{s}_labeled_coordinates.tsv",
    )
    return Section(s, "her2st", adata, adata.obs["label"].copy())


def read_dlpfc(root: Path, s: str) -> Section:
    """A spatialLIBD section through the pipeline's own h5ad reader, its ``obs['layer']`` as the label."""
    from senca_st.io.sections import read_h5ad_section

    path = Path(root) / f"{s}.h5ad"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: DLPFC section not found (give its folder with --dlpfc-root)")
    adata = read_h5ad_section(path, label_key="layer")
    missing = [k for k in ("array_row", "array_col") if k not in adata.obs]
    if missing:  # GraphST's and SpaGCN's refinement read the array grid
        raise ValueError(f"{path}: obs lacks integer {', '.join(missing)}")
    return Section(s, "dlpfc", adata, adata.obs["label"].copy())


def read_section(s: str, her2st_root: Path, dlpfc_root: Path) -> Section:
    return read_her2st(her2st_root, s) if dataset_of(s) == "her2st" else read_dlpfc(dlpfc_root, s)


def _counts_copy(section: Section, as_dense: bool = False):
    """A fresh AnnData of raw counts (float32) with unique gene names: peers modify what they get."""
    import anndata as ad
    import scipy.sparse as sp

    a = section.adata
    X = sp.csr_matrix(a.X, dtype=np.float32)
    out = ad.AnnData(
        X=X.toarray() if as_dense else X,
        obs=pd.DataFrame(
            {"array_row": a.obs["array_row"].to_numpy(), "array_col": a.obs["array_col"].to_numpy()},
            index=a.obs_names.astype(str),
        ),
        var=pd.DataFrame(index=a.var_names.astype(str)),
    )
    out.obsm["spatial"] = np.asarray(a.obsm["spatial"], dtype=np.float64)
    out.var_names_make_unique()
    return out


# --------------------------------------------------------------------------- the peers


def _import_louvain() -> None:
    """Import ``louvain`` 0.8.2 (what scanpy's ``tl.louvain``, and so SpaGCN, runs) where setuptools lacks pkg_resources.

    Its ``__init__`` reads its own version with ``pkg_resources.get_distribution``; setuptools >= 81 no
    longer ships ``pkg_resources``.  Where that import fails, a stand-in with just those two names
    (backed by importlib.metadata) is in ``sys.modules`` for the duration of the import only.
    """
    import importlib
    import importlib.metadata
    import types

    try:
        importlib.import_module("pkg_resources")
    except ImportError:
        shim = types.ModuleType("pkg_resources")

        class DistributionNotFound(Exception):
            pass

        def get_distribution(name: str):
            try:
                return types.SimpleNamespace(version=importlib.metadata.version(name))
            except importlib.metadata.PackageNotFoundError as err:
                raise DistributionNotFound(name) from err

        shim.DistributionNotFound, shim.get_distribution = DistributionNotFound, get_distribution
        sys.modules["pkg_resources"] = shim
        try:
            importlib.import_module("louvain")
        finally:
            sys.modules.pop("pkg_resources", None)
    else:
        importlib.import_module("louvain")


def _peer_imports(method: str) -> None:
    """What ``method`` imports at run time, its own package and what that package needs but does not declare."""
    if method == "graphst":
        import GraphST  # noqa: F401  the peer (its metadata declares only `requests`)
        import igraph  # noqa: F401  scanpy's tl.leiden, GraphST's non-R clustering
        import leidenalg  # noqa: F401
        import mclust_py  # noqa: F401  pymclustr: GraphST's published clustering, mclust EEE
        import ot  # noqa: F401  POT: GraphST's spot graph and refinement
        import skmisc  # noqa: F401  scikit-misc: scanpy's seurat_v3 HVGs in GraphST's preprocessing
    elif method == "banksy":
        import banksy  # noqa: F401  the peer (pybanksy)
        import mclust_py  # noqa: F401, F811  Banksy's clustering for a known number of domains
    elif method == "spagcn":
        import igraph  # noqa: F401, F811  scanpy's tl.louvain, SpaGCN's initial clusters
        import SpaGCN  # noqa: F401  the peer

        _import_louvain()
    elif method != "senca_rna":  # the pipeline's own code: installed with the package
        raise ValueError(f"unknown method {method!r}")


def require(method: str) -> None:
    """Import what ``method`` needs; an ImportError naming the install command if something is missing."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # deprecation notices of old packages
            _peer_imports(method)
    except ImportError as err:
        raise ImportError(
            f"{method} needs {err.name or err} ({err}). Install the peers with `make bench` or "
            f"`pip install -c constraints.txt -e '.[peers]'`."
        ) from err


def _seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Both packages print every epoch and resolution tried; keep it out of the table's way."""
    import warnings

    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def mclust_eee(X: np.ndarray, k: int) -> np.ndarray:
    """mclust's ``Mclust(X, G=k, modelNames="EEE")`` classification, through pymclustr (mclust in Python).

    What GraphST's ``mclust_R`` and Banksy's ``run_mclust_partition`` call in R: one EM fit from mclust's
    own model-based hierarchical start, so it needs no seed.  The data are divided by one common sd
    first (EEE's fit is equivariant under a common scale; this keeps pymclustr's hierarchical start in
    a well-conditioned range).
    """
    from mclust_py.mclust import Mclust

    X = np.asarray(X, dtype=np.float64)
    fit = Mclust(X / np.sqrt(X.var(axis=0).mean()), G=k, model_names=["EEE"])
    if fit is None or getattr(fit, "classification", None) is None:
        raise RuntimeError(f"mclust EEE found no fit with {k} components")
    return np.asarray(fit.classification)


def run_graphst(
    section: Section, k: int, seed: int, *, cluster: str = "mclust", refine: bool | None = None, epochs: int = 600
) -> tuple[np.ndarray, str]:
    """GraphST's tutorial on one section (CPU); the clusters and a note on how they were found."""
    import torch
    from GraphST import GraphST as graphst_module
    from GraphST.utils import clustering, refine_label
    from sklearn.decomposition import PCA

    from senca_st.method.clustering import cluster_spots

    refine = section.visium if refine is None else refine
    adata = _counts_copy(section)
    with _quiet():
        model = graphst_module.GraphST(adata, device=torch.device("cpu"), random_seed=seed, epochs=epochs)
        adata = model.train()
        note = ""
        # GraphST.utils.clustering's own PCA: 20 components, random_state 42
        pcs = PCA(n_components=20, random_state=42).fit_transform(adata.obsm["emb"])
        if cluster == "mclust":
            adata.obs["domain"] = mclust_eee(pcs, k).astype(str)
            note = "mclust EEE"
        elif cluster == "leiden":
            try:
                clustering(adata, n_clusters=k, radius=50, method="leiden", start=0.1, end=2.0, increment=0.01, refinement=False)
                note = "leiden"
            except AssertionError:  # its resolution search found no resolution giving k clusters
                note = "ward (leiden search found no resolution giving k)"
        if cluster == "ward" or note.startswith("ward"):
            adata.obs["domain"] = cluster_spots(pcs, k, method="ward").astype(str)
            note = note or "ward"
        if refine:
            adata.obs["domain"] = refine_label(adata, 50, key="domain")
    if refine:
        note += ", refined (radius 50)"
    return _codes(adata.obs["domain"]), note


def run_banksy(section: Section, k: int, seed: int, *, lambda_: float = 0.2, pcs: int = 25, n_top_genes: int = 3000) -> tuple[np.ndarray, str]:
    """Banksy (``pybanksy``) for domains as its DLPFC vignette runs it; the clusters and a note.

    Library-size normalisation and log1p, the top 3000 HVGs (``seurat`` flavour, as pybanksy's
    ``filter_hvg``; the vignette's 3000 per sample);
    the neighbour matrix over the first ring of spots (``k_geom`` 6 on Visium's hexagonal lattice,
    4 on legacy ST's square one: the vignette's "first order neighbors"), scaled Gaussian decay and
    no azimuthal Gabor filter (``max_m`` 0); λ = 0.2, the setting its authors give for domains;
    PCA to the vignette's 25 components of the z-scored Banksy matrix (the seed is the PCA's), then
    mclust EEE with k components (Banksy's ``run_mclust_partition``, for a known number of domains;
    the vignette's Leiden at resolution 0.5 does not fix k).  With 2000 HVGs, 151673 scored
    0.25-0.53 here; the vignette's 3000 HVGs and 25 components give its published 0.61.
    """
    import scanpy as sc
    from banksy.embed_banksy import generate_banksy_matrix
    from banksy.initialize_banksy import initialize_banksy
    from sklearn.decomposition import PCA

    adata = _counts_copy(section)
    k_geom = 6 if section.visium else 4
    with _quiet(), contextlib.redirect_stdout(sys.stderr):
        sc.pp.normalize_total(adata)
        sc.pp.log1p(adata)
        sc.pp.highly_variable_genes(adata, n_top_genes=n_top_genes, flavor="seurat")
        adata = adata[:, adata.var["highly_variable"]].copy()
        adata.obs["xcoord"], adata.obs["ycoord"] = adata.obsm["spatial"][:, 0], adata.obsm["spatial"][:, 1]
        adata.obsm["coord_xy"] = adata.obsm["spatial"]
        banksy_dict = initialize_banksy(
            adata, ("xcoord", "ycoord", "coord_xy"), num_neighbours=k_geom, nbr_weight_decay="scaled_gaussian",
            max_m=0, plt_edge_hist=False, plt_nbr_weights=False, plt_agf_angles=False, plt_theta=False,
        )
        _, banksy_matrix = generate_banksy_matrix(adata, banksy_dict, [lambda_], max_m=0, verbose=False)
    P = PCA(n_components=pcs, random_state=seed).fit_transform(dense(banksy_matrix.X))
    return mclust_eee(P, k), f"lambda {lambda_}, k_geom {k_geom}, PCA {pcs}, mclust EEE"


def run_senca_rna(
    section: Section, k: int, seed: int, *, overlays: tuple[Path, ...] = ()
) -> tuple[np.ndarray, str]:
    """``senca_rna`` as the pipeline runs it at ``config/config.yaml``'s settings, on the same section.

    The section as the pipeline reads it (:func:`read_her2st`, :func:`read_dlpfc`), its
    preprocessing (``preprocess:``), training (``train:`` with ``seed``) and clustering
    (``cluster.method`` on ``cluster.pcs`` components, seeded like the pipeline's, then
    ``cluster.refine``), so its row is what ``results/metrics/ari.tsv`` would hold for one
    seed.  ``overlays``: config files laid over ``config/config.yaml`` in order.
    """
    from senca_st.defaults import load_config
    from senca_st.method.catalogue import train_settings
    from senca_st.method.clustering import cluster_spots, refine_labels
    from senca_st.method.preprocess import preprocess_section
    from senca_st.method.training import train_section

    cfg = load_config(REPO / "config" / "config.yaml", *overlays)
    a = preprocess_section(section.adata.copy(), **cfg["preprocess"])
    settings = {**train_settings(cfg["train"], "senca_rna"), "seed": seed}
    emb = train_section(a.X, a.obsm["spatial"], None, settings, log=lambda m: None).embedding
    method, pcs, refine = cfg["cluster"]["method"], int(cfg["cluster"]["pcs"]), cfg["cluster"]["refine"]
    kept = refine_labels(cluster_spots(emb, k, method=method, n_components=pcs, seed=seed), a.obsm["spatial"], refine)
    note = f"pipeline settings: {cfg['preprocess']['hvg_flavor']} HVGs, {method} on {pcs} PCs, refine {refine}"
    # Every spot is scored, as for the peers: a spot preprocessing left out (too few counts) takes
    # the region of the nearest spot it kept.
    pos = pd.Index(a.obs_names).get_indexer(section.adata.obs_names.astype(str))
    if (pos < 0).any():
        from scipy.spatial import cKDTree

        lost = np.flatnonzero(pos < 0)
        _, near = cKDTree(a.obsm["spatial"]).query(np.asarray(section.adata.obsm["spatial"])[lost])
        pos[lost] = near
        note += f"; {lost.size} spot(s) preprocessing left out take their nearest spot's region"
    return kept[pos], note


def run_spagcn(section: Section, k: int, seed: int) -> tuple[np.ndarray, str]:
    """SpaGCN's tutorial without histology on one section; the refined domains and a note."""
    import scanpy as sc
    import SpaGCN as spg
    import torch

    adata = _counts_copy(section, as_dense=True)  # SpaGCN 1.2.7 calls X.A, gone from SciPy's sparse matrices
    pixel = adata.obsm["spatial"]
    with _quiet():
        # x = image row, y = image column, as the tutorial's x_pixel/y_pixel; only distances matter here
        adj = spg.calculate_adj_matrix(x=pixel[:, 1].tolist(), y=pixel[:, 0].tolist(), histology=False)
        spg.prefilter_genes(adata, min_cells=3)
        spg.prefilter_specialgenes(adata)
        sc.pp.normalize_per_cell(adata)
        sc.pp.log1p(adata)
        l_value = spg.search_l(0.5, adj, start=0.01, end=1000, tol=0.01, max_run=100)
        if l_value is None:
            raise RuntimeError("SpaGCN search_l found no l for p = 0.5")
        res = spg.search_res(
            adata, adj, l_value, k, start=0.7, step=0.1, tol=5e-3, lr=0.05, max_epochs=20,
            r_seed=seed, t_seed=seed, n_seed=seed,
        )
        clf = spg.SpaGCN()
        clf.set_l(l_value)
        random.seed(seed)
        torch.manual_seed(seed)
        np.random.seed(seed)
        clf.train(adata, adj, init_spa=True, init="louvain", res=res, tol=5e-3, lr=0.05, max_epochs=200)
        y_pred, _ = clf.predict()
        adj_2d = spg.calculate_adj_matrix(
            x=adata.obs["array_row"].tolist(), y=adata.obs["array_col"].tolist(), histology=False
        )
        shape = "hexagon" if section.visium else "square"
        refined = spg.refine(sample_id=adata.obs_names.tolist(), pred=y_pred.tolist(), dis=adj_2d, shape=shape)
    return _codes(pd.Series(refined)), f"l={l_value:.4g} res={res:.4g}, refined ({shape})"


def _codes(values) -> np.ndarray:
    return pd.factorize(pd.Series(np.asarray(values)).astype(str), sort=True)[0].astype(np.int64)


# --------------------------------------------------------------------------- one run, many runs


def score(labels: pd.Series, clusters: np.ndarray) -> dict[str, float]:
    """The pipeline's rule: ARI/NMI over annotated spots (unlabelled and 'undetermined' left out)."""
    return agreement(labels.reset_index(drop=True), np.asarray(clusters))


def run_one(
    section: Section, method: str, seed: int, threads: int, runner: Callable[..., tuple[np.ndarray, str]] | None = None,
    **options,
) -> dict:
    """Run ``method`` once on ``section`` and score it; a failure becomes a record with NaN scores and the error."""
    runner = runner or {
        "graphst": run_graphst, "banksy": run_banksy, "spagcn": run_spagcn, "senca_rna": run_senca_rna,
    }[method]
    k = section.k
    record = {
        "section": section.name, "dataset": section.dataset, "method": method, "seed": seed,
        "ari": math.nan, "nmi": math.nan, "seconds": math.nan, "n_spots": int(section.adata.n_obs),
        "n_annotated": math.nan, "k": k, "n_found": math.nan, "threads": threads, "note": "",
    }
    t = time.perf_counter()
    try:
        if method in ("graphst", "spagcn"):
            _seed_everything(seed)
        clusters, note = runner(section, k, seed, **options)
    except Exception as err:  # one failed run must not lose the others
        record["seconds"] = round(time.perf_counter() - t, 1)
        record["note"] = f"failed: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        traceback.print_exc(file=sys.stderr)
        return record
    record["seconds"] = round(time.perf_counter() - t, 1)
    clusters = np.asarray(clusters)
    if clusters.shape[0] != section.adata.n_obs:
        raise RuntimeError(f"{method} returned {clusters.shape[0]} clusters for {section.adata.n_obs} spots")
    m = score(section.labels, clusters)
    record.update(ari=m["ari"], nmi=m["nmi"], n_annotated=m["n_annotated"], n_found=int(np.unique(clusters).size), note=note)
    return record


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    lock = path.with_name(f".{path.name}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def read_runs(path: Path | None) -> pd.DataFrame:
    if path is None or not Path(path).is_file():
        return pd.DataFrame(columns=RUN_COLUMNS)
    df = pd.read_csv(path, sep="\t", dtype={"section": str, "note": str}, keep_default_na=True)
    df["note"] = df["note"].fillna("")
    return df


def add_run(path: Path | None, record: dict) -> None:
    """Add (or replace) one run in the runs file: read, merge and atomic rewrite under a lock."""
    if path is None:
        return
    path = Path(path)
    with _locked(path):
        old = read_runs(path)
        key = (record["section"], record["method"], int(record["seed"]))
        keep = [
            (s, m, int(x)) != key for s, m, x in zip(old["section"], old["method"], old["seed"])
        ]
        new = pd.concat([old[keep], pd.DataFrame([record])[RUN_COLUMNS]], ignore_index=True) if len(old) else pd.DataFrame(
            [record]
        )[RUN_COLUMNS]
        write_tsv(new, path)


# --------------------------------------------------------------------------- the table


def pipeline_runs(path: Path | None, sections: list[str], methods=PIPELINE_METHODS) -> pd.DataFrame:
    """Rows of the pipeline's ari.tsv for these sections and methods, as runs (ari_sd kept where given).

    Their method is named ``<method> (ari.tsv)``: ``senca_rna`` alone is this script's own run of it.
    """
    if path is None:
        return pd.DataFrame()
    df = pd.read_csv(path, sep="\t", dtype={"sample": str})
    need = {"sample", "method", "ari"} - set(df.columns)
    if need:
        raise ValueError(f"{path}: lacks column(s) {', '.join(sorted(need))}")
    df = df[df["method"].isin(methods) & df["sample"].isin(sections)].copy()
    out = pd.DataFrame(
        {
            "section": df["sample"],
            "dataset": [dataset_of(s) for s in df["sample"]],
            "method": df["method"] + PIPELINE_SUFFIX,
            "ari": df["ari"],
            "nmi": df["nmi"] if "nmi" in df else math.nan,
            "seconds": df["seconds"] if "seconds" in df else math.nan,
            "k": df["n_clusters"] if "n_clusters" in df else math.nan,
        }
    )
    if "ari_sd" in df:
        out["ari_sd"] = df["ari_sd"].to_numpy()
    if "nmi_sd" in df:
        out["nmi_sd"] = df["nmi_sd"].to_numpy()
    if "n_seeds" in df:
        out["n_seeds"] = df["n_seeds"].to_numpy()
    return out


def build_table(runs: pd.DataFrame, pipeline: pd.DataFrame | None = None, sections: list[str] | None = None) -> pd.DataFrame:
    """Sections × method: ARI, NMI, seconds (mean over seeds; sd where several), then a mean row per dataset.

    Rows are sections (in ``sections`` order) followed by ``mean <dataset>``; columns a two-level index
    (method, metric) with metric in ari, ari_sd, nmi, nmi_sd, seconds, n_seeds.  A dataset's mean is over
    all its sections in the table, and left empty for a method that lacks (or failed on) one of them, so
    that means compare methods on the same sections.
    """
    frames = []
    if len(runs):
        ok = runs.dropna(subset=["ari"])
        g = ok.groupby(["section", "dataset", "method"], sort=False)
        agg = g.agg(
            ari=("ari", "mean"), ari_sd=("ari", lambda v: v.std(ddof=1) if len(v) > 1 else math.nan),
            nmi=("nmi", "mean"), nmi_sd=("nmi", lambda v: v.std(ddof=1) if len(v) > 1 else math.nan),
            seconds=("seconds", "mean"), n_seeds=("ari", "size"), k=("k", "first"),
        ).reset_index()
        frames.append(agg)
    if pipeline is not None and len(pipeline):
        p = pipeline.groupby(["section", "dataset", "method"], sort=False).agg(
            ari=("ari", "mean"), nmi=("nmi", "mean"), seconds=("seconds", "mean"), k=("k", "first"),
            **({"ari_sd": ("ari_sd", "mean")} if "ari_sd" in pipeline else {}),
            **({"nmi_sd": ("nmi_sd", "mean")} if "nmi_sd" in pipeline else {}),
            **({"n_seeds": ("n_seeds", "max")} if "n_seeds" in pipeline else {}),
        ).reset_index()
        if "n_seeds" not in p:
            p["n_seeds"] = math.nan
        frames.append(p)
    if not frames:
        return pd.DataFrame()
    long = pd.concat(frames, ignore_index=True)
    for col in ("ari_sd", "nmi_sd"):
        if col not in long:
            long[col] = math.nan
    metrics = ["ari", "ari_sd", "nmi", "nmi_sd", "seconds", "n_seeds"]
    order = list(dict.fromkeys(sections or [])) + [s for s in dict.fromkeys(long["section"]) if s not in (sections or [])]
    order = [s for s in order if s in set(long["section"])]
    known = (*METHODS, *(m + PIPELINE_SUFFIX for m in PIPELINE_METHODS))
    method_order = [m for m in known if m in set(long["method"])] + sorted(set(long["method"]) - set(known))
    wide = long.set_index(["section", "method"])[metrics].unstack("method")
    wide = wide.swaplevel(0, 1, axis=1).reindex(
        columns=pd.MultiIndex.from_product([method_order, metrics], names=["method", "metric"])
    ).reindex(order)
    info = long.drop_duplicates("section").set_index("section")
    k = long.dropna(subset=["k"]).drop_duplicates("section").set_index("section")["k"]
    wide.insert(0, ("", "k"), [k.get(s, math.nan) for s in order])
    wide.insert(0, ("", "dataset"), [info.loc[s, "dataset"] for s in order])
    means = []
    for ds in [d for d in DATASETS if d in set(wide[("", "dataset")])] + sorted(set(wide[("", "dataset")]) - set(DATASETS)):
        part = wide[wide[("", "dataset")] == ds]
        if len(part) < 2:
            continue
        row = {("", "dataset"): ds, ("", "k"): math.nan}
        for m in method_order:
            complete = part[(m, "ari")].notna().all()
            for metric in ("ari", "nmi", "seconds"):
                row[(m, metric)] = part[(m, metric)].mean() if complete else math.nan
            row[(m, "ari_sd")] = row[(m, "nmi_sd")] = row[(m, "n_seeds")] = math.nan
        means.append(pd.Series(row, name=f"mean {ds}"))
    if means:
        wide = pd.concat([wide, pd.DataFrame(means)])
    wide.index.name = "section"
    return wide


def format_table(table: pd.DataFrame) -> str:
    """The table as plain text: one column group per method (ARI [± sd], NMI, s)."""
    if table.empty:
        return "no runs"
    methods = [m for m in dict.fromkeys(table.columns.get_level_values(0)) if m]
    with_sd = {m: bool(table[(m, "ari_sd")].notna().any()) for m in methods}

    def num(v, fmt):
        return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)

    header1 = ["", "", ""]
    header2 = ["section", "dataset", "k"]
    rows = []
    for m in methods:
        cols = ["ARI"] + (["sd"] if with_sd[m] else []) + ["NMI", "s"]
        header1 += [m] + [""] * (len(cols) - 1)
        header2 += cols
    for name, r in table.iterrows():
        cells = [str(name), str(r[("", "dataset")]), num(r[("", "k")], ".0f")]
        for m in methods:
            cells.append(num(r[(m, "ari")], ".3f"))
            if with_sd[m]:
                cells.append(num(r[(m, "ari_sd")], ".3f"))
            cells += [num(r[(m, "nmi")], ".3f"), num(r[(m, "seconds")], ".1f")]
        rows.append(cells)
    widths = [max(len(x[i]) for x in [header1, header2, *rows]) for i in range(len(header2))]
    lines = []
    for i, cells in enumerate([header1, header2, *rows]):
        left = 2 if i else 0
        lines.append(
            "  ".join(c.ljust(w) if j < left or (i == 0 and c) else c.rjust(w) for j, (c, w) in enumerate(zip(cells, widths))).rstrip()
        )
    seeds = sorted({int(n) for m in methods for n in table[(m, "n_seeds")].dropna()})
    foot = [
        "ARI/NMI over annotated spots (unlabelled and 'undetermined' left out); k = annotated regions; "
        "s = wall seconds per run (peers and senca_rna: the whole method; rows from ari.tsv: the pipeline's embedding step).",
        "mean <dataset>: over all its sections; '-' where a method lacks one.",
    ]
    if seeds and seeds != [1]:
        foot.append(f"ARI/NMI/s are means over seeds ({', '.join(map(str, seeds))} per cell), sd over seeds.")
    return "\n".join(lines + [""] + foot)


def flat_table(table: pd.DataFrame) -> pd.DataFrame:
    """The table with one column level (``graphst_ari`` ...), as written by ``--out``."""
    flat = table.copy()
    flat.columns = [b if not a else f"{a}_{b}" for a, b in table.columns]
    return flat.reset_index()


# --------------------------------------------------------------------------- command line


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated, of {', '.join(METHODS)} (default all)")
    ap.add_argument(
        "--sections", default=",".join(HER2ST_SECTIONS + DLPFC_SECTIONS),
        help="comma-separated HER2ST ids (A1 ...) and DLPFC sample ids (151673 ...)",
    )
    ap.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="torch/BLAS/numba threads")
    ap.add_argument("--her2st-root", type=Path, default=DATA / "her2st", help="almaan/her2st layout (data/ST-cnts ...)")
    ap.add_argument("--dlpfc-root", type=Path, default=DATA / "dlpfc", help="folder with {section}.h5ad")
    ap.add_argument("--pipeline-ari", type=Path, help="the pipeline's results/metrics/ari.tsv: adds senca/senca_rna rows")
    ap.add_argument("--out", type=Path, help="write the table as TSV here (atomically)")
    ap.add_argument("--runs", type=Path, help="per-run TSV: reuse runs found there, add each new one as it finishes")
    ap.add_argument(
        "--table-only", action="store_true",
        help="run nothing: the table from the runs in --runs (and --pipeline-ari) for these sections and methods",
    )
    ap.add_argument("--graphst-cluster", choices=("mclust", "leiden", "ward"), default="mclust")
    ap.add_argument(
        "--graphst-refine", choices=("auto", "on", "off"), default="auto",
        help="GraphST's radius-50 refinement; auto: on for Visium (DLPFC), off for ST (HER2ST)",
    )
    ap.add_argument("--graphst-epochs", type=int, default=600, help=argparse.SUPPRESS)
    ap.add_argument(
        "--configfile", type=Path, nargs="+", default=[],
        help="senca_rna: config overlays laid over config/config.yaml, as the pipeline's --configfile",
    )
    args = ap.parse_args(argv)
    args.methods = [m.strip().lower() for m in args.methods.split(",") if m.strip()]
    bad = sorted(set(args.methods) - set(METHODS))
    if bad or not args.methods:
        ap.error(f"--methods: unknown {', '.join(bad) or '(none given)'}; choose from {', '.join(METHODS)}")
    args.sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    for s in args.sections:
        try:
            dataset_of(s)
        except ValueError as err:
            ap.error(f"--sections: {err}")
    try:
        args.seeds = list(dict.fromkeys(int(x) for x in args.seeds.split(",") if x.strip()))
    except ValueError:
        ap.error(f"--seeds: {args.seeds!r} is not a comma-separated list of integers")
    if not args.seeds:
        ap.error("--seeds: give at least one seed")
    if args.threads < 1:
        ap.error("--threads must be at least 1")
    if args.table_only and not (args.runs or args.pipeline_ari):
        ap.error("--table-only needs --runs or --pipeline-ari")
    return args


def method_options(args: argparse.Namespace, method: str) -> dict:
    if method == "graphst":
        refine = {"auto": None, "on": True, "off": False}[args.graphst_refine]
        return {"cluster": args.graphst_cluster, "refine": refine, "epochs": args.graphst_epochs}
    if method == "senca_rna":
        return {"overlays": tuple(args.configfile)}
    return {}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    done = read_runs(args.runs)
    ok = done.dropna(subset=["ari"])  # failed runs are tried again
    have = {(s, m, int(x)) for s, m, x in zip(ok["section"], ok["method"], ok["seed"])}
    todo = [
        (s, m, seed) for s in args.sections for m in args.methods for seed in args.seeds if (s, m, seed) not in have
    ]
    if args.table_only:
        todo = []
    else:
        import torch

        torch.set_num_threads(args.threads)
        for method in args.methods:
            require(method)
        reused = len(args.sections) * len(args.methods) * len(args.seeds) - len(todo)
        print(
            f"{len(todo)} run(s) to do on {args.threads} thread(s)" + (f", {reused} reused from {args.runs}" if reused else ""),
            file=sys.stderr,
        )
    records = []
    sections: dict[str, Section] = {}
    for s, m, seed in todo:
        if s not in sections:
            sections[s] = read_section(s, args.her2st_root, args.dlpfc_root)
        sec = sections[s]
        r = run_one(sec, m, seed, args.threads, **method_options(args, m))
        records.append(r)
        add_run(args.runs, r)
        print(
            f"{s} {m} seed {seed}: ARI {r['ari']:.3f} NMI {r['nmi']:.3f} {r['seconds']:.1f} s "
            f"(k {r['k']}, {r['n_found']} found, {r['n_spots']} spots) {r['note']}",
            file=sys.stderr, flush=True,
        )
    runs = read_runs(args.runs) if args.runs else pd.DataFrame(records, columns=RUN_COLUMNS)
    runs = runs[runs["section"].isin(args.sections) & runs["method"].isin(args.methods) & runs["seed"].isin(args.seeds)]
    table = build_table(runs, pipeline_runs(args.pipeline_ari, args.sections), args.sections)
    print(format_table(table))
    failed = runs[runs["ari"].isna()]
    for _, r in failed.iterrows():
        print(f"FAILED {r['section']} {r['method']} seed {r['seed']}: {r['note']}", file=sys.stderr)
    missing = len(args.sections) * len(args.methods) * len(args.seeds) - len(runs)
    if missing > 0:
        print(f"{missing} run(s) of these sections, methods and seeds have no result yet", file=sys.stderr)
    if args.out:
        write_tsv(flat_table(table), args.out)
        print(f"table written to {args.out}", file=sys.stderr)
    return 1 if len(failed) else 0


if __name__ == "__main__":
    sys.exit(main())
