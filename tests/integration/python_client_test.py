#!/usr/bin/python3
"""A client in another language (Python, Debian's python3-grpcio) talks to the real broker
using nothing but proto/ and certificates minted by certs/safeguard-certs.

Generates the Python stubs from proto/ with protoc and grpc_python_plugin, starts the broker on
127.0.0.1 port 0, submits a notification as a GP and receives it on the front door's stream.
Prints '2 passed, 0 failed' on success.
"""
import argparse
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
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="safeguard-python-")
    broker = None
    try:
        gen = os.path.join(work, "gen")
        os.makedirs(gen)
        protos = [os.path.join(args.proto_dir, "safeguard/v1", f)
                  for f in ("notification.proto", "broker.proto")]
        run("protoc", "-I", args.proto_dir, "-I", "/usr/include", "--python_out=" + gen,
            "--grpc_out=" + gen, "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin", *protos)
        sys.path.insert(0, gen)
        import grpc
        from google.protobuf import timestamp_pb2
        from safeguard.v1 import broker_pb2, broker_pb2_grpc, notification_pb2

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

        passed = failed = 0
        gp = broker_pb2_grpc.BrokerStub(channel("gp-py"))
        n = notification_pb2.Notification(
            idempotency_key="py-1",
            type=notification_pb2.NOTIFICATION_TYPE_SCHOOL_ABSENCE,
            severity=notification_pb2.SEVERITY_CONCERN,
            summary="Absent 8 of the last 10 sessions",
            subjects=[notification_pb2.Subject(identifiers=[notification_pb2.SubjectIdentifier(
                scheme=notification_pb2.IDENTIFIER_SCHEME_NHS_NUMBER, value="943 476 5919")])])
        n.occurred_at.GetCurrentTime()
        sent = gp.Submit(broker_pb2.SubmitRequest(notification=n), timeout=10)
        if len(sent.notification_id) == 32 and sent.recipients[0].node_id == "fd-py":
            passed += 1
        else:
            failed += 1
            print("FAIL submit:", sent)

        fd = broker_pb2_grpc.BrokerStub(channel("fd-py"))
        deliveries = list(fd.Subscribe(broker_pb2.SubscribeRequest(), timeout=10))
        if (len(deliveries) == 1 and deliveries[0].notification_id == sent.notification_id
                and deliveries[0].notification.subjects[0].identifiers[0].value == "9434765919"):
            passed += 1
        else:
            failed += 1
            print("FAIL subscribe:", deliveries)
        print(f"{passed} passed, {failed} failed")
        return 0 if failed == 0 else 1
    finally:
        if broker:
            broker.send_signal(signal.SIGTERM)
            broker.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
