"""Parsing Kubernetes YAML: many documents per text, one clear error per mistake.

Users hand gitflagger the same multi-document files they hand kubectl (read
from disk by :mod:`gitflagger.adapters.files`; the model never opens a file). The
loader is ruamel.yaml's *safe* loader (no arbitrary Python tags), in its pure
Python form so error positions do not depend on whether the C extension is
installed. A syntax error becomes a :class:`~gitflagger.errors.ValidationError`
naming the file, line and column, never a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from gitflagger.errors import FieldProblem, ValidationError
from gitflagger.model.bounds import MAX_DEPTH, MAX_DOCUMENT_BYTES, check_bounds, subject_of
from gitflagger.model.fast_yaml import FAST_ABOVE, load_fast
from gitflagger.model.fields import describe


def parse_yaml(text: str, *, source: str = "<string>") -> list[Any]:
    """Every YAML document of ``text`` (``None`` for an empty one), whatever its shape.

    Within :mod:`~gitflagger.model.bounds`: a text above its size limit is refused
    before it is parsed, and each document, aliases expanded, is measured once loaded.
    """
    if len(text) > MAX_DOCUMENT_BYTES:
        raise ValidationError(
            [FieldProblem(source, f"{len(text):,} characters, more than the {MAX_DOCUMENT_BYTES:,} allowed")],
            subject="YAML",
        )
    json_docs = _json_documents(text)
    yaml = YAML(typ="safe", pure=True)
    try:
        docs = json_docs if json_docs is not None else _fast(text)
        if docs is None:
            docs = list(yaml.load_all(text))
    except MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
        message = err.problem or err.context or "malformed YAML"
        raise ValidationError([FieldProblem(where, _one_line(message))], subject="YAML") from err
    except YAMLError as err:
        raise ValidationError([FieldProblem(source, _one_line(str(err)))], subject="YAML") from err
    except RecursionError as err:  # the parser recurses per level: deep nesting stops it before our check
        raise ValidationError(
            [FieldProblem(source, f"nests too deeply to read (at most {MAX_DEPTH} levels)")], subject="YAML"
        ) from err
    for index, doc in enumerate(docs):
        problem = check_bounds(doc)
        if problem is not None:
            subject = subject_of(doc) if isinstance(doc, Mapping) else "document"
            raise ValidationError([problem], subject=f"{subject} ({source}, document {index + 1})")
    return docs


def load_yaml_text(text: str, *, source: str = "<string>") -> list[dict[str, Any]]:
    """Every non-empty mapping document of ``text``; ``source`` names it in errors.

    Empty documents (a stray ``---``) are skipped, as kubectl skips them. A
    document that is not a mapping is an error: it cannot be a Kubernetes object.
    """
    out: list[dict[str, Any]] = []
    for index, doc in enumerate(parse_yaml(text, source=source)):
        if doc is None:
            continue
        if not isinstance(doc, Mapping):
            raise ValidationError(
                [FieldProblem(f"{source}: document {index + 1}", f"must be a mapping, got {describe(doc)}")],
                subject="YAML",
            )
        out.append(dict(doc))
    return out


def _fast(text: str) -> list[Any] | None:
    """A large text through libyaml (:mod:`.fast_yaml`): the same values, a hundred times sooner."""
    return load_fast(text) if len(text) >= FAST_ABOVE else None


def _json_documents(text: str) -> list[Any] | None:
    """A text that is one JSON document (``kubectl get -o json``), read by the C JSON parser; else None.

    JSON is YAML 1.2, and reads the same either way; the pure-Python YAML parser
    takes seconds per megabyte (a 5 MB manifest took longer to read than to
    simulate). What JSON reads differently is left to the YAML parser: a
    duplicate key (an error there), ``NaN`` or ``Infinity`` (strings there).
    """
    if not text.lstrip().startswith(("{", "[")):
        return None
    try:
        return [json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_not_json)]
    except (ValueError, RecursionError):
        return None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("duplicate key")
    return out


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _one_line(message: str) -> str:
    return " ".join(message.split())
