#include "clients/safeguardctl/audit_command.h"

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "clients/protocol/audit/checkpoint.h"
#include "clients/protocol/audit/merkle.h"
#include "clients/protocol/envelope.h"
#include "clients/safeguardctl/command_line.h"
#include "clients/safeguardctl/connection.h"
#include "clients/sdk/broker_client.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/grpcpp.h"
#include "safeguard/v1/audit.grpc.pb.h"

namespace safeguard::ctl {
namespace {

using google::protobuf::util::TimeUtil;

constexpr const char* kHelp = R"(safeguardctl audit - inspect and independently verify the audit log

Usage: safeguardctl [--broker=HOST:PORT] [--identity=DIR] audit COMMAND [flags]

The broker appends every sharing event (submitted, refused, shared or withheld, delivered,
acknowledged, and every auditor query) to one append-only Merkle log (RFC 6962) and signs a
checkpoint of it every second (C2SP signed note, Ed25519). Pin the log's verifier key once —
the broker writes it to checkpoint.pub in its data directory — and pass it with --log-key.
Online commands need an auditor node's identity; offline ones need only files.

Commands:
  checkpoint [--save=FILE]        fetch the latest checkpoint, verify its signature, print it
  consistency --old=FILE [--save=FILE]
                                  prove that the log now extends the checkpoint saved in FILE:
                                  detects a rewritten, truncated or forked log
  export --from=N --to=M [--out=FILE]
                                  save entries [N, M) with inclusion proofs and the checkpoint
                                  they are proven against (JSON lines)
  verify FILE                     offline: verify an export against its checkpoint; names the
                                  first entry that is altered or missing
  receipt FILE                    offline: verify a receipt (the JSON 'send --json' prints):
                                  the broker's signature and the inclusion of the acceptance
  search [--nhs=N] [--agency=NODE] [--type=TYPE] [--event=EVENT] [--from=T] [--to=T]
                                  entries matching all the terms given (T: RFC 3339)
  report [--from=T] [--to=T]      counts by type, agency and month; time to acknowledge;
                                  withheld decisions and refusals with their reasons

  --log-key=KEY|FILE   the log's verifier key (or a file holding it); required to verify
  --json               machine-readable output

Exit status: 0 verified / done, 1 verification failed or the broker refused, 2 bad usage.
)";

int Usage(absl::string_view message) {
  std::cerr << "safeguardctl audit: " << message << "\n";
  return 2;
}

int Failed(absl::string_view message) {
  std::cout << "FAILED: " << message << "\n";
  return 1;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

absl::StatusOr<audit::NoteVerifier> LogKey(const CommandLine& cl) {
  std::string key = cl.Get("log-key");
  if (key.empty()) {
    return absl::InvalidArgumentError(
        "--log-key is required: the verifier key from the broker's checkpoint.pub");
  }
  if (key.find('+') == std::string::npos) key = ReadAll(key);  // a file
  return audit::NoteVerifier::FromKey(absl::StripAsciiWhitespace(key));
}

absl::StatusOr<std::unique_ptr<safeguard::v1::Audit::Stub>> Connect(
    const CommandLine& cl, std::unique_ptr<client::BrokerClient>& holder) {
  auto c = ConnectFrom(cl);
  if (!c.ok()) return c.status();
  holder = *std::move(c);
  return safeguard::v1::Audit::NewStub(holder->channel());
}

template <typename Call>
absl::Status Rpc(const Call& call) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return client::FromGrpcStatus(call(context));
}

std::vector<audit::Hash> Hashes(const google::protobuf::RepeatedPtrField<std::string>& in) {
  std::vector<audit::Hash> out;
  for (const auto& h : in) {
    auto hash = audit::HashFromBytes(h);
    if (hash.ok()) out.push_back(*hash);
  }
  return out;
}

std::string ToJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, options);
  return out;
}

std::string Describe(const safeguard::v1::AuditEntry& e) {
  std::string event(absl::StripPrefix(safeguard::v1::AuditEvent_Name(e.event()), "AUDIT_EVENT_"));
  std::string out = absl::StrCat(
      absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(e.time())),
                       absl::UTCTimeZone()),
      "  ", event, "  ", e.actor());
  if (!e.counterpart().empty()) absl::StrAppend(&out, " -> ", e.counterpart());
  if (e.notification_type() != 0) {
    absl::StrAppend(&out, "  ", absl::StripPrefix(safeguard::v1::NotificationType_Name(e.notification_type()),
                                                  "NOTIFICATION_TYPE_"));
  }
  auto fields = [](const auto& list) {
    std::vector<std::string> names;
    for (int f : list) {
      names.push_back(protocol::DisclosableFieldName(static_cast<safeguard::v1::DisclosableField>(f)));
    }
    return absl::StrJoin(names, ",");
  };
  if (e.fields_shared_size()) absl::StrAppend(&out, "  shared[", fields(e.fields_shared()), "]");
  if (e.fields_withheld_size()) absl::StrAppend(&out, "  withheld[", fields(e.fields_withheld()), "]");
  if (!e.basis().empty()) absl::StrAppend(&out, "  basis: ", e.basis());
  if (!e.reason().empty()) absl::StrAppend(&out, "  reason: ", e.reason());
  if (!e.notification_id().empty()) absl::StrAppend(&out, "  notification ", e.notification_id());
  return out;
}

absl::StatusOr<audit::Checkpoint> FetchCheckpoint(safeguard::v1::Audit::Stub& stub,
                                                  const audit::NoteVerifier& key,
                                                  std::string* note) {
  safeguard::v1::Checkpoint response;
  absl::Status s = Rpc([&](grpc::ClientContext& c) {
    return stub.GetCheckpoint(&c, safeguard::v1::GetCheckpointRequest(), &response);
  });
  if (!s.ok()) return s;
  *note = response.note();
  return audit::VerifyCheckpoint(response.note(), key);
}

int Checkpoint(const CommandLine& cl) {
  auto key = LogKey(cl);
  if (!key.ok()) return Usage(key.status().message());
  std::unique_ptr<client::BrokerClient> holder;
  auto stub = Connect(cl, holder);
  if (!stub.ok()) return Usage(stub.status().message());
  std::string note;
  auto checkpoint = FetchCheckpoint(**stub, *key, &note);
  if (!checkpoint.ok()) return Failed(checkpoint.status().message());
  if (cl.Has("save")) std::ofstream(cl.Get("save")) << note;
  std::cout << "checkpoint verified: log " << checkpoint->origin << ", " << checkpoint->size
            << " entries, root " << audit::HashToHex(checkpoint->root) << "\n";
  if (cl.Has("save")) std::cout << "saved to " << cl.Get("save") << "\n";
  return 0;
}

int Consistency(const CommandLine& cl) {
  auto key = LogKey(cl);
  if (!key.ok()) return Usage(key.status().message());
  if (!cl.Has("old")) return Usage("consistency needs --old=FILE (a checkpoint saved earlier)");
  auto old = audit::VerifyCheckpoint(ReadAll(cl.Get("old")), *key);
  if (!old.ok()) return Failed(absl::StrCat(cl.Get("old"), ": ", old.status().message()));
  std::unique_ptr<client::BrokerClient> holder;
  auto stub = Connect(cl, holder);
  if (!stub.ok()) return Usage(stub.status().message());
  std::string note;
  auto now = FetchCheckpoint(**stub, *key, &note);
  if (!now.ok()) return Failed(now.status().message());
  if (now->size < old->size) {
    return Failed(absl::StrCat("the log shrank from ", old->size, " to ", now->size,
                               " entries: it was truncated or rewritten"));
  }
  safeguard::v1::ConsistencyProof proof;
  safeguard::v1::GetConsistencyProofRequest request;
  request.set_old_size(old->size);
  request.set_new_size(now->size);
  absl::Status s = Rpc([&](grpc::ClientContext& c) {
    return (*stub)->GetConsistencyProof(&c, request, &proof);
  });
  if (!s.ok()) return Failed(s.message());
  auto verified = audit::VerifyConsistency(old->size, now->size, Hashes(proof.proof()), old->root,
                                           now->root);
  if (!verified.ok()) {
    return Failed(absl::StrCat("the log at ", now->size, " entries does not extend the one at ",
                               old->size, ": it was rewritten or forked (", verified.message(), ")"));
  }
  if (cl.Has("save")) std::ofstream(cl.Get("save")) << note;
  std::cout << "consistent: the log grew from " << old->size << " to " << now->size
            << " entries without any earlier entry changing\n";
  return 0;
}

int Export(const CommandLine& cl) {
  auto key = LogKey(cl);
  if (!key.ok()) return Usage(key.status().message());
  uint64_t from = 0, to = 0;
  if (!absl::SimpleAtoi(cl.Get("from", "0"), &from) || !absl::SimpleAtoi(cl.Get("to", "0"), &to)) {
    return Usage("--from and --to must be entry numbers");
  }
  std::unique_ptr<client::BrokerClient> holder;
  auto stub = Connect(cl, holder);
  if (!stub.ok()) return Usage(stub.status().message());
  std::string note;
  auto checkpoint = FetchCheckpoint(**stub, *key, &note);
  if (!checkpoint.ok()) return Failed(checkpoint.status().message());
  if (to == 0 || to > checkpoint->size) to = checkpoint->size;
  std::ofstream file;
  std::ostream* out = &std::cout;
  if (cl.Has("out")) {
    file.open(cl.Get("out"));
    out = &file;
  }
  safeguard::v1::Checkpoint header;
  header.set_note(note);
  header.set_size(checkpoint->size);
  *out << ToJson(header) << "\n";
  uint64_t written = 0;
  for (uint64_t start = from; start < to;) {
    safeguard::v1::GetEntriesRequest request;
    request.set_start(start);
    request.set_end(to);
    request.set_tree_size(checkpoint->size);
    safeguard::v1::GetEntriesResponse response;
    absl::Status s = Rpc([&](grpc::ClientContext& c) {
      return (*stub)->GetEntries(&c, request, &response);
    });
    if (!s.ok()) {
      if (!cl.Has("out")) return Failed(s.message());
      if (written > 0) std::cerr << "\n";
      return Failed(absl::StrCat(
          s.message(), " (", cl.Get("out"), " is incomplete: it holds ",
          written == 0 ? std::string("only the checkpoint")
                       : absl::StrCat("the ", written, " entries before entry ", start),
          ")"));
    }
    if (response.entries().empty()) break;
    for (auto& e : *response.mutable_entries()) {
      e.clear_decoded();  // the leaf bytes are what is verified
      *out << ToJson(e) << "\n";
      ++written;
    }
    start = response.entries(response.entries_size() - 1).index() + 1;
    if (cl.Has("out")) std::cerr << "\rexported " << written << " of " << (to - from) << std::flush;
  }
  if (cl.Has("out")) {
    std::cerr << "\n";
    std::cout << "exported entries [" << from << ", " << to << ") proven against checkpoint of "
              << checkpoint->size << " entries to " << cl.Get("out") << "\n";
  }
  return 0;
}

int Verify(const CommandLine& cl) {
  auto key = LogKey(cl);
  if (!key.ok()) return Usage(key.status().message());
  if (cl.arguments.size() != 1) return Usage("verify needs one FILE (from 'audit export')");
  std::ifstream in(cl.arguments[0]);
  if (!in) return Usage(absl::StrCat("cannot read ", cl.arguments[0]));
  std::string line;
  if (!std::getline(in, line)) return Failed("the export is empty");
  safeguard::v1::Checkpoint header;
  if (!google::protobuf::util::JsonStringToMessage(line, &header).ok()) {
    return Failed("the first line is not a checkpoint");
  }
  auto checkpoint = audit::VerifyCheckpoint(header.note(), *key);
  if (!checkpoint.ok()) return Failed(absl::StrCat("checkpoint: ", checkpoint.status().message()));
  uint64_t verified = 0;
  std::optional<uint64_t> expected;
  audit::TreeState recomputed;
  bool from_zero = true;
  while (std::getline(in, line)) {
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    safeguard::v1::LoggedEntry e;
    if (!google::protobuf::util::JsonStringToMessage(line, &e).ok()) {
      return Failed(absl::StrCat("line after entry ", verified, " is not an entry"));
    }
    if (!expected) {
      expected = e.index();
      from_zero = e.index() == 0;
    }
    if (e.index() != *expected) {
      return Failed(absl::StrCat("entry ", *expected, " is missing from the log (next found: ",
                                 e.index(), ")"));
    }
    auto leaf = audit::LeafHash(e.entry());
    if (!audit::VerifyInclusion(leaf, e.index(), checkpoint->size, Hashes(e.proof()),
                                checkpoint->root)
             .ok()) {
      return Failed(absl::StrCat("entry ", e.index(),
                                 " does not match the signed checkpoint: it was altered"));
    }
    if (from_zero) (void)recomputed.Append(leaf);
    ++*expected;
    ++verified;
  }
  if (verified == 0) {
    return Failed("the export has a checkpoint but no entries; export again ('audit export' says "
                  "why when it stops part-way)");
  }
  if (from_zero && verified == checkpoint->size && recomputed.Root() != checkpoint->root) {
    return Failed("the entries do not add up to the checkpoint's root");
  }
  std::cout << "verified: " << verified << " entries";
  if (expected) std::cout << " [" << *expected - verified << ", " << *expected << ")";
  std::cout << " against the checkpoint of " << checkpoint->origin << " at " << checkpoint->size
            << " entries\n";
  return 0;
}

int Receipt(const CommandLine& cl) {
  if (cl.arguments.size() != 1) return Usage("receipt needs one FILE ('send --json' output)");
  safeguard::v1::SubmitResponse response;
  if (!google::protobuf::util::JsonStringToMessage(ReadAll(cl.arguments[0]), &response).ok()) {
    return Failed("not the JSON 'safeguardctl send --json' prints");
  }
  safeguard::v1::ReceiptBody body;
  if (!body.ParseFromString(response.receipt().body())) return Failed("no receipt in the file");
  const char* env_identity = std::getenv("SAFEGUARD_IDENTITY");
  std::string ca = cl.Get("ca");
  if (ca.empty()) ca = cl.Get("identity", env_identity ? env_identity : "") + "/ca.crt";
  auto trust = protocol::TrustAnchor::FromPem(ReadAll(ca));
  if (!trust.ok()) return Usage(absl::StrCat(ca, ": ", trust.status().message()));
  auto verified = protocol::VerifyReceipt(
      response.receipt(), **trust,
      {.envelope_digest = body.envelope_digest(), .envelope_id = body.envelope_id(),
       .sender = body.sender()});
  if (!verified.ok()) return Failed(verified.status().message());
  std::cout << "receipt verified: notification " << body.notification_id() << " from "
            << body.sender() << " accepted by " << body.broker();
  if (body.has_audit()) {
    std::cout << "; logged as entry " << body.audit().leaf_index() << " of the audit log (proven "
              << "in its tree of " << body.audit().tree_size() << " entries)";
  }
  std::cout << "\n";
  return 0;
}

// --from / --to as RFC 3339 times, set on `request` only when given (an unset bound is none).
template <typename Request>
absl::Status ParsePeriod(const CommandLine& cl, Request& request) {
  for (const char* flag : {"from", "to"}) {
    if (!cl.Has(flag)) continue;
    auto* out = std::string(flag) == "from" ? request.mutable_from() : request.mutable_to();
    if (!TimeUtil::FromString(cl.Get(flag), out)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", flag, ": not an RFC 3339 time such as 2026-11-01T00:00:00Z"));
    }
  }
  return absl::OkStatus();
}

// "was-not-brought" with prefix "NOTIFICATION_TYPE_" -> its enum number (0 is never valid).
bool ParseEnumFlag(const google::protobuf::EnumDescriptor& d, absl::string_view prefix,
                   absl::string_view flag, int* out) {
  std::string name = absl::StrCat(prefix, flag);
  for (char& c : name) c = c == '-' ? '_' : static_cast<char>(std::toupper(c));
  const auto* value = d.FindValueByName(name);
  if (value == nullptr || value->number() == 0) return false;
  *out = value->number();
  return true;
}

int Search(const CommandLine& cl) {
  std::unique_ptr<client::BrokerClient> holder;
  auto stub = Connect(cl, holder);
  if (!stub.ok()) return Usage(stub.status().message());
  safeguard::v1::SearchRequest request;
  if (cl.Has("nhs")) {
    request.mutable_child()->set_scheme(safeguard::v1::IDENTIFIER_SCHEME_NHS_NUMBER);
    request.mutable_child()->set_value(cl.Get("nhs"));
  }
  request.set_agency(cl.Get("agency"));
  if (absl::Status p = ParsePeriod(cl, request); !p.ok()) {
    return Usage(p.message());
  }
  if (cl.Has("type")) {
    int type;
    if (!ParseEnumFlag(*safeguard::v1::NotificationType_descriptor(), "NOTIFICATION_TYPE_",
                       cl.Get("type"), &type)) {
      return Usage("--type: unknown type");
    }
    request.set_notification_type(static_cast<safeguard::v1::NotificationType>(type));
  }
  if (cl.Has("event")) {
    int event;
    if (!ParseEnumFlag(*safeguard::v1::AuditEvent_descriptor(), "AUDIT_EVENT_", cl.Get("event"),
                       &event)) {
      return Usage("--event: unknown event");
    }
    request.set_event(static_cast<safeguard::v1::AuditEvent>(event));
  }
  safeguard::v1::GetEntriesResponse response;
  absl::Status s = Rpc([&](grpc::ClientContext& c) { return (*stub)->Search(&c, request, &response); });
  if (!s.ok()) return Failed(s.message());
  for (const auto& e : response.entries()) {
    if (cl.Has("json")) {
      std::cout << ToJson(e.decoded()) << "\n";
    } else {
      std::cout << "#" << e.index() << "  " << Describe(e.decoded()) << "\n";
    }
  }
  if (!cl.Has("json")) std::cout << response.entries_size() << " entries\n";
  return 0;
}

int Report(const CommandLine& cl) {
  std::unique_ptr<client::BrokerClient> holder;
  auto stub = Connect(cl, holder);
  if (!stub.ok()) return Usage(stub.status().message());
  safeguard::v1::ReportRequest request;
  if (absl::Status p = ParsePeriod(cl, request); !p.ok()) {
    return Usage(p.message());
  }
  safeguard::v1::Report r;
  absl::Status s = Rpc([&](grpc::ClientContext& c) { return (*stub)->GetReport(&c, request, &r); });
  if (!s.ok()) return Failed(s.message());
  if (cl.Has("json")) {
    std::cout << ToJson(r) << "\n";
    return 0;
  }
  auto counts = [](const char* title, const auto& list) {
    std::cout << title << ":\n";
    if (list.empty()) std::cout << "  (none)\n";
    for (const auto& c : list) std::cout << "  " << c.key() << ": " << c.count() << "\n";
  };
  counts("Notifications by type", r.submitted_by_type());
  counts("Notifications by sending agency", r.submitted_by_agency());
  counts("Notifications by month", r.submitted_by_month());
  std::cout << "Deliveries: " << r.deliveries() << "; acknowledged " << r.acknowledged()
            << ", not yet " << r.unacknowledged() << "\n";
  std::cout << "Time to acknowledge: median " << r.median_seconds_to_acknowledge() << " s, p90 "
            << r.p90_seconds_to_acknowledge() << " s\n";
  counts("Referrals with an acknowledgement, by source", r.acknowledged_by_source());
  counts("Referrals with none yet, by source", r.unacknowledged_by_source());
  counts("Withheld decisions, by reason", r.withheld_by_reason());
  counts("Refused submissions, by reason", r.refused_by_reason());
  std::cout << "Escalated: " << r.escalated() << " (escalation is not built yet)\n";
  return 0;
}

}  // namespace

int RunAuditCommand(const std::vector<std::string>& args) {
  const std::vector<FlagSpec> global = {{"broker"}, {"identity"}, {"json", false},
                                        {"log-key"}, {"ca"}};
  const std::map<std::string, std::vector<FlagSpec>> commands = {
      {"checkpoint", {{"save"}}},
      {"consistency", {{"old"}, {"save"}}},
      {"export", {{"from"}, {"to"}, {"out"}}},
      {"verify", {}},
      {"receipt", {}},
      {"search", {{"nhs"}, {"agency"}, {"type"}, {"event"}, {"from"}, {"to"}}},
      {"report", {{"from"}, {"to"}}},
  };
  auto cl = ParseCommandLine(args, global, commands);
  if (!cl.ok()) return Usage(cl.status().message());
  if (cl->command.empty() || cl->Has("help")) {
    std::cout << kHelp;
    return cl->command.empty() && !cl->Has("help") ? 2 : 0;
  }
  if (cl->command == "checkpoint") return Checkpoint(*cl);
  if (cl->command == "consistency") return Consistency(*cl);
  if (cl->command == "export") return Export(*cl);
  if (cl->command == "verify") return Verify(*cl);
  if (cl->command == "receipt") return Receipt(*cl);
  if (cl->command == "search") return Search(*cl);
  if (cl->command == "report") return Report(*cl);
  return Usage("unknown command");
}

}  // namespace safeguard::ctl
