"""HVG selection (senca_st.method.preprocess.log_top_genes) under each scanpy flavour it takes."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from senca_st.defaults import default
from senca_st.method.preprocess import HVG_FLAVOR, HVG_FLAVORS, log_top_genes, preprocess_section


def _counts(seed: int = 0) -> tuple[ad.AnnData, list[str]]:
    """300 spots x 1000 genes of Poisson noise; 10 genes at common levels are 6x higher in half the spots."""
    rng = np.random.default_rng(seed)
    n, g = 300, 1000
    level = rng.uniform(0.5, 5.0, g)
    marked = rng.choice(g, 10, replace=False)
    level[marked] = rng.uniform(0.5, 1.5, 10)  # among the commonest levels, where every flavour's bins are full
    X = rng.poisson(level, (n, g)).astype(np.float32)
    region = np.arange(n) < n // 2
    X[np.ix_(region, marked)] = rng.poisson(6 * level[marked], (int(region.sum()), 10))
    a = ad.AnnData(X=X, obs=pd.DataFrame(index=[f"s{i}" for i in range(n)]))
    a.var_names = [f"g{j}" for j in range(g)]
    return a, [f"g{j}" for j in marked]


@pytest.mark.parametrize("flavor", HVG_FLAVORS)
def test_each_flavour_keeps_the_region_genes(flavor):
    # seurat_v3 runs here for real: scikit-misc, which scanpy needs for it, is a dependency
    a, marked = _counts()
    raw = a.X.copy()
    out = log_top_genes(a, 50, flavor)
    assert out.n_vars == 50
    assert set(marked) <= set(out.var_names)
    assert out.X.dtype == np.float32 and float(out.X.max()) < np.log1p(1e4)  # log-normalised, not counts
    kept = [a.var_names.get_loc(v) for v in out.var_names]
    np.testing.assert_array_equal(np.asarray(out.layers["counts"]), raw[:, kept])


def test_preprocess_section_passes_the_flavour():
    a, _ = _counts(1)
    kw = dict(n_top_genes=50, min_spots_per_gene=1, min_counts_per_spot=1)
    by = {f: list(preprocess_section(a, hvg_flavor=f, **kw).var_names) for f in ("seurat", "cell_ranger")}
    assert by["seurat"] != by["cell_ranger"]  # beyond the 10 region genes the flavours rank noise differently
    assert HVG_FLAVOR == default("preprocess.hvg_flavor") == "seurat"  # docs/benchmarks.md, "Which genes"
    assert list(preprocess_section(a, **kw).var_names) == by["seurat"]


def test_unknown_flavour_is_refused():
    a, _ = _counts()
    with pytest.raises(ValueError, match="unknown HVG flavour 'pearson'.*seurat_v3"):
        log_top_genes(a, 50, "pearson")
