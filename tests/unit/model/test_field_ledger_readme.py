"""The README's field lists agree with the field ledger (:mod:`gitflagger.model.ledger`)."""

from __future__ import annotations

import re

from gitflagger.model.ledger import CANARY, Implemented
from tests.unit.model.ledger_readme import BEGIN, END, README, block

GENERIC = {"spec", "analysis", "service"}
"""Path parts too general to name a field on their own."""


def test_the_readme_block_is_the_ledgers() -> None:
    text = README.read_text()
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    current = text[text.index(BEGIN) : text.index(END) + len(END)]
    assert current == block(), "the README's field list is stale: run `make ledger-readme`"


def _moving_over_differences() -> str:
    text = README.read_text()
    section = text[text.index("### Moving over from Flagger") :]
    return section[section.index("What differs:") : section.index("\n## ")]


def test_the_moving_over_list_names_every_difference_of_the_ledger() -> None:
    """Each field the ledger marks as acted on differently is named in *Moving over from Flagger*."""
    section = _moving_over_differences().lower()
    unnamed = []
    for path, e in CANARY.items():
        if not (isinstance(e, Implemented) and e.differs):
            continue
        parts = [p.removesuffix("[]") for p in path.split(".") if p.removesuffix("[]") not in GENERIC]
        if not any(re.search(rf"\b{re.escape(part.lower())}\b", section) for part in parts):
            unnamed.append(path)
    assert not unnamed, f"acted on differently per the ledger, not in the README's 'What differs': {unnamed}"
    assert "(#the-canary-model)" in section, "the list must point at the generated list of refused fields"
