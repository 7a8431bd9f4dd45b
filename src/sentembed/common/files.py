"""File helpers: JSON and arrays read with errors that name the file, and crash-safe (atomic) writes."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
    import msvcrt

LOCK_POLL_S = 0.05
DIGEST_BLOCK_BYTES = 1 << 20
DOWNLOAD_BLOCK_BYTES = 1 << 16

__all__ = [
    "atomic_write",
    "file_digest",
    "file_lock",
    "http_get",
    "load_array",
    "path_inside",
    "read_json",
    "read_json_object",
    "read_line",
    "read_lines",
    "save_array",
    "save_lines",
    "write_json",
]


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file, turning a parse failure into an OSError that names the file."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as error:
        raise OSError(f"{path} is not valid JSON: {error}") from error


def read_json_object(path: str | os.PathLike) -> dict[str, Any]:
    """Read a JSON file that must hold an object (settings, a config); anything else is an OSError naming it."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise OSError(f"{path} must hold a JSON object, got a JSON {type(data).__name__}")
    return data


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write a JSON file (indented, newline at the end) atomically."""
    atomic_write(Path(path), lambda stream: stream.write((json.dumps(data, indent=2) + "\n").encode("utf-8")))


def path_inside(folder: str | os.PathLike, relative: Any, what: str) -> Path:
    """`folder / relative`, refusing a path that is absolute, climbs out with '..', or resolves outside `folder`
    (through a symbolic link, say); `what` names where the path came from in the error."""
    if not isinstance(relative, str):
        raise OSError(f"{what}: a path must be a string, got {type(relative).__name__}")
    candidate = Path(relative)
    root = Path(folder).resolve()
    if candidate.is_absolute() or ".." in candidate.parts or not (root / candidate).resolve().is_relative_to(root):
        raise OSError(f"{what}: path {relative!r} leaves the folder {folder}; paths must stay inside it")
    return Path(folder) / candidate


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Run `write` on a temporary file in the same folder, flush it to disk, then rename it over `path`."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def save_array(path: Path, array: np.ndarray) -> None:
    """Write a .npy file atomically, never with pickled objects."""
    atomic_write(path, lambda stream: np.save(stream, array, allow_pickle=False))


def load_array(path: Path) -> np.ndarray:
    """Memory-map a .npy file (copy-on-write, so torch can wrap it without copying); never unpickles.

    A missing, truncated or foreign file is an OSError that names it.
    """
    if not path.is_file():
        raise OSError(f"file {path} is missing")
    try:
        return np.load(path, mmap_mode="c", allow_pickle=False)
    except (ValueError, EOFError, OSError) as error:
        raise OSError(f"{path} is damaged or not a .npy file ({error})") from error


def file_digest(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(DIGEST_BLOCK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def file_lock(path: Path, timeout: float, what: str) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if missing) for the block: other processes and threads that
    ask for it wait up to `timeout` seconds, then get an OSError naming `what`."""
    with open(path, "a+b") as handle:
        deadline = time.monotonic() + timeout
        while not _try_lock(handle):
            if time.monotonic() > deadline:
                raise OSError(f"{what} is locked by another writer (waited {timeout:g} s for {path})")
            time.sleep(LOCK_POLL_S)
        try:
            yield
        finally:
            _unlock(handle)


def _try_lock(handle: IO[bytes]) -> bool:
    try:
        if fcntl is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    return True


def _unlock(handle: IO[bytes]) -> None:
    if fcntl is not None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    else:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)


def save_lines(path: Path, records: list[Any]) -> np.ndarray:
    """Write one JSON record per line atomically; returns the byte offset where each line starts."""
    lines = [(json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8") for record in records]
    offsets = np.cumsum([0] + [len(line) for line in lines])[:-1].astype(np.int64)
    atomic_write(path, lambda stream: stream.write(b"".join(lines)))
    return offsets


def read_lines(path: Path) -> Iterator[Any]:
    """Every JSON record of a JSON-lines file, in order; a damaged line is an OSError naming the file."""
    with open(path, "rb") as stream:
        for number, line in enumerate(stream, start=1):
            try:
                yield json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError) as error:
                raise OSError(f"{path} is damaged: line {number} is no JSON record ({error})") from error


def read_line(path: Path, offset: int) -> Any:
    """The JSON record on the line starting at byte `offset`; a damaged line is an OSError naming the file."""
    with open(path, "rb") as stream:
        stream.seek(offset)
        line = stream.readline()
    try:
        return json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise OSError(f"{path} is damaged: no JSON record at byte {offset} ({error})") from error


def http_get(url: str, path: str | os.PathLike, timeout: float = 60.0) -> None:
    """Download `url` to `path` with a progress bar; the file appears complete or not at all (atomic rename).

    Args:
        url: an http(s) address.
        path: where the file goes; its folder is created when missing.
        timeout: seconds to wait for the server to answer or send more data.

    Raises an OSError naming the address on an HTTP error or a failed connection, and a ValueError for an
    address that is not http(s).
    """
    from tqdm.auto import tqdm

    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError(f"http_get needs an http:// or https:// address, got {url!r}")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (scheme checked above)
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=target.name, disable=None) as progress:

                def copy(stream: IO[bytes]) -> None:
                    while block := response.read(DOWNLOAD_BLOCK_BYTES):
                        stream.write(block)
                        progress.update(len(block))

                atomic_write(target, copy)
    except urllib.error.HTTPError as error:
        raise OSError(f"downloading {url} failed: HTTP {error.code} {error.reason}") from error
    except (urllib.error.URLError, TimeoutError) as error:
        raise OSError(f"downloading {url} failed: {getattr(error, 'reason', error)}") from error
