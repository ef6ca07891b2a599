"""The README's list of refused and differing Canary fields, generated from the field ledger.

The block between :data:`BEGIN` and :data:`END` in the README's *The Canary model*
section is this module's :func:`block`: each refused leaf of the ledger is fed
to the parser alone, and the path and reason of the error it gets are listed,
so the README says what the parser really answers. ``make ledger-readme``
(``python -m tests.unit.model.ledger_readme``) rewrites the block; ``test_field_ledger_readme.py``
fails while it is stale.
"""

from __future__ import annotations

import copy
import re

from gitflagger.errors import ValidationError
from gitflagger.model import parse_canary
from gitflagger.model.ledger import CANARY, Implemented, Refused, entry
from gitflagger.render.routers import check_routing
from tests.unit.deploy.deploy_files import CANARY_CRD, REPO, crd, schema
from tests.unit.model.test_field_ledger import _doc_with, _leaves, ledger_path

README = REPO / "README.md"
BEGIN = "<!-- field-ledger:begin (generated from gitflagger/model/ledger.py by `make ledger-readme`) -->"
END = "<!-- field-ledger:end -->"
_REMOVE = re.compile(r"; remove it \((not supported by gitflagger yet|see the README)\)$")


def _refusal(path: tuple[str, ...], value: object) -> tuple[str, str]:
    """The path and reason of the one error the leaf at ``path`` set to ``value`` gets."""
    _, doc, leaf = _doc_with(path, copy.deepcopy(value))
    try:
        check_routing(parse_canary(doc))
    except ValidationError as err:
        [problem] = [
            p for p in err.problems if p.path == leaf or leaf.startswith((p.path + ".", p.path + "["))
        ]
        return problem.path, _REMOVE.sub("", problem.message)
    raise AssertionError(f"{leaf} = {value!r} is not refused")


def block() -> str:
    """The generated lines, markers included."""
    refused: dict[str, str] = {}
    values: list[str] = []
    for path, sample in _leaves(schema(crd(CANARY_CRD), "v1beta1")["properties"]["spec"]):
        full = ("spec", *path)
        if "canaryAnalysis" in full:
            continue
        e = entry("Canary", ledger_path(full))
        if isinstance(e, Refused):
            owner, why = _refusal(full, sample)
            refused.setdefault(owner, why)
        elif isinstance(e, Implemented) and e.refused_value is not None:
            owner, why = _refusal(full, e.refused_value)
            values.append(f"- `{owner}: {e.refused_value}`: {why}")
    differs = [
        f"- `{path}`: {e.differs}" for path, e in CANARY.items() if isinstance(e, Implemented) and e.differs
    ]
    lines = [
        BEGIN,
        f"Refused when set ({len(refused)} fields; the error names the path and says why):",
        *(f"- `{path}`: {why}" for path, why in refused.items()),
        "",
        "Values refused in fields that are otherwise acted on:",
        *values,
        "",
        "Acted on, differently from Flagger:",
        *differs,
        END,
    ]
    return "\n".join(lines)


def rewritten(text: str) -> str:
    """``text`` (the README) with its generated block replaced by :func:`block`."""
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[:start] + block() + text[end:]


if __name__ == "__main__":  # make ledger-readme
    README.write_text(rewritten(README.read_text()))
