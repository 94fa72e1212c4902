// Cost of the envelope protocol per notification: sealing (one ECDSA P-256 signature plus the
// disclosure digests), opening (one verification plus digests), minimising, and a receipt.
//
//   build/tests/bench/envelope_bench            (mints its own throwaway certificates)

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "clients/protocol/envelope.h"
#include "google/protobuf/util/time_util.h"

namespace safeguard::protocol {
namespace {

struct Fixture {
  std::shared_ptr<const Signer> node;
  std::shared_ptr<const Signer> broker;
  std::shared_ptr<const TrustAnchor> trust;
  safeguard::v1::Notification notification;
};

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

const Fixture& Get() {
  static const Fixture* fixture = [] {
    char tmpl[] = "/tmp/envelope-bench-XXXXXX";
    std::string dir = mkdtemp(tmpl);
    std::string certs = SAFEGUARD_CERTS_TOOL;
    std::string cmd = absl::StrCat(
        certs, " init-ca --dir ", dir, "/ca --partnership bench.example >/dev/null && ", certs,
        " issue-node --ca-dir ", dir, "/ca --out ", dir,
        "/gp --partnership bench.example --type gp --id gp-bench >/dev/null && ", certs,
        " issue-broker --ca-dir ", dir, "/ca --out ", dir, "/broker --partnership bench.example "
        ">/dev/null");
    if (std::system(cmd.c_str()) != 0) std::abort();
    auto* f = new Fixture;
    f->node = *Signer::FromPem(Read(dir + "/gp/node.crt"), Read(dir + "/gp/node.key"));
    f->broker = *Signer::FromPem(Read(dir + "/broker/node.crt"), Read(dir + "/broker/node.key"));
    f->trust = *TrustAnchor::FromPem(Read(dir + "/ca/ca.crt"));
    std::system(absl::StrCat("rm -rf ", dir).c_str());
    auto& n = f->notification;
    n.set_idempotency_key("bench-1");
    n.set_type(safeguard::v1::NOTIFICATION_TYPE_WAS_NOT_BROUGHT);
    n.set_severity(safeguard::v1::SEVERITY_CONCERN);
    auto* id = n.add_subjects()->add_identifiers();
    id->set_scheme(safeguard::v1::IDENTIFIER_SCHEME_NHS_NUMBER);
    id->set_value("9434765919");
    n.set_summary(std::string(300, 's'));  // a ~512-byte notification in all
    (*n.mutable_details()->mutable_fields())["clinic"].set_string_value("community paediatrics");
    (*n.mutable_health_details()->mutable_fields())["note"].set_string_value(std::string(60, 'h'));
    *n.mutable_occurred_at() = google::protobuf::util::TimeUtil::GetCurrentTime();
    return f;
  }();
  return *fixture;
}

void BM_Seal(benchmark::State& state) {
  const auto& f = Get();
  for (auto _ : state) benchmark::DoNotOptimize(Seal(f.notification, *f.node, absl::Now()));
  state.SetLabel(absl::StrCat(Seal(f.notification, *f.node, absl::Now())->ByteSizeLong(),
                              " bytes sealed"));
}
BENCHMARK(BM_Seal);

void BM_OpenAsBroker(benchmark::State& state) {
  const auto& f = Get();
  auto envelope = *Seal(f.notification, *f.node, absl::Now());
  OpenOptions options{.certificate_time = absl::Now(), .require_all_disclosures = true};
  for (auto _ : state) benchmark::DoNotOptimize(Open(envelope, *f.trust, options));
}
BENCHMARK(BM_OpenAsBroker);

void BM_MinimiseAndAssemble(benchmark::State& state) {
  const auto& f = Get();
  auto envelope = *Seal(f.notification, *f.node, absl::Now());
  std::set<safeguard::v1::DisclosableField> school = {
      safeguard::v1::DISCLOSABLE_FIELD_CHILD_IDENTITY, safeguard::v1::DISCLOSABLE_FIELD_SUMMARY,
      safeguard::v1::DISCLOSABLE_FIELD_DETAILS};
  for (auto _ : state) {
    auto minimised = Minimise(envelope, school);
    safeguard::v1::SignedPayload payload;
    payload.ParseFromString(minimised.payload());
    benchmark::DoNotOptimize(AssembleDisclosures(minimised, payload));
  }
}
BENCHMARK(BM_MinimiseAndAssemble);

void BM_SignReceipt(benchmark::State& state) {
  const auto& f = Get();
  safeguard::v1::ReceiptBody body;
  body.set_envelope_digest(std::string(32, 'd'));
  body.set_notification_id(std::string(32, 'n'));
  body.set_sequence(123456);
  for (auto _ : state) benchmark::DoNotOptimize(SignReceipt(body, *f.broker));
}
BENCHMARK(BM_SignReceipt);

void BM_VerifyReceipt(benchmark::State& state) {
  const auto& f = Get();
  safeguard::v1::ReceiptBody body;
  body.set_envelope_digest(Sha256("p"));
  body.set_envelope_id("e");
  body.set_sender("s");
  body.set_broker(f.broker->uri());
  *body.mutable_accepted_at() = google::protobuf::util::TimeUtil::GetCurrentTime();
  auto receipt = *SignReceipt(body, *f.broker);
  ExpectedReceipt expected{.envelope_digest = Sha256("p"), .envelope_id = "e", .sender = "s"};
  for (auto _ : state) benchmark::DoNotOptimize(VerifyReceipt(receipt, *f.trust, expected));
}
BENCHMARK(BM_VerifyReceipt);

}  // namespace
}  // namespace safeguard::protocol

BENCHMARK_MAIN();

namespace safeguard::protocol {
namespace {
void BM_ParseCertificate(benchmark::State& state) {
  const auto& f = Get();
  for (auto _ : state) benchmark::DoNotOptimize(Certificate::FromDer(f.node->certificate().der()));
}
BENCHMARK(BM_ParseCertificate);
void BM_VerifyCertificateChain(benchmark::State& state) {
  const auto& f = Get();
  for (auto _ : state) benchmark::DoNotOptimize(f.trust->Verify(f.node->certificate(), absl::Now()));
}
BENCHMARK(BM_VerifyCertificateChain);
void BM_VerifySignatureOnly(benchmark::State& state) {
  const auto& f = Get();
  auto envelope = *Seal(f.notification, *f.node, absl::Now());
  std::string pae = PreAuthEncoding(envelope.payload_type(), envelope.payload());
  for (auto _ : state)
    benchmark::DoNotOptimize(VerifySignature(f.node->certificate(), pae, envelope.signatures(0).sig()));
}
BENCHMARK(BM_VerifySignatureOnly);
}  // namespace
}  // namespace safeguard::protocol
