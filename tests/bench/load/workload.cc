#include "tests/bench/load/workload.h"

#include <openssl/rand.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "clients/protocol/identifiers.h"
#include "clients/protocol/notification_validator.h"
#include "google/protobuf/util/time_util.h"

#ifdef SAFEGUARD_LOAD_POLICY_FILE
ABSL_FLAG(std::string, policy_file, SAFEGUARD_LOAD_POLICY_FILE,
          "The broker's sharing policy (a copy keeps runs comparable while the policy is edited).");
#else
ABSL_FLAG(std::string, policy_file, "", "The broker's sharing policy.");
#endif

namespace safeguard::load {

namespace {

std::string Certs() { return SAFEGUARD_CERTS_TOOL; }

constexpr size_t kMaxSummary = 4000;  // the validator's limit, in characters

// Brokers with a lawful-basis sharing policy read Notification.sharing.risk_of_harm; set it when
// this build's protocol has it (by reflection, so the tool builds against either protocol).
void SetRiskOfHarm(safeguard::v1::Notification& notification) {
  const auto* sharing = notification.GetDescriptor()->FindFieldByName("sharing");
  if (sharing == nullptr || sharing->message_type() == nullptr) return;
  const auto* risk = sharing->message_type()->FindFieldByName("risk_of_harm");
  if (risk == nullptr || risk->type() != google::protobuf::FieldDescriptor::TYPE_BOOL) return;
  google::protobuf::Message* context =
      notification.GetReflection()->MutableMessage(&notification, sharing);
  context->GetReflection()->SetBool(context, risk, true);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Partnership

absl::StatusOr<Partnership> Partnership::Mint(const std::string& dir, int senders,
                                              int recipients) {
  Partnership p;
  p.dir_ = dir;
  for (int i = 1; i <= senders; ++i) p.senders_.push_back(absl::StrCat("gp-", i));
  for (int i = 1; i <= recipients; ++i) p.recipients_.push_back(absl::StrCat("fd-", i));
  auto run = [](const std::string& command) { return RunCommand(command).status(); };
  absl::Status s = run(absl::StrCat(Certs(), " init-ca --dir ", dir, "/ca --partnership ",
                                    p.partnership_));
  if (!s.ok()) return s;
  s = run(absl::StrCat(Certs(), " issue-broker --ca-dir ", dir, "/ca --out ", dir,
                       "/broker --partnership ", p.partnership_));
  if (!s.ok()) return s;
  auto issue = [&](const std::string& type, const std::string& id) {
    return run(absl::StrCat(Certs(), " issue-node --ca-dir ", dir, "/ca --out ",
                            p.identity_dir(id), " --partnership ", p.partnership_, " --type ",
                            type, " --id ", id));
  };
  for (const std::string& id : p.senders_) {
    if (s = issue("gp", id); !s.ok()) return s;
  }
  for (const std::string& id : p.recipients_) {
    if (s = issue("front-door", id); !s.ok()) return s;
  }
  if (recipients == 0) {
    if (s = issue("front-door", "fd-1"); !s.ok()) return s;  // the senders' area needs one
  }
  if (s = issue("front-door", kOffline); !s.ok()) return s;
  return p;
}

absl::StatusOr<Partnership> Partnership::Reuse(const std::string& dir, int senders,
                                               int recipients) {
  Partnership p;
  p.dir_ = dir;
  for (int i = 1; i <= senders; ++i) p.senders_.push_back(absl::StrCat("gp-", i));
  for (int i = 1; i <= recipients; ++i) p.recipients_.push_back(absl::StrCat("fd-", i));
  std::vector<std::string> all = p.senders_;
  all.insert(all.end(), p.recipients_.begin(), p.recipients_.end());
  for (const std::string& id : all) {
    if (!std::filesystem::exists(p.identity_dir(id) + "/node.key")) {
      return absl::NotFoundError(absl::StrCat(
          dir, " has no identity for node ", id, ": mint the directory with the same --senders "
          "and --recipients (safeguard-load --keep ...) before reusing it"));
    }
  }
  return p;
}

std::string Partnership::WriteBrokerConfig(const std::string& name,
                                           const std::string& data_directory,
                                           int max_commit_batch) const {
  std::ostringstream config;
  config << "# Written by safeguard-load.\n"
         << "partnership: \"" << partnership_ << "\"\n"
         << "listen_address: \"127.0.0.1:0\"\n"
         << "tls { certificate: \"broker/node.crt\" private_key: \"broker/node.key\" "
         << "ca_certificate: \"ca/ca.crt\" }\n"
         << "data_directory: \"" << data_directory << "\"\n"
         // This broker needs a sharing policy: by default the one in deploy/policy.
         << (absl::GetFlag(FLAGS_policy_file).empty()
                 ? std::string()
                 : "policy_file: \"" + absl::GetFlag(FLAGS_policy_file) + "\"\n")
         // Envelopes sealed ahead of the run stay acceptable for an hour (the check still runs).
         << "limits { max_clock_skew_seconds: 3600";
  if (max_commit_batch > 0) config << " max_commit_batch: " << max_commit_batch;
  config << " }\n";
  auto node = [&](const std::string& id, const std::string& type, const std::string& area) {
    config << "nodes { id: \"" << id << "\" type: \"" << type << "\" area: \"" << area
           << "\" }\n";
  };
  for (const std::string& id : senders_) node(id, "gp", "a1");
  for (size_t i = 0; i < recipients_.size(); ++i) {
    node(recipients_[i], "front-door", absl::StrCat("a", i + 1));
  }
  if (recipients_.empty()) node("fd-1", "front-door", "a1");
  node(kOffline, "front-door", "offline");
  std::string path = absl::StrCat(dir_, "/", name, ".conf");
  std::ofstream(path) << config.str();
  return path;
}

// ---------------------------------------------------------------------------------------------
// Workload

absl::StatusOr<std::unique_ptr<Workload>> Workload::Create(const Partnership& partnership,
                                                           const Settings& settings) {
  std::unique_ptr<Workload> w(new Workload(partnership, settings));
  std::vector<std::string> all = partnership.senders();
  all.insert(all.end(), partnership.recipients().begin(), partnership.recipients().end());
  for (const std::string& id : all) {
    auto identity = client::LoadIdentityDirectory(partnership.identity_dir(id));
    if (!identity.ok()) return identity.status();
    w->identities_[id] = *std::move(identity);
  }
  for (const std::string& id : partnership.senders()) {
    const auto& identity = w->identities_[id];
    auto signer = protocol::Signer::FromPem(identity.certificate, identity.private_key);
    if (!signer.ok()) return signer.status();
    w->signers_.push_back(*std::move(signer));
  }
  auto trust = protocol::TrustAnchor::FromPem(w->identities_[all.front()].ca_certificate);
  if (!trust.ok()) return trust.status();
  w->trust_ = *std::move(trust);
  unsigned char nonce[4];
  RAND_bytes(nonce, sizeof nonce);
  w->key_prefix_ = absl::StrCat(
      "ld", absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(nonce), 4)));

  // Fit the filler so the serialised notification is payload_bytes (for a typical key).
  int target = settings.payload_bytes;
  for (int round = 0; round < 8; ++round) {
    int size = static_cast<int>(w->MakeNotification(0, 123456).ByteSizeLong());
    int diff = target - size;
    if (diff == 0) break;
    size_t have = w->summary_filler_.size() + w->details_filler_.size();
    size_t want = static_cast<size_t>(std::max<int64_t>(0, static_cast<int64_t>(have) + diff));
    w->summary_filler_.assign(std::min(want, kMaxSummary), 's');
    w->details_filler_.assign(want - w->summary_filler_.size(), 'd');
  }
  safeguard::v1::Notification probe = w->MakeNotification(0, 123456);
  w->notification_bytes_ = probe.ByteSizeLong();
  if (absl::Status valid = protocol::NormaliseAndValidate(probe, absl::Now()); !valid.ok()) {
    return absl::InternalError(absl::StrCat("the load notification is invalid: ", valid.message()));
  }
  auto sealed = w->SealLive(0, 123456);
  if (!sealed.ok()) return sealed.status();
  w->request_bytes_ = sealed->ByteSizeLong();
  return w;
}

int Workload::RecipientOf(int s, uint64_t n) const {
  int m = static_cast<int>(partnership_.recipients().size());
  return m == 0 ? -1 : static_cast<int>((static_cast<uint64_t>(s) + n) % m);
}

namespace {

// A valid NHS number (modulus 11) for the i-th child of the load's population of 10 million
// (about England's children). Each notification is about a child drawn at random from it
// (ChildOf), as in a real partnership, rather than all about one (which made per-child work such
// as the cumulative-concern rules pathological) or, as until 2026-12-07, about one of 100,000
// with every sender's n-th notification about neighbouring children: then each child was
// reported by all 8 senders within milliseconds, the rule "3 missed contacts from 2 agencies"
// was met for most children, and a run measured the broker's concern notices more than the
// senders' notifications.
std::string ChildNhsNumber(uint64_t i) {
  constexpr uint64_t kChildren = 10'000'000;
  uint64_t base = 400'000'000 + (i % kChildren) * 11;
  for (;; ++base) {
    std::string digits = absl::StrCat(base);
    std::optional<int> check = protocol::NhsCheckDigit(digits);
    if (!check) continue;
    return absl::StrCat(digits, *check);
  }
}

// The child of sender s's n-th notification (which = 0), or of its second subject (which = 1):
// spread evenly over the population (splitmix64), independently for each sender.
uint64_t ChildOf(int s, uint64_t n, uint64_t which) {
  uint64_t z = (static_cast<uint64_t>(s) << 40) ^ (n << 1) ^ which;
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

safeguard::v1::Notification Workload::MakeNotification(int s, uint64_t n) const {
  static const google::protobuf::Timestamp occurred =
      google::protobuf::util::TimeUtil::GetCurrentTime();
  safeguard::v1::Notification notification;
  notification.set_idempotency_key(MessageKey(key_prefix_, s, n));
  notification.set_type(safeguard::v1::NOTIFICATION_TYPE_WAS_NOT_BROUGHT);
  notification.set_severity(safeguard::v1::SEVERITY_CONCERN);
  int r = RecipientOf(s, n);
  auto* child = notification.add_subjects();
  child->set_area(absl::StrCat("a", r >= 0 ? r + 1 : 1));
  auto* id = child->add_identifiers();
  id->set_scheme(safeguard::v1::IDENTIFIER_SCHEME_NHS_NUMBER);
  id->set_value(ChildNhsNumber(ChildOf(s, n, 0)));
  if (settings_.scenario == Scenario::kBacklog) {
    auto* other = notification.add_subjects();
    other->set_area("offline");
    auto* other_id = other->add_identifiers();
    other_id->set_scheme(safeguard::v1::IDENTIFIER_SCHEME_NHS_NUMBER);
    // Another child of the population, as in a real partnership (one child named in all of
    // a million notifications would measure the cumulative-concern rules on a pathological
    // child, not the offline mailbox's backlog).
    other_id->set_value(ChildNhsNumber(ChildOf(s, n, 1)));
  }
  notification.set_summary(summary_filler_.empty() ? std::string("Not brought to appointment")
                                                   : summary_filler_);
  if (!details_filler_.empty()) {
    (*notification.mutable_details()->mutable_fields())["filler"].set_string_value(
        details_filler_);
  }
  *notification.mutable_occurred_at() = occurred;
  if (r >= 0) notification.add_recipients(partnership_.recipients()[r]);
  if (settings_.scenario == Scenario::kBacklog) notification.add_recipients(Partnership::kOffline);
  SetRiskOfHarm(notification);
  return notification;
}

absl::StatusOr<safeguard::v1::SubmitRequest> Workload::SealLive(int s, uint64_t n) const {
  auto envelope = protocol::Seal(MakeNotification(s, n), *signers_[s], absl::Now());
  if (!envelope.ok()) return envelope.status();
  safeguard::v1::SubmitRequest request;
  *request.mutable_envelope() = *std::move(envelope);
  return request;
}

absl::Status Workload::SealAhead(uint64_t per_sender) {
  unsigned char nonce[4];
  RAND_bytes(nonce, sizeof nonce);
  key_prefix_ = absl::StrCat(
      "ld", absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(nonce), 4)));
  int senders = static_cast<int>(signers_.size());
  corpus_.assign(senders, {});
  for (auto& c : corpus_) c.resize(per_sender);
  int threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> pool;
  std::vector<absl::Status> errors(threads);
  absl::Time start = absl::Now();
  uint64_t total = per_sender * senders;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (uint64_t i = t; i < total; i += threads) {
        int s = static_cast<int>(i % senders);
        uint64_t n = i / senders;
        auto request = SealLive(s, n);
        if (!request.ok()) {
          errors[t] = request.status();
          return;
        }
        corpus_[s][n] = *std::move(request);
      }
    });
  }
  for (auto& t : pool) t.join();
  seal_seconds_ = absl::ToDoubleSeconds(absl::Now() - start);
  for (const absl::Status& e : errors) {
    if (!e.ok()) return e;
  }
  return absl::OkStatus();
}

void FillFromTracker(const Tracker& tracker, RunResult& result) {
  result.window_seconds = tracker.window().seconds();
  result.accepted_in_window = tracker.accepted_in_window.load();
  result.accepted_total = tracker.accepted_total.load();
  result.failed_total = tracker.failed_total.load();
  result.refused_unavailable = tracker.refused_unavailable.load();
  result.failures = tracker.failures();
  result.throughput = result.accepted_in_window / result.window_seconds;
  result.ack_samples = tracker.ack_latency.count();
  result.ack_p50 = tracker.ack_latency.Quantile(0.5);
  result.ack_p99 = tracker.ack_latency.Quantile(0.99);
  result.ack_p999 = tracker.ack_latency.Quantile(0.999);
  result.ack_max = tracker.ack_latency.max();
  result.delivery_samples = tracker.delivery_latency.count();
  result.delivery_p50 = tracker.delivery_latency.Quantile(0.5);
  result.delivery_p99 = tracker.delivery_latency.Quantile(0.99);
  result.delivery_p999 = tracker.delivery_latency.Quantile(0.999);
  result.delivery_max = tracker.delivery_latency.max();
  result.delivered_total = tracker.delivered_total.load();
  result.other_deliveries = tracker.delivered_unknown.load();
  result.delivery_rate = tracker.delivered_in_window.load() / result.window_seconds;
  result.acknowledged_total = tracker.acknowledged_total.load();
}

}  // namespace safeguard::load
