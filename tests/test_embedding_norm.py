"""Issue 15, the guard for trained blocks: embedding_norm="batch" standardises the embedding before the flow."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from adnkit.config.settings import preset
from adnkit.core.errors import ConfigError
from adnkit.detection.detector import Detector
from adnkit.model.differnet import DifferNet, EmbeddingNorm
from adnkit.model.flow import nll_loss
from adnkit.training.trainer import train

pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.slow]  # trains real runs


@pytest.fixture(scope="module")
def models():
    cfg = preset("ci", pretrained="random")
    return {norm: DifferNet(cfg.replace(embedding_norm=norm), progress=False) for norm in ("none", "batch")}


def _embedding(n=32, d=512, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, d, generator=g) * 7.0 + 0.5  # positive, like mean-pooled ReLU features


def test_loss_is_invariant_to_rescaling_the_embedding_only_with_the_guard(models):
    x = _embedding()
    losses = {}
    for norm, model in models.items():
        model.train()
        with torch.no_grad():
            losses[norm] = [nll_loss(*model.flow_forward(c * x)).item() for c in (1.0, 0.1)]
    # Equal up to BatchNorm's eps = 1e-5 against a variance of about 0.04 after shrinking.
    assert losses["batch"][0] == pytest.approx(losses["batch"][1], rel=1e-3)
    # Without the guard shrinking the features changes (here: lowers) the loss: the incentive to collapse.
    assert abs(losses["none"][0] - losses["none"][1]) > 1e-2
    assert losses["none"][1] < losses["none"][0]


def test_both_training_paths_pass_the_norm(models):
    model = models["batch"].train()
    images = torch.rand(4, 3, 128, 128)
    seen = []
    hook = model.embedding_norm.register_forward_hook(lambda m, i, o: seen.append(o))
    with torch.no_grad():
        model(images)  # the image path: model(rows)
        model.flow_forward(_embedding(4))  # the cached path
    hook.remove()
    assert len(seen) == 2
    assert torch.allclose(seen[0].mean(0), torch.zeros(512), atol=1e-5)


def test_running_statistics_average_the_batches_since_train_and_make_it_invertible(models):
    model = models["batch"]
    model.train()  # restarts the running statistics
    batches = [_embedding(16, seed=s) for s in range(3)]
    with torch.no_grad():
        for b in batches:
            model.flow_forward(b)
    norm = model.embedding_norm
    assert int(norm.num_batches_tracked) == 3
    assert torch.allclose(norm.running_mean, torch.stack([b.mean(0) for b in batches]).mean(0), atol=1e-5)
    assert torch.allclose(norm.running_var, torch.stack([b.var(0) for b in batches]).mean(0), atol=1e-5)
    model.eval()
    x = _embedding(5, seed=9)
    with torch.no_grad():
        z, _ = model.flow_forward(x)
        back = model.flow_reverse(z)
        # eval: rows are scored independently (running statistics), so one row scores like it does in a batch
        z1, _ = model.flow_forward(x[:1])
    assert torch.allclose(back, x, atol=1e-4)
    assert torch.allclose(z1, z[:1], atol=1e-5)
    model.train()
    assert int(norm.num_batches_tracked) == 0


def test_norm_is_in_the_state_dict_and_only_when_asked(models):
    assert models["none"].embedding_norm is None
    keys = set(models["batch"].stored_state())
    assert {"embedding_norm.running_mean", "embedding_norm.running_var"} <= keys
    assert not any(k.startswith("embedding_norm") for k in models["none"].stored_state())
    assert isinstance(models["batch"].embedding_norm, EmbeddingNorm)
    assert not list(models["batch"].embedding_norm.parameters())  # no learned scale or shift


def test_one_row_in_a_training_step_is_a_one_line_error(models):
    model = models["batch"].train()
    with pytest.raises(ConfigError, match="at least 2") as err:
        model.flow_forward(_embedding(1))
    assert "\n" not in str(err.value) and "--batch-size" in str(err.value)
    with pytest.raises(ConfigError, match="--embedding-norm none"):
        preset("ci", embedding_norm="batch", batch_size=1, train_transforms=1)


def test_a_trained_run_stores_the_statistics_and_scores_identically(tmp_path):
    cfg = preset("ci", data="synthetic:guard", data_root=str(tmp_path / "data"), embedding_norm="batch",
                 meta_epochs=1, sub_epochs=1, max_train_images=16, feature_cache_views=2)
    train(cfg, tmp_path / "run", progress=False)
    run = Detector.load(tmp_path / "run")
    norm = run.model.embedding_norm
    assert norm is not None and not norm.training and int(norm.num_batches_tracked) > 0
    stored = torch.load(tmp_path / "run" / "model.pt", weights_only=True)["model"]
    assert torch.equal(stored["embedding_norm.running_mean"], norm.running_mean)
    assert not torch.allclose(norm.running_var, torch.ones_like(norm.running_var))  # not the initial state

    table = pd.read_csv(tmp_path / "run" / "scores.csv")
    again = run.score_files(list(table["path"]))
    np.testing.assert_allclose(again["score"].to_numpy(), table["score"].to_numpy(), rtol=1e-4, atol=1e-6)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["embedding_norm"] == "batch"
