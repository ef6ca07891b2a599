"""Reading the YAML files a user names: the one place the lower layers' parsers meet the disk.

The model parses text (:func:`gitflagger.model.documents.load_yaml_text`) and
never opens a file, so it stays pure and testable without a filesystem. Here a
file's text is read and handed to it, with one clear error when the file
cannot be read.
"""

from __future__ import annotations

from collections.abc import Iterable
from os import PathLike
from pathlib import Path
from typing import Any

from gitflagger.errors import PermanentError
from gitflagger.model.documents import load_yaml_text


def load_documents(paths: Iterable[str | PathLike[str]]) -> list[dict[str, Any]]:
    """Every non-empty YAML document of every file, in order.

    Empty documents (a stray ``---``) are skipped, as kubectl skips them. A
    document that is not a mapping is an error: it cannot be a Kubernetes object.

    Raises:
        ValidationError: bad YAML or a non-mapping document, e.g.
            ``invalid YAML: canary.yaml:12:5: mapping values are not allowed here``.
        PermanentError: a file cannot be read.
    """
    out: list[dict[str, Any]] = []
    for path in paths:
        out.extend(load_yaml_text(read_text(path), source=str(path)))
    return out


def read_text(path: str | PathLike[str]) -> str:
    """A UTF-8 file's text; an unreadable file is one clear :class:`PermanentError`."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise PermanentError(f"cannot read {path}: {reason}") from err
