"""``--mesh-provider``: Flagger's flag for the router of Canaries that name no ``spec.provider``.

Shared by ``run``, ``reconcile`` and ``simulate``. The choices are the router
factory's names (:data:`gitflagger.render.routers.PROVIDERS`), so an unknown
name is refused by click in one line, before anything connects.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from gitflagger.model.canary import DEFAULT_PROVIDER
from gitflagger.render.routers import PROVIDERS


def mesh_provider_option(func: Callable[..., Any]) -> Callable[..., Any]:
    option = click.option(
        "--mesh-provider", type=click.Choice(PROVIDERS), default=DEFAULT_PROVIDER, show_default=True,
        help="Router of Canaries without spec.provider (Flagger's -mesh-provider).",
    )
    return option(func)
