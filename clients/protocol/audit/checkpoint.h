// Signed checkpoints of the audit log in the C2SP formats the transparency ecosystem uses
// (c2sp.org/tlog-checkpoint, c2sp.org/signed-note), signed with Ed25519: the same bytes as Go's
// golang.org/x/mod/sumdb/note, Tessera and Sigstore, so that witnesses and auditors can use
// their own tools on our checkpoints.
//
//   example.org/safeguard/log\n       origin
//   20852163\n                        tree size, decimal, no leading zeros
//   CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n   base64 RFC 6962 root
//   \n
//   — example.org/safeguard/log Az3grlgt...\n        em dash, key name, base64(key ID || sig)
//
// Errors: INVALID_ARGUMENT for anything malformed (with what is wrong and where);
// UNAUTHENTICATED when a well-formed note carries a signature that fails, or no signature from a
// trusted key.
#ifndef SAFEGUARD_CLIENTS_PROTOCOL_AUDIT_CHECKPOINT_H_
#define SAFEGUARD_CLIENTS_PROTOCOL_AUDIT_CHECKPOINT_H_

#include <openssl/types.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "clients/protocol/audit/merkle.h"

namespace safeguard::audit {

// Go's note.Open stops at 100; C2SP requires verifiers to accept at least 16.
inline constexpr int kMaxNoteSignatures = 100;

// The note text of a checkpoint: the three mandatory lines and any extension lines.
struct Checkpoint {
  std::string origin;
  uint64_t size = 0;
  Hash root{};
  std::vector<std::string> extensions;  // without their newlines; NOT RECOMMENDED by C2SP

  friend bool operator==(const Checkpoint&, const Checkpoint&) = default;
};

// The note text, ending in a newline. INVALID_ARGUMENT if the origin is empty or holds a space,
// '+' or a control character, or an extension line is empty or holds a control character.
absl::StatusOr<std::string> FormatCheckpoint(const Checkpoint& checkpoint);

// Parses a note text (already verified: see VerifyCheckpoint). INVALID_ARGUMENT naming the line
// at fault. The origin is held to the same rules as FormatCheckpoint: this library parses the
// checkpoints of logs that follow C2SP's recommendation, ours first.
absl::StatusOr<Checkpoint> ParseCheckpoint(absl::string_view text);

// Key ID of an Ed25519 note key: SHA-256(name || 0x0A || 0x01 || public_key)[:4], big-endian.
uint32_t NoteKeyId(absl::string_view name, const std::array<uint8_t, 32>& public_key);

// A trusted Ed25519 note key. Copying shares the underlying OpenSSL key.
// Thread-safe: Verify may be called concurrently on one instance.
class NoteVerifier {
 public:
  // Parses Go's verifier key format: "<name>+<8 hex digit key ID>+<base64(0x01 || pubkey)>".
  // INVALID_ARGUMENT if malformed, of another algorithm, or the key ID does not match the key.
  static absl::StatusOr<NoteVerifier> FromKey(absl::string_view verifier_key);
  static absl::StatusOr<NoteVerifier> FromPublicKey(absl::string_view name,
                                                    const std::array<uint8_t, 32>& public_key);

  const std::string& name() const { return name_; }
  uint32_t key_id() const { return key_id_; }
  const std::array<uint8_t, 32>& public_key() const { return public_key_; }
  // The verifier key string FromKey reads.
  std::string verifier_key() const;

  // Whether `signature` (the 64 Ed25519 bytes, without the key ID) signs `text`.
  bool Verify(absl::string_view text, absl::string_view signature) const;

 private:
  NoteVerifier(std::string name, const std::array<uint8_t, 32>& public_key,
               std::shared_ptr<EVP_PKEY> pkey);

  std::string name_;
  uint32_t key_id_ = 0;
  std::array<uint8_t, 32> public_key_{};
  std::shared_ptr<EVP_PKEY> pkey_;
};

// An Ed25519 note signing key. Move-only: the private key lives only inside OpenSSL.
// Thread-safe: SignatureLine and Sign may be called concurrently on one instance.
class NoteSigner {
 public:
  // Parses Go's signer key format: "PRIVATE+KEY+<name>+<8 hex key ID>+<base64(0x01 || seed)>".
  static absl::StatusOr<NoteSigner> FromKey(absl::string_view signer_key);
  // From a 32-byte RFC 8032 private key (seed).
  static absl::StatusOr<NoteSigner> FromSeed(absl::string_view name, absl::string_view seed);

  const std::string& name() const { return name_; }
  uint32_t key_id() const { return verifier_.key_id(); }
  std::string verifier_key() const { return verifier_.verifier_key(); }
  const NoteVerifier& verifier() const { return verifier_; }

  // "— <name> <base64(key ID || signature)>\n" for `text`, which must be a valid note text:
  // non-empty, ending in a newline, UTF-8 with no control characters but newline.
  absl::StatusOr<std::string> SignatureLine(absl::string_view text) const;
  // The signed note: text, blank line, signature line.
  absl::StatusOr<std::string> Sign(absl::string_view text) const;

 private:
  struct PkeyDeleter {
    void operator()(EVP_PKEY* pkey) const;
  };
  NoteSigner(std::string name, std::unique_ptr<EVP_PKEY, PkeyDeleter> pkey, NoteVerifier verifier)
      : name_(std::move(name)), pkey_(std::move(pkey)), verifier_(std::move(verifier)) {}

  std::string name_;
  std::unique_ptr<EVP_PKEY, PkeyDeleter> pkey_;
  NoteVerifier verifier_;
};

// A fresh key pair in Go's string formats. signer_key is secret: store it as such.
struct NoteKeyPair {
  std::string signer_key;
  std::string verifier_key;
};
absl::StatusOr<NoteKeyPair> GenerateNoteKey(absl::string_view name);

struct NoteSignature {
  std::string name;
  uint32_t key_id = 0;
  std::string signature;  // raw bytes after the key ID
};

// A note whose signatures have been checked.
struct SignedNote {
  std::string text;                       // up to and including its final newline
  std::vector<NoteSignature> verified;    // by trusted keys, each key once
  std::vector<NoteSignature> unverified;  // by keys not in the trusted set, ignored
};

// Checks a signed note against a set of trusted keys, following C2SP signed-note: valid UTF-8,
// no control characters but newline, text and signatures split at the last blank line,
// signatures from unknown keys ignored, the whole note rejected if any signature by a trusted
// key fails, and at least one trusted signature required. INVALID_ARGUMENT for malformed notes,
// UNAUTHENTICATED for failed or missing trusted signatures.
absl::StatusOr<SignedNote> OpenNote(absl::string_view note,
                                    absl::Span<const NoteVerifier> verifiers);

// FormatCheckpoint, then sign.
absl::StatusOr<std::string> SignCheckpoint(const Checkpoint& checkpoint, const NoteSigner& signer);

// OpenNote, then ParseCheckpoint on the authenticated text. Callers still compare the origin
// with the log they expect, and the tree against what they saw before (VerifyConsistency).
absl::StatusOr<Checkpoint> VerifyCheckpoint(absl::string_view note, const NoteVerifier& verifier);
absl::StatusOr<Checkpoint> VerifyCheckpoint(absl::string_view note,
                                            absl::Span<const NoteVerifier> verifiers);

}  // namespace safeguard::audit

#endif  // SAFEGUARD_CLIENTS_PROTOCOL_AUDIT_CHECKPOINT_H_
