"""The study's charts for the Snakemake report: ARI and NMI by method, and per-rule runtimes."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from senca_st.report.canvas import save_figure

LOG = logging.getLogger("senca_st")

MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">"]


# --------------------------------------------------------------------------- metrics


def metrics_figure(metrics: str | Path, output: str | Path, primary: Iterable[str] = ("senca", "senca_rna")) -> Path:
    """ARI and NMI per method as horizontal bars (mean over sections, one dot per section)."""
    table = pd.read_csv(metrics, sep="\t")
    primary = set(primary)
    if table.empty:
        fig = Figure(figsize=(7, 1.6))
        fig.text(0.5, 0.5, "No labelled section was evaluated:\nno ARI/NMI to show.", ha="center", va="center", fontsize=12)
        save_figure(fig, output)
        return Path(output)
    means = table.groupby("method")[["ari", "nmi"]].mean().sort_values("ari")
    methods = list(means.index)
    samples = list(pd.unique(table["sample"]))
    ypos = {m: i for i, m in enumerate(methods)}
    fig = Figure(figsize=(10, 1.2 + 0.42 * len(methods)), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, metric in zip(axes, ("ari", "nmi")):
        colours = ["#0072B2" if m in primary or m.startswith("senca") else "#9E9E9E" for m in methods]
        ax.barh(range(len(methods)), means[metric], color=colours, height=0.65)
        if len(samples) > 1:
            for j, s in enumerate(samples):
                rows = table[table["sample"] == s]
                ax.scatter(
                    rows[metric],
                    [ypos[m] for m in rows["method"]],
                    s=22,
                    marker=MARKERS[j % len(MARKERS)],
                    color="#222222",
                    zorder=3,
                    label=s,
                    edgecolors="white",
                    linewidths=0.6,
                )
        right = table.groupby("method")[metric].max().reindex(methods)
        for i, (v, r) in enumerate(zip(means[metric], right)):
            ax.text(max(v, r, 0) + 0.015, i, f"{v:.3f}", va="center", fontsize=9)
        top = max(1.0, float(np.nanmax(table[metric])) + 0.12)
        ax.set_xlim(min(0.0, float(np.nanmin(table[metric])) - 0.02), top)
        ax.set_xlabel(metric.upper() + (" (mean over sections)" if len(samples) > 1 else ""))
        ax.grid(axis="x", color="#E0E0E0", linewidth=0.8)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    axes[0].set_yticks(range(len(methods)), [m + (" (primary)" if m in primary else "") for m in methods])
    if len(samples) > 1:
        axes[1].legend(title="section", fontsize=8, title_fontsize=8, loc="lower right", frameon=False)
    n = ", ".join(samples) if len(samples) <= 6 else f"{len(samples)} sections"
    fig.suptitle(f"Agreement with the pathologist's regions ({n}); SENCA-st variants in blue, baselines in grey", fontsize=11)
    save_figure(fig, output)
    return Path(output)


# --------------------------------------------------------------------------- runtimes


def read_benchmarks(root: str | Path) -> pd.DataFrame:
    """All ``{root}/{rule}/**.tsv`` benchmark files as one table with ``rule`` and ``job`` columns."""
    root = Path(root)
    frames = []
    for path in sorted(root.rglob("*.tsv")):
        rel = path.relative_to(root)
        try:
            df = pd.read_csv(path, sep="\t")
        except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError):
            LOG.warning("%s: unreadable benchmark file, left out", path)
            continue
        if "s" not in df.columns or df.empty:
            continue
        rule = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        job = str(rel.with_suffix("")).split("/", 1)[-1] if len(rel.parts) > 1 else ""
        df = df.assign(rule=rule, job=job)
        frames.append(df)
    cols = ["rule", "job", "s", "max_rss"]
    if not frames:
        return pd.DataFrame(columns=cols)
    table = pd.concat(frames, ignore_index=True)
    table["max_rss"] = pd.to_numeric(table.get("max_rss"), errors="coerce")
    return table[cols]


def runtime_figure(benchmarks: str | Path, output: str | Path) -> Path:
    """Wall time per job (dots) and in total (bars) per rule, and each rule's peak memory."""
    table = read_benchmarks(benchmarks)
    if table.empty:
        fig = Figure(figsize=(7, 1.6))
        fig.text(0.5, 0.5, f"No benchmark files under {benchmarks}.", ha="center", va="center", fontsize=12)
        save_figure(fig, output)
        return Path(output)
    per_rule = table.groupby("rule").agg(total=("s", "sum"), jobs=("s", "size"), rss=("max_rss", "max")).sort_values("total")
    rules = list(per_rule.index)
    y = {r: i for i, r in enumerate(rules)}
    fig = Figure(figsize=(10, 1.3 + 0.38 * len(rules)), layout="constrained")
    ax_t, ax_m = fig.subplots(1, 2, sharey=True, width_ratios=[2, 1])
    ax_t.barh(range(len(rules)), per_rule["total"], color="#56B4E9", height=0.65, label="all jobs of the rule")
    ax_t.scatter(table["s"], [y[r] for r in table["rule"]], s=14, color="#0B3C5D", zorder=3, label="one job")
    for i, (total, n) in enumerate(zip(per_rule["total"], per_rule["jobs"])):
        ax_t.text(total * 1.04 + 0.05, i, f"{_hms(total)} ({n} job{'s' if n != 1 else ''})", va="center", fontsize=8)
    ax_t.set_xlabel("wall time (s)")
    ax_t.set_xlim(0, float(per_rule["total"].max()) * 1.45 + 0.5)
    ax_t.legend(loc="lower right", fontsize=8, frameon=False)
    ax_t.set_yticks(range(len(rules)), rules)
    ax_m.barh(range(len(rules)), per_rule["rss"].fillna(0), color="#E69F00", height=0.65)
    ax_m.set_xlabel("peak memory of one job (MB, max RSS)")
    for ax in (ax_t, ax_m):
        ax.grid(axis="x", color="#E0E0E0", linewidth=0.8)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    total = table["s"].sum()
    fig.suptitle(f"Runtime per rule: {len(table)} jobs, {_hms(total)} of job wall time in all", fontsize=11)
    save_figure(fig, output)
    return Path(output)


def _hms(seconds: float) -> str:
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    m, s = divmod(int(round(seconds)), 60)
    if m < 60:
        return f"{m} min {s:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"
