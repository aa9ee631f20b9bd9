"""Compact RS256 JWS: just what service-account tokens need (sign, verify signature, read claims).

Claim semantics (expiry, audience, issuer) are the caller's business: see ``tokens.py``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

JSON = dict[str, Any]


class JwtError(Exception):
    """The token is not a well-formed RS256 JWS signed by the expected key (message is safe to log)."""


def b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    try:
        return base64.urlsafe_b64decode(padded.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise JwtError("malformed base64url segment") from exc


def load_private_key(pem: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the service-account signing key must be an RSA key")
    return key


def key_id(public_key: rsa.RSAPublicKey) -> str:
    """The ``kid`` the real API server uses: base64url(SHA-256(DER SubjectPublicKeyInfo))."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return b64url_encode(hashlib.sha256(der).digest())


def sign(claims: JSON, private_key: rsa.RSAPrivateKey) -> str:
    header = {"alg": "RS256", "kid": key_id(private_key.public_key())}
    signing_input = ".".join(
        b64url_encode(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )
    signature = private_key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url_encode(signature)}"


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and token.startswith("eyJ")


def verify(token: str, public_key: rsa.RSAPublicKey) -> JSON:
    """Return the claims if ``token`` is an RS256 JWS by ``public_key``; raise :class:`JwtError`."""
    parts = token.split(".")
    if len(parts) != 3:
        raise JwtError("not a compact JWS")
    header_b64, claims_b64, signature_b64 = parts
    try:
        header = json.loads(b64url_decode(header_b64))
        claims = json.loads(b64url_decode(claims_b64))
    except (ValueError, UnicodeDecodeError) as exc:
        raise JwtError("malformed JSON segment") from exc
    if not isinstance(header, dict) or header.get("alg") != "RS256":
        raise JwtError("unsupported signing algorithm")
    if not isinstance(claims, dict):
        raise JwtError("claims are not a JSON object")
    try:
        public_key.verify(
            b64url_decode(signature_b64),
            f"{header_b64}.{claims_b64}".encode("ascii"),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except InvalidSignature as exc:
        raise JwtError("square/go-jose: error in cryptographic primitive") from exc
    return claims
