// libFuzzer target: signed-note and checkpoint parsing and verification must never crash, must
// parse canonically, and must never accept a note its trusted keys did not sign.
//
// The first byte picks a mode:
//   0  a whole note from the input, opened with two trusted keys (a fixed test key and the key
//      from Go's sumdb/note documentation, whose example note is in the seed corpus);
//   1  a checkpoint text from the input: whatever parses must format back to the same bytes;
//   2  verifier and signer key strings from the input;
//   3  a checkpoint built from the input, signed, verified, then altered by one byte, which
//      must make it fail.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "clients/protocol/audit/checkpoint.h"
#include "clients/protocol/audit/merkle.h"
#include "tests/fuzz/fuzz_input.h"

namespace safeguard::fuzz {
namespace {

constexpr absl::string_view kGoVerifierKey =
    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

// The fixed test key: seed 0x00..0x1f, named like a log origin.
const audit::NoteSigner& Signer() {
  static const audit::NoteSigner* const signer = [] {
    std::string seed;
    for (int i = 0; i < 32; ++i) seed.push_back(static_cast<char>(i));
    absl::StatusOr<audit::NoteSigner> s = audit::NoteSigner::FromSeed("example.org/fuzz-log", seed);
    FUZZ_CHECK(s.ok());
    return new audit::NoteSigner(*std::move(s));
  }();
  return *signer;
}

const std::vector<audit::NoteVerifier>& Trusted() {
  static const std::vector<audit::NoteVerifier>* const trusted = [] {
    absl::StatusOr<audit::NoteVerifier> go = audit::NoteVerifier::FromKey(kGoVerifierKey);
    FUZZ_CHECK(go.ok());
    return new std::vector<audit::NoteVerifier>{Signer().verifier(), *go};
  }();
  return *trusted;
}

void OpenArbitraryNote(FuzzInput& in) {
  const absl::string_view note = in.Rest();
  absl::StatusOr<audit::SignedNote> opened = audit::OpenNote(note, Trusted());
  absl::StatusOr<audit::Checkpoint> checkpoint = audit::VerifyCheckpoint(note, Trusted());
  if (!opened.ok()) {
    FUZZ_CHECK(!checkpoint.ok());
    return;
  }
  FUZZ_CHECK(!opened->verified.empty());
  FUZZ_CHECK(!opened->text.empty() && opened->text.back() == '\n');
  FUZZ_CHECK(note.substr(0, opened->text.size()) == opened->text);
  for (const audit::NoteSignature& sig : opened->verified) {
    bool checked = false;
    for (const audit::NoteVerifier& v : Trusted()) {
      if (v.name() == sig.name && v.key_id() == sig.key_id) {
        checked = v.Verify(opened->text, sig.signature);
      }
    }
    FUZZ_CHECK(checked);
  }
  if (checkpoint.ok()) {
    absl::StatusOr<std::string> text = audit::FormatCheckpoint(*checkpoint);
    FUZZ_CHECK(text.ok() && *text == opened->text);
  }
}

void ParseArbitraryCheckpoint(FuzzInput& in) {
  const absl::string_view text = in.Rest();
  absl::StatusOr<audit::Checkpoint> checkpoint = audit::ParseCheckpoint(text);
  if (!checkpoint.ok()) return;
  absl::StatusOr<std::string> formatted = audit::FormatCheckpoint(*checkpoint);
  FUZZ_CHECK(formatted.ok());
  FUZZ_CHECK(*formatted == text);
}

void ParseKeys(FuzzInput& in) {
  const std::string key = in.Bytes(200);
  absl::StatusOr<audit::NoteVerifier> verifier = audit::NoteVerifier::FromKey(key);
  if (verifier.ok()) {
    absl::StatusOr<audit::NoteVerifier> again =
        audit::NoteVerifier::FromKey(verifier->verifier_key());
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(again->name() == verifier->name() && again->key_id() == verifier->key_id() &&
               again->public_key() == verifier->public_key());
  }
  absl::StatusOr<audit::NoteSigner> signer = audit::NoteSigner::FromKey(in.Rest());
  if (signer.ok()) {
    absl::StatusOr<std::string> note = signer->Sign("fuzz\n");
    FUZZ_CHECK(note.ok());
    FUZZ_CHECK(audit::OpenNote(*note, {signer->verifier()}).ok());
  }
}

void SignVerifyAndTamper(FuzzInput& in) {
  audit::Checkpoint checkpoint;
  checkpoint.origin = in.Bytes(64);
  checkpoint.size = in.U64();
  for (auto& b : checkpoint.root) b = in.Byte();
  const int extensions = in.Byte() % 4;
  for (int i = 0; i < extensions; ++i) checkpoint.extensions.push_back(in.Bytes(40));
  absl::StatusOr<std::string> note = audit::SignCheckpoint(checkpoint, Signer());
  if (!note.ok()) return;  // origin or extension not allowed: FormatCheckpoint said why
  absl::StatusOr<audit::Checkpoint> verified = audit::VerifyCheckpoint(*note, Signer().verifier());
  FUZZ_CHECK(verified.ok());
  FUZZ_CHECK(*verified == checkpoint);

  std::string altered = *note;
  const size_t at = in.U16() % altered.size();
  altered[at] = static_cast<char>(altered[at] ^ (in.Byte() | 1));
  FUZZ_CHECK(!audit::VerifyCheckpoint(altered, Trusted()).ok());
}

}  // namespace
}  // namespace safeguard::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  safeguard::fuzz::FuzzInput in(data, size);
  switch (in.Byte() % 4) {
    case 0:
      safeguard::fuzz::OpenArbitraryNote(in);
      break;
    case 1:
      safeguard::fuzz::ParseArbitraryCheckpoint(in);
      break;
    case 2:
      safeguard::fuzz::ParseKeys(in);
      break;
    case 3:
      safeguard::fuzz::SignVerifyAndTamper(in);
      break;
  }
  return 0;
}
