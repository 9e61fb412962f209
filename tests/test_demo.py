import hashlib

import numpy as np
from PIL import Image

from senca_st.io.demo import REGIONS, RNA_PROGRAMME, make_demo_section
from senca_st.io.sections import read_st_section


def test_demo_section_contract(tmp_path):
    paths = make_demo_section(tmp_path / "a", seed=3)
    adata = read_st_section(paths["counts"], paths["spots"], paths["labels"])
    assert adata.n_obs >= 600
    assert sorted(set(adata.obs["label"])) == sorted(REGIONS)
    counts = adata.X.toarray()
    assert (counts >= 0).all() and np.allclose(counts, np.round(counts))
    im = Image.open(paths["image"])
    assert im.mode == "RGB"
    xy = adata.obsm["spatial"]
    assert xy[:, 0].max() < im.size[0] and xy[:, 1].max() < im.size[1]


def test_demo_is_deterministic(tmp_path):
    a = make_demo_section(tmp_path / "a", seed=1)
    b = make_demo_section(tmp_path / "b", seed=1)
    for key in ("spots", "labels", "image"):
        assert hashlib.sha256(a[key].read_bytes()).digest() == hashlib.sha256(b[key].read_bytes()).digest()


def test_demo_needs_both_modalities(tmp_path):
    """One region pair shares RNA, another shares the look: neither modality alone separates all five."""
    paths = make_demo_section(tmp_path / "a", seed=0)
    adata = read_st_section(paths["counts"], paths["spots"], paths["labels"])
    labels = adata.obs["label"].to_numpy()
    counts = adata.X.toarray()
    libsize = counts.sum(1, keepdims=True)
    expr = np.log1p(counts / libsize * 1e4)
    means = {r: expr[labels == r].mean(0) for r in REGIONS}
    same_rna = np.abs(means["immune infiltrate"] - means["cancer in situ"]).max()
    diff_rna = np.abs(means["tumour core"] - means["tumour edge"]).max()
    assert RNA_PROGRAMME["immune infiltrate"] == RNA_PROGRAMME["cancer in situ"]
    assert diff_rna > 3 * same_rna
    img = np.asarray(Image.open(paths["image"])).astype(float)
    def look(region):
        xy = adata.obsm["spatial"][labels == region].astype(int)
        return img[xy[:, 1], xy[:, 0]].mean(0)
    assert np.abs(look("tumour core") - look("tumour edge")).max() < 15
    assert np.abs(look("immune infiltrate") - look("cancer in situ")).max() > 15


def test_demo_of_a_given_size(tmp_path, monkeypatch):
    """demo.n_spots: about that many spots (within 1%), in count chunks, image sized by the pitch."""
    import senca_st.io.demo as demo

    monkeypatch.setattr(demo, "CHUNK_SPOTS", 1000)  # several chunks of counts
    paths = make_demo_section(tmp_path, n_spots=3000, pitch=12.0, n_genes=50, markers=5)
    adata = read_st_section(paths["counts"], paths["spots"], paths["labels"])
    assert abs(adata.n_obs - 3000) <= 30 and adata.n_vars == 50
    assert set(adata.obs["label"]) == set(REGIONS)
    w, h = Image.open(paths["image"]).size
    assert w < 12 * 80 and h < 12 * 70  # pixels follow the pitch: ~72 x 60 spots of 12 px
    assert adata.X.sum() > 0 and len(set(adata.obs_names)) == adata.n_obs
    for n in (10_000, 100_000, 500_000):
        cols, rows = demo.lattice_for(n)
        assert abs(len(demo._lattice(cols, rows, 1.0, 0.0)) - n) <= 0.01 * n
