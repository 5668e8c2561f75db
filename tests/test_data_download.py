"""Downloads and extraction against a local HTTP server started by the test (127.0.0.1, an ephemeral port,
Range support switchable): full download, resume, restart when Range is ignored, checksum mismatch, the
MVTec command end to end, and archives with members that try to escape the target folder."""

import argparse
import hashlib
import io
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from adnkit.cli.data import add_data_parser
from adnkit.core.errors import DataError
from adnkit.data.download import download, extract


class Handler(BaseHTTPRequestHandler):
    """Serves server.files; honours "Range: bytes=N-" when server.honour_range is set."""

    def do_GET(self):  # noqa: N802 (http.server's naming)
        data = self.server.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        wanted = self.headers.get("Range")
        self.server.ranges.append(wanted)
        if wanted and self.server.honour_range:
            start = int(wanted.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = data[start:]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            body = data
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.files, httpd.ranges, httpd.honour_range = {}, [], True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield httpd, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def png_bytes():
    buf = io.BytesIO()
    Image.new("RGB", (40, 40), (1, 2, 3)).save(buf, "PNG")
    return buf.getvalue()


def add_bytes(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def mvtec_archive(categories=("bottle", "grid")) -> bytes:
    """A tiny tar.xz in MVTec layout."""
    buf = io.BytesIO()
    image = png_bytes()
    with tarfile.open(fileobj=buf, mode="w:xz") as tar:
        add_bytes(tar, "license.txt", b"CC BY-NC-SA 4.0")
        for cat in categories:
            for part in ("train/good/000.png", "train/good/001.png", "test/good/000.png", "test/crack/000.png",
                         "ground_truth/crack/000_mask.png"):
                add_bytes(tar, f"{cat}/{part}", image)
    return buf.getvalue()


def payload(n=300_000) -> bytes:
    return bytes(range(256)) * (n // 256)


def test_full_download_verified(server, tmp_path, capsys):
    httpd, base = server
    data = payload()
    httpd.files["/f.bin"] = data
    out = download(f"{base}/f.bin", tmp_path / "f.bin", sha256=hashlib.sha256(data).hexdigest(), progress=False)
    assert out.read_bytes() == data and not (tmp_path / "f.bin.part").exists()
    assert "NOT verified" not in capsys.readouterr().err


def test_without_checksum_the_digest_is_printed(server, tmp_path, capsys):
    httpd, base = server
    httpd.files["/f.bin"] = data = payload(1000)
    download(f"{base}/f.bin", tmp_path / "f.bin", progress=False)
    err = capsys.readouterr().err
    assert hashlib.sha256(data).hexdigest() in err and "NOT verified" in err


def test_resume_from_partial_file(server, tmp_path):
    httpd, base = server
    httpd.files["/f.bin"] = data = payload()
    (tmp_path / "f.bin.part").write_bytes(data[:123_456])
    download(f"{base}/f.bin", tmp_path / "f.bin", sha256=hashlib.sha256(data).hexdigest(), progress=False)
    assert httpd.ranges == ["bytes=123456-"]
    assert (tmp_path / "f.bin").read_bytes() == data


def test_complete_partial_file_is_not_fetched_again(server, tmp_path):
    httpd, base = server
    httpd.files["/f.bin"] = data = payload(4096)
    (tmp_path / "f.bin.part").write_bytes(data)
    download(f"{base}/f.bin", tmp_path / "f.bin", sha256=hashlib.sha256(data).hexdigest(), progress=False)
    assert httpd.ranges == ["bytes=4096-"] and (tmp_path / "f.bin").read_bytes() == data


def test_restart_when_server_ignores_range(server, tmp_path):
    httpd, base = server
    httpd.files["/f.bin"] = data = payload()
    httpd.honour_range = False
    (tmp_path / "f.bin.part").write_bytes(data[:5000])
    download(f"{base}/f.bin", tmp_path / "f.bin", progress=False)
    assert httpd.ranges == ["bytes=5000-"] and (tmp_path / "f.bin").read_bytes() == data


def test_checksum_mismatch_removes_the_file(server, tmp_path):
    httpd, base = server
    httpd.files["/f.bin"] = payload(5000)
    with pytest.raises(DataError, match="sha256 mismatch.*removed"):
        download(f"{base}/f.bin", tmp_path / "f.bin", sha256="0" * 64, progress=False)
    assert not (tmp_path / "f.bin").exists() and not (tmp_path / "f.bin.part").exists()


def test_http_error_names_the_url(server, tmp_path):
    _, base = server
    with pytest.raises(DataError, match=r"/missing\.bin: download failed"):
        download(f"{base}/missing.bin", tmp_path / "m.bin", progress=False)


def run_cli(*argv):
    parser = argparse.ArgumentParser(prog="adnkit")
    add_data_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


def test_download_mvtec_command_end_to_end(server, tmp_path, capsys):
    httpd, base = server
    httpd.files["/mvtec.tar.xz"] = mvtec_archive()
    root = tmp_path / "mvtec"
    assert run_cli("data", "download", "mvtec", "--root", str(root), "--url", f"{base}/mvtec.tar.xz",
                   "--categories", "bottle", "--no-progress") == 0
    assert sorted(p.name for p in (root / "bottle" / "train" / "good").iterdir()) == ["000.png", "001.png"]
    assert (root / "bottle" / "ground_truth" / "crack" / "000_mask.png").is_file()
    assert not (root / "grid").exists()  # only the requested category was unpacked
    assert not (root / "mvtec_anomaly_detection.tar.xz").exists()  # archive removed after unpacking
    out = capsys.readouterr()
    assert "NOT verified" in out.err and "bottle" in out.out


def test_download_url_from_environment(server, tmp_path, monkeypatch):
    httpd, base = server
    httpd.files["/env.tar.xz"] = mvtec_archive(("grid",))
    monkeypatch.setenv("ADNKIT_MVTEC_URL", f"{base}/env.tar.xz")
    assert run_cli("data", "download", "mvtec", "--root", str(tmp_path), "--no-progress", "--keep-archive") == 0
    assert (tmp_path / "grid" / "test" / "crack" / "000.png").is_file()
    assert (tmp_path / "mvtec_anomaly_detection.tar.xz").is_file()


def evil_tar(kind) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        add_bytes(tar, "fine.txt", b"ok")
        if kind == "dotdot":
            add_bytes(tar, "../evil.txt", b"escaped")
        elif kind == "absolute":
            add_bytes(tar, "/tmp/adnkit-evil-abs.txt", b"escaped")
        elif kind == "symlink":
            link = tarfile.TarInfo("link")
            link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(link)
        elif kind == "hardlink":
            link = tarfile.TarInfo("hard")
            link.type, link.linkname = tarfile.LNKTYPE, "fine.txt"
            tar.addfile(link)
        elif kind == "device":
            dev = tarfile.TarInfo("dev")
            dev.type = tarfile.CHRTYPE
            tar.addfile(dev)
    return buf.getvalue()


@pytest.mark.parametrize("kind, message", [
    ("dotdot", "would land outside"), ("absolute", "would land outside"), ("symlink", "link or special file"),
    ("hardlink", "link or special file"), ("device", "link or special file"),
])
def test_malicious_tar_members_are_refused(server, tmp_path, kind, message):
    httpd, base = server
    httpd.files["/evil.tar"] = evil_tar(kind)
    archive = download(f"{base}/evil.tar", tmp_path / "evil.tar", progress=False)
    target = tmp_path / "out"
    with pytest.raises(DataError, match=message):
        extract(archive, target, progress=False)
    assert not (tmp_path / "evil.txt").exists() and not (target / "link").exists()
    assert sorted(p.name for p in target.iterdir()) in ([], ["fine.txt"])


def test_malicious_zip_members_are_refused(tmp_path):
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as zf:
        zf.writestr("fine.txt", "ok")
        zf.writestr("../evil.txt", "escaped")
    with pytest.raises(DataError, match="would land outside"):
        extract(tmp_path / "evil.zip", tmp_path / "out", progress=False)
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "out" / "fine.txt").exists()
    link = zipfile.ZipInfo("link")
    link.external_attr = (0o120777 << 16)  # a symlink, as Info-ZIP records it
    with zipfile.ZipFile(tmp_path / "link.zip", "w") as zf:
        zf.writestr(link, "/etc/passwd")
    with pytest.raises(DataError, match="link or special file"):
        extract(tmp_path / "link.zip", tmp_path / "out2", progress=False)


def test_safe_zip_and_tar_extract(tmp_path):
    with zipfile.ZipFile(tmp_path / "ok.zip", "w") as zf:
        zf.writestr("a/b.txt", "zip")
    (tmp_path / "ok.tar.xz").write_bytes(mvtec_archive(("wood",)))
    extract(tmp_path / "ok.zip", tmp_path / "out", progress=False)
    extract(tmp_path / "ok.tar.xz", tmp_path / "out", progress=False)
    assert (tmp_path / "out" / "a" / "b.txt").read_text() == "zip"
    assert (tmp_path / "out" / "wood" / "train" / "good" / "000.png").is_file()
    (tmp_path / "bad.tar").write_bytes(b"this is not an archive at all")
    with pytest.raises(DataError, match="not a tar or zip archive"):
        extract(tmp_path / "bad.tar", tmp_path / "out", progress=False)
