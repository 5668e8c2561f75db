"""Where runs compute, without a GPU: device resolution with CUDA and MPS simulated (monkeypatched), bf16 gated by the
GPU's compute capability, the GPU memory check, the presets a machine gets (the notebooks' parameters cell
included), what metrics.json records of the device, and a run folder from a GPU that scores on a CPU."""

from __future__ import annotations

import io
import json
import re
import shutil
import types
import warnings
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import torch
import torch.serialization

import adnkit.core.device as D
from adnkit.config import PRESETS, machine_preset, preset
from adnkit.config.presets import GPU_PRESET_MIN_MEMORY
from adnkit.core.errors import ConfigError
from adnkit.core.files import load_torch
from adnkit.detection.detector import Detector
from adnkit.model import fastpath, memory
from adnkit.model.differnet import DifferNet
from adnkit.model.flow import count_parameters
from adnkit.training.trainer import train

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
GIB = 2**30
CUDA = torch.device("cuda")


def fake_gpu(monkeypatch, name="Tesla T4", capability=(7, 5), memory_bytes=15 * GIB, count=1):
    """CUDA as torch would report it on a machine with `count` such GPUs (nothing runs on it)."""
    props = types.SimpleNamespace(name=name, major=capability[0], minor=capability[1], total_memory=memory_bytes)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device=None: props)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)  # what torch says on a T4, too


def no_gpu(monkeypatch, mps=False, mps_missing=None):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(D, "mps_available", lambda: mps)
    monkeypatch.setattr(D, "mps_missing_op", lambda: mps_missing)


# --- resolution ------------------------------------------------------------------------------------------------
def test_auto_is_cuda_where_a_gpu_is_visible(monkeypatch):
    fake_gpu(monkeypatch)
    assert D.resolve_device("auto") == CUDA
    assert D.resolve_device("cpu") == torch.device("cpu")  # --device still forces one
    assert D.resolve_device("cuda:0") == torch.device("cuda:0")


def test_auto_is_the_cpu_without_gpu_or_mps(monkeypatch):
    no_gpu(monkeypatch)
    assert D.resolve_device("auto") == torch.device("cpu")


def test_auto_is_mps_where_it_runs_every_operation(monkeypatch):
    no_gpu(monkeypatch, mps=True)
    assert D.resolve_device("auto") == torch.device("mps")
    assert D.resolve_device("mps") == torch.device("mps")


def test_auto_falls_back_from_an_incomplete_mps_to_the_cpu_saying_so_once(monkeypatch):
    no_gpu(monkeypatch, mps=True, mps_missing="aten::grid_sampler_2d")
    D._warn_mps_fallback.cache_clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert D.resolve_device("auto") == torch.device("cpu")
        assert D.resolve_device("auto") == torch.device("cpu")
    said = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(said) == 1 and "aten::grid_sampler_2d" in said[0] and "CPU" in said[0]
    D._warn_mps_fallback.cache_clear()


@pytest.mark.parametrize("name, setup, fix", [
    ("cuda", dict(gpu=False), "--device cpu"),
    ("cuda:2", dict(gpu=True), "--device cuda:0 .. cuda:0"),
    ("mps", dict(gpu=False), "--device cpu"),
    ("mps", dict(gpu=False, mps=True, missing="aten::grid_sampler_2d"), "PYTORCH_ENABLE_MPS_FALLBACK=1"),
    ("tpu", dict(gpu=False), "auto, cpu, cuda, cuda:N or mps"),
])
def test_a_device_that_is_not_there_is_a_one_line_error_with_the_fix(monkeypatch, name, setup, fix):
    if setup["gpu"]:
        fake_gpu(monkeypatch)
    else:
        no_gpu(monkeypatch, mps=setup.get("mps", False), mps_missing=setup.get("missing"))
    with pytest.raises(ConfigError) as err:
        D.resolve_device(name)
    message = str(err.value)
    assert fix in message and "\n" not in message and name in message
    if "missing" in setup:
        assert setup["missing"] in message


def test_the_mps_probe_runs_every_kind_of_operation_and_names_a_missing_one(monkeypatch):
    assert D.missing_op(torch.device("cpu")) is None  # the probe itself runs (here on the CPU)

    def not_on_this_device(*args, **kwargs):
        raise NotImplementedError("The operator 'aten::grid_sampler_2d_backward' is not currently implemented "
                                  "for the MPS device.")

    monkeypatch.setattr(D.F, "grid_sample", not_on_this_device)
    assert D.missing_op(torch.device("cpu")) == "aten::grid_sampler_2d_backward"


def test_the_device_setting_is_checked_when_a_config_is_made():
    for name in ("auto", "cpu", "cuda", "cuda:1", "mps"):
        assert preset("ci", device=name).device == name
    for bad in ("gpu", "cuda:x", "CUDA"):
        with pytest.raises(ConfigError, match="--device auto, cpu, cuda, cuda:N or mps"):
            preset("ci", device=bad)


# --- presets ---------------------------------------------------------------------------------------------------
def test_every_preset_computes_where_auto_finds():
    assert {name: preset(name).device for name in PRESETS} == {name: "auto" for name in PRESETS}


def test_machine_preset_is_gpu_with_a_cuda_gpu_and_cpu_otherwise(monkeypatch):
    no_gpu(monkeypatch)
    assert machine_preset() == "cpu"
    fake_gpu(monkeypatch, memory_bytes=15 * GIB)
    assert machine_preset() == "gpu"
    fake_gpu(monkeypatch, name="small", memory_bytes=4 * GIB)  # too small for the gpu preset: still on the GPU
    assert machine_preset() == "cpu"


def test_gpu_preset_is_the_papers_model_for_fewer_epochs_with_fresh_rotations():
    gpu, paper = preset("gpu"), preset("paper")
    same = ("image_size", "scales", "flow_blocks", "flow_hidden", "flow_hidden_layers", "batch_size",
            "train_transforms", "test_transforms", "feature_cache_views", "lr", "attention", "amp")
    assert {k: getattr(gpu, k) for k in same} == {k: getattr(paper, k) for k in same}
    assert gpu.feature_cache_views == 0  # fresh random rotations every step, as the paper
    assert gpu.meta_epochs * gpu.sub_epochs == 24 < paper.meta_epochs * paper.sub_epochs
    assert gpu.num_workers >= 1  # images decode in worker processes while the GPU computes


def _meta_model(cfg):
    with torch.device("meta"):
        return DifferNet(cfg.replace(pretrained="random"), progress=False)


def test_gpu_preset_fits_the_memory_machine_preset_asks_for():
    model = _meta_model(preset("gpu"))
    assert count_parameters(model.flow) > 170e6  # the paper's flow
    need = memory.training_bytes(model, model.cfg)
    assert 16 * 172e6 < need["state"] < 3.0 * GIB  # weights, gradients and Adam's two moments
    assert need["total"] < GPU_PRESET_MIN_MEMORY < 15 * GIB  # a T4 has 15 GiB for torch


def test_settings_too_big_for_the_gpu_are_a_one_line_error_naming_a_batch_that_fits(monkeypatch):
    fake_gpu(monkeypatch, memory_bytes=6 * GIB)
    cfg = preset("gpu", attention="se", train_attention=True, batch_size=128)  # gradients through the backbone
    model = _meta_model(cfg)
    with pytest.raises(ConfigError) as err:
        memory.check_fits(model, cfg, CUDA)
    message = str(err.value)
    assert "Tesla T4 has 6.0 GiB" in message and "\n" not in message and "--preset gpu" in message
    batch = int(re.search(r"--batch-size (\d+)", message).group(1))
    assert batch < 128 and memory.training_bytes(model, cfg, batch)["total"] <= 6 * GIB
    memory.check_fits(model, cfg.replace(batch_size=batch), CUDA)  # the suggested batch passes
    memory.check_fits(model, cfg, torch.device("cpu"))  # only GPUs are checked


def test_notebooks_pick_the_machines_preset_unless_adnkit_preset_names_one(monkeypatch, tmp_path):
    for path in NOTEBOOKS:
        params = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"][1].source
        monkeypatch.chdir(tmp_path)
        monkeypatch.delenv("ADNKIT_PRESET", raising=False)
        fake_gpu(monkeypatch)
        namespace: dict = {}
        exec(compile(params, str(path), "exec"), namespace)
        cfg = preset(namespace["PRESET"])
        assert namespace["PRESET"] == "gpu" and D.resolve_device(cfg.device) == CUDA, path.name
        no_gpu(monkeypatch)
        exec(compile(params, str(path), "exec"), namespace)
        assert namespace["PRESET"] == "cpu", path.name
        monkeypatch.setenv("ADNKIT_PRESET", "ci")
        fake_gpu(monkeypatch)
        exec(compile(params, str(path), "exec"), namespace)
        assert namespace["PRESET"] == "ci", path.name


# --- bf16 by compute capability --------------------------------------------------------------------------------
@pytest.mark.parametrize("capability, native", [((7, 0), False), ((7, 5), False), ((8, 0), True), ((8, 9), True),
                                                ((9, 0), True)])
def test_bf16_only_where_the_gpu_has_it_natively(monkeypatch, capability, native):
    fake_gpu(monkeypatch, capability=capability)  # torch.cuda.is_bf16_supported() says True on all of them
    paper = preset("paper")
    assert fastpath.device_has_bf16(CUDA) is native
    assert fastpath.resolve_flow_precision(paper, CUDA) == ("bf16" if native else "fp32")
    assert fastpath.resolve_flow_precision(paper.replace(flow_precision="fp32"), CUDA) == "fp32"
    no_grad = fastpath.cuda_backbone_dtype(True, CUDA, need_grad=False)
    with_grad = fastpath.cuda_backbone_dtype(True, CUDA, need_grad=True)
    if native:
        assert no_grad == with_grad == torch.bfloat16
        assert fastpath.describe_cuda_backbone(True, CUDA) == "bf16"
    else:  # T4, V100: fp16 where no gradient flows, float32 where one does (fp16 would need a loss scaler)
        assert no_grad == torch.float16 and with_grad is None
        assert fastpath.describe_cuda_backbone(True, CUDA) == "fp16-no-grad"
    assert fastpath.cuda_backbone_dtype(False, CUDA, need_grad=False) is None  # amp off: float32


# --- what metrics.json records -----------------------------------------------------------------------------------
def test_device_record_names_the_device_its_memory_and_capability(monkeypatch):
    cpu = D.device_record(torch.device("cpu"))
    assert cpu["device_name"] and cpu["device_memory_mb"] > 0 and cpu["device_capability"] == ""
    assert cpu["torch_version"] == torch.__version__
    fake_gpu(monkeypatch, name="NVIDIA L4", capability=(8, 9), memory_bytes=22 * GIB)
    gpu = D.device_record(CUDA)
    assert (gpu["device_name"], gpu["device_memory_mb"], gpu["device_capability"]) == ("NVIDIA L4", 22528.0, "8.9")
    json.dumps(gpu)  # goes into metrics.json as it is


# --- a run folder crosses machines -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cpu_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("device-run")
    cfg = preset("ci", data="synthetic:device", data_root=str(root / "data"), meta_epochs=1, sub_epochs=1,
                 max_train_images=16, device="cpu")
    metrics = train(cfg, root / "run", progress=False)
    return root / "run", metrics


def _as_if_written_on_a_gpu(run: Path, monkeypatch) -> None:
    """Rewrite a CPU run folder as a CUDA machine writes it: config and metrics name the GPU, and model.pt's
    tensors carry CUDA locations (torch.load without map_location fails on a CPU machine)."""
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "device": "cuda"}, indent=2, sort_keys=True) + "\n")
    metrics = json.loads((run / "metrics.json").read_text())
    metrics.update(device="cuda", device_name="Tesla T4", device_memory_mb=15360.0, device_capability="7.5",
                   cuda_peak_mb=3900.0)
    (run / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    state = load_torch(run / "model.pt")
    with monkeypatch.context() as m:
        m.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        torch.save(state, run / "model.pt")


@pytest.mark.slow  # trains a tiny run
def test_metrics_record_the_device_the_run_used(cpu_run):
    run, metrics = cpu_run
    stored = json.loads((run / "metrics.json").read_text())
    assert stored["device"] == "cpu" and stored["device_name"] == D.device_name(torch.device("cpu"))
    assert stored["device_memory_mb"] > 0 and stored["device_capability"] == "" and stored["torch_version"]
    assert stored == metrics


@pytest.mark.slow  # trains a tiny run
def test_a_run_written_on_a_gpu_scores_on_a_cpu(cpu_run, tmp_path, monkeypatch):
    run = tmp_path / "gpu-run"
    shutil.copytree(cpu_run[0], run)
    _as_if_written_on_a_gpu(run, monkeypatch)
    no_gpu(monkeypatch)
    with pytest.raises(RuntimeError, match="CUDA"):  # the file really is a GPU's: plain torch.load refuses it here
        torch.load(io.BytesIO((run / "model.pt").read_bytes()), weights_only=True)
    detector = Detector.load(run)  # device auto: the CPU here
    assert detector.model.device == torch.device("cpu") and detector.cfg.device == "auto"
    table = pd.read_csv(run / "scores.csv").head(6)
    fresh = detector.score_files(table["path"].tolist())
    assert fresh["score"].to_numpy() == pytest.approx(table["score"].to_numpy(), rel=1e-4, abs=1e-5)


@pytest.mark.slow
@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_run_written_on_a_cpu_scores_on_a_gpu(cpu_run):
    run, _ = cpu_run
    detector = Detector.load(run, device="cuda")
    assert detector.model.device.type == "cuda"
    table = pd.read_csv(run / "scores.csv").head(6)
    fresh = detector.score_files(table["path"].tolist())
    # the ci flow is float32 everywhere; the backbone runs under autocast on the GPU: scores agree to a few percent
    assert fresh["score"].to_numpy() == pytest.approx(table["score"].to_numpy(), rel=0.05, abs=1e-3)
