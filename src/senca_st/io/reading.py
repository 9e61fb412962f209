"""What every section reader shares: delimited tables read with one-line errors, and the contract's AnnData.

The readers (:mod:`senca_st.io.st_layout`, :mod:`senca_st.io.visium`,
:mod:`senca_st.io.h5ad`) all end in :func:`contract_anndata`, so every source
gives the same AnnData (docs/ARCHITECTURE.md, "The section contract").
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from senca_st.errors import InputError


def read_table(path: Path, what: str, min_columns: int = 2, sep: str = "\t", **kwargs) -> pd.DataFrame:
    """Read a delimited table (tab-separated unless ``sep`` says otherwise), every parse failure an InputError naming ``path``."""
    kind, export = ("tab", "TSV") if sep == "\t" else ("comma", "CSV")
    if not path.exists():
        raise InputError(path, f"{what} file not found", "Check the path in the sample sheet or rerun the download.")
    if path.is_dir():
        raise InputError(path, f"is a directory, not a {what} file", "Point the sample sheet at the file itself.")
    try:
        df = pd.read_csv(path, sep=sep, **kwargs)
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise InputError(path, f"{what} file is truncated or not valid gzip ({err})", "Download or copy it again.") from err
    except pd.errors.EmptyDataError:
        raise InputError(path, f"{what} file is empty", "Download or copy it again.") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError(path, f"{what} file is not a {kind}-separated table ({err})", f"Re-export it as {export}.") from err
    except OSError as err:
        raise InputError(path, f"{what} file cannot be read ({err})", "Check the file and its permissions, or copy it again.") from err
    n_columns = df.shape[1] + (1 if kwargs.get("index_col") is not None else 0)
    if df.shape[1] < min_columns or n_columns < 2:
        first = str(df.index.name if kwargs.get("index_col") is not None and df.index.name else (df.columns[0] if len(df.columns) else ""))
        looks = "; it looks comma-separated" if "," in first and sep != "," else ("; it looks space-separated" if " " in first.strip() else "")
        raise InputError(
            path,
            f"{what} file has {n_columns} column(s){looks}; columns must be separated by {kind}s",
            f"Re-export it as {export}.",
        )
    return df


def table_header(path: Path) -> list[str]:
    """The first line's fields as written (pandas renames duplicated names to ``name.1``)."""
    row = pd.read_csv(path, sep="\t", header=None, nrows=1, dtype=str, keep_default_na=False)
    return [str(v) for v in row.iloc[0].tolist()]


def refuse_repeats(names: pd.Index, path: Path, what: str, hint: str) -> None:
    """An InputError when ``names`` repeat (``what`` reads e.g. 'count matrix has {n} duplicated spot id(s)').

    A repeated spot would be counted twice and matched to labels at random; a
    repeated gene name makes the columns ambiguous.
    """
    dup = names[names.duplicated()].unique()
    if len(dup):
        raise InputError(path, f"{what.format(n=len(dup))}, e.g. {dup[0]!r}", hint)


def numeric_columns(df: pd.DataFrame, columns, path: Path, what: str, header_lines: int | None = 1) -> pd.DataFrame:
    """``columns`` of ``df`` as numbers; an InputError naming the first bad line and column.

    ``header_lines``: lines above the first row in the file (0 for a headerless CSV), so that the
    line named is the file's own; None for a file without lines (Parquet): the row is named.
    """
    df = df.copy()
    for col in columns:
        values = pd.to_numeric(df[col], errors="coerce")
        bad = values.isna() | ~np.isfinite(values.astype(float))
        if bad.any():
            i = int(np.argmax(bad.to_numpy()))
            raw = df[col].iloc[i]
            shown = "n/a" if pd.isna(raw) else repr(raw)
            where = f"in row {i + 1}" if header_lines is None else f"on line {i + 1 + header_lines}"
            raise InputError(
                path,
                f"{what} has an empty or non-numeric {col} ({shown}) {where} ({int(bad.sum())} such row(s))",
                f"Every row needs numeric {', '.join(columns)}.",
            )
        df[col] = values
    return df


def contract_anndata(
    counts: sp.spmatrix, spots: pd.Index, genes: pd.Index, coords: np.ndarray, array_rc: np.ndarray | None
) -> ad.AnnData:
    """Assemble the contract's AnnData; counts stay sparse (Visium sections have ~30k genes).

    ``array_rc`` is None for a source without array positions (an ``.h5ad``
    without ``obs['array_row', 'array_col']``).
    """
    X = sp.csr_matrix(counts, dtype=np.float32)
    adata = ad.AnnData(X=X, obs=pd.DataFrame(index=spots.astype(str)), var=pd.DataFrame(index=genes.astype(str)))
    adata.layers["counts"] = X.copy()
    adata.obsm["spatial"] = np.asarray(coords, dtype=np.float64)
    if array_rc is not None:
        adata.obs["array_row"] = np.asarray(array_rc[:, 0], dtype=np.int64)
        adata.obs["array_col"] = np.asarray(array_rc[:, 1], dtype=np.int64)
    return adata
