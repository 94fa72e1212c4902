// Fuzzes envelope parsing and verification with arbitrary bytes: Open (what the broker runs on
// every submit), AssembleDisclosures (which parses disclosures that only a signature vouches
// for — a malicious but authenticated sender controls them) and Minimise. Properties: never a
// crash; anything Open accepts still opens after minimising to the fields it disclosed, and
// withholds exactly the rest.

#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/strip.h"
#include "clients/protocol/envelope.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

const safeguard::protocol::TrustAnchor& Trust() {
  static const auto* trust = [] {
    std::ifstream in(SAFEGUARD_PROTOCOL_VECTORS "/ca.crt");
    std::stringstream ca;
    ca << in.rdbuf();
    return new std::shared_ptr<const safeguard::protocol::TrustAnchor>(
        *safeguard::protocol::TrustAnchor::FromPem(ca.str()));
  }();
  return **trust;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  safeguard::v1::SignedEnvelope envelope;
  if (!envelope.ParseFromArray(data, static_cast<int>(size))) return 0;

  // Without the signature: the disclosure parser on hostile input.
  safeguard::v1::SignedPayload payload;
  if (payload.ParseFromString(envelope.payload())) {
    auto assembled = safeguard::protocol::AssembleDisclosures(envelope, payload);
    if (assembled.ok()) {
      FUZZ_CHECK(assembled->disclosed.size() <= static_cast<size_t>(envelope.disclosures_size()));
    }
  }

  auto opened = safeguard::protocol::Open(envelope, Trust());
  if (!opened.ok()) return 0;
  auto minimised = safeguard::protocol::Minimise(envelope, opened->disclosed);
  auto again = safeguard::protocol::Open(minimised, Trust());
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->disclosed == opened->disclosed);
  FUZZ_CHECK(again->withheld == opened->withheld);
  auto none = safeguard::protocol::Open(safeguard::protocol::Minimise(envelope, {}), Trust());
  FUZZ_CHECK(none.ok() && none->disclosed.empty());
  return 0;
}
