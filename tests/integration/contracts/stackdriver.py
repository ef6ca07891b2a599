"""Google Cloud Monitoring ``projects.timeSeries.query`` (MQL), with a service account's OAuth2 token.

API reference: https://cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.timeSeries/query
and, for the token, https://developers.google.com/identity/protocols/oauth2/service-account#httprest
(a JWT signed with the key, exchanged at the key's ``token_uri``). The contract
server is that ``token_uri`` too: it checks the JWT's signature and claims before
it issues a token, and the query must carry that token.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Mapping
from functools import cache
from urllib.parse import parse_qs

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.integration.contracts.base import RETRY_AFTER, Contract, expect, expect_secret
from tests.unit.adapters.loopback import Reply, Request

QUERY = "fetch k8s_container | metric 'istio.io/service/server/request_count' | align rate(1m) | every 1m"
PROJECT = "gitflagger-test"
TOKEN_PATH = "/oauth2/token"
_tokens: dict[str, str] = {}
"""Access tokens issued, by the key id that asked for them."""


@cache
def _private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def credentials(key_id: str) -> dict[str, str]:
    pem = _private_key().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    info = {
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": key_id,
        "private_key": pem.decode(),
        "client_email": f"flagger@{PROJECT}.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": "{server}" + TOKEN_PATH,
    }
    return {"project": PROJECT, "serviceAccountKey": json.dumps(info)}


def _token_endpoint(req: Request, creds: Mapping[str, str]) -> Reply | None:
    if not req.path.startswith(TOKEN_PATH):
        return None
    info = json.loads(creds["serviceAccountKey"])
    form = parse_qs(req.body.decode())
    problems: list[str] = []
    expect(problems, "grant_type", form.get("grant_type"), ["urn:ietf:params:oauth:grant-type:jwt-bearer"])
    try:
        head, claims_part, signature = form["assertion"][0].split(".")
        _private_key().public_key().verify(
            _b64(signature), f"{head}.{claims_part}".encode(), padding.PKCS1v15(), hashes.SHA256()
        )
        header, claims = json.loads(_b64(head)), json.loads(_b64(claims_part))
    except Exception as err:  # a bad JWT in any way
        return Reply(
            400, {"error": "invalid_grant", "error_description": f"bad assertion: {type(err).__name__}"}
        )
    expect(problems, "alg", header.get("alg"), "RS256")
    expect_secret(problems, "kid", header.get("kid"), info["private_key_id"])
    expect(problems, "iss", claims.get("iss"), info["client_email"])
    expect(problems, "aud", claims.get("aud"), "https://oauth2.googleapis.com/token")  # as the page says
    if "https://www.googleapis.com/auth/monitoring.read" not in str(claims.get("scope", "")).split():
        problems.append(f"scope without monitoring.read: {claims.get('scope')!r}")
    if abs(int(claims.get("iat", 0)) - time.time()) > 60:
        problems.append("iat is not now")
    if problems:
        return Reply(400, {"error": "invalid_grant", "contract": problems})
    token = _tokens.setdefault(info["private_key_id"], "ya29." + secrets.token_urlsafe(24))
    return Reply(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"})


def _checker(mql: str):  # type: ignore[no-untyped-def]
    def check(req: Request, creds: Mapping[str, str]) -> list[str]:
        info = json.loads(creds["serviceAccountKey"])
        problems: list[str] = []
        expect(
            problems, "request", (req.method, req.path), ("POST", f"/v3/projects/{PROJECT}/timeSeries:query")
        )
        expect_secret(
            problems,
            "Authorization",
            req.headers.get("authorization"),
            f"Bearer {_tokens.get(info['private_key_id'])}",
        )
        expect(problems, "Content-Type", req.headers.get("content-type"), "application/json")
        try:
            expect(problems, "body", json.loads(req.body), {"query": mql})
        except ValueError:
            problems.append("body is not JSON")
        return problems

    return check


def _series(*values: dict[str, object]) -> dict[str, object]:
    return {
        "timeSeriesDescriptor": {"pointDescriptors": [{"key": "value.request_count", "valueType": "DOUBLE"}]},
        "timeSeriesData": [
            {
                "labelValues": [],
                "pointData": [
                    {"values": list(values), "timeInterval": {"endTime": "2026-12-06T20:00:00Z"}},
                    {"values": [{"doubleValue": 99.0}], "timeInterval": {"endTime": "2026-12-06T19:59:00Z"}},
                ],
            }
        ],
    }


def _error(code: int, status: str, message: str) -> dict[str, object]:
    return {"error": {"code": code, "message": message, "status": status}}


CONTRACT = Contract(
    provider="stackdriver",
    api_page="https://cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.timeSeries/query",
    query=QUERY,
    interval="1m",
    expected_value=12.5,
    check=_checker(QUERY),
    online_check=_checker(""),
    auxiliary=_token_endpoint,
    answers={
        "value": Reply(200, _series({"doubleValue": 12.5})),
        "empty": Reply(200, {"timeSeriesDescriptor": {}}),
        "null": Reply(200, _series()),
        "error": Reply(
            400, _error(400, "INVALID_ARGUMENT", "Line 1, column 7: unknown table 'k8s_contaner'")
        ),
        "401": Reply(401, _error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")),
        "403": Reply(403, _error(403, "PERMISSION_DENIED", "Permission monitoring.timeSeries.list denied")),
        "429": Reply(
            429, _error(429, "RESOURCE_EXHAUSTED", "Quota exceeded"), headers={"Retry-After": RETRY_AFTER}
        ),
    },
    credentials=credentials,
)
