"""The pipeline on a real (single-node) SLURM cluster, through the SLURM profile.

``scripts/slurm_test_cluster.sh`` starts munged, slurmctld and slurmd from the
Debian packages (installing them with apt-get when missing); the demo then runs
with exactly what docs/running.md shows:

    snakemake --profile profiles/slurm --profile profiles/slurm-testcluster \\
        all results/report/runtimes.png --configfile config/test/basic.yaml

so every job is an sbatch job. The test-cluster profile replaces the real
profile's per-rule sizes and GPU request (the node has none) and asks the
plugin for squeue-based status (no slurmdbd, so no sacct). The test skips only
when SLURM cannot be installed or started here (no root, no apt).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

from workflow_copy import REPO, copy_workflow

SCRIPT = REPO / "scripts" / "slurm_test_cluster.sh"
CANNOT = 3  # the script's exit status for "SLURM cannot be installed or started here"
PROFILE_ARGS = ["--profile", "profiles/slurm", "--profile", "profiles/slurm-testcluster"]
CONFIG_ARGS = ["--configfile", "config/test/basic.yaml"]
TARGETS = ["all", "results/report/runtimes.png"]
# Rules the small demo runs; each must have run as its own SLURM job.
RULES = {
    "make_demo",
    "load_section",
    "preprocess",
    "image_features",
    "train",
    "baseline_embedding",
    "cluster",
    "consensus",
    "evaluate",
    "primary_outputs",
    "aggregate_metrics",
    "section_figure",
    "section_anndata",
    "region_markers",
    "marker_figure",
    "metrics_figure",
    "runtime_figure",
}


def _venv_path() -> str:
    return f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"


def load_profile(name: str) -> dict:
    return yaml.safe_load((REPO / "profiles" / name / "config.yaml").read_text())


# --------------------------------------------------------------------------- the profiles (no cluster needed)


def test_slurm_profile_asks_a_gpu_for_training_and_names_the_partition_once():
    profile = load_profile("slurm")
    assert profile["executor"] == "slurm"
    assert "slurm_partition" in profile["default-resources"]
    text = (REPO / "profiles/slurm/config.yaml").read_text()
    assert len(re.findall(r"^\s*slurm_partition:", text, flags=re.M)) == 1, "set the partition in one place"
    assert profile["set-resources"]["train"]["gpu"] == 1
    for rule, res in profile["set-resources"].items():
        assert {"mem_mb", "runtime"} <= set(res), f"{rule}: give mem_mb and runtime"


def test_testcluster_profile_overrides_only_by_its_own_keys():
    """The GPU request is dropped by the test's overrides, never by editing the real profile."""
    over = load_profile("slurm-testcluster")
    assert over["set-resources"]["train"]["gpu"] == 0
    assert over["slurm-status-command"] == "squeue"
    assert load_profile("slurm")["set-resources"]["train"]["gpu"] == 1


def test_profiles_name_only_rules_of_the_workflow(tmp_path):
    """A renamed rule would silently lose its resources: every rule a profile sizes must exist."""
    wf = copy_workflow(tmp_path / "wf")
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--list-rules", "--cores", "1"],
        cwd=wf,
        capture_output=True,
        text=True,
        env=dict(os.environ, PATH=_venv_path()),
    )
    assert proc.returncode == 0, proc.stderr
    rules = {ln.strip() for ln in proc.stdout.splitlines() if ln.strip()}
    for name in ("slurm", "slurm-testcluster", "local"):
        profile = load_profile(name)
        named = set(profile.get("set-resources", {})) | set(profile.get("set-threads", {}))
        assert named <= rules, f"profiles/{name} names rules the workflow lacks: {sorted(named - rules)}"


# --------------------------------------------------------------------------- the cluster


@dataclass
class Cluster:
    dir: Path
    env: dict

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(list(args), capture_output=True, text=True, env=self.env, timeout=60)
        if check:
            assert proc.returncode == 0, f"{' '.join(args)}: {proc.stderr}"
        return proc

    def states(self) -> dict[str, str]:
        """Job id -> state of every job slurmctld still knows (MinJobAge=3600 keeps finished ones)."""
        out = self.run("squeue", "--states=all", "--noheader", "--format=%i|%T").stdout
        return dict(line.split("|", 1) for line in out.split() if "|" in line)


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory, request) -> Cluster:
    # Short path: munged's socket lives in it (unix socket paths are limited to ~100 bytes).
    base = tmp_path_factory.mktemp("slurm")
    if len(str(base)) > 70:
        import tempfile

        base = Path(tempfile.mkdtemp(prefix="senca-slurm-", dir="/tmp"))

    def stop():
        subprocess.run(["bash", str(SCRIPT), "stop", str(base)], capture_output=True, text=True, timeout=120)

    request.addfinalizer(stop)  # also after a half-started cluster
    proc = subprocess.run(["bash", str(SCRIPT), "start", str(base)], capture_output=True, text=True, timeout=1200)
    if proc.returncode == CANNOT:
        reason = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "unknown reason"
        pytest.skip(f"no SLURM test cluster on this machine: {reason}")
    assert proc.returncode == 0, f"slurm_test_cluster.sh start failed:\n{proc.stdout}\n{proc.stderr}"
    assert f"SLURM_CONF={base}/slurm.conf" in proc.stdout
    env = dict(os.environ, SLURM_CONF=str(base / "slurm.conf"), PATH=f"{base / 'bin'}:{_venv_path()}")
    cluster = Cluster(base, env)
    assert "idle" in cluster.run("sinfo", "-h", "-o", "%T").stdout
    return cluster


def snakemake_on(cluster: Cluster, wf: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *PROFILE_ARGS, *args, *CONFIG_ARGS],
        cwd=wf,
        capture_output=True,
        text=True,
        env=cluster.env,
        timeout=1800,
    )


def job_counts(output: str) -> dict[str, int]:
    """Snakemake's 'Job stats' table: rule -> number of jobs."""
    table = output.split("Job stats:", 1)[1]
    counts = {}
    for line in table.splitlines()[3:]:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        counts[parts[0]] = int(parts[1])
    return counts


def slurm_logs(wf: Path) -> dict[str, list[Path]]:
    """Rule -> the plugin's per-job SLURM logs (.snakemake/slurm_logs/rule_<rule>/[<wildcards>/]<jobid>.log)."""
    root = wf / ".snakemake" / "slurm_logs"
    logs: dict[str, list[Path]] = {}
    for path in sorted(root.rglob("*.log")):
        rule = path.relative_to(root).parts[0].removeprefix("rule_")
        logs.setdefault(rule, []).append(path)
    return logs


@pytest.mark.slurm
@pytest.mark.slow
def test_demo_runs_as_slurm_jobs_and_a_failure_names_its_job(slurm_cluster, tmp_path):
    wf = copy_workflow(tmp_path / "wf")

    # 1. The small demo, every job through sbatch.
    proc = snakemake_on(slurm_cluster, wf, *TARGETS)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"SLURM run failed:\n{out[-8000:]}"
    ari = pd.read_csv(wf / "results/metrics/ari.tsv", sep="\t")
    assert len(ari) >= 1 and {"senca", "rna_pca"} <= set(ari["method"]), ari
    assert (wf / "results/report/runtimes.png").stat().st_size > 0

    planned = job_counts(out)
    logs = slurm_logs(wf)
    # Nothing ran on the submit host except the target-only rule `all`.
    assert set(re.findall(r"localrule (\w+):", out)) <= {"all"}, "a job ran outside SLURM"
    assert RULES <= set(logs), f"rules without a SLURM job: {sorted(RULES - set(logs))}"
    for rule, n in planned.items():
        if rule != "all":
            assert len(logs.get(rule, [])) == n, f"{rule}: {n} jobs planned, SLURM logs {logs.get(rule)}"
    job_ids = {p.stem for paths in logs.values() for p in paths}
    states = slurm_cluster.states()
    assert all(states.get(j) == "COMPLETED" for j in job_ids), {j: states.get(j) for j in job_ids}
    # The training job went to SLURM without the profile's GPU request (the test node has none).
    (train_log,) = logs["train"]
    train_job = slurm_cluster.run("scontrol", "show", "job", train_log.stem).stdout
    assert "Comment=rule_train" in train_job and "gpu" not in train_job.lower(), train_job

    # 2. A corrupted input: its job fails on SLURM and the error names the SLURM job.
    (wf / "resources/demo/demo/spots.tsv").write_text("this is not a spot table\n")
    proc = snakemake_on(slurm_cluster, wf, *TARGETS)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, "a corrupted spot file did not fail the run"
    m = re.search(r"Error in rule (\w+):\s+message: SLURM-job '(\d+)' failed", out)
    assert m, f"no SLURM job id in the error:\n{out[-6000:]}"
    rule, job_id = m.groups()
    assert rule == "load_section"
    assert slurm_cluster.states().get(job_id) == "FAILED"
    job_log = wf / f".snakemake/slurm_logs/rule_load_section/demo/{job_id}.log"
    assert str(job_log) in out, "the error points at the job's SLURM log"
    assert "spots.tsv" in job_log.read_text() and "spots.tsv" in (wf / "logs/load_section/demo.log").read_text()
