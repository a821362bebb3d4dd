"""Certificate files: checked before the server listens, and recognised when self-signed.

A bad ``--tls-cert``/``--tls-key`` pair otherwise surfaces as OpenSSL's ``[SSL] PEM lib``
while the listener starts, which names neither file. :func:`check_server_files` says
which file is wrong and the ``openssl`` command that shows it.

Snippets and clients trust a self-signed server certificate explicitly (the file
itself is the CA); :func:`is_self_signed` tells them when that is needed.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from tidings.errors import ConfigError

__all__ = ["check_server_files", "is_self_signed"]

_CERT_MARK = "-----BEGIN CERTIFICATE-----"
_KEY_MARK = "PRIVATE KEY-----"


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="ascii", errors="replace")
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} {str(path)!r}: {exc.strerror or exc}") from None


def _refuse_password() -> str:
    # Without a callback OpenSSL would prompt on the terminal for an encrypted key.
    raise ConfigError("unreachable: encrypted keys are refused before loading")


def check_server_files(cert: Path, key: Path) -> None:
    """Refuse a certificate/key pair the TLS listener could not load, naming the wrong file.

    Args:
        cert: the ``tls_cert`` PEM file (certificate, optionally followed by its chain).
        key: the ``tls_key`` PEM file (an unencrypted private key).

    Raises:
        ConfigError: a file is unreadable, swapped with the other, not PEM, an
            encrypted key, or a key that does not belong to the certificate.
    """
    cert_text, key_text = _read(cert, "certificate"), _read(key, "private key")
    check_cert = f"check it with: openssl x509 -in {cert} -noout -subject -enddate"
    check_key = f"check it with: openssl pkey -in {key} -noout"
    if _CERT_MARK not in cert_text:
        if _KEY_MARK in cert_text and _CERT_MARK in key_text:
            raise ConfigError(
                f"--tls-cert and --tls-key are swapped: {cert} holds a private key and "
                f"{key} a certificate",
                hint=f"pass --tls-cert {key} --tls-key {cert}",
            )
        raise ConfigError(
            f"the certificate file {cert} (tls_cert) holds no PEM certificate ({_CERT_MARK})",
            hint=check_cert,
        )
    if _KEY_MARK not in key_text:
        raise ConfigError(
            f"the key file {key} (tls_key) holds no PEM private key (-----BEGIN ... {_KEY_MARK})",
            hint=check_key,
        )
    if "ENCRYPTED" in key_text:
        raise ConfigError(
            f"the private key {key} is encrypted; tidings reads unencrypted keys only",
            hint=f"decrypt a copy, kept private: openssl pkey -in {key} -out key-plain.pem",
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(str(cert), str(key), password=_refuse_password)
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc) or "key values mismatch" in str(exc):
            raise ConfigError(
                f"the private key {key} does not belong to the certificate {cert}",
                hint=(
                    f"these two print the same key when they match: openssl x509 -in {cert} "
                    f"-noout -pubkey; openssl pkey -in {key} -pubout"
                ),
            ) from None
        raise ConfigError(
            f"cannot load the TLS certificate {cert} with the key {key}: {exc.reason or exc}",
            hint=f"{check_cert}; {check_key}",
        ) from None


def is_self_signed(cert: Path) -> bool:
    """True when the first certificate in ``cert`` is its own issuer (a local CA).

    Clients cannot verify such a certificate against the system trust store; they
    must be given the file itself as their CA. An unreadable file counts as not
    self-signed (the server refuses it at start-up anyway).
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cafile=str(cert))
    except (OSError, ssl.SSLError):
        return False
    # get_ca_certs() lists the CA certificates loaded; a leaf certificate from a real
    # CA (basicConstraints CA:FALSE) is not one of them.
    return any(entry.get("subject") == entry.get("issuer") for entry in context.get_ca_certs())
