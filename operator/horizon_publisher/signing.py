"""Horizon deployment signing, compatible with ``hzn`` and the edge agent (both use open-horizon/rsapss-tool).

What is signed: the exact UTF-8 bytes of the ``deployment`` string stored in the Exchange (see
``desired.deployment.deployment_string``). Scheme: RSASSA-PSS, SHA-256, MGF1-SHA-256, salt = the maximum
(what Go's ``rsa.SignPSS`` does with nil options), signature in standard padded base64. The agent verifies
with Go's ``rsa.VerifyPSS`` and nil options, which auto-detects the salt length: ``PSS.AUTO`` here.

Keys: the private key is PEM, PKCS#1 as ``hzn key create`` writes it (PKCS#8 is accepted too: we never
hand the key to hzn). What we upload to the Exchange is the PKIX ``PUBLIC KEY`` PEM derived from the
private key, as ``hzn exchange service publish`` does without ``-K``: a bare key never expires at the
agent, unlike the self-signed certificate, which stays in the Secret for users who import it into an
agent's trust directory (``hzn key import``).

Every function here is pure; nothing is logged and no error message carries key material.

Deviations from hzn / rsapss-tool:
- PKCS#8 private keys and their PEM label are accepted (rsapss-tool only parses PKCS#1); encrypted keys are not.
- ``generate_signing_key`` refuses a CN over 64 characters (RFC 5280; cryptography enforces it, Go does not).
- NotAfter and NotBefore derive from one instant; hzn reads the clock before and after key generation.
- Name strings are typed PrintableString/UTF8String as Go does, through cryptography's semi-private ``_ASN1Type``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from horizon_publisher.signing_cache import PARSED_KEYS

SIGNING_KEY_INVALID = "SigningKeyInvalid"
MIN_KEY_BITS = 1024  # rsapss-tool's minimum; Go >= 1.24 also refuses smaller RSA keys for PSS
DEFAULT_KEY_BITS = 4096  # hzn key create -l default
DEFAULT_VALIDITY_DAYS = 1461  # hzn key create --days-valid default
MAX_CERT_VALIDITY = timedelta(days=3653)  # rsapss-tool constants.MaxSelfSignedCertExpirationDays
NOT_BEFORE_BUFFER = timedelta(hours=12)  # rsapss-tool generatekeys backdates NotBefore by 12 h
MAX_COMMON_NAME = 64
KEY_ID_PREFIX = "horizon-publisher-"

_PSS_SIGN = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH)
_PSS_VERIFY = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
# Go's pem.Decode: the first well-formed block anywhere in the text; the label is not interpreted.
_PEM_BLOCK = re.compile(
    r"-----BEGIN (?P<label>[^\r\n-]*)-----[ \t]*\r?\n(?P<body>.*?)-----END (?P=label)-----", re.DOTALL
)
_PRINTABLE = re.compile(r"[A-Za-z0-9 '()+,\-./:=?]*")  # ASN.1 PrintableString alphabet


class SigningKeyError(Exception):
    """The signing key material is unusable; ``message`` explains why and never contains key bytes."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"SigningKeyError({self.reason!r}, {self.message!r})"


@dataclass(frozen=True)
class SigningKey:
    """A signing key: its PKIX public PEM (what is uploaded), its certificate, and the private key, which is
    parsed from its PEM only when a signature is made (``private_key``), never just to check one."""

    public_key: rsa.RSAPublicKey = field(repr=False, compare=False)
    public_pem: str = field(repr=False)
    certificate_pem: str | None = field(default=None, repr=False)
    private_loader: Callable[[], rsa.RSAPrivateKey] | None = field(default=None, repr=False, compare=False)

    @property
    def private_key(self) -> rsa.RSAPrivateKey:
        """The private key, loaded now (and checked against the public key) if it was not yet."""
        if self.private_loader is None:
            raise _invalid("no private key")
        return self.private_loader()

    @property
    def key_id(self) -> str:
        """Exchange key id naming this key: ``horizon-publisher-<16 hex of SHA-256(SPKI DER)>.pem``.

        A new key gets a new id (so rotation can retire the old one); the ``.pem`` suffix is what the
        agent needs to pick up a key file (it appends one otherwise), and the id is a single URL-safe
        path segment as the Exchange requires.
        """
        return f"{KEY_ID_PREFIX}{hashlib.sha256(_spki_der(self.public_key)).hexdigest()[:16]}.pem"

    def __repr__(self) -> str:
        return f"SigningKey(key_id={self.key_id!r}, certificate={self.certificate_pem is not None})"


class GeneratedKeyError(SigningKeyError, ValueError):
    """``spec.signing.generatedKey`` asks for a key the generator (and hzn, and agents) refuse."""

    def __init__(self, message: str) -> None:
        super().__init__(SIGNING_KEY_INVALID, message)


def _invalid(message: str) -> SigningKeyError:
    return SigningKeyError(SIGNING_KEY_INVALID, message)


def _first_pem_block(text: str) -> tuple[str, dict[str, str], bytes] | None:
    """(label, headers, DER) of the first PEM block, or None when there is none or it is not base64."""
    match = _PEM_BLOCK.search(text)
    if match is None:
        return None
    lines = match.group("body").splitlines()
    headers: dict[str, str] = {}
    if lines and ":" in lines[0]:  # RFC 1421 headers (e.g. Proc-Type of an encrypted key) end at a blank line
        while lines and lines[0].strip():
            name, _, value = lines.pop(0).partition(":")
            headers[name.strip()] = value.strip()
    try:
        der = base64.b64decode("".join("".join(lines).split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    return match.group("label"), headers, der


def _spki_der(key: rsa.RSAPublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _pkix_public_key(der: bytes) -> rsa.RSAPublicKey | None:
    """Go's x509.ParsePKIXPublicKey for RSA: SubjectPublicKeyInfo only (cryptography also takes PKCS#1)."""
    try:
        key = serialization.load_der_public_key(der)
    except (ValueError, UnsupportedAlgorithm):
        return None
    if not isinstance(key, rsa.RSAPublicKey) or _spki_der(key) != der:
        return None
    return key


def _certificate(der: bytes) -> x509.Certificate | None:
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError:
        return None


def _load_private_key(private_pem: str) -> rsa.RSAPrivateKey:
    block = _first_pem_block(private_pem)
    if block is None:
        raise _invalid("the private key is not PEM")
    label, headers, der = block
    if label not in ("RSA PRIVATE KEY", "PRIVATE KEY"):
        raise _invalid(f"the private key PEM is a {label!r} block; expected 'RSA PRIVATE KEY' (PKCS#1)")
    if headers:
        raise _invalid("the private key is encrypted; provide it unencrypted (as hzn key create writes it)")
    return PARSED_KEYS.get_or_parse(der, _parse_private_der)


def _parse_private_der(der: bytes) -> rsa.RSAPrivateKey:
    try:
        private_key = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise _invalid("the private key could not be parsed as PKCS#1 or PKCS#8") from None
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise _invalid("the private key is not an RSA key; Horizon signs with RSA-PSS")
    if private_key.key_size < MIN_KEY_BITS:
        raise _invalid(f"the private key has {private_key.key_size} bits; Horizon needs at least {MIN_KEY_BITS}")
    return private_key


def _matching_certificate_pem(public_or_cert_pem: str, public_key: rsa.RSAPublicKey, now: datetime) -> str | None:
    """The certificate (normalised PEM) if the text is one, None if it is a PKIX key; either must match, and a
    certificate must be one the agent accepts (users import it with ``hzn key import``)."""
    block = _first_pem_block(public_or_cert_pem)
    if block is None:
        raise _invalid("the public key/certificate is not PEM")
    label, _, der = block
    certificate = _certificate(der)
    if certificate is not None:
        given = certificate.public_key()
        if not isinstance(given, rsa.RSAPublicKey) or _spki_der(given) != _spki_der(public_key):
            raise _invalid("the certificate does not belong to the private key")
        problem = _certificate_problem(certificate, now)
        if problem is not None:
            raise _invalid(f"{problem}: edge agents refuse it; renew it (hzn key create) or give a PKIX 'PUBLIC KEY'")
        return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
    pkix = _pkix_public_key(der)
    if pkix is None:
        if label == "RSA PUBLIC KEY":
            raise _invalid("PKCS#1 'RSA PUBLIC KEY' PEM is refused by Horizon; provide a certificate or 'PUBLIC KEY'")
        raise _invalid("the public key is neither an X.509 certificate nor a PKIX RSA 'PUBLIC KEY'")
    if _spki_der(pkix) != _spki_der(public_key):
        raise _invalid("the public key does not belong to the private key")
    return None


def load_signing_key(private_pem: str, public_or_cert_pem: str | None, *, now: datetime | None = None) -> SigningKey:
    """Load an RSA private key (PKCS#1 or PKCS#8 PEM, unencrypted) and check its certificate/public key.

    ``public_or_cert_pem`` may be a certificate (as ``hzn key create`` writes), a PKIX ``PUBLIC KEY``,
    or None (then only the derived public key is kept). It must hold the same public key, and a
    certificate must pass the agent's rules at ``now`` (default: the current time): not expired, not
    valid for over 3653 days, keyUsage exactly digitalSignature, not a CA, self-issued.
    Raises ``SigningKeyError`` (reason ``SigningKeyInvalid``).
    """
    private_key = _load_private_key(private_pem)
    public_key = private_key.public_key()
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    certificate_pem = (
        None if public_or_cert_pem is None else _matching_certificate_pem(public_or_cert_pem, public_key, moment)
    )
    return SigningKey(public_key, _public_pem(public_key), certificate_pem, lambda: private_key)


def load_signing_key_lazily(
    read_private_pem: Callable[[], str], public_or_cert_pem: str | None, *, now: datetime | None = None
) -> SigningKey:
    """Like :func:`load_signing_key`, but with a certificate or public key at hand the private key is read
    (``read_private_pem``) and parsed only when :attr:`SigningKey.private_key` is first used, i.e. when a
    deployment must be signed; it must then match the public key (else ``SigningKeyInvalid``)."""
    if public_or_cert_pem is None:
        return load_signing_key(read_private_pem(), None, now=now)
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    public_key, certificate_pem = _public_side(public_or_cert_pem, moment)
    loaded: list[rsa.RSAPrivateKey] = []

    def private() -> rsa.RSAPrivateKey:
        if not loaded:
            private_key = _load_private_key(read_private_pem())
            if _spki_der(private_key.public_key()) != _spki_der(public_key):
                what = "certificate" if certificate_pem else "public key"
                raise _invalid(f"the {what} does not belong to the private key")
            loaded.append(private_key)
        return loaded[0]

    return SigningKey(public_key, _public_pem(public_key), certificate_pem, private)


def _public_pem(public_key: rsa.RSAPublicKey) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def _public_side(public_or_cert_pem: str, moment: datetime) -> tuple[rsa.RSAPublicKey, str | None]:
    """The RSA public key in a certificate (checked as the agent checks it) or a PKIX PEM, and the
    certificate's normalised PEM (None for a bare key)."""
    block = _first_pem_block(public_or_cert_pem)
    if block is None:
        raise _invalid("the public key/certificate is not PEM")
    label, _, der = block
    certificate = _certificate(der)
    key = certificate.public_key() if certificate is not None else _pkix_public_key(der)
    if not isinstance(key, rsa.RSAPublicKey):
        if label == "RSA PUBLIC KEY":
            raise _invalid("PKCS#1 'RSA PUBLIC KEY' PEM is refused by Horizon; provide a certificate or 'PUBLIC KEY'")
        raise _invalid("the public key is neither an X.509 certificate nor a PKIX RSA 'PUBLIC KEY'")
    # The same checks load_signing_key makes, against the key itself.
    return key, _matching_certificate_pem(public_or_cert_pem, key, moment)


def _name_attribute(oid: x509.ObjectIdentifier, value: str) -> x509.NameAttribute[str]:
    # Go's asn1 marshals a string as PrintableString when its alphabet allows, else UTF8String.
    kind = _ASN1Type.PrintableString if _PRINTABLE.fullmatch(value) else _ASN1Type.UTF8String
    return x509.NameAttribute(oid, value, kind)


def generate_signing_key(
    *,
    bits: int = DEFAULT_KEY_BITS,
    organization: str,
    common_name: str,
    validity_days: int = DEFAULT_VALIDITY_DAYS,
    now: datetime | None = None,
) -> tuple[str, str]:
    """(PKCS#1 private PEM, certificate PEM) as ``hzn key create ORG CN`` makes them.

    Self-signed X.509 v3, Subject = Issuer = O=organization, CN=common_name (O first, as Go orders
    them), serial random in [1, 2^159), NotBefore = now - 12 h, NotAfter = now + validity_days,
    keyUsage = digitalSignature (critical), basicConstraints CA:FALSE (critical), signed with
    SHA256WithRSA; no other extension (Go adds a subject key id only to CA certificates).
    """
    if bits < MIN_KEY_BITS:
        raise GeneratedKeyError(f"generated key: {bits} bits is below the minimum {MIN_KEY_BITS}")
    if not common_name:
        raise GeneratedKeyError("generated key: the common name must not be empty (agents refuse no issuer CN)")
    if len(common_name) > MAX_COMMON_NAME:  # RFC 5280 ub-common-name; Go would not check, cryptography does
        raise GeneratedKeyError(f"generated key: the common name must be at most {MAX_COMMON_NAME} characters")
    if validity_days < 1:
        raise GeneratedKeyError("generated key: validity_days (validityDays) must be at least 1")
    if timedelta(days=validity_days) + NOT_BEFORE_BUFFER > MAX_CERT_VALIDITY:
        raise GeneratedKeyError(
            f"generated key: validity_days (validityDays) must be below {MAX_CERT_VALIDITY.days}: it starts 12 h early "
            f"and hzn and the agent refuse one valid for over {MAX_CERT_VALIDITY.days} days"
        )
    moment = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)

    private_key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    name = x509.Name(
        [
            x509.RelativeDistinguishedName([_name_attribute(NameOID.ORGANIZATION_NAME, organization)]),
            x509.RelativeDistinguishedName([_name_attribute(NameOID.COMMON_NAME, common_name)]),
        ]
    )
    key_usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(secrets.randbelow(2**159 - 1) + 1)
        .not_valid_before(moment - NOT_BEFORE_BUFFER)
        .not_valid_after(moment + timedelta(days=validity_days))
        .add_extension(key_usage, critical=True)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(private_key, hashes.SHA256())
    )
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode("ascii")
    return private_pem, certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def sign(deployment: str, key: SigningKey) -> str:
    """Base64 (standard, padded) RSASSA-PSS/SHA-256/MGF1-SHA-256/max-salt signature of ``deployment``'s UTF-8."""
    signature = key.private_key.sign(deployment.encode("utf-8"), _PSS_SIGN, hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def _only_digital_signature(usage: x509.KeyUsage | None) -> bool:
    """Go's ``cert.KeyUsage == x509.KeyUsageDigitalSignature``: that bit set and no other (absent = 0)."""
    if usage is None or not usage.digital_signature:
        return False
    # encipher_only/decipher_only can only be set together with key_agreement, so they need no test.
    others = (
        usage.content_commitment,
        usage.key_encipherment,
        usage.data_encipherment,
        usage.key_agreement,
        usage.key_cert_sign,
        usage.crl_sign,
    )
    return not any(others)


def _certificate_problem(certificate: x509.Certificate, now: datetime) -> str | None:
    """rsapss-tool ValidKeyOrCert's rules for a certificate, in its order; the certificate's signature is unchecked."""
    try:
        extensions = list(certificate.extensions)
    except ValueError:  # duplicate or malformed extensions: Go's parser refuses those too
        return "the certificate extensions cannot be parsed"
    constraints = next((e.value for e in extensions if isinstance(e.value, x509.BasicConstraints)), None)
    usage = next((e.value for e in extensions if isinstance(e.value, x509.KeyUsage)), None)
    issuer_cns = certificate.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    not_before, not_after = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    rules = (
        (now < not_before, "the certificate is not valid yet"),
        (now > not_after, "the certificate has expired"),
        (
            not_after - not_before > MAX_CERT_VALIDITY,
            f"the certificate is valid for over {MAX_CERT_VALIDITY.days} days",
        ),
        (certificate.serial_number <= 0, "the certificate serial number is not positive"),
        (constraints is None, "the certificate has no basicConstraints extension"),
        (not _only_digital_signature(usage), "the certificate key usage must be exactly digitalSignature"),
        (constraints is not None and constraints.ca, "the certificate is a CA certificate"),
        (
            not issuer_cns or not issuer_cns[-1].value or certificate.issuer != certificate.subject,
            "the certificate is not self-issued (issuer must equal subject and have a CN)",
        ),
    )
    return next((message for failed, message in rules if failed), None)


def _agent_public_key(public_or_cert_pem: str, now: datetime | None) -> rsa.RSAPublicKey | str:
    """The RSA key the agent would use, or why it would refuse the file (rsapss-tool ValidKeyOrCert)."""
    block = _first_pem_block(public_or_cert_pem)
    if block is None:
        return "no PEM block"
    _, _, der = block
    certificate = _certificate(der)
    if certificate is not None:  # Go tries the certificate first and never falls back once it parsed
        problem = _certificate_problem(certificate, (now or datetime.now(UTC)).astimezone(UTC))
        if problem is not None:
            return problem
        key = certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            return "the certificate key is not RSA"
    else:
        pkix = _pkix_public_key(der)
        if pkix is None:
            return "neither an X.509 certificate nor a PKIX RSA public key"
        key = pkix
    if key.key_size < MIN_KEY_BITS:
        return f"the key has fewer than {MIN_KEY_BITS} bits"
    return key


def key_or_certificate_problem(public_or_cert_pem: str, *, now: datetime | None = None) -> str | None:
    """None when the agent would accept this key file, else a short reason (no key material)."""
    result = _agent_public_key(public_or_cert_pem, now)
    return result if isinstance(result, str) else None


def _decode_signature(signature_b64: str) -> bytes | None:
    # Go's base64.StdEncoding skips CR and LF and nothing else; padding is required.
    try:
        return base64.b64decode(signature_b64.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):
        return None


def _pss_valid(key: rsa.RSAPublicKey, signature: bytes, deployment: str) -> bool:
    try:
        key.verify(signature, deployment.encode("utf-8"), _PSS_VERIFY, hashes.SHA256())
    except (InvalidSignature, ValueError):  # ValueError: text that is not encodable as UTF-8
        return False
    return True


def verify_with_any(
    deployment: str, signature_b64: str, public_or_cert_pems: Iterable[str], *, now: datetime | None = None
) -> bool:
    """True when any key file the agent would accept verifies the signature (rsapss-tool InputVerifiedByAnyKey)."""
    signature = _decode_signature(signature_b64)
    if signature is None:
        return False
    for pem in public_or_cert_pems:
        key = _agent_public_key(pem, now)
        if not isinstance(key, str) and _pss_valid(key, signature, deployment):
            return True
    return False


def verify(deployment: str, signature_b64: str, public_or_cert_pem: str, *, now: datetime | None = None) -> bool:
    """Check a deployment signature as the agent does with one key file (PKIX public key or certificate)."""
    return verify_with_any(deployment, signature_b64, [public_or_cert_pem], now=now)


def signature_still_valid(deployment: str, signature: str | None, key: SigningKey) -> bool:
    """True when ``signature`` over ``deployment`` verifies with ``key``: then do not re-sign (PSS is randomised)."""
    if not signature:
        return False
    decoded = _decode_signature(signature)
    return decoded is not None and _pss_valid(key.public_key, decoded, deployment)
