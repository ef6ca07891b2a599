"""The Kubernetes adapter: observe, apply and report against one API server.

* :class:`KubeCluster`: Canaries (list + watch), any object by kind, tracked
  ConfigMaps and Secrets; server-side apply of what drifted, in dependency
  order; scale, delete; Canary status, finalizers and Events.
* :class:`LeaderElector`: leader election on a ``coordination.k8s.io`` Lease.
* :func:`deployment_health`, :func:`daemonset_health` (pure): a live target's readiness,
  read the way Flagger reads it. Route weights are read by the routers
  (:mod:`gitflagger.render.routers`).
* :class:`TokenBucket`: the client-side rate limit every request passes.

Failures are :mod:`gitflagger.errors` subclasses from :mod:`.errors`; no
``ApiException`` or ``urllib3`` error leaves this package.
"""

from gitflagger.adapters.kube.apply import ApplyResult
from gitflagger.adapters.kube.apply_rules import APPLY_ORDER
from gitflagger.adapters.kube.cluster import KubeCluster
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
from gitflagger.adapters.kube.health import daemonset_health, deployment_health, workload_health
from gitflagger.adapters.kube.lease import LeaderElector
from gitflagger.adapters.kube.ratelimit import TokenBucket
from gitflagger.adapters.kube.watch import Watch

__all__ = [
    "APPLY_ORDER",
    "AlreadyExists",
    "ApplyConflict",
    "ApplyResult",
    "Conflict",
    "Forbidden",
    "Invalid",
    "KubeApiError",
    "KubeCluster",
    "KubeTemporaryError",
    "LeaderElector",
    "NotFound",
    "ServerError",
    "TokenBucket",
    "TooManyRequests",
    "Unavailable",
    "Watch",
    "WatchExpired",
    "daemonset_health",
    "deployment_health",
    "workload_health",
]
