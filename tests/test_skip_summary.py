"""The last line of a test run counts what was skipped, by what it needs, and says how to run it."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from skip_summary import skip_line

TESTS = Path(__file__).resolve().parent


def test_skips_are_counted_by_what_they_need():
    reasons = ["needs a CUDA GPU", "needs a CUDA GPU", "no browser: /usr/bin/chromium not found (apt-get ...)",
               "needs a CUDA GPU", "selenium is not installed (pip install -e '.[test]')", "this machine has a GPU",
               "could not import 'ray': No module named 'ray'", "the export extra: pip install -e '.[export]'",
               "something else"]
    assert skip_line(reasons) == (
        "skipped: 3 need a CUDA GPU (bash benchmarks/gpu_check.sh runs them), 2 need Chromium (apt-get install "
        "chromium chromium-driver, or bash .ci/run), 1 check what happens without a GPU (run them on a machine "
        "without one), 1 need Ray (pip install -e '.[ray]'), 1 need the export extra (pip install -e '.[export]'), "
        "1 other (something else)")
    assert skip_line([]) == "skipped: nothing"


@pytest.mark.slow  # a subprocess: pytest on a small test file with this suite's conftest
def test_the_line_ends_the_run(tmp_path):
    (tmp_path / "conftest.py").write_text((TESTS / "conftest.py").read_text())
    (tmp_path / "test_some.py").write_text(textwrap.dedent("""
        import pytest

        def test_gpu():
            pytest.skip("needs a CUDA GPU")

        @pytest.mark.skipif(True, reason="no browser: /usr/bin/chromium not found")
        def test_browser():
            pass

        def test_runs():
            assert True
    """))
    done = subprocess.run([sys.executable, "-m", "pytest", str(tmp_path), "-q", "-rs", "-p", "no:cacheprovider"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300,
                          env={"PYTHONPATH": str(TESTS), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[-2] == ("skipped: 1 need a CUDA GPU (bash benchmarks/gpu_check.sh runs them), 1 need Chromium "
                         "(apt-get install chromium chromium-driver, or bash .ci/run)"), done.stdout
    assert "1 passed, 2 skipped" in lines[-1]
