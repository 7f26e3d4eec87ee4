"""The stress workload of stress.py (threads making functions, backends
switched, children forked two ways) on the oldest and newest interpreters:
nothing crashes or hangs, every file it leaves parses and names what it
should, and only its own files are removed afterwards.

PERFTRAMP_STRESS_SECONDS sets the duration per interpreter (default 10)."""
import os

import pytest
import stress

SECONDS = float(os.environ.get("PERFTRAMP_STRESS_SECONDS", "10"))


@pytest.mark.slow  # SECONDS of stress, then checking every file it left
@pytest.mark.edge_versions
def test_threads_switching_and_forks(python):
    summary = stress.run_and_check(python.exe, SECONDS)
    print(summary)
