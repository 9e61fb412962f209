"""A job stopped half-way leaves nothing that looks finished (issue #4: kill, then --rerun-incomplete).

- SIGTERM (snakemake stopping its jobs, scancel, a SLURM time limit) in the middle
  of a write: the temporary file is removed, the output never appears, the log
  says what happened, and the exit status is 128 + 15.
- SIGKILL cannot be caught: the temporary file stays, and the next write of the
  same output removes it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bad_input_files import temp_files
from senca_st.errors import InputError
from senca_st.io.atomic import atomic_path, stale_temp_files
from senca_st.runlog import rule_step

SLOW_WRITER = textwrap.dedent(
    """
    import sys, time
    from senca_st.io.atomic import atomic_path
    from senca_st.runlog import rule_step

    dest, log = sys.argv[1], sys.argv[2]
    with rule_step(log):
        with atomic_path(dest) as tmp:
            with open(tmp, "w") as fh:
                fh.write("half of it")
                fh.flush()
                time.sleep(60)
                fh.write("the rest")
    """
)


def _start_writer(tmp_path: Path) -> tuple[subprocess.Popen, Path, Path]:
    dest, log = tmp_path / "out" / "result.tsv", tmp_path / "job.log"
    proc = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(dest), str(log)], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not stale_temp_files(dest) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert stale_temp_files(dest), "the writer never started"
    return proc, dest, log


def test_sigterm_mid_write_removes_the_temporary_file(tmp_path):
    proc, dest, log = _start_writer(tmp_path)
    proc.send_signal(signal.SIGTERM)
    stderr = proc.communicate(timeout=30)[1]
    assert proc.returncode == 128 + signal.SIGTERM
    assert not dest.exists() and temp_files(tmp_path) == []
    lines = [line for line in log.read_text().splitlines() if " ERROR " in line]
    assert len(lines) == 1 and "stopped by SIGTERM; partial output removed, rerun with --rerun-incomplete" in lines[0]
    assert lines[0].split(" ERROR ", 1)[1] in stderr


def test_sigkill_leftover_is_removed_by_the_next_write(tmp_path):
    proc, dest, _ = _start_writer(tmp_path)
    proc.kill()
    proc.wait(timeout=30)
    (leftover,) = stale_temp_files(dest)
    assert leftover.name.startswith(".result.tsv.") and ".tmp" in leftover.name and not dest.exists()
    with atomic_path(dest) as tmp:
        tmp.write_text("whole\n")
    assert dest.read_text() == "whole\n" and not leftover.exists() and temp_files(tmp_path) == []


def test_failed_write_leaves_old_file_or_none(tmp_path):
    dest = tmp_path / "a.tsv"
    with pytest.raises(RuntimeError), atomic_path(dest) as tmp:
        tmp.write_text("partial")
        raise RuntimeError("disk full")
    assert not dest.exists() and temp_files(tmp_path) == []
    dest.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(dest) as tmp:
        tmp.write_text("partial")
        raise RuntimeError("disk full")
    assert dest.read_text() == "old" and temp_files(tmp_path) == []


def test_other_outputs_temporaries_are_left_alone(tmp_path):
    other = tmp_path / ".b.tsv.abc123.tmp.tsv"  # another output's write in progress
    other.write_text("x")
    with atomic_path(tmp_path / "a.tsv") as tmp:
        tmp.write_text("a")
    assert other.exists()


def test_input_error_is_one_line_and_exit_1(tmp_path, capsys):
    log = tmp_path / "job.log"
    with pytest.raises(SystemExit) as stop, rule_step(log):
        raise InputError("data/x.tsv", "something is wrong\nover two lines", "Fix it.")
    assert stop.value.code == 1
    text = log.read_text()
    assert text.count("\n") == 1 and text.rstrip().endswith("ERROR data/x.tsv: something is wrong over two lines. Fix it.")
    assert "data/x.tsv: something is wrong over two lines. Fix it." in capsys.readouterr().err


def test_signal_handlers_are_restored(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    with rule_step(tmp_path / "log"):
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before
