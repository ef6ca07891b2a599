"""The Kubernetes adapter: observe, apply and report against one API server.

* :func:`deployment_health` and :func:`route_weights` (pure): live objects
  read the way Flagger reads them.
* :class:`TokenBucket`: the client-side rate limit every request passes.

Failures are :mod:`gitflagger.errors` subclasses from :mod:`.errors`; no
``ApiException`` or ``urllib3`` error leaves this package.
"""

from gitflagger.adapters.kube.errors import (
    AlreadyExists,
    ApplyConflict,
    Conflict,
    Forbidden,
    Invalid,
    KubeApiError,
    KubeTemporaryError,
    NotFound,
    ServerError,
    TooManyRequests,
    Unavailable,
    WatchExpired,
)
from gitflagger.adapters.kube.health import deployment_health, route_weights
from gitflagger.adapters.kube.ratelimit import TokenBucket

__all__ = [
    "AlreadyExists",
    "ApplyConflict",
    "Conflict",
    "Forbidden",
    "Invalid",
    "KubeApiError",
    "KubeTemporaryError",
    "NotFound",
    "ServerError",
    "TokenBucket",
    "TooManyRequests",
    "Unavailable",
    "WatchExpired",
    "deployment_health",
    "route_weights",
]
