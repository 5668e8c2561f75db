"""The fast path of the flow step (adnkit.model.fastpath): bf16 Linear layers keep z and the log-det close to float32
and the loss in float32; fused/foreach Adam make the same updates as the plain loop; each setting resolves,
validates and is recorded; a failing torch.compile falls back to the eager flow."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from adnkit.config.settings import preset
from adnkit.core.errors import ConfigError
from adnkit.model import fastpath
from adnkit.model.differnet import DifferNet
from adnkit.model.flow import Subnet, build_flow, nll_loss

pytestmark = pytest.mark.usefixtures("one_thread")

ROOT = Path(__file__).resolve().parents[1]
# bf16 keeps 8 bits of mantissa (relative rounding 2^-9): on a 4-block flow of width 256 at init the largest
# differences measured were |dz| 0.006 (z ~ N(0, 1)) and |d log det| 0.018 nats; the bounds leave 3x room.
Z_ATOL = 0.02
LOGDET_ATOL = 0.06
LOSS_ATOL = 1e-3
# fused/foreach Adam compute the same formula in another order: float32 rounding only.
ADAM_RTOL, ADAM_ATOL = 1e-5, 1e-6


def _flow(dim=128, hidden=256, blocks=4, seed=0):
    torch.manual_seed(seed)
    return build_flow(dim, blocks=blocks, hidden=hidden, hidden_layers=2)


def _bf16_parity(device: str) -> None:
    flow = _flow().to(device)
    x = torch.randn(96, 128, generator=torch.Generator().manual_seed(1)).to(device)
    z32, ld32 = flow(x)
    loss32 = nll_loss(z32, ld32)
    assert fastpath.set_flow_precision(flow, "bf16") == 8  # two subnets per coupling block
    z16, ld16 = flow(x)
    loss16 = nll_loss(z16, ld16)
    assert z16.dtype == ld16.dtype == loss16.dtype == torch.float32
    weights = [p for p in flow.parameters() if p.requires_grad]  # (FrEIA's permutations are int parameters)
    assert all(p.dtype == torch.float32 for p in weights)  # the weights stay float32
    assert 0 < (z16 - z32).abs().max().item() < Z_ATOL  # > 0: the Linear layers really ran in bf16
    assert (ld16 - ld32).abs().max().item() < LOGDET_ATOL
    assert abs(loss16.item() - loss32.item()) < LOSS_ATOL
    loss16.backward()
    assert all(p.grad.dtype == torch.float32 and torch.isfinite(p.grad).all() for p in weights)


def test_bf16_linear_layers_keep_z_and_the_log_det_close_to_float32():
    _bf16_parity("cpu")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_bf16_parity_on_cuda():
    _bf16_parity("cuda")


def _adam_params(impl: str, device: str, steps: int = 5) -> list[torch.Tensor]:
    cfg = preset("ci")
    flow = _flow(dim=32, hidden=64, blocks=2).to(device)
    optimizer = fastpath.build_optimizer([{"params": list(flow.parameters()), "lr": cfg.lr}], cfg, impl)
    gen = torch.Generator().manual_seed(2)
    for _ in range(steps):
        x = torch.randn(16, 32, generator=gen).to(device)
        loss = nll_loss(*flow(x))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return [p.detach().cpu() for p in flow.parameters() if p.requires_grad]


def _adam_parity(device: str) -> None:
    plain = _adam_params("plain", device)
    start = [p.detach() for p in _flow(dim=32, hidden=64, blocks=2).parameters() if p.requires_grad]
    assert any((a - b).abs().max() > 1e-4 for a, b in zip(plain, start, strict=True))  # the steps did move the weights
    impls = ["foreach"] + (["fused"] if fastpath.fused_supported(torch.device(device)) else [])
    for impl in impls:
        for a, b in zip(_adam_params(impl, device), plain, strict=True):
            torch.testing.assert_close(a, b, rtol=ADAM_RTOL, atol=ADAM_ATOL, msg=f"{impl} Adam differs from plain")


def test_fused_and_foreach_adam_make_the_same_updates_as_plain_adam():
    _adam_parity("cpu")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_fused_adam_parity_on_cuda():
    _adam_parity("cuda")


def test_auto_settings_resolve_for_the_device(monkeypatch):
    cpu = torch.device("cpu")
    assert fastpath.resolve_optimizer_impl("auto", cpu) == ("fused" if fastpath.fused_supported(cpu) else "foreach")
    assert fastpath.resolve_optimizer_impl("plain", cpu) == "plain"
    paper = preset("paper", device="cpu")
    monkeypatch.setattr(fastpath, "cpu_has_bf16", lambda: True)
    assert fastpath.resolve_flow_precision(paper, cpu) == "bf16"
    assert fastpath.resolve_flow_precision(preset("ci"), cpu) == "fp32"  # too narrow to gain from bf16
    assert fastpath.resolve_flow_precision(paper.replace(flow_precision="fp32"), cpu) == "fp32"
    monkeypatch.setattr(fastpath, "cpu_has_bf16", lambda: False)
    assert fastpath.resolve_flow_precision(paper, cpu) == "fp32"
    assert fastpath.resolve_flow_precision(preset("ci", flow_precision="bf16"), cpu) == "bf16"
    assert fastpath.resolve_compile("auto", cpu) is False


@pytest.mark.parametrize("name, value", [("optimizer_impl", "sgd"), ("flow_precision", "fp16"),
                                         ("compile_flow", "yes")])
def test_bad_fast_path_settings_are_one_line_errors(name, value):
    with pytest.raises(ConfigError, match=f"{name}=.*--{name.replace('_', '-')}"):
        preset("ci", **{name: value})


def test_model_applies_its_precision_on_first_use(monkeypatch):
    monkeypatch.setattr(fastpath, "cpu_has_bf16", lambda: True)
    model = DifferNet(preset("ci", pretrained="random", flow_precision="bf16"), progress=False)
    subnets = [m for m in model.flow.modules() if isinstance(m, Subnet)]
    assert subnets and not any(m.bf16 for m in subnets)
    model.flow_forward(torch.randn(4, model.cfg.embedding_dim))
    assert all(m.bf16 for m in subnets)


def test_a_failing_compile_falls_back_to_the_eager_flow(monkeypatch):
    def broken_compile(module, **kwargs):
        def run(x):
            raise RuntimeError("no C++ compiler found")
        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    model = DifferNet(preset("ci", pretrained="random", compile_flow="on"), progress=False)
    _, record = fastpath.setup(model, model.cfg, torch.device("cpu"))
    assert record["compile_flow"] == "on"
    x = torch.randn(4, model.cfg.embedding_dim)
    with pytest.warns(RuntimeWarning, match="compile_flow: torch.compile failed.*runs eagerly"):
        z, log_jac_det = model.flow_forward(x)
    z_eager, _ = model.flow(x)
    torch.testing.assert_close(z, z_eager)
    model.flow_forward(x)  # no second warning: the fallback is remembered


def test_metrics_record_the_fast_path(tmp_path):
    from adnkit.training.trainer import train

    cfg = preset("ci", data="synthetic:fastpath", data_root=str(tmp_path / "data"), meta_epochs=1, sub_epochs=1,
                 max_train_images=8, feature_cache_views=2, optimizer_impl="foreach", flow_precision="bf16",
                 cpu_bf16_backbone="off")
    metrics = train(cfg, tmp_path / "run", progress=False)
    assert metrics["fast_path"] == "optimizer=foreach flow_precision=bf16 compile_flow=off cpu_bf16_backbone=off"
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["fast_path"] == metrics["fast_path"]


def test_cpu_bf16_backbone_keeps_embeddings_close_and_leaves_gradient_passes_in_float32():
    """cpu_bf16_backbone=on: the no-gradient passes run in bf16 (close to, not equal to, float32); a pass that
    needs a gradient (Grad-CAM, trained blocks) stays float32 exactly."""
    x = torch.randn(4, 3, 128, 128, generator=torch.Generator().manual_seed(3))
    fast = DifferNet(preset("ci", pretrained="random", cpu_bf16_backbone="on"), progress=False).eval()
    plain = DifferNet(preset("ci", pretrained="random", cpu_bf16_backbone="off"), progress=False).eval()
    with torch.no_grad():
        a, b = fast.embed(x), plain.embed(x)
    assert a.dtype == torch.float32 and not torch.equal(a, b)
    assert ((a - b).norm(dim=1) / b.norm(dim=1)).max().item() < 0.02
    xg = x.clone().requires_grad_(True)
    torch.testing.assert_close(fast.embed(xg), b, rtol=1e-5, atol=1e-6)
    assert fastpath.resolve_cpu_bf16_backbone("auto") == fastpath.cpu_has_bf16()


def test_an_older_run_keeps_its_float32_backbone(tmp_path):
    from adnkit.runs.folder import read_config

    data = preset("ci").to_dict()
    del data["cpu_bf16_backbone"]
    (tmp_path / "config.json").write_text(json.dumps(data))
    assert read_config(tmp_path / "config.json").cpu_bf16_backbone == "off"


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_backbone_bf16_channels_last_embeddings_stay_close_on_cuda():
    """cfg.amp + cfg.channels_last (the backbone's CUDA path) against float32: same embeddings to 5 %."""
    x = torch.randn(4, 3, 128, 128, generator=torch.Generator().manual_seed(3)).cuda()
    fast = DifferNet(preset("ci", pretrained="random", device="cuda"), progress=False).cuda().eval()
    fast.backbone.to(memory_format=torch.channels_last)
    plain = DifferNet(preset("ci", pretrained="random", device="cuda", amp=False, channels_last=False),
                      progress=False).cuda().eval()
    with torch.no_grad():
        a, b = fast.embed(x), plain.embed(x)
    assert a.dtype == torch.float32
    assert ((a - b).abs().max() / b.abs().max()).item() < 0.05


@pytest.mark.slow
def test_gpu_check_runs_its_cpu_parts(tmp_path):
    """benchmarks/gpu_check.sh without a GPU (or --cpu-smoke): every phase runs at a tiny size, one JSON out."""
    out = tmp_path / "gpu-check.json"
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--cpu-smoke", "--out", str(out),
                           "--data-root", str(tmp_path / "data")],
                          env={**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["mode"] == "cpu-smoke"
    selected = re.match(r"(\d+)/\d+ tests collected", result["cuda_tests"]["summary"])  # pytest -m cuda --co
    assert result["cuda_tests"]["returncode"] == 0 and selected and int(selected.group(1)) >= 3
    for name in ("category_gpu", "category_paper"):  # the two category runs, at the ci preset here
        run = result[name]
        assert 0 <= run["auroc_last"] <= 1 and run["wall_s"] > 0 and "fast_path" in run, run
        assert run["n_train"] > 0 and run["device"] == "cpu" and run["device_name"] and run["peak_rss_mb"] > 0
    notebooks = result["notebooks"]
    assert notebooks.get("skipped") or (notebooks["returncode"] == 0 and "passed" in notebooks["summary"]), notebooks
    timings = result["timings"]
    assert {"fp32-plain", "fast"} <= set(timings["train_step"])
    assert all("step_s" in v for v in timings["train_step"].values())
    assert all("images_per_s" in v for v in timings["scoring"].values())


@pytest.mark.slow
def test_end_to_end_script_runs_before_and_after(tmp_path):
    """benchmarks/end_to_end_cpu.sh at a tiny size: both runs finish, with the paths they claim, into one JSON."""
    out = tmp_path / "e2e.json"
    tiny = ["--flow-blocks", "2", "--flow-hidden", "64", "--flow-hidden-layers", "1", "--image-size", "128",
            "--scales", "2", "--meta-epochs", "1", "--sub-epochs", "1", "--max-train-images", "16",
            "--data-root", str(tmp_path / "data")]
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "end_to_end_cpu.sh"), "synthetic:e2e", str(out), *tiny],
                          env={**os.environ, "PY": sys.executable}, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    runs = json.loads(out.read_text())["runs"]
    assert runs["before"]["fast_path"] == "optimizer=plain flow_precision=fp32 compile_flow=off cpu_bf16_backbone=off"
    assert "optimizer=fused" in runs["after"]["fast_path"]
    assert all(0 <= r["auroc_last"] <= 1 and r["wall_s"] > 0 for r in runs.values())


def test_sweep_summary_pools_folders_and_pairs_on_seed(tmp_path):
    """benchmarks/sweep_summary.py on two fake bench folders (one held scales fixed at 3 in bench.json): per value
    the mean over seeds and the mean seconds; the gain over the baseline value paired on seed."""
    for scales, sizes in ((2, (160, 320)), (3, (320,))):
        folder = tmp_path / f"scales{scales}"
        folder.mkdir()
        (folder / "bench.json").write_text(json.dumps({"base_config": {"scales": scales}}))
        table = [dict(dataset="elpv", category="mono", attention="none", seed=seed, status="ok", image_size=size,
                      auroc_last=0.70 + 0.01 * seed + (size - 160) / 1600 + (scales - 2) / 100,
                      auroc_best=0.75, auroc_val_selected=0.72, train_seconds=size / 10, eval_seconds=1.0,
                      peak_rss_mb=100.0) for size in sizes for seed in range(3)]
        table.append({**table[0], "seed": 9, "status": "failed", "auroc_last": 0.0})  # left out
        pd.DataFrame(table).to_csv(folder / "results.csv", index=False)
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "sweep_summary.py"), str(tmp_path / "scales2"),
                           str(tmp_path / "scales3"), "--field", "image_size", "scales", "--baseline", "160", "2"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["n_runs"] == 9
    values = {(v["image_size"], v["scales"]): v for v in result["per_value"]}
    assert set(values) == {("160", "2"), ("320", "2"), ("320", "3")}
    assert values[("320", "3")]["auroc_last_mean"] == pytest.approx(0.70 + 0.01 + 0.1 + 0.01)
    assert values[("320", "2")]["train_seconds_mean"] == pytest.approx(32.0) and values[("160", "2")]["runs"] == 3
    gains = {(g["image_size"], g["scales"]): g for g in result["paired_vs_baseline"]
             if g["metric"] == "auroc_last" and g["dataset"] == "elpv"}
    assert gains[("320", "3")]["gain_mean"] == pytest.approx(0.11) and gains[("320", "3")]["n_pairs"] == 3
    assert gains[("320", "2")]["wins"] == 3
    assert gains[("320", "3")]["unit"] == "seed" and gains[("320", "3")]["verdict"] == "a gain"  # one category
    assert len([p for p in result["pairs"] if p["metric"] == "auroc_last"]) == 6  # 2 values x 3 seeds


def test_profile_step_times_a_fresh_rotation_recipe(tmp_path):
    """benchmarks/profile_step.py at feature_cache_views 0 (the paper recipe draws fresh rotations): real rows, a
    finite loss, and what it measures said in the JSON."""
    out = tmp_path / "profile.json"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "profile_step.py"), "--preset", "ci",
                           "--threads", "1", "--repeats", "1", "--paths", "fp32-plain", "fast", "--pool-images", "8",
                           "--set", "feature_cache_views=0", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["feature_cache_views"] == 0 and "not the backbone" in result["measures"]
    for path in result["runs"][0]["paths"].values():
        assert path["rows_per_step"] == 8 * 2 and np.isfinite(path["last_loss"]) and path["phases_s"]["forward"] > 0


def test_a_benchmark_that_measured_nothing_fails_loudly(capsys):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from jsonout import finite, require

    require(True, "fine")
    with pytest.raises(SystemExit) as stop:
        require(finite(float("nan")), "the last step's loss is nan")
    assert stop.value.code == 3
    assert capsys.readouterr().err.strip() == ("benchmark: the last step's loss is nan; nothing real was measured, "
                                               "so no result is written")
