#include "clients/protocol/audit/checkpoint.h"

#include <set>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace safeguard::audit {
namespace {

using ::testing::HasSubstr;

// Known answers from the documentation of Go's golang.org/x/mod/sumdb/note, the reference
// implementation of signed notes. Ed25519 is deterministic, so signing the same text with the
// same key must give these exact bytes.
constexpr absl::string_view kGoSignerKey =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
constexpr absl::string_view kGoVerifierKey =
    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
constexpr absl::string_view kGoText =
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n";
constexpr absl::string_view kGoNote =
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
    "\n"
    "\xE2\x80\x94 PeterNeumann "
    "x08go/ZJkuBS9UG/"
    "SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

// The example in C2SP signed-note's verifier key section.
constexpr absl::string_view kC2spVerifierKey =
    "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
constexpr absl::string_view kC2spNote =
    "This is an example message.\n"
    "\n"
    "\xE2\x80\x94 example.com/foo "
    "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM="
    "\n";

constexpr absl::string_view kOrigin = "example.org/safeguard/audit-log";

NoteSigner NewSigner(absl::string_view name) {
  absl::StatusOr<NoteKeyPair> pair = GenerateNoteKey(name);
  EXPECT_TRUE(pair.ok()) << pair.status();
  absl::StatusOr<NoteSigner> signer = NoteSigner::FromKey(pair->signer_key);
  EXPECT_TRUE(signer.ok()) << signer.status();
  return *std::move(signer);
}

Checkpoint SampleCheckpoint() {
  Checkpoint c;
  c.origin = std::string(kOrigin);
  c.size = 20852163;
  c.root = LeafHash("the root");
  return c;
}

// ---------------------------------------------------------------------------------------------
// Interoperability

TEST(NoteInteropTest, ReproducesGoSumdbNoteByteForByte) {
  absl::StatusOr<NoteSigner> signer = NoteSigner::FromKey(kGoSignerKey);
  ASSERT_TRUE(signer.ok()) << signer.status();
  EXPECT_EQ(signer->key_id(), 0xc74f20a3u);
  EXPECT_EQ(signer->verifier_key(), kGoVerifierKey);
  EXPECT_EQ(*signer->Sign(kGoText), kGoNote);

  absl::StatusOr<NoteVerifier> verifier = NoteVerifier::FromKey(kGoVerifierKey);
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  absl::StatusOr<SignedNote> note = OpenNote(kGoNote, absl::MakeConstSpan(&*verifier, 1));
  ASSERT_TRUE(note.ok()) << note.status();
  EXPECT_EQ(note->text, kGoText);
  ASSERT_EQ(note->verified.size(), 1u);
  EXPECT_EQ(note->verified[0].name, "PeterNeumann");
  EXPECT_EQ(note->verified[0].key_id, 0xc74f20a3u);
  EXPECT_EQ(note->verified[0].signature.size(), 64u);
}

TEST(NoteInteropTest, VerifiesTheC2spSpecificationExample) {
  absl::StatusOr<NoteVerifier> verifier = NoteVerifier::FromKey(kC2spVerifierKey);
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  EXPECT_EQ(verifier->key_id(), 0x530d903au);
  absl::StatusOr<SignedNote> note = OpenNote(kC2spNote, absl::MakeConstSpan(&*verifier, 1));
  ASSERT_TRUE(note.ok()) << note.status();
  EXPECT_EQ(note->text, "This is an example message.\n");
}

TEST(NoteKeyTest, GeneratedKeysRoundTripThroughTheirStrings) {
  absl::StatusOr<NoteKeyPair> pair = GenerateNoteKey(kOrigin);
  ASSERT_TRUE(pair.ok()) << pair.status();
  EXPECT_THAT(pair->signer_key, ::testing::StartsWith(absl::StrCat("PRIVATE+KEY+", kOrigin, "+")));
  absl::StatusOr<NoteSigner> signer = NoteSigner::FromKey(pair->signer_key);
  absl::StatusOr<NoteVerifier> verifier = NoteVerifier::FromKey(pair->verifier_key);
  ASSERT_TRUE(signer.ok()) << signer.status();
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  EXPECT_EQ(signer->verifier_key(), pair->verifier_key);
  EXPECT_EQ(verifier->verifier_key(), pair->verifier_key);
  EXPECT_EQ(verifier->key_id(), NoteKeyId(kOrigin, verifier->public_key()));
  // Two generations give two keys.
  EXPECT_NE(GenerateNoteKey(kOrigin)->verifier_key, pair->verifier_key);
}

TEST(NoteKeyTest, RejectsMalformedKeyStrings) {
  const std::string good(kGoVerifierKey);
  EXPECT_THAT(
      NoteVerifier::FromKey("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
          .status()
          .message(),
      HasSubstr("claims key ID c74f20a4 but its key has ID c74f20a3"));
  EXPECT_THAT(NoteVerifier::FromKey("PeterNeumann+c74f20a3").status().message(),
              HasSubstr("must look like"));
  EXPECT_THAT(NoteVerifier::FromKey("PeterNeumann+c74f20+ARpc").status().message(),
              HasSubstr("8 hex digits"));
  EXPECT_THAT(NoteVerifier::FromKey("PeterNeumann+c74f20a3+ARpc2QcU!!").status().message(),
              HasSubstr("not standard padded base64"));
  // Algorithm byte 0x02 (ECDSA) is not an Ed25519 key.
  EXPECT_THAT(
      NoteVerifier::FromKey("PeterNeumann+c74f20a3+Ahpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
          .status()
          .message(),
      HasSubstr("not an Ed25519 note key"));
  EXPECT_THAT(NoteVerifier::FromKey("Peter Neumann+c74f20a3+ARpc").status().message(),
              HasSubstr("space or '+'"));
  EXPECT_THAT(NoteSigner::FromKey(
                  "PRIVATE+KEY+PeterNeumann+00000000+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")
                  .status()
                  .message(),
              HasSubstr("claims key ID 00000000"));
  EXPECT_THAT(NoteSigner::FromKey(good).status().message(), HasSubstr("PRIVATE+KEY+"));
  EXPECT_THAT(NoteSigner::FromSeed("name", "short").status().message(), HasSubstr("32 bytes"));
}

// ---------------------------------------------------------------------------------------------
// Checkpoint text

TEST(CheckpointTextTest, FormatsTheC2spLayoutAndParsesItBack) {
  Checkpoint c = SampleCheckpoint();
  c.root = *HashFromHex("0ac5186a91863e8e1d90c808014aa89bf5da8e3ee1d9f07630f0378f68f1ab62");
  EXPECT_EQ(*FormatCheckpoint(c), absl::StrCat(kOrigin,
                                               "\n20852163\n"
                                               "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"));
  EXPECT_EQ(*ParseCheckpoint(*FormatCheckpoint(c)), c);
  c.extensions = {"timestamp 1700000000", "x"};
  EXPECT_EQ(*ParseCheckpoint(*FormatCheckpoint(c)), c);
  c.size = 0;
  EXPECT_THAT(*FormatCheckpoint(c), HasSubstr("\n0\n"));
  EXPECT_EQ(ParseCheckpoint(*FormatCheckpoint(c))->size, 0u);
}

TEST(CheckpointTextTest, RefusesToFormatWhatItCouldNotParse) {
  Checkpoint c = SampleCheckpoint();
  c.origin = "has space";
  EXPECT_FALSE(FormatCheckpoint(c).ok());
  c.origin = "a+b";
  EXPECT_FALSE(FormatCheckpoint(c).ok());
  c.origin = "";
  EXPECT_THAT(FormatCheckpoint(c).status().message(), HasSubstr("origin is empty"));
  c = SampleCheckpoint();
  c.extensions = {""};
  EXPECT_THAT(FormatCheckpoint(c).status().message(), HasSubstr("line 4 is empty"));
  c.extensions = {"two\nlines"};
  EXPECT_THAT(FormatCheckpoint(c).status().message(), HasSubstr("contains a newline"));
}

TEST(CheckpointTextTest, RejectsMalformedSizesRootsAndLines) {
  const std::string root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
  const auto parse = [&](absl::string_view size_line, absl::string_view root_line = "") {
    return ParseCheckpoint(
        absl::StrCat("o\n", size_line, "\n", root_line.empty() ? root : root_line, "\n"));
  };
  EXPECT_TRUE(parse("0").ok());
  EXPECT_EQ(parse("18446744073709551615")->size, UINT64_MAX);
  EXPECT_THAT(parse("18446744073709551616").status().message(), HasSubstr("64 bits"));
  EXPECT_THAT(parse("012").status().message(), HasSubstr("leading zeros"));
  EXPECT_THAT(parse("00").status().message(), HasSubstr("leading zeros"));
  EXPECT_THAT(parse("+12").status().message(), HasSubstr("decimal digits only"));
  EXPECT_THAT(parse("1 2").status().message(), HasSubstr("decimal digits only"));
  EXPECT_THAT(parse("").status().message(), HasSubstr("is empty"));
  EXPECT_THAT(parse("1", "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I").status().message(),
              HasSubstr("not standard padded base64"));
  EXPECT_THAT(parse("1", "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=").status().message(),
              HasSubstr("not standard padded base64"));  // stray bits in the last digit
  EXPECT_THAT(parse("1", "AAAA").status().message(), HasSubstr("32 bytes, got 3"));
  EXPECT_THAT(ParseCheckpoint("o\n1\n").status().message(), HasSubstr("at least 3 lines"));
  EXPECT_THAT(ParseCheckpoint(absl::StrCat("o\n1\n", root)).status().message(),
              HasSubstr("end with a newline"));
  EXPECT_THAT(ParseCheckpoint(absl::StrCat("o\n1\n", root, "\n\next\n")).status().message(),
              HasSubstr("line 4 is empty"));
  EXPECT_THAT(ParseCheckpoint(absl::StrCat("o o\n1\n", root, "\n")).status().message(),
              HasSubstr("space or '+'"));
  EXPECT_THAT(ParseCheckpoint(absl::StrCat("o\n1\n", root, "\nex\rt\n")).status().message(),
              HasSubstr("control character U+000D"));
}

// ---------------------------------------------------------------------------------------------
// Signing and verifying checkpoints

class SignedCheckpointTest : public ::testing::Test {
 protected:
  SignedCheckpointTest()
      : signer_(NewSigner(kOrigin)), note_(*SignCheckpoint(SampleCheckpoint(), signer_)) {}

  NoteSigner signer_;
  std::string note_;
};

TEST_F(SignedCheckpointTest, RoundTripsSignToVerify) {
  absl::StatusOr<Checkpoint> verified = VerifyCheckpoint(note_, signer_.verifier());
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_EQ(*verified, SampleCheckpoint());
  // The key name goes on the signature line; the blank line separates it from the body.
  EXPECT_THAT(note_, HasSubstr(absl::StrCat("=\n\n\xE2\x80\x94 ", kOrigin, " ")));

  Checkpoint with_extension = SampleCheckpoint();
  with_extension.extensions = {"note: extension lines are signed too"};
  EXPECT_EQ(*VerifyCheckpoint(*SignCheckpoint(with_extension, signer_), signer_.verifier()),
            with_extension);
}

TEST_F(SignedCheckpointTest, RefusesEachKindOfBadNoteWithItsOwnMessage) {
  NoteSigner same_name_other_key = NewSigner(kOrigin);
  NoteSigner stranger = NewSigner("example.net/someone-else");

  std::string tampered = note_;
  tampered.replace(tampered.find("20852163"), 8, "20852164");
  std::string bad_utf8 = note_;
  bad_utf8.insert(3, "\xC3\x28");  // a lead byte followed by a non-continuation byte
  std::string no_blank_line = absl::StrReplaceAll(note_, {{"\n\n", "\n"}});

  const std::vector<std::pair<absl::Status, std::string>> cases = {
      {VerifyCheckpoint(tampered, signer_.verifier()).status(), "does not verify"},
      {VerifyCheckpoint(note_, same_name_other_key.verifier()).status(),
       "signed with a different key"},
      {VerifyCheckpoint(note_, stranger.verifier()).status(), "no signature by a trusted key"},
      {VerifyCheckpoint(bad_utf8, signer_.verifier()).status(), "not valid UTF-8"},
      {VerifyCheckpoint(no_blank_line, signer_.verifier()).status(), "no blank line"},
  };
  std::set<std::string> messages;
  for (const auto& [status, expected] : cases) {
    EXPECT_FALSE(status.ok()) << expected;
    EXPECT_THAT(status.message(), HasSubstr(expected));
    messages.insert(std::string(status.message()));
  }
  EXPECT_EQ(messages.size(), cases.size()) << "each refusal should say what is wrong";
  EXPECT_EQ(cases[0].first.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(cases[1].first.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(cases[2].first.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(cases[3].first.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cases[4].first.code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SignedCheckpointTest, IgnoresUnknownKeysAndAcceptsManySignatures) {
  // 16 witnesses (C2SP's minimum a verifier must accept) plus the log, and four strangers.
  std::vector<NoteSigner> witnesses;
  std::vector<NoteVerifier> trusted = {signer_.verifier()};
  std::string note = note_;
  const std::string text = *FormatCheckpoint(SampleCheckpoint());
  for (int i = 0; i < 16; ++i) {
    witnesses.push_back(NewSigner(absl::StrCat("witness.example/", i)));
    trusted.push_back(witnesses.back().verifier());
    absl::StrAppend(&note, *witnesses.back().SignatureLine(text));
  }
  for (int i = 0; i < 4; ++i) {
    absl::StrAppend(&note, *NewSigner(absl::StrCat("stranger/", i)).SignatureLine(text));
  }
  absl::StatusOr<SignedNote> opened = OpenNote(note, trusted);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(opened->verified.size(), 17u);
  EXPECT_EQ(opened->unverified.size(), 4u);
  EXPECT_TRUE(VerifyCheckpoint(note, signer_.verifier()).ok());

  // Same again, but one trusted witness's signature line is for another text: whole note refused.
  std::string forged = note_ + *witnesses[0].SignatureLine("some other text\n");
  EXPECT_THAT(OpenNote(forged, trusted).status().message(), HasSubstr("\"witness.example/0\""));

  // A repeated signature, trusted or not, is accepted and listed once.
  const std::string line = note_.substr(note_.rfind("\xE2\x80\x94"));
  const std::string stranger_line = *NewSigner("stranger/x").SignatureLine(text);
  opened = OpenNote(note_ + line + stranger_line + stranger_line, trusted);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(opened->verified.size(), 1u);
  EXPECT_EQ(opened->unverified.size(), 1u);
}

TEST_F(SignedCheckpointTest, RefusesTooManySignatureLines) {
  const std::string line = note_.substr(note_.rfind("\xE2\x80\x94"));
  std::string note = note_;
  for (int i = 1; i < kMaxNoteSignatures; ++i) note += line;
  EXPECT_TRUE(VerifyCheckpoint(note, signer_.verifier()).ok());  // exactly the limit
  note += line;
  EXPECT_THAT(VerifyCheckpoint(note, signer_.verifier()).status().message(),
              HasSubstr("more than 100 signature lines"));
}

TEST_F(SignedCheckpointTest, RefusesMalformedSignatureBlocks) {
  const NoteVerifier verifier = signer_.verifier();
  const std::string body = *FormatCheckpoint(SampleCheckpoint());
  const std::string line = note_.substr(note_.rfind("\xE2\x80\x94"));
  const std::string sig_b64 = line.substr(line.rfind(' ') + 1);

  EXPECT_THAT(VerifyCheckpoint(absl::StrCat(body, "\n-- ", kOrigin, " ", sig_b64), verifier)
                  .status()
                  .message(),
              HasSubstr("em dash"));
  EXPECT_THAT(VerifyCheckpoint(note_.substr(0, note_.size() - 1), verifier).status().message(),
              HasSubstr("end with a newline"));
  EXPECT_THAT(VerifyCheckpoint(body + "\n", verifier).status().message(),
              HasSubstr("no signature lines"));
  EXPECT_THAT(VerifyCheckpoint(absl::StrCat(body, "\n\xE2\x80\x94 ", kOrigin, "\n"), verifier)
                  .status()
                  .message(),
              HasSubstr("must be \"\xE2\x80\x94 <key name> <base64 signature>\""));
  EXPECT_THAT(VerifyCheckpoint(absl::StrCat(body, "\n\xE2\x80\x94 ", kOrigin, " AAAA\n"), verifier)
                  .status()
                  .message(),
              HasSubstr("needs a 4-byte key ID"));
  // A carriage return anywhere, e.g. a note that went through a CRLF-converting transport.
  EXPECT_THAT(
      VerifyCheckpoint(absl::StrReplaceAll(note_, {{"\n", "\r\n"}}), verifier).status().message(),
      HasSubstr("control character U+000D"));
  // A known key's signature truncated to 63 bytes is a failed signature, not an unknown one.
  std::string blob;
  ASSERT_TRUE(absl::Base64Unescape(sig_b64.substr(0, sig_b64.size() - 1), &blob));
  blob.pop_back();
  EXPECT_EQ(VerifyCheckpoint(
                absl::StrCat(body, "\n\xE2\x80\x94 ", kOrigin, " ", absl::Base64Escape(blob), "\n"),
                verifier)
                .status()
                .code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(SignedCheckpointTest, RefusesEmptyTrustAndToleratesARepeatedTrustedKey) {
  EXPECT_THAT(OpenNote(note_, {}).status().message(), HasSubstr("without any trusted key"));
  const std::vector<NoteVerifier> twice = {signer_.verifier(), signer_.verifier()};
  absl::StatusOr<SignedNote> opened = OpenNote(note_, twice);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(opened->verified.size(), 1u);
}

TEST(NoteSignerTest, RefusesTextsThatCouldNotBeVerified) {
  NoteSigner signer = NewSigner(kOrigin);
  EXPECT_THAT(signer.Sign("no final newline").status().message(), HasSubstr("end with a newline"));
  EXPECT_THAT(signer.Sign("").status().message(), HasSubstr("non-empty"));
  EXPECT_THAT(signer.Sign("tab\there\n").status().message(), HasSubstr("U+0009"));
  EXPECT_THAT(signer.Sign("\xff\n").status().message(), HasSubstr("not valid UTF-8"));
  // Text with blank lines is allowed: the signatures start after the last one.
  const std::string text = "line one\n\nline three\n";
  absl::StatusOr<SignedNote> opened = OpenNote(*signer.Sign(text), {signer.verifier()});
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(opened->text, text);
}

}  // namespace
}  // namespace safeguard::audit
