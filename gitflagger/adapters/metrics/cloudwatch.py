"""Amazon CloudWatch ``GetMetricData``, asked and read the way Flagger does.

Kept from Flagger's ``pkg/metrics/providers/cloudwatch.go``:

- ``spec.provider.region`` is required;
- the query is a JSON list of ``MetricDataQuery`` objects; field names match
  case-insensitively (Go's ``encoding/json`` does);
- ``StartTime`` = now − 10 × interval, ``EndTime`` = now, ``MaxDatapoints`` = 20,
  at most 3 retries;
- the value is the first value of the first result (CloudWatch lists the newest
  first); no result or no value is "no values found";
- online when an empty ``GetMetricData`` succeeds or is refused with HTTP 400
  (anything else, e.g. 403 for a missing ``cloudwatch:GetMetricData`` permission,
  is offline);
- credentials from the AWS default chain (environment, shared files, IRSA,
  instance profile).

Added: ``spec.provider.address`` overrides the endpoint (a VPC endpoint, or a
local CloudWatch-compatible server), and a ``secretRef`` Secret may carry
``aws_access_key_id``, ``aws_secret_access_key`` (and ``aws_session_token``);
Flagger ignores both fields. An unknown field in the query is refused (Go drops it).

Requests are signed (SigV4) and sent by ``botocore``, AWS's own client core, not
by hand-written signing code.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from gitflagger.adapters.metrics.context import ProviderContext
from gitflagger.adapters.metrics.http import check_address, required_key
from gitflagger.adapters.metrics.provider import NoValuesFound, QueryFailed
from gitflagger.adapters.webhooks import excerpt
from gitflagger.errors import FieldProblem, ValidationError
from gitflagger.model.templates import MetricProviderSpec

if TYPE_CHECKING:
    from botocore.model import Shape

MAX_RETRIES = 3
MAX_DATAPOINTS = 20
LOOKBACK_INTERVALS = 10
KEY_ID, SECRET_KEY, SESSION_TOKEN = "aws_access_key_id", "aws_secret_access_key", "aws_session_token"


class CloudWatchProvider:
    type = "cloudwatch"

    def __init__(
        self,
        region: str,
        interval_seconds: float,
        *,
        address: str = "",
        credentials: Mapping[str, str] | None = None,
        timeout: float,
    ) -> None:
        self.region = region
        self.address = check_address(self.type, address) if address else ""
        self.start_delta = timedelta(seconds=LOOKBACK_INTERVALS * interval_seconds)
        # botocore is imported here, not at module load: only CloudWatch templates pay for it.
        import botocore.session
        from botocore.config import Config

        creds = credentials or {}
        self._secrets = sorted((v for v in creds.values() if len(v) >= 4), key=len, reverse=True)
        session = botocore.session.get_session()
        config = Config(
            connect_timeout=timeout,
            read_timeout=timeout,
            retries={"total_max_attempts": MAX_RETRIES + 1, "mode": "standard"},
        )
        self._client: Any = session.create_client(
            "cloudwatch",
            region_name=region,
            endpoint_url=self.address or None,
            aws_access_key_id=creds.get(KEY_ID),
            aws_secret_access_key=creds.get(SECRET_KEY),
            aws_session_token=creds.get(SESSION_TOKEN),
            config=config,
        )
        operation = self._client.meta.service_model.operation_model("GetMetricData")
        assert operation.input_shape is not None
        self._query_shape: Shape = operation.input_shape.members["MetricDataQueries"]

    @classmethod
    def from_spec(
        cls, spec: MetricProviderSpec, credentials: Mapping[str, str] | None, ctx: ProviderContext
    ) -> CloudWatchProvider:
        if not spec.region:
            raise ValidationError(
                [FieldProblem("spec.provider.region", "required for cloudwatch (region not specified)")],
                subject="cloudwatch provider",
            )
        creds: dict[str, str] = {}
        if spec.secret_ref is not None:
            creds[KEY_ID] = required_key(cls.type, credentials, KEY_ID)
            creds[SECRET_KEY] = required_key(cls.type, credentials, SECRET_KEY)
            if (credentials or {}).get(SESSION_TOKEN):
                creds[SESSION_TOKEN] = (credentials or {})[SESSION_TOKEN]
        return cls(
            spec.region,
            ctx.interval_seconds,
            address=spec.address,
            credentials=creds,
            timeout=ctx.timeout_or(),
        )

    def __repr__(self) -> str:
        return f"CloudWatchProvider(region={self.region!r}, address={self.address!r})"

    def parse_query(self, query: str) -> list[Any]:
        """The query as botocore's ``MetricDataQueries``; QueryFailed when it is not that."""
        try:
            raw = json.loads(query)
        except ValueError as err:
            raise QueryFailed(self._say(f"error unmarshaling query: {err}")) from None
        if not isinstance(raw, list):
            raise QueryFailed(self._say("error unmarshaling query: expected a JSON list of MetricDataQuery"))
        return [
            _normalise(item, _member(self._query_shape), f"query[{i}]", self) for i, item in enumerate(raw)
        ]

    def run_query(self, query: str) -> float:
        queries = self.parse_query(query)
        end = datetime.now(UTC)
        answer = self._call(
            StartTime=end - self.start_delta,
            EndTime=end,
            MaxDatapoints=MAX_DATAPOINTS,
            MetricDataQueries=queries,
        )
        results = answer.get("MetricDataResults") or []
        if not results:
            raise NoValuesFound(self._say("invalid response: no MetricDataResults: no values found"))
        values = results[0].get("Values") or []
        if not values:
            raise NoValuesFound(self._say("invalid response: no values in the first result: no values found"))
        value = float(values[0])
        if math.isnan(value):
            raise NoValuesFound(self._say("invalid response: NaN: no values found"))
        return value

    def is_online(self) -> bool:
        zero = datetime(1970, 1, 1, tzinfo=UTC)
        try:
            self._call(StartTime=zero, EndTime=zero, MetricDataQueries=[])
        except _HttpStatus as err:
            return err.status == 400
        except QueryFailed:
            return False
        return True

    def _call(self, **kwargs: Any) -> dict[str, Any]:
        import botocore.exceptions

        try:
            return dict(self._client.get_metric_data(**kwargs))
        except botocore.exceptions.ClientError as err:
            meta = err.response.get("ResponseMetadata", {})
            error = err.response.get("Error", {})
            status = int(meta.get("HTTPStatusCode") or 0)
            detail = f"{error.get('Code', '')}: {error.get('Message', '')}".strip(": ")
            raise _HttpStatus(
                status, self._say(f"error requesting cloudwatch: HTTP {status}: {detail}")
            ) from None
        except (botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectTimeoutError):
            raise QueryFailed(self._say("error requesting cloudwatch: no answer in time (timeout)")) from None
        except botocore.exceptions.EndpointConnectionError:
            raise QueryFailed(self._say("error requesting cloudwatch: cannot connect")) from None
        except botocore.exceptions.NoCredentialsError:
            raise QueryFailed(
                self._say("no AWS credentials found (environment, shared files or secretRef)")
            ) from None
        except botocore.exceptions.ParamValidationError as err:
            raise QueryFailed(self._say(f"error in query: {err}")) from None
        except botocore.exceptions.BotoCoreError as err:
            raise QueryFailed(self._say(f"error requesting cloudwatch: {type(err).__name__}")) from None

    def _say(self, message: str) -> str:
        where = self.address or self.region
        return excerpt(f"cloudwatch {where}: {message}", 600, secrets=self._secrets)

    def close(self) -> None:
        self._client.close()


class _HttpStatus(QueryFailed):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _member(shape: Shape) -> Shape:
    from botocore.model import ListShape

    assert isinstance(shape, ListShape)
    return shape.member


def _normalise(value: Any, shape: Shape, path: str, owner: CloudWatchProvider) -> Any:
    """``value`` with its keys spelled as ``shape`` spells them (matched case-insensitively)."""
    from botocore.model import ListShape, StructureShape

    if isinstance(shape, StructureShape):
        if not isinstance(value, Mapping):
            raise QueryFailed(owner._say(f"error unmarshaling query: {path} must be an object"))
        names = {name.lower(): name for name in shape.members}
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = names.get(str(key).lower())
            if name is None:
                raise QueryFailed(
                    owner._say(f"error unmarshaling query: {path}.{key} is not a field of {shape.name}")
                )
            out[name] = _normalise(item, shape.members[name], f"{path}.{name}", owner)
        return out
    if isinstance(shape, ListShape):
        if not isinstance(value, list):
            raise QueryFailed(owner._say(f"error unmarshaling query: {path} must be a list"))
        return [_normalise(item, shape.member, f"{path}[{i}]", owner) for i, item in enumerate(value)]
    return value
