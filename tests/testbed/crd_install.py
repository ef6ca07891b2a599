"""Install CustomResourceDefinitions from YAML files into the testbed apiserver.

Plain HTTP calls with the admin session (no kubectl): every document with
``kind: CustomResourceDefinition`` in every ``*.yaml``/``*.yml`` file of the
given directories is created, or replaced if it already exists.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import requests
import yaml

CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


def crd_documents(directories: Iterable[Path]) -> Iterator[tuple[Path, dict[str, Any]]]:
    """(file, document) for every CRD document under ``directories`` (missing directories are skipped)."""
    for directory in directories:
        if not directory.is_dir():
            continue
        files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
        for path in files:
            for doc in yaml.safe_load_all(path.read_text()):
                if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                    yield path, doc


def apply_crd(session: requests.Session, api_url: str, doc: dict[str, Any], source: Path) -> str:
    name = doc["metadata"]["name"]
    r = session.post(api_url + CRD_PATH, json=doc, timeout=30)
    if r.status_code == 409:
        current = session.get(f"{api_url}{CRD_PATH}/{name}", timeout=30)
        current.raise_for_status()
        doc = {**doc, "metadata": {**doc["metadata"],
                                   "resourceVersion": current.json()["metadata"]["resourceVersion"]}}
        r = session.put(f"{api_url}{CRD_PATH}/{name}", json=doc, timeout=30)
    if r.status_code not in (200, 201):
        raise RuntimeError(f"installing CRD {name} from {source}: HTTP {r.status_code}: {r.text}")
    return str(name)


def apply_crd_dirs(session: requests.Session, api_url: str, directories: Iterable[Path]) -> list[str]:
    """Install every CRD found; return their names."""
    return [apply_crd(session, api_url, doc, path) for path, doc in crd_documents(directories)]


def all_established(session: requests.Session, api_url: str, names: Iterable[str]) -> bool:
    for name in names:
        r = session.get(f"{api_url}{CRD_PATH}/{name}", timeout=10)
        if r.status_code != 200:
            return False
        conditions = r.json().get("status", {}).get("conditions") or []
        if not any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
            return False
    return True
