#include "clients/protocol/audit/checkpoint.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "clients/protocol/audit/internal/sha256.h"
#include "clients/protocol/status_macros.h"

namespace safeguard::audit {
namespace {

constexpr uint8_t kAlgEd25519 = 0x01;
constexpr size_t kEd25519KeySize = 32;
constexpr size_t kEd25519SignatureSize = 64;
constexpr absl::string_view kSignaturePrefix = "\xE2\x80\x94 ";  // U+2014 em dash, space
constexpr absl::string_view kSignerKeyPrefix = "PRIVATE+KEY+";

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

// OpenSSL keeps a per-thread error queue; a failure we turn into a Status must not linger there
// and surface later in someone else's TLS handshake error.
absl::Status OpenSslError(absl::string_view what) {
  const unsigned long code = ERR_get_error();  // NOLINT(runtime/int): OpenSSL's type
  char detail[256] = "no detail";
  if (code != 0) ERR_error_string_n(code, detail, sizeof(detail));
  ERR_clear_error();
  return absl::InternalError(absl::StrCat(what, ": ", detail));
}

// Decodes one UTF-8 sequence at s[i]. Returns the code point and sets `len`, or returns -1 for
// anything RFC 3629 forbids (overlong forms, surrogates, values above U+10FFFF, truncation).
int32_t DecodeUtf8(absl::string_view s, size_t i, size_t& len) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t b0 = byte(i);
  if (b0 < 0x80) {
    len = 1;
    return b0;
  }
  int32_t cp;
  int32_t min;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    return -1;
  }
  if (i + len > s.size()) return -1;
  for (size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return -1;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
  return cp;
}

// C2SP signed-note: valid UTF-8, and no ASCII control character other than newline.
absl::Status CheckNoteCharacters(absl::string_view s, absl::string_view what) {
  for (size_t i = 0; i < s.size();) {
    size_t len = 0;
    const int32_t cp = DecodeUtf8(s, i, len);
    if (cp < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " is not valid UTF-8 (at byte offset ", i, ")"));
    }
    if (cp < 0x20 && cp != '\n') {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s contains the control character U+%04X at byte offset %d; only newline is allowed",
          what, cp, i));
    }
    i += len;
  }
  return absl::OkStatus();
}

// Go's unicode.IsSpace: the ASCII spaces, U+0085, U+00A0 and the Unicode Z categories.
bool IsUnicodeSpace(int32_t cp) {
  switch (cp) {
    case '\t':
    case '\n':
    case '\v':
    case '\f':
    case '\r':
    case ' ':
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

// Key names and checkpoint origins: non-empty UTF-8 without Unicode spaces, '+' or controls.
absl::Status CheckName(absl::string_view name, absl::string_view what) {
  if (name.empty()) return absl::InvalidArgumentError(absl::StrCat(what, " is empty"));
  for (size_t i = 0; i < name.size();) {
    size_t len = 0;
    const int32_t cp = DecodeUtf8(name, i, len);
    if (cp < 0) {
      return absl::InvalidArgumentError(absl::StrCat(what, " is not valid UTF-8"));
    }
    if (cp == '+' || IsUnicodeSpace(cp)) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " \"", absl::CHexEscape(name),
                       "\" contains a space or '+'; C2SP key names and origins must not"));
    }
    if (cp < 0x20) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " \"", absl::CHexEscape(name), "\" contains a control character"));
    }
    i += len;
  }
  return absl::OkStatus();
}

// RFC 4648 §4 base64 with padding, in its one canonical spelling: decoding anything else (no
// padding, stray bits, whitespace) would let two different texts carry the same bytes.
absl::StatusOr<std::string> DecodeBase64(absl::string_view in, absl::string_view what) {
  std::string out;
  if (in.empty() || !absl::Base64Unescape(in, &out) || absl::Base64Escape(out) != in) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is not standard padded base64: \"", absl::CHexEscape(in), "\""));
  }
  return out;
}

absl::StatusOr<uint32_t> ParseKeyIdHex(absl::string_view hex, absl::string_view what) {
  uint32_t id = 0;
  bool ok = hex.size() == 8;
  for (char c : hex) {
    ok = ok && absl::ascii_isxdigit(static_cast<unsigned char>(c));
    if (!ok) break;
    id = (id << 4) | static_cast<uint32_t>(absl::ascii_isdigit(static_cast<unsigned char>(c))
                                               ? c - '0'
                                               : absl::ascii_tolower(c) - 'a' + 10);
  }
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " must be a key ID of 8 hex digits, got \"", absl::CHexEscape(hex), "\""));
  }
  return id;
}

std::string KeyIdHex(uint32_t id) { return absl::StrFormat("%08x", id); }

absl::string_view AsChars(const uint8_t* data, size_t size) {
  return absl::string_view(reinterpret_cast<const char*>(data), size);
}

absl::Status CheckNoteText(absl::string_view text) {
  if (text.empty() || text.back() != '\n') {
    return absl::InvalidArgumentError("note text must be non-empty and end with a newline");
  }
  return CheckNoteCharacters(text, "note text");
}

absl::Status CheckExtensionLine(absl::string_view line, size_t line_number) {
  if (line.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint line ", line_number, " is empty; extension lines must not be"));
  }
  if (line.find('\n') != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint extension line ", line_number, " contains a newline"));
  }
  return CheckNoteCharacters(line, absl::StrCat("checkpoint extension line ", line_number));
}

absl::StatusOr<uint64_t> ParseTreeSize(absl::string_view line) {
  const auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint tree size \"", absl::CHexEscape(line), "\" ", why));
  };
  if (line.empty()) return bad("is empty");
  if (!std::all_of(line.begin(), line.end(),
                   [](char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); })) {
    return bad("must be ASCII decimal digits only");
  }
  if (line.size() > 1 && line[0] == '0') return bad("must not have leading zeros");
  uint64_t size = 0;
  for (char c : line) {
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (size > (UINT64_MAX - digit) / 10) return bad("does not fit in 64 bits");
    size = size * 10 + digit;
  }
  return size;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Checkpoint text

absl::StatusOr<std::string> FormatCheckpoint(const Checkpoint& checkpoint) {
  RETURN_IF_ERROR(CheckName(checkpoint.origin, "checkpoint origin"));
  std::string text = absl::StrCat(
      checkpoint.origin, "\n", checkpoint.size, "\n",
      absl::Base64Escape(AsChars(checkpoint.root.data(), checkpoint.root.size())), "\n");
  for (size_t i = 0; i < checkpoint.extensions.size(); ++i) {
    RETURN_IF_ERROR(CheckExtensionLine(checkpoint.extensions[i], i + 4));
    absl::StrAppend(&text, checkpoint.extensions[i], "\n");
  }
  return text;
}

absl::StatusOr<Checkpoint> ParseCheckpoint(absl::string_view text) {
  if (text.empty() || text.back() != '\n') {
    return absl::InvalidArgumentError("checkpoint text must end with a newline");
  }
  RETURN_IF_ERROR(CheckNoteCharacters(text, "checkpoint text"));
  std::vector<absl::string_view> lines = absl::StrSplit(text.substr(0, text.size() - 1), '\n');
  if (lines.size() < 3) {
    return absl::InvalidArgumentError(absl::StrCat(
        "checkpoint needs at least 3 lines (origin, tree size, root hash), got ", lines.size()));
  }
  Checkpoint checkpoint;
  RETURN_IF_ERROR(CheckName(lines[0], "checkpoint origin (line 1)"));
  checkpoint.origin = std::string(lines[0]);
  ASSIGN_OR_RETURN(checkpoint.size, ParseTreeSize(lines[1]));
  ASSIGN_OR_RETURN(std::string root, DecodeBase64(lines[2], "checkpoint root hash (line 3)"));
  if (root.size() != kHashSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint root hash (line 3) must decode to 32 bytes, got ", root.size()));
  }
  std::copy(root.begin(), root.end(), checkpoint.root.begin());
  for (size_t i = 3; i < lines.size(); ++i) {
    RETURN_IF_ERROR(CheckExtensionLine(lines[i], i + 1));
    checkpoint.extensions.emplace_back(lines[i]);
  }
  return checkpoint;
}

uint32_t NoteKeyId(absl::string_view name, const std::array<uint8_t, 32>& public_key) {
  const char alg = static_cast<char>(kAlgEd25519);
  const std::array<uint8_t, 32> digest = internal::Sha256(
      {name, "\n", absl::string_view(&alg, 1), AsChars(public_key.data(), public_key.size())});
  return (uint32_t{digest[0]} << 24) | (uint32_t{digest[1]} << 16) | (uint32_t{digest[2]} << 8) |
         uint32_t{digest[3]};
}

// ---------------------------------------------------------------------------------------------
// NoteVerifier

NoteVerifier::NoteVerifier(std::string name, const std::array<uint8_t, 32>& public_key,
                           std::shared_ptr<EVP_PKEY> pkey)
    : name_(std::move(name)),
      key_id_(NoteKeyId(name_, public_key)),
      public_key_(public_key),
      pkey_(std::move(pkey)) {}

absl::StatusOr<NoteVerifier> NoteVerifier::FromPublicKey(
    absl::string_view name, const std::array<uint8_t, 32>& public_key) {
  RETURN_IF_ERROR(CheckName(name, "note key name"));
  EVP_PKEY* raw =
      EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, public_key.data(), public_key.size());
  if (raw == nullptr) return OpenSslError("cannot load Ed25519 public key");
  return NoteVerifier(std::string(name), public_key,
                      std::shared_ptr<EVP_PKEY>(raw, [](EVP_PKEY* p) { EVP_PKEY_free(p); }));
}

absl::StatusOr<NoteVerifier> NoteVerifier::FromKey(absl::string_view verifier_key) {
  // name+hex+base64; the base64 itself may contain '+', so split at the first two only.
  std::vector<absl::string_view> parts = absl::StrSplit(verifier_key, absl::MaxSplits('+', 2));
  if (parts.size() != 3) {
    return absl::InvalidArgumentError(
        "verifier key must look like <name>+<8 hex digit key ID>+<base64 key>");
  }
  RETURN_IF_ERROR(CheckName(parts[0], "verifier key name"));
  ASSIGN_OR_RETURN(uint32_t claimed_id, ParseKeyIdHex(parts[1], "verifier key"));
  ASSIGN_OR_RETURN(std::string key, DecodeBase64(parts[2], "verifier key's public key"));
  if (key.size() != 1 + kEd25519KeySize || static_cast<uint8_t>(key[0]) != kAlgEd25519) {
    return absl::InvalidArgumentError(absl::StrCat(
        "verifier key for \"", parts[0],
        "\" is not an Ed25519 note key (0x01 followed by 32 bytes); got ", key.size(),
        " bytes starting 0x", key.empty() ? "" : absl::BytesToHexString(key.substr(0, 1))));
  }
  std::array<uint8_t, 32> public_key;
  std::copy(key.begin() + 1, key.end(), public_key.begin());
  ASSIGN_OR_RETURN(NoteVerifier verifier, FromPublicKey(parts[0], public_key));
  if (verifier.key_id() != claimed_id) {
    return absl::InvalidArgumentError(absl::StrCat(
        "verifier key for \"", parts[0], "\" claims key ID ", KeyIdHex(claimed_id),
        " but its key has ID ", KeyIdHex(verifier.key_id()), "; the key string is corrupt"));
  }
  return verifier;
}

std::string NoteVerifier::verifier_key() const {
  std::string key(1, static_cast<char>(kAlgEd25519));
  key.append(reinterpret_cast<const char*>(public_key_.data()), public_key_.size());
  return absl::StrCat(name_, "+", KeyIdHex(key_id_), "+", absl::Base64Escape(key));
}

bool NoteVerifier::Verify(absl::string_view text, absl::string_view signature) const {
  if (signature.size() != kEd25519SignatureSize) return false;
  MdCtxPtr ctx(EVP_MD_CTX_new());
  const bool ok =
      ctx != nullptr &&
      EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey_.get()) == 1 &&
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                       signature.size(), reinterpret_cast<const unsigned char*>(text.data()),
                       text.size()) == 1;
  if (!ok) ERR_clear_error();
  return ok;
}

// ---------------------------------------------------------------------------------------------
// NoteSigner

void NoteSigner::PkeyDeleter::operator()(EVP_PKEY* pkey) const { EVP_PKEY_free(pkey); }

absl::StatusOr<NoteSigner> NoteSigner::FromSeed(absl::string_view name, absl::string_view seed) {
  RETURN_IF_ERROR(CheckName(name, "note key name"));
  if (seed.size() != kEd25519KeySize) {
    return absl::InvalidArgumentError(
        absl::StrCat("an Ed25519 private key is 32 bytes, got ", seed.size()));
  }
  std::unique_ptr<EVP_PKEY, PkeyDeleter> pkey(EVP_PKEY_new_raw_private_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(seed.data()), seed.size()));
  if (pkey == nullptr) return OpenSslError("cannot load Ed25519 private key");
  std::array<uint8_t, 32> public_key;
  size_t len = public_key.size();
  if (EVP_PKEY_get_raw_public_key(pkey.get(), public_key.data(), &len) != 1 ||
      len != public_key.size()) {
    return OpenSslError("cannot derive Ed25519 public key");
  }
  ASSIGN_OR_RETURN(NoteVerifier verifier, NoteVerifier::FromPublicKey(name, public_key));
  return NoteSigner(std::string(name), std::move(pkey), std::move(verifier));
}

absl::StatusOr<NoteSigner> NoteSigner::FromKey(absl::string_view signer_key) {
  if (!absl::StartsWith(signer_key, kSignerKeyPrefix)) {
    return absl::InvalidArgumentError("signer key must start with PRIVATE+KEY+");
  }
  std::vector<absl::string_view> parts =
      absl::StrSplit(signer_key.substr(kSignerKeyPrefix.size()), absl::MaxSplits('+', 2));
  if (parts.size() != 3) {
    return absl::InvalidArgumentError(
        "signer key must look like PRIVATE+KEY+<name>+<8 hex digit key ID>+<base64 key>");
  }
  RETURN_IF_ERROR(CheckName(parts[0], "signer key name"));
  ASSIGN_OR_RETURN(uint32_t claimed_id, ParseKeyIdHex(parts[1], "signer key"));
  ASSIGN_OR_RETURN(std::string key, DecodeBase64(parts[2], "signer key's private key"));
  absl::StatusOr<NoteSigner> signer = absl::InvalidArgumentError(absl::StrCat(
      "signer key for \"", parts[0], "\" is not an Ed25519 note key (0x01 and a 32-byte seed)"));
  if (key.size() == 1 + kEd25519KeySize && static_cast<uint8_t>(key[0]) == kAlgEd25519) {
    signer = FromSeed(parts[0], absl::string_view(key).substr(1));
  }
  OPENSSL_cleanse(key.data(), key.size());
  if (signer.ok() && signer->key_id() != claimed_id) {
    return absl::InvalidArgumentError(absl::StrCat(
        "signer key for \"", parts[0], "\" claims key ID ", KeyIdHex(claimed_id),
        " but its key has ID ", KeyIdHex(signer->key_id()), "; the key string is corrupt"));
  }
  return signer;
}

absl::StatusOr<std::string> NoteSigner::SignatureLine(absl::string_view text) const {
  RETURN_IF_ERROR(CheckNoteText(text));
  std::string blob(4 + kEd25519SignatureSize, '\0');
  const uint32_t id = key_id();
  for (int i = 0; i < 4; ++i) blob[i] = static_cast<char>((id >> (24 - 8 * i)) & 0xff);
  size_t sig_len = kEd25519SignatureSize;
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (ctx == nullptr ||
      EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, pkey_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(blob.data() + 4), &sig_len,
                     reinterpret_cast<const unsigned char*>(text.data()), text.size()) != 1 ||
      sig_len != kEd25519SignatureSize) {
    return OpenSslError("Ed25519 signing failed");
  }
  return absl::StrCat(kSignaturePrefix, name_, " ", absl::Base64Escape(blob), "\n");
}

absl::StatusOr<std::string> NoteSigner::Sign(absl::string_view text) const {
  ASSIGN_OR_RETURN(std::string line, SignatureLine(text));
  return absl::StrCat(text, "\n", line);
}

absl::StatusOr<NoteKeyPair> GenerateNoteKey(absl::string_view name) {
  RETURN_IF_ERROR(CheckName(name, "note key name"));
  std::unique_ptr<EVP_PKEY, void (*)(EVP_PKEY*)> pkey(
      EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"), EVP_PKEY_free);
  if (pkey == nullptr) return OpenSslError("Ed25519 key generation failed");
  std::string seed(kEd25519KeySize, '\0');
  size_t len = seed.size();
  if (EVP_PKEY_get_raw_private_key(pkey.get(), reinterpret_cast<unsigned char*>(seed.data()),
                                   &len) != 1 ||
      len != seed.size()) {
    return OpenSslError("cannot read the generated Ed25519 private key");
  }
  absl::StatusOr<NoteSigner> signer = NoteSigner::FromSeed(name, seed);
  std::string private_key = std::string(1, static_cast<char>(kAlgEd25519)) + seed;
  OPENSSL_cleanse(seed.data(), seed.size());
  if (!signer.ok()) return signer.status();
  NoteKeyPair pair;
  pair.signer_key = absl::StrCat(kSignerKeyPrefix, name, "+", KeyIdHex(signer->key_id()), "+",
                                 absl::Base64Escape(private_key));
  OPENSSL_cleanse(private_key.data(), private_key.size());
  pair.verifier_key = signer->verifier_key();
  return pair;
}

// ---------------------------------------------------------------------------------------------
// Opening notes

absl::StatusOr<SignedNote> OpenNote(absl::string_view note,
                                    absl::Span<const NoteVerifier> verifiers) {
  RETURN_IF_ERROR(CheckNoteCharacters(note, "note"));
  const size_t split = note.rfind("\n\n");
  if (split == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        "note has no blank line separating its text from its signatures");
  }
  SignedNote out;
  out.text = std::string(note.substr(0, split + 1));
  absl::string_view sigs = note.substr(split + 2);
  if (sigs.empty()) return absl::InvalidArgumentError("note has no signature lines");
  if (sigs.back() != '\n') {
    return absl::InvalidArgumentError("note must end with a newline after its last signature");
  }
  sigs.remove_suffix(1);

  int count = 0;
  std::vector<const NoteVerifier*> verified_by;
  std::vector<std::string> unverified_lines;
  for (absl::string_view line : absl::StrSplit(sigs, '\n')) {
    ++count;
    if (count > kMaxNoteSignatures) {
      return absl::InvalidArgumentError(
          absl::StrCat("note has more than ", kMaxNoteSignatures, " signature lines"));
    }
    if (!absl::ConsumePrefix(&line, kSignaturePrefix)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "note signature line ", count, " does not start with an em dash (U+2014) and a space"));
    }
    const size_t space = line.find(' ');
    if (space == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "note signature line ", count, " must be \"— <key name> <base64 signature>\""));
    }
    const absl::string_view name = line.substr(0, space);
    RETURN_IF_ERROR(CheckName(name, absl::StrCat("key name on signature line ", count)));
    ASSIGN_OR_RETURN(
        std::string blob,
        DecodeBase64(line.substr(space + 1), absl::StrCat("signature on signature line ", count)));
    if (blob.size() < 5) {
      return absl::InvalidArgumentError(
          absl::StrCat("signature on signature line ", count, " is ", blob.size(),
                       " bytes; it needs a 4-byte key ID and a signature"));
    }
    NoteSignature signature;
    signature.name = std::string(name);
    for (int i = 0; i < 4; ++i) {
      signature.key_id = (signature.key_id << 8) | static_cast<uint8_t>(blob[i]);
    }
    signature.signature = blob.substr(4);

    // Two trusted keys sharing a name and a 32-bit ID would take a deliberate 2^32 search to
    // make; should it happen, the first is used and the other's signatures fail, refusing the
    // note rather than accepting it.
    const auto known = std::find_if(verifiers.begin(), verifiers.end(), [&](const auto& v) {
      return v.name() == signature.name && v.key_id() == signature.key_id;
    });
    if (known == verifiers.end()) {
      // C2SP: ignore unknown keys, even if they share a name or an ID with a known one.
      if (std::find(unverified_lines.begin(), unverified_lines.end(), line) ==
          unverified_lines.end()) {
        unverified_lines.emplace_back(line);
        out.unverified.push_back(std::move(signature));
      }
      continue;
    }
    // Every signature by a trusted key is checked, repeats included: one that fails means the
    // note is not what the key signed, whatever the others say.
    if (!known->Verify(out.text, signature.signature)) {
      return absl::UnauthenticatedError(absl::StrCat(
          "signature by trusted key \"", known->name(), "\" (key ID ", KeyIdHex(known->key_id()),
          ") does not verify: the note text was changed after signing, or the signature is "
          "corrupt"));
    }
    if (std::find(verified_by.begin(), verified_by.end(), &*known) == verified_by.end()) {
      verified_by.push_back(&*known);
      out.verified.push_back(std::move(signature));
    }
  }

  if (out.verified.empty()) {
    if (verifiers.empty()) {
      return absl::UnauthenticatedError("cannot verify a note without any trusted key");
    }
    for (const NoteSignature& s : out.unverified) {
      for (const NoteVerifier& v : verifiers) {
        if (s.name == v.name()) {
          return absl::UnauthenticatedError(
              absl::StrCat("note is signed by \"", s.name, "\" with key ID ", KeyIdHex(s.key_id),
                           ", but the trusted key of that name has key ID ", KeyIdHex(v.key_id()),
                           ": it was signed with a different key"));
        }
      }
    }
    std::vector<std::string> signers;
    for (const NoteSignature& s : out.unverified) {
      signers.push_back(absl::StrCat(s.name, "+", KeyIdHex(s.key_id)));
    }
    std::vector<std::string> trusted;
    for (const NoteVerifier& v : verifiers) {
      trusted.push_back(absl::StrCat(v.name(), "+", KeyIdHex(v.key_id())));
    }
    return absl::UnauthenticatedError(
        absl::StrCat("note carries no signature by a trusted key; signed by ",
                     absl::StrJoin(signers, ", "), "; trusted: ", absl::StrJoin(trusted, ", ")));
  }
  return out;
}

absl::StatusOr<std::string> SignCheckpoint(const Checkpoint& checkpoint, const NoteSigner& signer) {
  ASSIGN_OR_RETURN(std::string text, FormatCheckpoint(checkpoint));
  return signer.Sign(text);
}

absl::StatusOr<Checkpoint> VerifyCheckpoint(absl::string_view note, const NoteVerifier& verifier) {
  return VerifyCheckpoint(note, absl::MakeConstSpan(&verifier, 1));
}

absl::StatusOr<Checkpoint> VerifyCheckpoint(absl::string_view note,
                                            absl::Span<const NoteVerifier> verifiers) {
  ASSIGN_OR_RETURN(SignedNote opened, OpenNote(note, verifiers));
  return ParseCheckpoint(opened.text);
}

}  // namespace safeguard::audit
