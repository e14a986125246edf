"""A local Microsoft Entra token endpoint for the tests, the demo and the benchmarks.

Serves the OAuth 2.0 client credentials flow the way the identity platform does for
``azure_identity``'s ``ClientSecretCredential``: ``POST /{tenant}/oauth2/v2.0/token`` with a form
body ``client_id``, ``client_secret``, ``grant_type=client_credentials``, ``scope``; a success is
``{"token_type": "Bearer", "expires_in": N, "ext_expires_in": N, "access_token": "..."}``, a refusal
an HTTP 400/401 with ``{"error": "invalid_client", "error_description": "AADSTS7000215: ..."}``.

It answers over HTTPS only (the credential refuses any other authority), with the test-only
certificate in ``entra/`` (``localhost`` and ``127.0.0.1``, signed by ``entra/ca.pem``, which the
test processes trust through ``SSL_CERT_FILE``, set in ``.cargo/config.toml``).

Tokens are JWT-shaped (header.claims.signature, base64url) and signed with HMAC-SHA256 under a
key of this process, so the stub agent of the sandbox can tell a token this endpoint issued (and
its tenant, client and expiry) from anything else: ``verify``.

Workload identity federation: a client may instead present a ``client_assertion`` (with
``client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer``), a JWT from an
external issuer that the application trusts through a federated identity credential (``issuer``,
``subject``, ``audiences``; "The combination of the values of issuer and subject must be unique
within the app", Microsoft Graph's federatedIdentityCredential). As Entra does, the stub finds the
credential by the assertion's ``iss`` and ``sub`` (else AADSTS70021 "No matching federated identity
record found for presented assertion"), requires its ``aud`` among the credential's audiences
(AADSTS700212), verifies the signature with the issuer's published keys (``jwks_for``, the JWKS
document the emulator's outbound federation publishes; AADSTS700027 "Client assertion failed
signature validation") and the time range (AADSTS700024 "Client assertion is not within its valid
time range").

Controlled through the emulator's ``/_harness/entra``: ``POST {"clients": {"<client id>":
"<secret>"}, "federated": {"<client id>": [{"issuer": ..., "subject": ..., "audiences": [...]}]},
"lifetime": 3600, "clockOffset": 0, "fail": "AADSTS...: message"}`` (clients listed there must
present their secret; any other client id is accepted with any non-empty secret; ``clockOffset``
moves the stub's clock, to present an assertion after it expired); ``GET`` returns the authority
URL and every request seen (client, tenant, scope, credential kind, granted) without any secret.

The same server answers as Azure Resource Manager for Arc machines (``arm_model.py``), accepting
the tokens issued here for Resource Manager.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs

from arm_model import ResourceManagerModel, encode
from federation_model import verify_rs256

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

CERTS = Path(__file__).resolve().parent / "entra"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(key: bytes, tenant: str, client: str, audience: str, lifetime: int) -> str:
    """A JWT-shaped token for `client` in `tenant`, signed with HMAC-SHA256 under `key`."""
    now = int(time.time())
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {"aud": audience, "iss": f"https://sts.windows.net/{tenant}/", "tid": tenant, "appid": client,
              "iat": now, "exp": now + lifetime}
    body = b64url(json.dumps(claims, separators=(",", ":")).encode())
    signature = b64url(hmac.new(key, f"{header}.{body}".encode(), hashlib.sha256).digest())
    return f"{header}.{body}.{signature}"


def verify(token: str, key: bytes, now: float | None = None) -> dict[str, Any] | None:
    """The claims of a token signed with ``key`` that has not expired; None otherwise."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    expected = b64url(hmac.new(key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected, parts[2]):
        return None
    claims = json.loads(unb64url(parts[1]))
    return claims if claims.get("exp", 0) > (now or time.time()) else None


class EntraModel:
    """Token endpoint state: registered clients, lifetime, injected refusal, request log."""

    def __init__(self) -> None:
        self.key = os.urandom(32)
        self.lock = threading.Lock()
        self.clients: dict[str, str] = {}
        self.lifetime = 3599
        self.fail: str | None = None
        self.federated: dict[str, list[dict[str, Any]]] = {}
        self.clock_offset = 0.0
        self.jwks_for: Callable[[str], dict[str, Any] | None] = lambda _issuer: None
        self.requests: list[dict[str, Any]] = []
        self.server: ThreadingHTTPServer | None = None
        # Azure Resource Manager on the same server: it accepts the tokens issued here.
        self.arm = ResourceManagerModel(lambda token: verify(token, self.key))

    @property
    def authority(self) -> str:
        port = self.server.server_port if self.server else 0
        return f"https://localhost:{port}"

    def configure(self, spec: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.clients.update(spec.get("clients", {}))
            self.lifetime = int(spec.get("lifetime", self.lifetime))
            self.fail = spec.get("fail", self.fail) or None
            self.federated.update(spec.get("federated", {}))
            self.clock_offset = float(spec.get("clockOffset", self.clock_offset))
        return self.report()

    def report(self) -> dict[str, Any]:
        with self.lock:
            return {"authority": self.authority, "keyHex": self.key.hex(), "requests": list(self.requests)}

    def token(self, tenant: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        client, secret, scope = form.get("client_id", ""), form.get("client_secret", ""), form.get("scope", "")
        assertion = form.get("client_assertion")
        with self.lock:
            registered = self.clients.get(client)
            federated = self.federated.get(client)
            refusal = self.fail
            if form.get("grant_type") != "client_credentials":
                refusal = "AADSTS70003: The app requested an unsupported grant type"
            elif assertion is not None:
                refusal = refusal or self.assertion_refusal(federated or [], form)
            elif not secret or (registered is not None and not hmac.compare_digest(registered, secret)):
                refusal = f"AADSTS7000215: Invalid client secret provided for app '{client}'"
            elif not scope.endswith("/.default"):
                refusal = "AADSTS1002012: The provided value for scope is not valid"
            kind = "assertion" if assertion is not None else "secret"
            self.requests.append({"tenant": tenant, "clientId": client, "scope": scope, "credential": kind,
                                  "granted": refusal is None})
            lifetime = self.lifetime
        if refusal:
            return 401, {"error": "invalid_client", "error_description": refusal, "error_codes": [7000215]}
        token = issue(self.key, tenant, client, scope.removesuffix("/.default"), lifetime)
        with self.lock:
            self.requests[-1]["token"] = token  # tests check it never leaves the function unsealed
        return 200, {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime,
                     "access_token": token}

    def assertion_refusal(self, credentials: list[dict[str, Any]], form: dict[str, str]) -> str | None:
        """Why Entra refuses the client assertion in `form` (None: accepted). Called under the lock."""
        assertion = form.get("client_assertion", "")
        if form.get("client_assertion_type") != ASSERTION_TYPE or not assertion:
            return "AADSTS7000216: 'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type."
        try:
            claims = json.loads(unb64url(assertion.split(".")[1]))
        except (IndexError, ValueError):
            return "AADSTS50027: JWT token is invalid or malformed."
        issuer, subject, audience = claims.get("iss", ""), claims.get("sub", ""), claims.get("aud", "")
        audiences = audience if isinstance(audience, list) else [audience]
        record = next((c for c in credentials if c.get("issuer") == issuer and c.get("subject") == subject), None)
        if record is None:
            return (f"AADSTS70021: No matching federated identity record found for presented assertion. "
                    f"Assertion Issuer: '{issuer}'. Assertion Subject: '{subject}'. Assertion Audience: '{audience}'.")
        if not set(audiences) & set(record.get("audiences", [])):
            return f"AADSTS700212: No matching federated identity record found for presented assertion audience '{audience}'."
        jwks = self.jwks_for(issuer)
        if jwks is None or verify_rs256(assertion, jwks) is None:
            return "AADSTS700027: Client assertion failed signature validation."
        now = time.time() + self.clock_offset
        if not claims.get("nbf", claims.get("iat", 0)) - 300 <= now < claims.get("exp", 0):
            return "AADSTS700024: Client assertion is not within its valid time range."
        return None

    def start(self, host: str = "127.0.0.1") -> None:
        model = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def resource_manager(self, method: str) -> None:
                path, _, query = self.path.partition("?")
                base = f"https://{self.headers.get('Host') or model.authority.removeprefix('https://')}"
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, headers, payload = model.arm.handle(method, base, path, query,
                                                             self.headers.get("Authorization", ""), body)
                data = encode(payload)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                if data:
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                self.resource_manager("GET")

            def do_DELETE(self) -> None:  # noqa: N802 - http.server's name
                self.resource_manager("DELETE")

            def do_PUT(self) -> None:  # noqa: N802 - http.server's name
                self.resource_manager("PUT")

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                parts = self.path.split("?")[0].strip("/").split("/")
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if len(parts) == 4 and parts[1:] == ["oauth2", "v2.0", "token"]:
                    status, payload = model.token(parts[0], form)
                else:
                    status, payload = 404, {"error": "not_found", "error_description": self.path}
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(CERTS / "localhost.pem", CERTS / "localhost-key.pem")
        server = ThreadingHTTPServer((host, 0), Handler)
        server.daemon_threads = True
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self.server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
