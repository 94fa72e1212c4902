#!/usr/bin/python3
"""Makes the protocol test vectors of docs/protocol.md with an implementation independent of the
C++ one (Python, python3-cryptography), from the spec alone. The C++ tests check them.

  tests/testdata/protocol/make_vectors.py   # rewrites ca.crt, envelope.b64, vectors.txt here

Mints a throwaway partnership CA and node with certs/safeguard-certs; the private keys are
deleted when it finishes and never committed. ECDSA signatures are randomised and signed_at is the time of the run, so the
envelope differs on every run; the digests of the fixed disclosures do not.
"""
import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.abspath(os.path.join(here, "../../.."))
work = tempfile.mkdtemp(prefix="vectors-")
try:
    subprocess.run(["protoc", "-I", root + "/proto", "-I", "/usr/include", "--python_out=" + work,
                    *[root + "/proto/safeguard/v1/" + f for f in
                      ("notification.proto", "envelope.proto")]], check=True)
    sys.path.insert(0, work)
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from safeguard.v1 import envelope_pb2, notification_pb2

    certs = root + "/certs/safeguard-certs"
    domain = "vectors.safeguarding.example"
    subprocess.run([certs, "init-ca", "--dir", work + "/ca", "--partnership", domain, "--days",
                    "36500"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([certs, "issue-node", "--ca-dir", work + "/ca", "--out", work + "/gp",
                    "--partnership", domain, "--type", "gp", "--id", "gp-vector", "--days",
                    "36500"], check=True, stdout=subprocess.DEVNULL)

    def pae(t, body):
        t = t.encode()
        return b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)

    ptype = "application/vnd.safeguard.notification.v1+protobuf"
    lines = []
    lines.append("pae.type " + ptype)
    lines.append("pae.body.hex " + b"hello".hex())
    lines.append("pae.hex " + pae(ptype, b"hello").hex())

    # Fixed disclosures: salts 00..0f and 10..1f.
    identity = notification_pb2.Notification()
    identity.subjects.add().identifiers.add(
        scheme=notification_pb2.IDENTIFIER_SCHEME_NHS_NUMBER, value="9434765919")
    summary = notification_pb2.Notification(summary="Not brought to third appointment")
    disclosures = []
    for i, (field, value) in enumerate(((envelope_pb2.DISCLOSABLE_FIELD_CHILD_IDENTITY, identity),
                                        (envelope_pb2.DISCLOSABLE_FIELD_SUMMARY, summary))):
        d = envelope_pb2.Disclosure(salt=bytes(range(16 * i, 16 * i + 16)), field=field,
                                    value=value)
        raw = d.SerializeToString()
        disclosures.append(raw)
        lines.append(f"disclosure.{i}.hex {raw.hex()}")
        lines.append(f"disclosure.{i}.sha256 {hashlib.sha256(raw).hexdigest()}")

    core = notification_pb2.Notification(
        idempotency_key="vector-0001", type=notification_pb2.NOTIFICATION_TYPE_WAS_NOT_BROUGHT,
        severity=notification_pb2.SEVERITY_CONCERN)
    core.subjects.add(area="swindon")
    signed_at = int(time.time()) + 60  # after the certificate's notBefore
    core.occurred_at.FromSeconds(signed_at - 3600)
    payload = envelope_pb2.SignedPayload(envelope_id="vector-0001",
                                         sender=f"spiffe://{domain}/gp/gp-vector", core=core)
    payload.signed_at.FromSeconds(signed_at)
    for raw, field in zip(disclosures, (envelope_pb2.DISCLOSABLE_FIELD_CHILD_IDENTITY,
                                        envelope_pb2.DISCLOSABLE_FIELD_SUMMARY)):
        payload.disclosures.add(field=field, sha256=hashlib.sha256(raw).digest())
    body = payload.SerializeToString()
    lines.append("payload.sha256 " + hashlib.sha256(body).hexdigest())

    cert = x509.load_pem_x509_certificate(open(work + "/gp/node.crt", "rb").read())
    key = serialization.load_pem_private_key(open(work + "/gp/node.key", "rb").read(), None)
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    envelope = envelope_pb2.SignedEnvelope(
        payload_type=ptype, payload=body, disclosures=disclosures,
        signatures=[envelope_pb2.EnvelopeSignature(
            keyid=hashlib.sha256(spki).hexdigest(),
            sig=key.sign(pae(ptype, body), ec.ECDSA(hashes.SHA256())),
            certificate=cert.public_bytes(serialization.Encoding.DER))])
    lines.append("signer " + payload.sender)
    lines.append("signed_at " + str(signed_at))
    lines.append("keyid " + hashlib.sha256(spki).hexdigest())

    shutil.copy(work + "/ca/ca.crt", here + "/ca.crt")
    with open(here + "/envelope.b64", "w") as f:
        f.write(base64.b64encode(envelope.SerializeToString()).decode() + "\n")
    with open(here + "/vectors.txt", "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote ca.crt, envelope.b64, vectors.txt")
finally:
    shutil.rmtree(work, ignore_errors=True)
