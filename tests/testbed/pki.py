"""Throwaway PKI for the testbed control plane.

One self-signed CA signs the kube-apiserver serving certificate and the client
certificates of every component. A separate RSA key pair signs service-account
tokens. Everything is written as PEM files into one directory; nothing here is
meant to protect anything, it only makes the components talk TLS the way a real
cluster does.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = datetime.timedelta(days=365)

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class CertPair:
    """Paths of a PEM certificate and its PEM private key."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class ClusterPKI:
    """Every file the control plane needs, all under one directory."""

    ca: CertPair
    apiserver: CertPair
    admin: CertPair
    controller_manager: CertPair
    scheduler: CertPair
    sa_private_key: Path
    sa_public_key: Path

    @classmethod
    def ensure(cls, directory: Path) -> ClusterPKI:
        """Load the PKI from ``directory``, creating whatever is missing."""
        directory.mkdir(parents=True, exist_ok=True)
        pki = cls(
            ca=_pair(directory, "ca"),
            apiserver=_pair(directory, "apiserver"),
            admin=_pair(directory, "admin"),
            controller_manager=_pair(directory, "controller-manager"),
            scheduler=_pair(directory, "scheduler"),
            sa_private_key=directory / "sa.key",
            sa_public_key=directory / "sa.pub",
        )
        if not all(p.exists() for p in pki.files()):
            pki._generate()
        return pki

    def files(self) -> list[Path]:
        pairs = [self.ca, self.apiserver, self.admin, self.controller_manager, self.scheduler]
        keys = [self.sa_private_key, self.sa_public_key]
        return [p for pair in pairs for p in (pair.cert, pair.key)] + keys

    def write_kubeconfig(self, path: Path, server: str, user: str, pair: CertPair) -> None:
        """A self-contained kubeconfig (certificates embedded) for ``pair`` against ``server``."""

        def b64(p: Path) -> str:
            return base64.b64encode(p.read_bytes()).decode()

        name = "gitflagger-testbed"
        config = {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": name, "cluster": {
                "server": server, "certificate-authority-data": b64(self.ca.cert)}}],
            "users": [{"name": user, "user": {
                "client-certificate-data": b64(pair.cert), "client-key-data": b64(pair.key)}}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": user}}],
            "current-context": name,
        }
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        path.chmod(0o600)

    def _generate(self) -> None:
        now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
        ca_key = _ec_key()
        ca_name = _name("gitflagger-testbed-ca")
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                    encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        _write(self.ca, ca_cert, ca_key)

        serving_sans: list[x509.GeneralName] = [
            x509.DNSName("localhost"),
            x509.DNSName("kubernetes"),
            x509.DNSName("kubernetes.default"),
            x509.DNSName("kubernetes.default.svc"),
            x509.DNSName("kubernetes.default.svc.cluster.local"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("10.96.0.1")),
        ]
        self._leaf(self.apiserver, ca_cert, ca_key, now, "kube-apiserver", [], serving_sans, server=True)
        self._leaf(self.admin, ca_cert, ca_key, now, "testbed-admin", ["system:masters"], [], server=False)
        self._leaf(self.controller_manager, ca_cert, ca_key, now, "system:kube-controller-manager", [], [],
                   server=False)
        self._leaf(self.scheduler, ca_cert, ca_key, now, "system:kube-scheduler", [], [], server=False)

        sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.sa_private_key.write_bytes(_key_pem(sa_key))
        self.sa_private_key.chmod(0o600)
        self.sa_public_key.write_bytes(
            sa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    @staticmethod
    def _leaf(
        pair: CertPair,
        ca_cert: x509.Certificate,
        ca_key: PrivateKey,
        now: datetime.datetime,
        common_name: str,
        organizations: list[str],
        sans: list[x509.GeneralName],
        *,
        server: bool,
    ) -> None:
        key = _ec_key()
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name, organizations))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=True,
                    data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                    encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
            )
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        _write(pair, builder.sign(ca_key, hashes.SHA256()), key)


def _pair(directory: Path, stem: str) -> CertPair:
    return CertPair(cert=directory / f"{stem}.crt", key=directory / f"{stem}.key")


def _ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str, organizations: list[str] | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations or []]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write(pair: CertPair, cert: x509.Certificate, key: PrivateKey) -> None:
    pair.key.write_bytes(_key_pem(key))
    pair.key.chmod(0o600)
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
