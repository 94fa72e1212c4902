#!/usr/bin/python3
"""A client in another language (Python, Debian's python3-grpcio and python3-cryptography)
talks to the real broker using nothing but proto/, docs/protocol.md and certificates minted by
certs/safeguard-certs.

Generates the Python stubs from proto/ with protoc and grpc_python_plugin, starts the broker on
127.0.0.1 port 0, seals and signs a notification as a GP exactly as docs/protocol.md specifies,
checks the broker's signed receipt, and receives and verifies it on the front door's stream.
Prints 'N passed, 0 failed' on success.
"""
import argparse
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time


def run(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--proto-dir", required=True)
    parser.add_argument("--broker", required=True)
    parser.add_argument("--certs", required=True)
    parser.add_argument("--policy", required=True)
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="safeguard-python-")
    broker = None
    try:
        gen = os.path.join(work, "gen")
        os.makedirs(gen)
        protos = [os.path.join(args.proto_dir, "safeguard/v1", f)
                  for f in ("notification.proto", "envelope.proto", "broker.proto")]
        run("protoc", "-I", args.proto_dir, "-I", "/usr/include", "--python_out=" + gen,
            "--grpc_out=" + gen, "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin", *protos)
        sys.path.insert(0, gen)
        import grpc
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from safeguard.v1 import broker_pb2, broker_pb2_grpc, envelope_pb2, notification_pb2

        domain = "python.safeguarding.example"
        run(args.certs, "init-ca", "--dir", work + "/ca", "--partnership", domain)
        run(args.certs, "issue-broker", "--ca-dir", work + "/ca", "--out", work + "/broker",
            "--partnership", domain)
        for node_type, node_id in (("gp", "gp-py"), ("front-door", "fd-py")):
            run(args.certs, "issue-node", "--ca-dir", work + "/ca", "--out",
                work + "/" + node_id, "--partnership", domain, "--type", node_type,
                "--id", node_id)
        with open(work + "/broker.conf", "w") as f:
            f.write(f'''partnership: "{domain}"
listen_address: "127.0.0.1:0"
tls {{ certificate: "broker/node.crt" private_key: "broker/node.key" ca_certificate: "ca/ca.crt" }}
data_directory: "data"
policy_file: "{args.policy}"
nodes {{ id: "gp-py" type: "gp" area: "town" }}
nodes {{ id: "fd-py" type: "front-door" area: "town" }}
''')
        log = open(work + "/broker.log", "w")
        broker = subprocess.Popen([args.broker, "--config=" + work + "/broker.conf",
                                   "--port_file=" + work + "/port"], stderr=log)
        for _ in range(300):
            if os.path.exists(work + "/port"):
                break
            time.sleep(0.02)
        port = int(open(work + "/port").read())

        def channel(node_id):
            read = lambda name: open(f"{work}/{node_id}/{name}", "rb").read()
            creds = grpc.ssl_channel_credentials(read("ca.crt"), read("node.key"), read("node.crt"))
            return grpc.secure_channel(f"127.0.0.1:{port}", creds)

        def pae(payload_type, body):
            t = payload_type.encode()
            return b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)

        def seal(n, node_id):
            """docs/protocol.md: core + one salted disclosure per field, signed over PAE."""
            cert = x509.load_pem_x509_certificate(open(f"{work}/{node_id}/node.crt", "rb").read())
            key = serialization.load_pem_private_key(
                open(f"{work}/{node_id}/node.key", "rb").read(), password=None)
            core = notification_pb2.Notification()
            core.CopyFrom(n)
            identity = notification_pb2.Notification()
            for s in core.subjects:
                part = identity.subjects.add()
                part.identifiers.extend(s.identifiers)
                del s.identifiers[:]
            summary = notification_pb2.Notification(summary=core.summary)
            core.ClearField("summary")
            payload = envelope_pb2.SignedPayload(
                envelope_id=n.idempotency_key, sender=f"spiffe://{domain}/gp/{node_id}", core=core)
            payload.signed_at.GetCurrentTime()
            disclosures = []
            for field, value in ((envelope_pb2.DISCLOSABLE_FIELD_CHILD_IDENTITY, identity),
                                 (envelope_pb2.DISCLOSABLE_FIELD_SUMMARY, summary)):
                d = envelope_pb2.Disclosure(salt=os.urandom(16), field=field, value=value)
                raw = d.SerializeToString()
                disclosures.append(raw)
                payload.disclosures.add(field=field, sha256=hashlib.sha256(raw).digest())
            body = payload.SerializeToString()
            ptype = "application/vnd.safeguard.notification.v1+protobuf"
            spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)
            sig = key.sign(pae(ptype, body), ec.ECDSA(hashes.SHA256()))
            return envelope_pb2.SignedEnvelope(
                payload_type=ptype, payload=body, disclosures=disclosures,
                signatures=[envelope_pb2.EnvelopeSignature(
                    keyid=hashlib.sha256(spki).hexdigest(), sig=sig,
                    certificate=cert.public_bytes(serialization.Encoding.DER))])

        def inclusion_root(leaf, index, size, proof):
            """RFC 9162 section 2.1.3.2: the root the proof leads to, or None."""
            if index >= size:
                return None
            fn, sn, r = index, size - 1, leaf
            for p in proof:
                if sn == 0:
                    return None
                if fn & 1 or fn == sn:
                    r = hashlib.sha256(b"\x01" + p + r).digest()
                    while not fn & 1 and fn != 0:
                        fn >>= 1
                        sn >>= 1
                else:
                    r = hashlib.sha256(b"\x01" + r + p).digest()
                fn >>= 1
                sn >>= 1
            return r if sn == 0 else None

        def verify_receipt(receipt):
            """docs/protocol.md "Receipts": the broker signs each receipt, or under load the
            Merkle root of a batch of them; then the receipt carries its inclusion proof."""
            cert = x509.load_der_x509_certificate(receipt.broker_certificate)
            if receipt.HasField("batch"):
                b = receipt.batch
                root = inclusion_root(hashlib.sha256(b"\x00" + receipt.body).digest(),
                                      b.index, b.size, list(b.proof))
                if root is None:
                    raise ValueError("receipt.batch: the proof is malformed")
                signed = pae("application/vnd.safeguard.receipt-batch.v1",
                             b.size.to_bytes(8, "big") + root)
            else:
                signed = pae("application/vnd.safeguard.receipt.v1+protobuf", receipt.body)
            cert.public_key().verify(receipt.signature, signed, ec.ECDSA(hashes.SHA256()))
            return envelope_pb2.ReceiptBody.FromString(receipt.body)

        def check(name, ok, detail=""):
            nonlocal_counts[0 if ok else 1] += 1
            print(("ok   " if ok else "FAIL ") + name + ("" if ok else f": {detail}"))

        nonlocal_counts = [0, 0]
        gp = broker_pb2_grpc.BrokerStub(channel("gp-py"))
        n = notification_pb2.Notification(
            idempotency_key="py-1",
            type=notification_pb2.NOTIFICATION_TYPE_SCHOOL_ABSENCE,
            severity=notification_pb2.SEVERITY_CONCERN,
            summary="Absent 8 of the last 10 sessions",
            subjects=[notification_pb2.Subject(identifiers=[notification_pb2.SubjectIdentifier(
                scheme=notification_pb2.IDENTIFIER_SCHEME_NHS_NUMBER, value="9434765919")])])
        n.occurred_at.GetCurrentTime()
        n.sharing.risk_of_harm = True
        envelope = seal(n, "gp-py")
        sent = gp.Submit(broker_pb2.SubmitRequest(envelope=envelope), timeout=10)
        check("submit accepted and routed to the front door",
              len(sent.notification_id) == 32 and sent.recipients[0].node_id == "fd-py", sent)

        # The receipt: the broker's signature over PAE(receipt type, body), for our envelope.
        try:
            body = verify_receipt(sent.receipt)
            receipt_ok = True
        except Exception as e:  # noqa: BLE001 - any failure is a failed check
            body, receipt_ok = envelope_pb2.ReceiptBody(), False
        check("receipt signed by the broker, for this envelope",
              receipt_ok and body.envelope_digest == hashlib.sha256(envelope.payload).digest()
              and body.notification_id == sent.notification_id, body)

        tampered = envelope_pb2.SignedEnvelope()
        tampered.CopyFrom(envelope)
        tampered.payload = envelope.payload[:-1] + bytes([envelope.payload[-1] ^ 1])
        try:
            gp.Submit(broker_pb2.SubmitRequest(envelope=tampered), timeout=10)
            check("tampered envelope refused", False, "accepted")
        except grpc.RpcError as e:
            check("tampered envelope refused", e.code() == grpc.StatusCode.INVALID_ARGUMENT,
                  e.details())

        fd = broker_pb2_grpc.BrokerStub(channel("fd-py"))
        deliveries = list(fd.Subscribe(broker_pb2.SubscribeRequest(), timeout=10))
        ok = (len(deliveries) == 1 and deliveries[0].notification_id == sent.notification_id
              and deliveries[0].notification.subjects[0].identifiers[0].value == "9434765919"
              and deliveries[0].envelope.payload == envelope.payload)
        check("front door receives the original signed envelope", ok, deliveries)

        # Sent together, receipts are signed in batches; each still verifies for its envelope.
        batched, failures = 0, []
        for burst in range(5):
            sent_together = []
            for i in range(30):
                n.idempotency_key = f"py-burst-{burst}-{i}"
                e = seal(n, "gp-py")
                sent_together.append(
                    (e, gp.Submit.future(broker_pb2.SubmitRequest(envelope=e), timeout=20)))
            for e, future in sent_together:
                answer = future.result()
                try:
                    b = verify_receipt(answer.receipt)
                    if b.envelope_digest != hashlib.sha256(e.payload).digest():
                        failures.append(f"receipt for another envelope: {b}")
                except Exception as err:  # noqa: BLE001 - any failure is a failed check
                    failures.append(repr(err))
                batched += answer.receipt.HasField("batch")
            if batched:
                break
        check("receipts signed in a batch verify, each for its own envelope",
              batched > 0 and not failures,
              f"{batched} batched; failures: {failures[:3]}")
        passed, failed = nonlocal_counts
        print(f"{passed} passed, {failed} failed")
        return 0 if failed == 0 else 1
    finally:
        if broker:
            broker.send_signal(signal.SIGTERM)
            broker.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
