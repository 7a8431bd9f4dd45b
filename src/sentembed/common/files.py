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
    """Read a JSON file.

    Args:
        path: The file.

    Returns:
        Its parsed value.

    Raises:
        OSError: A missing or unreadable file, or one that is not valid JSON (naming it).
    """
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as error:
        raise OSError(f"{path} is not valid JSON: {error}") from error


def read_json_object(path: str | os.PathLike) -> dict[str, Any]:
    """Read a JSON file that must hold an object (settings, a config).

    Args:
        path: The file.

    Returns:
        The object, as a dict.

    Raises:
        OSError: A missing or invalid file, or one holding anything but an object (naming it).
    """
    data = read_json(path)
    if not isinstance(data, dict):
        raise OSError(f"{path} must hold a JSON object, got a JSON {type(data).__name__}")
    return data


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write a JSON file (indented, newline at the end) atomically.

    Args:
        path: The file to write or replace.
        data: What to write (anything `json.dumps` takes).
    """
    atomic_write(Path(path), lambda stream: stream.write((json.dumps(data, indent=2) + "\n").encode("utf-8")))


def path_inside(folder: str | os.PathLike, relative: Any, what: str) -> Path:
    """A path read from a file (a config, a manifest), checked to stay inside its folder.

    Args:
        folder: The folder the path is relative to.
        relative: The path, as read.
        what: Where the path came from, for the error message.

    Returns:
        `folder / relative`.

    Raises:
        OSError: A path that is not a string, is absolute, climbs out with "..", or resolves outside `folder`
            (through a symbolic link, say).
    """
    if not isinstance(relative, str):
        raise OSError(f"{what}: a path must be a string, got {type(relative).__name__}")
    candidate = Path(relative)
    root = Path(folder).resolve()
    if candidate.is_absolute() or ".." in candidate.parts or not (root / candidate).resolve().is_relative_to(root):
        raise OSError(f"{what}: path {relative!r} leaves the folder {folder}; paths must stay inside it")
    return Path(folder) / candidate


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write a file so that it appears complete or not at all.

    Runs `write` on a temporary file in the same folder, flushes it to disk, then renames it over `path`.

    Args:
        path: The file to write or replace.
        write: Writes the content to the binary stream it is given.
    """
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
    """Write a .npy file atomically, never with pickled objects.

    Args:
        path: The file to write or replace.
        array: The array (of a numeric dtype).
    """
    atomic_write(path, lambda stream: np.save(stream, array, allow_pickle=False))


def load_array(path: Path) -> np.ndarray:
    """Memory-map a .npy file (copy-on-write, so torch can wrap it without copying); never unpickles.

    Args:
        path: The .npy file.

    Returns:
        The array, memory-mapped copy-on-write.

    Raises:
        OSError: A missing, truncated or foreign file (naming it).
    """
    if not path.is_file():
        raise OSError(f"file {path} is missing")
    try:
        return np.load(path, mmap_mode="c", allow_pickle=False)
    except (ValueError, EOFError, OSError) as error:
        raise OSError(f"{path} is damaged or not a .npy file ({error})") from error


def file_digest(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in blocks.

    Args:
        path: The file.

    Returns:
        The digest in hex.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(DIGEST_BLOCK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def file_lock(path: Path, timeout: float, what: str) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if missing) for the `with` block.

    Args:
        path: The lock file.
        timeout: Seconds to wait for another holder to let go.
        what: What the lock guards, for the error message.

    Yields:
        Nothing; the lock is held until the block ends.

    Raises:
        OSError: The lock still held by another process or thread after `timeout` seconds.
    """
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
    """Write one JSON record per line atomically.

    Args:
        path: The file to write or replace.
        records: The records (anything `json.dumps` takes).

    Returns:
        The byte offset where each line starts, as int64.
    """
    lines = [(json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8") for record in records]
    offsets = np.cumsum([0] + [len(line) for line in lines])[:-1].astype(np.int64)
    atomic_write(path, lambda stream: stream.write(b"".join(lines)))
    return offsets


def read_lines(path: Path) -> Iterator[Any]:
    """Read a JSON-lines file.

    Args:
        path: The file.

    Yields:
        Every record, in order.

    Raises:
        OSError: A damaged line (naming the file and line).
    """
    with open(path, "rb") as stream:
        for number, line in enumerate(stream, start=1):
            try:
                yield json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError) as error:
                raise OSError(f"{path} is damaged: line {number} is no JSON record ({error})") from error


def read_line(path: Path, offset: int) -> Any:
    """Read one record of a JSON-lines file.

    Args:
        path: The file.
        offset: The byte where the record's line starts (see `save_lines`).

    Returns:
        The record.

    Raises:
        OSError: No valid record there (naming the file).
    """
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

    Raises:
        OSError: An HTTP error or a failed connection, naming the address.
        ValueError: An address that is not http(s).
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
