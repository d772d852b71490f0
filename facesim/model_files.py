"""Model files read by hash: a file facesim did not train (the YuNet detector) and the encoder's
ONNX graph are checked against the sha256 recorded beside them before they are used, so a
swapped or damaged file is refused in one line instead of giving wrong answers quietly."""

from __future__ import annotations

import hashlib
from pathlib import Path

from facesim.errors import FacesimError


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def verified_bytes(path: Path, sha256: str, remedy: str = "reinstall facesim") -> bytes:
    """The file's bytes, once they are known to be the expected ones. remedy: what the refusal
    tells the user to do (a training teacher lives in a cache, not in the package)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise FacesimError(f"model file missing: {path}") from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise FacesimError(f"model file {path} does not match its recorded sha256; {remedy}")
    return data
