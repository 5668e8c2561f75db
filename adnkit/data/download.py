"""Opt-in downloads that survive bad connections and untrusted archives.

`download` streams a URL to `<dest>.part`, resumes a partial file with an HTTP Range request (and starts over
when the server ignores Range), checks the sha256 when one is given and renames the file into place only when
it is complete. `extract` unpacks tar (.tar, .tar.gz, .tar.xz, ...) and zip archives, refusing any member that
would land outside the target folder (absolute paths, "..") and any link or device member: an archive from
the internet must not be able to write anywhere else.
"""

from __future__ import annotations

import http.client
import os
import stat
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from adnkit.core.errors import DataError
from adnkit.core.files import sha256_of

CHUNK = 1 << 20
# tarfile's "data" filter (Python 3.11.4+, 3.10.12+) refuses unsafe members itself; older Pythons rely on ours.
_DATA_FILTER = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
USER_AGENT = "adnkit-downloader"


def _open(url: str, offset: int, timeout: float):
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (the user chose the URL)


def _fetch(url: str, part: Path, timeout: float, progress: bool) -> None:
    """Append the rest of `url` to `part` (Range from its size), or rewrite it when the server ignores Range."""
    offset = part.stat().st_size if part.exists() else 0
    try:
        response = _open(url, offset, timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset and err.headers.get("Content-Range") == f"bytes */{offset}":
            return  # 416 with our own size: the partial file is already complete
        if err.code != 416 or not offset:
            raise
        offset, response = 0, _open(url, 0, timeout)  # the server knows no such prefix: start again
    with response:
        if offset and response.status != 206:  # Range ignored: the whole file follows
            offset = 0
        if offset and not response.headers.get("Content-Range", "").startswith(f"bytes {offset}-"):
            raise DataError(f"{url}: the server resumed at another byte than {offset}; delete {part} and "
                            f"run it again")
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length else None
        with open(part, "ab" if offset else "wb") as out, tqdm(
            total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024, desc=part.stem,
            disable=not progress,
        ) as bar:
            while chunk := response.read(CHUNK):
                out.write(chunk)
                bar.update(len(chunk))
    if total is not None and part.stat().st_size != total:
        raise DataError(f"{url}: download ended early ({part.stat().st_size} of {total} bytes); run it again "
                        f"to resume from {part}")


def download(url: str, dest: str | Path, *, sha256: str | None = None, progress: bool = True,
             timeout: float = 60.0) -> Path:
    """Fetch `url` into `dest` (resumable, verified when `sha256` is given); return `dest`.

    A finished `dest` is reused (after checking `sha256`, if given). Without `sha256` the computed digest is
    printed so that the user can pin it next time.
    """
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    if dest.exists():
        if sha256 and sha256_of(dest) != sha256.lower():
            raise DataError(f"{dest}: exists but its sha256 differs from {sha256}; delete it and download again")
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        _fetch(url, part, timeout, progress)
    except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
        reason = getattr(err, "reason", None) or err
        raise DataError(f"{url}: download failed ({reason}); check the URL and the connection and run it again "
                        f"(it resumes from {part})") from None
    digest = sha256_of(part)
    if sha256 and digest != sha256.lower():
        part.unlink()
        raise DataError(f"{url}: sha256 mismatch (got {digest}, expected {sha256}); the file was removed: "
                        f"check the URL or the checksum")
    if not sha256:
        print(f"{dest.name}: sha256 {digest} (NOT verified: no checksum given; pass it with --sha256 to check "
              f"future downloads)", file=sys.stderr)
    os.replace(part, dest)
    return dest


def _check_member(archive: Path, target: Path, name: str, *, plain: bool) -> None:
    """Refuse a member that is not a plain file or folder, or whose path leaves `target`."""
    if not plain:
        raise DataError(f"{archive}: member {name!r} is a link or special file; refusing to extract this archive "
                        f"(it is not safe)")
    pure = PurePosixPath(name.replace("\\", "/"))
    outside = pure.is_absolute() or ".." in pure.parts or (pure.parts and ":" in pure.parts[0])
    if outside or not (target / pure).resolve().is_relative_to(target.resolve()):
        raise DataError(f"{archive}: member {name!r} would land outside {target}; refusing to extract this "
                        f"archive (it is not safe)")


def extract(archive: str | Path, target: str | Path, *,
            include: Callable[[str], bool] | None = None, progress: bool = True) -> Path:
    """Unpack a tar or zip `archive` into `target` safely; `include(member_name)` picks members. Returns target.

    Members are checked one by one as they stream past (an xz archive is read once); a refused member stops
    the extraction with a DataError before anything of it is written.
    """
    archive, target = Path(archive), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.infolist() if include is None or include(m.filename)]
            for m in members:
                kind = stat.S_IFMT(m.external_attr >> 16)  # unix file type; 0 when not recorded
                _check_member(archive, target, m.filename, plain=kind in (0, stat.S_IFREG, stat.S_IFDIR))
            for m in tqdm(members, desc=f"extract {archive.name}", unit="file", disable=not progress):
                zf.extract(m, target)
        return target
    try:
        tf = tarfile.open(archive, "r|*")  # stream mode: one pass over a compressed archive
    except (tarfile.TarError, OSError) as err:
        raise DataError(f"{archive}: not a tar or zip archive ({err}); download it again") from None
    with tf, tqdm(desc=f"extract {archive.name}", unit="file", disable=not progress) as bar:
        try:
            for member in tf:
                if include is not None and not include(member.name):
                    continue
                # symlinks, hard links, devices and fifos are refused along with paths leaving target
                _check_member(archive, target, member.name, plain=member.isfile() or member.isdir())
                tf.extract(member, target, **_DATA_FILTER)  # tarfile's own guard on top of ours
                bar.update(1)
        except (tarfile.TarError, EOFError, OSError) as err:
            raise DataError(f"{archive}: damaged archive ({err}); delete it and download again") from None
    return target
