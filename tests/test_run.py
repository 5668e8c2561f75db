"""The run folder object: validation of what it reads, typed metrics, life cycle, old folders."""

import json
import math

import numpy as np
import pytest
import torch
from run_fakes import write_run

from adnkit.config.settings import preset
from adnkit.core.errors import AdnkitError, ConfigError, DataError
from adnkit.runs.folder import HistoryRow, Metrics, Run, read_config


def _finished(tmp_path, **cfg):
    cfg = preset("ci", data="synthetic:r", **cfg)
    labels = np.r_[np.zeros(5, int), np.ones(5, int)]
    write_run(cfg, tmp_path / "run", labels, labels + 0.1 * np.arange(10), [0.8, 0.9])
    return Run(tmp_path / "run")


def test_create_open_and_states(tmp_path):
    cfg = preset("ci", data="synthetic:r")
    run = Run(tmp_path / "r")
    assert not run.is_started and not run.is_finished and not run.needs_resume
    Run.create(tmp_path / "r", cfg)
    assert run.is_started and run.needs_resume and not run.is_finished
    assert Run.open(tmp_path / "r").config == cfg
    with pytest.raises(AdnkitError, match="already holds a run"):
        Run.create(tmp_path / "r", cfg)
    with pytest.raises(DataError, match="not a run folder"):
        Run.open(tmp_path / "elsewhere")


def test_finished_run_reads_typed_metrics_history_and_scores(tmp_path):
    run = _finished(tmp_path)
    assert run.is_finished and not run.needs_resume
    metrics = run.read_metrics()
    assert isinstance(metrics, Metrics) and metrics.auroc_best == 0.9 and metrics.best_epoch == 2
    assert isinstance(metrics.n_test, int) and metrics.n_test == 10
    assert list(run.read_history()["auroc"]) == [0.8, 0.9]
    assert list(run.read_scores().columns) == ["path", "label", "defect", "score"]
    # unknown keys survive a round trip in `extra`
    run.write_metrics({**metrics.to_dict(), "new_key": 3})
    assert run.read_metrics().extra["new_key"] == 3 and run.read_metrics().get("new_key") == 3


def test_metrics_without_contract_keys_are_not_a_finished_run(tmp_path):
    run = _finished(tmp_path)
    values = run.read_metrics().to_dict()
    del values["auroc_last"]
    (run.path / "metrics.json").write_text(json.dumps(values))
    assert not run.is_finished
    with pytest.raises(DataError, match="auroc_last"):
        run.read_metrics()


def test_config_of_the_wrong_type_is_one_line_naming_file_and_field(tmp_path):
    run = _finished(tmp_path)
    path = run.path / "config.json"
    values = json.loads(path.read_text())
    path.write_text(json.dumps({**values, "image_size": "x"}))
    with pytest.raises(ConfigError) as err:
        Run.open(run.path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message and "'image_size'" in message and "expected int" in message
    for bad in ({"scales": True}, {"attention_positions": ["a"]}, {"amp": "yes"}, {"lr": "fast"}):
        path.write_text(json.dumps({**values, **bad}))
        with pytest.raises(ConfigError, match=next(iter(bad))):
            read_config(path)
    path.write_text(json.dumps({**values, "imagesize": 128}))
    with pytest.raises(ConfigError, match="unknown setting 'imagesize'"):
        Run.open(run.path)
    path.write_text(json.dumps({**values, "image_size": 20}))  # right type, impossible value
    with pytest.raises(ConfigError, match="config.json.*image_size=20"):
        Run.open(run.path)
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read config"):
        Run.open(run.path)


def test_json_values_are_converted_to_the_field_types(tmp_path):
    run = _finished(tmp_path)
    path = run.path / "config.json"
    values = json.loads(path.read_text())
    path.write_text(json.dumps({**values, "lr": 1, "attention_positions": [1, 4], "betas": [0.8, 0.9]}))
    cfg = read_config(path)
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float)
    assert cfg.attention_positions == (1, 4) and cfg.betas == (0.8, 0.9)


def test_checkpoint_and_model_round_trip_weights_only(tmp_path):
    run = _finished(tmp_path)
    state = {"w": torch.arange(3.0)}
    run.save_model(state, adnkit_version="x")
    assert torch.equal(run.load_model()["model"]["w"], state["w"])
    assert run.load_checkpoint() is None
    run.save_checkpoint(dict(model=state, history=[vars(HistoryRow(1, 2, 0.5, 0.9, 1.0))], meta_epoch=1))
    assert run.load_checkpoint()["history"][0]["auroc"] == 0.9
    leftovers = [p.name for p in run.path.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_threshold_from_metrics_and_from_an_old_model_file(tmp_path):
    run = _finished(tmp_path)
    threshold = run.threshold()
    assert threshold.value == run.read_metrics().threshold and threshold.text == "youden"
    # Folders written before the threshold lived only in metrics.json kept it in model.pt as well.
    values = run.read_metrics().to_dict()
    values["threshold"] = math.nan
    run.write_metrics(values)
    run.save_model({}, threshold=1.5, threshold_method="old way", config=run.config.to_dict())
    assert (run.threshold().value, run.threshold().text) == (1.5, "old way")


def test_set_aside_metrics_makes_the_run_unfinished(tmp_path):
    run = _finished(tmp_path)
    run.set_aside_metrics()
    assert not run.is_finished and run.needs_resume
    assert (run.path / "metrics.partial.json").is_file()
