"""The Canary model: typed spec and status, parsing and validation, revision hashes.

Everything here is pure: no cluster, no network, no clock. The other packages
import from this one and never the other way round.
"""

from gitflagger.errors import FieldProblem, ValidationError
from gitflagger.model.canary import (
    API_GROUP,
    BUILTIN_METRICS,
    V1ALPHA3,
    V1BETA1,
    AlertRef,
    Analysis,
    AutoscalerRef,
    Canary,
    CanarySpec,
    MetricCheck,
    NamespacedRef,
    ObjectMetadata,
    ObjectRef,
    ServiceSpec,
    SessionAffinity,
    Strategy,
    ThresholdRange,
    Webhook,
    WebhookType,
)
from gitflagger.model.documents import load_yaml_text
from gitflagger.model.durations import Duration, format_go, format_go_seconds, parse_duration
from gitflagger.model.hashing import canonical_json, config_checksum, pod_template_hash
from gitflagger.model.parse import parse_canary, parse_canary_yaml
from gitflagger.model.parse_analysis import MIN_INTERVAL
from gitflagger.model.status import Condition, Phase, State

__all__ = [
    "API_GROUP",
    "BUILTIN_METRICS",
    "MIN_INTERVAL",
    "V1ALPHA3",
    "V1BETA1",
    "AlertRef",
    "Analysis",
    "AutoscalerRef",
    "Canary",
    "CanarySpec",
    "Condition",
    "Duration",
    "FieldProblem",
    "MetricCheck",
    "NamespacedRef",
    "ObjectMetadata",
    "ObjectRef",
    "Phase",
    "ServiceSpec",
    "SessionAffinity",
    "State",
    "Strategy",
    "ThresholdRange",
    "ValidationError",
    "Webhook",
    "WebhookType",
    "canonical_json",
    "config_checksum",
    "format_go",
    "format_go_seconds",
    "load_yaml_text",
    "parse_canary",
    "parse_canary_yaml",
    "parse_duration",
    "pod_template_hash",
]
