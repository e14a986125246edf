"""AWS IAM outbound identity federation for the emulator (moto has none of it).

As AWS documents it:

* ``iam:EnableOutboundWebIdentityFederation`` "Enables the outbound identity federation feature
  for your AWS account ... This operation also generates a unique issuer URL for your AWS account"
  (``IssuerIdentifier``); enabling it twice fails ``FeatureEnabled`` (HTTP 409).
  ``GetOutboundWebIdentityFederationInfo`` returns the issuer; ``Disable...`` turns it off.
* ``sts:GetWebIdentityToken`` "Returns a signed JSON Web Token (JWT) that represents the calling
  AWS identity"; ``Audience`` (1 to 10, populates ``aud``), ``DurationSeconds`` ("from 60 seconds
  (1 minute) to 3600 seconds (1 hour) ... the default duration is 300 seconds"),
  ``SigningAlgorithm`` ("RS256 ... and ES384"; RS256 here). Without the feature enabled it fails
  ``OutboundWebIdentityFederationDisabledException``. "Not available on the STS Global endpoint":
  a call signed for ``us-east-1`` against the global host cannot be told apart here, so it is not
  modelled.
* The claims ("Understanding token claims"): ``iss`` the account's issuer URL, ``aud``, ``sub``
  (for a role session the role's ARN, e.g. ``arn:aws:iam::123456789012:role/DataProcessingRole``),
  ``iat``, ``exp``, ``jti``, and ``aws_account`` and ``source_region`` under the
  ``https://sts.amazonaws.com/`` namespace.

Each account signs with its own RSA key; its JWKS document (what AWS serves at
``{issuer}/.well-known/jwks.json``) comes from :meth:`FederationModel.jwks`, which the Entra stub
uses to verify assertions as Entra does with the issuer's published keys.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

NAMESPACE = "https://sts.amazonaws.com/"
FEDERATION_OPERATIONS = {"GetWebIdentityToken", "EnableOutboundWebIdentityFederation",
                         "GetOutboundWebIdentityFederationInfo", "DisableOutboundWebIdentityFederation"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _int_b64(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


class FederationError(Exception):
    """An AWS error answer: HTTP status, code, message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class Issuer:
    """One account's issuer URL and signing key."""

    def __init__(self) -> None:
        self.url = f"https://{uuid.uuid4()}.tokens.sts.global.api.aws"
        self.kid = uuid.uuid4().hex
        # 2048-bit RSA: RS256 as AWS signs; generated once per account per emulator.
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwks(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()
        return {"keys": [{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid,
                          "n": _int_b64(numbers.n), "e": _int_b64(numbers.e)}]}

    def sign(self, claims: dict[str, Any]) -> str:
        header = b64url(json.dumps({"alg": "RS256", "typ": "JWT", "kid": self.kid}).encode())
        body = b64url(json.dumps(claims, separators=(",", ":")).encode())
        signature = self.key.sign(f"{header}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{header}.{body}.{b64url(signature)}"


class FederationModel:
    """Per-account outbound federation state, token issuing, and the JWKS documents."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.issuers: dict[str, Issuer] = {}
        self.retired: dict[str, Issuer] = {}
        self.tokens: list[dict[str, Any]] = []

    # -- IAM ------------------------------------------------------------------------------------

    def enable(self, account: str) -> str:
        with self.lock:
            if account in self.issuers:
                raise FederationError(409, "FeatureEnabled", "Outbound identity federation is already enabled for this account.")
            issuer = self.retired.pop(account, None) or Issuer()
            self.issuers[account] = issuer
            return issuer.url

    def disable(self, account: str) -> None:
        with self.lock:
            issuer = self.issuers.pop(account, None)
            if issuer is None:
                raise FederationError(404, "FeatureDisabled", "Outbound identity federation is not enabled for this account.")
            self.retired[account] = issuer

    def info(self, account: str) -> str:
        with self.lock:
            issuer = self.issuers.get(account)
        if issuer is None:
            raise FederationError(404, "FeatureDisabled", "Outbound identity federation is not enabled for this account.")
        return issuer.url

    # -- STS ------------------------------------------------------------------------------------

    def token(self, account: str, subject: str, region: str, form: dict[str, list[str]]) -> tuple[str, int]:
        """A signed token for `subject` of `account` and its expiry (epoch seconds)."""
        audiences = [v[0] for k, v in sorted(form.items()) if k.startswith("Audience.member.")]
        algorithm = (form.get("SigningAlgorithm") or [""])[0]
        duration = int((form.get("DurationSeconds") or ["300"])[0])
        if not 1 <= len(audiences) <= 10 or any(not 1 <= len(a) <= 1000 for a in audiences):
            raise FederationError(400, "ValidationError", "Audience must have between 1 and 10 members of 1 to 1000 characters")
        if algorithm not in ("RS256", "ES384"):
            raise FederationError(400, "ValidationError", "SigningAlgorithm must be one of RS256, ES384")
        if not 60 <= duration <= 3600:
            raise FederationError(400, "ValidationError", "DurationSeconds must be between 60 and 3600")
        with self.lock:
            issuer = self.issuers.get(account)
        if issuer is None:
            raise FederationError(403, "OutboundWebIdentityFederationDisabledException",
                                  "Outbound web identity federation is disabled for this account.")
        now = int(time.time())
        claims = {
            "iss": issuer.url, "aud": audiences[0] if len(audiences) == 1 else audiences, "sub": subject,
            "iat": now, "nbf": now, "exp": now + duration, "jti": str(uuid.uuid4()),
            NAMESPACE: {"aws_account": account, "source_region": region},
        }
        with self.lock:
            self.tokens.append({"account": account, "subject": subject, "audiences": audiences,
                                "durationSeconds": duration, "region": region})
        return issuer.sign(claims), now + duration

    # -- verification keys ----------------------------------------------------------------------

    def jwks(self, issuer_url: str) -> dict[str, Any] | None:
        """The JWKS document published at ``{issuer_url}/.well-known/jwks.json``, if that issuer exists."""
        with self.lock:
            for issuer in list(self.issuers.values()) + list(self.retired.values()):
                if issuer.url == issuer_url:
                    return issuer.jwks()
        return None

    def report(self) -> dict[str, Any]:
        with self.lock:
            return {"issuers": {a: i.url for a, i in self.issuers.items()}, "tokens": list(self.tokens)}


def subject_of(caller_arn: str, role_arn_of: Any) -> str:
    """The ``sub`` claim: a role session's role ARN (with its path, as IAM gives it), or the caller's ARN."""
    parts = caller_arn.split(":", 5)
    if len(parts) == 6 and parts[5].startswith("assumed-role/"):
        role_name = parts[5].split("/")[1]
        return role_arn_of(parts[4], role_name) or f"arn:{parts[1]}:iam::{parts[4]}:role/{role_name}"
    return caller_arn


def verify_rs256(token: str, jwks: dict[str, Any]) -> dict[str, Any] | None:
    """The claims of `token` if its RS256 signature verifies under a key of `jwks`; None otherwise."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers

    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        header = json.loads(unb64url(parts[0]))
        claims = json.loads(unb64url(parts[1]))
        signature = unb64url(parts[2])
    except ValueError:
        return None
    if header.get("alg") != "RS256":
        return None
    for key in jwks.get("keys", []):
        if key.get("kid") != header.get("kid"):
            continue
        n = int.from_bytes(unb64url(key["n"]), "big")
        e = int.from_bytes(unb64url(key["e"]), "big")
        public = RSAPublicNumbers(e, n).public_key()
        try:
            public.verify(signature, f"{parts[0]}.{parts[1]}".encode(), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return None
        return claims
    return None
