// CPU per notification of each step of the broker's Submit path, in isolation, on realistic data:
// envelope verification, the Notification copies in BrokerService::Submit/Admit, routing with a
// registry of 10,000 children (unknown child; known child with a plan), the registry's reads one
// by one, the sharing policy per recipient, the due time (broker/calendar) and building the
// AcceptRequest. Use CPU time (the table's "CPU" column): the machine may be shared.
//
//   build/tests/bench/submit_path_bench [--benchmark_filter=...] [--benchmark_repetitions=5]
//
// The registry lives under /dev/shm when it exists (its writes fsync; the reads measured here do
// not). Mints throwaway certificates with certs/safeguard-certs. The copies and the digest are
// the code of broker/server/broker_service.cc (the helpers there are private to that file):
// "Before" variants are the code as it was before the perf2 changes, kept for comparison.

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <atomic>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "broker/audit/audit_keys.h"
#include "broker/calendar/deadline_calendar.h"
#include "absl/synchronization/notification.h"
#include "broker/concern/cumulative_concern_watcher.h"
#include "broker/config/broker_config.h"
#include "broker/identity/node_registry.h"
#include "broker/policy/policy_store.h"
#include "broker/registry/registry_store.h"
#include "broker/routing/recipient_resolver.h"
#include "broker/server/notification_digest.h"
#include "broker/storage/sqlite_store.h"
#include "broker/storage/store.h"
#include "clients/protocol/identifiers.h"
#include "clients/protocol/envelope.h"
#include "clients/protocol/notification_validator.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/protobuf/util/time_util.h"

namespace safeguard {
namespace {

using safeguard::v1::Notification;
using safeguard::v1::SubjectIdentifier;

constexpr int kChildren = 10'000;

class WallClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A valid NHS number (modulus 11) from a 9-digit stem, or "" when the check digit would be 10.
std::string NhsFromStem(int64_t stem) {
  std::string s = absl::StrCat(stem);
  s.insert(0, 9 - s.size(), '0');
  std::optional<int> check = protocol::NhsCheckDigit(s);
  if (!check) return "";
  return s + static_cast<char>('0' + *check);
}

SubjectIdentifier Nhs(const std::string& value) {
  SubjectIdentifier id;
  id.set_scheme(safeguard::v1::IDENTIFIER_SCHEME_NHS_NUMBER);
  id.set_value(value);
  return id;
}

using server::ContentDigest;
using server::DeterministicBytes;
using protocol::Sha256;

struct Fixture {
  std::string dir;
  std::unique_ptr<identity::NodeRegistry> nodes;
  WallClock clock;
  std::unique_ptr<registry::RegistryStore> children;
  std::unique_ptr<routing::RecipientResolver> resolver;
  std::unique_ptr<policy::PolicyStore> policy;
  std::unique_ptr<calendar::DeadlineCalendar> calendar;
  std::unique_ptr<audit_log::AuditKeys> audit_keys;
  std::shared_ptr<const protocol::Signer> gp;
  std::shared_ptr<const protocol::TrustAnchor> trust;
  std::string known_plan;      // NHS number of a child with a child-protection plan, served
  std::string known_no_plan;   // in a household, no plan
  std::string unknown;         // not in the registry
  Notification notification;   // as a GP sends it, about the child with a plan
  safeguard::v1::SignedEnvelope envelope;
};

Notification MakeNotification(const std::string& nhs) {
  Notification n;
  n.set_idempotency_key("bench-00000000000000000000000001");
  n.set_type(safeguard::v1::NOTIFICATION_TYPE_WAS_NOT_BROUGHT);
  n.set_severity(safeguard::v1::SEVERITY_CONCERN);
  auto* subject = n.add_subjects();
  subject->set_area("swindon");
  subject->set_display_name("Lola Smith");
  *subject->add_identifiers() = Nhs(nhs);
  n.set_summary(std::string(300, 's'));
  auto& details = *n.mutable_details()->mutable_fields();
  details["clinic"].set_string_value("community paediatrics");
  details["appointment"].set_string_value("2026-11-20T10:30:00Z");
  details["missed_count"].set_number_value(3);
  details["contacted_parent"].set_bool_value(true);
  details["clinician"].set_string_value("Dr A. Example");
  (*n.mutable_health_details()->mutable_fields())["note"].set_string_value(std::string(60, 'h'));
  *n.mutable_occurred_at() = google::protobuf::util::TimeUtil::GetCurrentTime();
  *n.mutable_reported_at() = google::protobuf::util::TimeUtil::GetCurrentTime();
  n.mutable_sharing()->set_risk_of_harm(false);
  return n;
}

Fixture& Get() {
  static Fixture* fixture = [] {
    auto* f = new Fixture;
    std::string base = std::filesystem::exists("/dev/shm") ? "/dev/shm" : "/tmp";
    f->dir = absl::StrCat(base, "/submit-path-bench-", ::getpid());
    std::filesystem::create_directories(f->dir);
    std::string certs = SAFEGUARD_CERTS_TOOL;
    std::string cmd = absl::StrCat(
        certs, " init-ca --dir ", f->dir, "/ca --partnership bench.example >/dev/null && ", certs,
        " issue-node --ca-dir ", f->dir, "/ca --out ", f->dir,
        "/gp --partnership bench.example --type gp --id gp-riverside >/dev/null");
    if (std::system(cmd.c_str()) != 0) std::abort();
    f->gp = *protocol::Signer::FromPem(Read(f->dir + "/gp/node.crt"),
                                       Read(f->dir + "/gp/node.key"));
    f->trust = *protocol::TrustAnchor::FromPem(Read(f->dir + "/ca/ca.crt"));

    auto config = config::ParseBrokerConfig(absl::StrCat(R"(
partnership: "bench.example" listen_address: "127.0.0.1:1" data_directory: "d" policy_file: "p"
tls { certificate: "c" private_key: "k" ca_certificate: "a" }
areas { code: "swindon" resolution_route: "r" calendar_file: ")", SAFEGUARD_CALENDAR, R"(" }
nodes { id: "gp-riverside" type: "gp" area: "swindon" }
nodes { id: "school-oakfield" type: "school" area: "swindon" }
nodes { id: "housing-swindon" type: "housing" area: "swindon" }
nodes { id: "police" type: "police" area: "swindon" }
nodes { id: "health-visiting" type: "health" area: "swindon" }
nodes { id: "fd-swindon" type: "front-door" area: "swindon" }
nodes { id: "csc-north" type: "social-care" area: "swindon" }
nodes { id: "eh-swindon" type: "early-help" area: "swindon" }
)"),
                                            "/b.conf");
    if (!config.ok()) {
      fprintf(stderr, "config: %s\n", std::string(config.status().message()).c_str());
      std::abort();
    }
    f->nodes = std::make_unique<identity::NodeRegistry>(*config);
    f->policy = *policy::PolicyStore::Open(SAFEGUARD_DEFAULT_POLICY);
    f->calendar = *calendar::DeadlineCalendar::FromConfig(*config, *f->policy->Current());
    f->audit_keys = *audit_log::AuditKeys::LoadOrCreate(f->dir, "bench.example/audit");
    f->children = *registry::RegistryStore::Open(f->dir + "/registry.db", f->clock);

    // 10,000 children with plans (early help, child in need, child protection in turn), one
    // household per 10 children (two children and a parent), every fifth child served by the
    // school and the GP.
    std::vector<std::string> nhs;
    for (int64_t stem = 401000000; static_cast<int>(nhs.size()) < kChildren + 10; ++stem) {
      std::string n = NhsFromStem(stem);
      if (!n.empty()) nhs.push_back(n);
    }
    const safeguard::v1::PlanType plans[] = {safeguard::v1::PLAN_TYPE_EARLY_HELP,
                                             safeguard::v1::PLAN_TYPE_CHILD_IN_NEED,
                                             safeguard::v1::PLAN_TYPE_CHILD_PROTECTION};
    safeguard::v1::UpdateServedChildrenRequest served;
    for (int i = 0; i < kChildren; ++i) {
      if (i % 10 == 9) continue;  // known through a household only, no plan
      safeguard::v1::Involvement inv;
      inv.set_reference(absl::StrCat("ref-", i));
      inv.set_plan_type(plans[i % 3]);
      *inv.add_child() = Nhs(nhs[i]);
      inv.mutable_lead_worker()->set_worker_id(absl::StrCat("w", i % 50));
      inv.mutable_lead_worker()->set_name("Worker");
      inv.mutable_lead_worker()->set_contact("01793 111111");
      inv.mutable_escalation_contact()->set_name("Team manager");
      inv.mutable_escalation_contact()->set_contact("01793 000000");
      auto put = f->children->PutInvolvement("csc-north", "swindon", inv);
      if (!put.ok()) {
        fprintf(stderr, "registry: %s\n", std::string(put.status().message()).c_str());
        std::abort();
      }
      if (i % 5 == 2) *served.add_add()->mutable_identifier() = Nhs(nhs[i]);
    }
    for (int i = 0; i + 9 < kChildren; i += 10) {
      safeguard::v1::Household h;
      h.set_reference(absl::StrCat("hh-", i));
      for (int c : {i + 8, i + 9}) {
        auto* m = h.add_members();
        m->set_role(safeguard::v1::HOUSEHOLD_ROLE_CHILD);
        *m->add_identifiers() = Nhs(nhs[c]);
      }
      auto put = f->children->PutHousehold("csc-north", "swindon", h);
      if (!put.ok()) std::abort();
    }
    if (!f->children->UpdateServedChildren("school-oakfield", served).ok()) std::abort();
    if (!f->children->UpdateServedChildren("gp-riverside", served).ok()) std::abort();
    f->known_plan = nhs[2];      // child protection, served by the school and the GP
    f->known_no_plan = nhs[9];   // household only
    f->unknown = nhs[kChildren + 5];
    f->resolver = std::make_unique<routing::RecipientResolver>(*f->nodes, f->children.get());

    f->notification = MakeNotification(f->known_plan);
    auto normal = f->notification;
    if (!protocol::NormaliseAndValidate(normal, absl::Now()).ok()) std::abort();
    f->envelope = *protocol::Seal(f->notification, *f->gp, absl::Now());
    return f;
  }();
  return *fixture;
}

// --- Envelope: the crypto floor ---------------------------------------------------------------

void BM_Open(benchmark::State& state) {
  auto& f = Get();
  protocol::OpenOptions options{.certificate_time = absl::Now(), .require_all_disclosures = true};
  for (auto _ : state) benchmark::DoNotOptimize(protocol::Open(f.envelope, *f.trust, options));
}
BENCHMARK(BM_Open);

// --- The Notification copies ------------------------------------------------------------------

// Submit before: a full copy normalised, compared with MessageDifferencer.
void BM_NormaliseCopyBefore(benchmark::State& state) {
  auto& f = Get();
  const absl::Time now = absl::Now();
  for (auto _ : state) {
    Notification normal = f.notification;
    benchmark::DoNotOptimize(protocol::NormaliseAndValidate(normal, now));
    benchmark::DoNotOptimize(
        google::protobuf::util::MessageDifferencer::Equals(normal, f.notification));
  }
}
BENCHMARK(BM_NormaliseCopyBefore);

// Submit now: the signed notification checked in place (protocol::ValidateSigned), no copy and
// no comparison.
void BM_NormaliseCopyAfter(benchmark::State& state) {
  auto& f = Get();
  const absl::Time now = absl::Now();
  for (auto _ : state) {
    benchmark::DoNotOptimize(protocol::ValidateSigned(f.notification, now));
  }
}
BENCHMARK(BM_NormaliseCopyAfter);

void BM_ContentDigestBefore(benchmark::State& state) {
  auto& f = Get();
  for (auto _ : state) {
    Notification content = f.notification;
    content.clear_reported_at();
    benchmark::DoNotOptimize(Sha256(DeterministicBytes(content)));
  }
}
BENCHMARK(BM_ContentDigestBefore);

void BM_ContentDigestAfter(benchmark::State& state) {
  auto& f = Get();
  Notification notification = f.notification;
  for (auto _ : state) {
    benchmark::DoNotOptimize(ContentDigest(notification));
  }
  Notification content = f.notification;
  content.clear_reported_at();
  if (ContentDigest(notification) != Sha256(DeterministicBytes(content))) {
    state.SkipWithError("the content digest differs from the digest of the copy");
  }
}
BENCHMARK(BM_ContentDigestAfter);

// Before: Admit copied the notification into AcceptedNotification, and the broker's on_accepted
// copied it again into the watcher's AcceptedEvent.
void BM_OnAcceptedCopiesBefore(benchmark::State& state) {
  auto& f = Get();
  for (auto _ : state) {
    Notification listened = f.notification;
    Notification event = listened;
    benchmark::DoNotOptimize(event);
  }
}
BENCHMARK(BM_OnAcceptedCopiesBefore);

// Now: the opened notification moves into a shared_ptr, shared with the watcher.
void BM_OnAcceptedShareAfter(benchmark::State& state) {
  auto& f = Get();
  std::vector<Notification> sources(1024, f.notification);  // moved from, one per iteration
  size_t i = 0;
  for (auto _ : state) {
    if (i == sources.size()) {
      state.PauseTiming();
      for (auto& s : sources) s = f.notification;
      i = 0;
      state.ResumeTiming();
    }
    auto shared = std::make_shared<const Notification>(std::move(sources[i++]));
    concern::AcceptedEvent event{.notification = shared};  // the broker's hook passes it on
    benchmark::DoNotOptimize(event);
  }
}
BENCHMARK(BM_OnAcceptedShareAfter);

// --- Routing and the registry -----------------------------------------------------------------

void Resolve(benchmark::State& state, const std::string& nhs,
             safeguard::v1::NotificationType type) {
  auto& f = Get();
  Notification n = MakeNotification(nhs);
  n.set_type(type);
  const identity::NodeInfo& sender = *f.nodes->FindById("gp-riverside");
  size_t recipients = 0;
  for (auto _ : state) {
    auto r = f.resolver->Resolve(sender, n);
    if (!r.ok()) {
      state.SkipWithError(std::string(r.status().message()).c_str());
      break;
    }
    recipients = r->recipients.size();
  }
  state.SetLabel(absl::StrCat(recipients, " recipients"));
}
void BM_ResolveUnknownChild(benchmark::State& state) {
  Resolve(state, Get().unknown, safeguard::v1::NOTIFICATION_TYPE_WAS_NOT_BROUGHT);
}
BENCHMARK(BM_ResolveUnknownChild);
void BM_ResolveKnownChildWithPlan(benchmark::State& state) {
  Resolve(state, Get().known_plan, safeguard::v1::NOTIFICATION_TYPE_WAS_NOT_BROUGHT);
}
BENCHMARK(BM_ResolveKnownChildWithPlan);
void BM_ResolveKnownChildNoPlan(benchmark::State& state) {
  Resolve(state, Get().known_no_plan, safeguard::v1::NOTIFICATION_TYPE_WAS_NOT_BROUGHT);
}
BENCHMARK(BM_ResolveKnownChildNoPlan);
void BM_ResolveDomesticAbuseWithPlan(benchmark::State& state) {
  Resolve(state, Get().known_plan, safeguard::v1::NOTIFICATION_TYPE_POLICE_DOMESTIC_ABUSE_INCIDENT);
}
BENCHMARK(BM_ResolveDomesticAbuseWithPlan);

void BM_RegistryMatchChild(benchmark::State& state) {
  auto& f = Get();
  Notification n = MakeNotification(f.known_plan);
  for (auto _ : state) benchmark::DoNotOptimize(f.children->MatchChild(n.subjects(0).identifiers()));
}
BENCHMARK(BM_RegistryMatchChild);

std::string SubjectIdOf(const std::string& nhs) {
  google::protobuf::RepeatedPtrField<SubjectIdentifier> ids;
  *ids.Add() = Nhs(nhs);
  return Get().children->MatchChild(ids)->subject_ids.front();
}

void BM_RegistryOpenInvolvements(benchmark::State& state) {
  auto& f = Get();
  std::string id = SubjectIdOf(f.known_plan);
  for (auto _ : state) benchmark::DoNotOptimize(f.children->OpenInvolvements(id));
}
BENCHMARK(BM_RegistryOpenInvolvements);

void BM_RegistryHouseholdChildren(benchmark::State& state) {
  auto& f = Get();
  std::string id = SubjectIdOf(f.known_plan);
  for (auto _ : state) benchmark::DoNotOptimize(f.children->HouseholdChildren(id));
}
BENCHMARK(BM_RegistryHouseholdChildren);

void BM_RegistryServingNodes(benchmark::State& state) {
  auto& f = Get();
  std::string id = SubjectIdOf(f.known_plan);
  for (auto _ : state) benchmark::DoNotOptimize(f.children->ServingNodes(id));
}
BENCHMARK(BM_RegistryServingNodes);

// --- Policy, deadline, AcceptRequest ----------------------------------------------------------

void BM_PolicyEvaluatePerRecipient(benchmark::State& state) {
  auto& f = Get();
  policy::SharingRequest q;
  q.sender = protocol::NodeType::kGp;
  q.type = safeguard::v1::NOTIFICATION_TYPE_WAS_NOT_BROUGHT;
  q.child_status = policy::ChildStatus::kChildProtection;
  q.recipient = policy::RecipientRole::kLeadWorker;
  for (auto _ : state) {
    auto sharing = f.policy->Current();
    benchmark::DoNotOptimize(sharing->Evaluate(q));
  }
}
BENCHMARK(BM_PolicyEvaluatePerRecipient);

void BM_DeadlineDue(benchmark::State& state) {
  auto& f = Get();
  const std::string deadline_class = state.range(0) == 0 ? "one-working-day" : "next-school-day";
  const absl::Time from = absl::FromUnixSeconds(1'795'000'000);  // a weekday in 2026-27
  for (auto _ : state) {
    benchmark::DoNotOptimize(f.calendar->Due(deadline_class, "swindon", from));
  }
  state.SetLabel(deadline_class);
}
BENCHMARK(BM_DeadlineDue)->Arg(0)->Arg(1);

// The AcceptRequest as Admit builds it for one recipient, without the policy and the due time:
// envelope bytes, subject keys, the submitted and one decision audit entry.
void BM_AcceptRequestBuild(benchmark::State& state) {
  auto& f = Get();
  for (auto _ : state) {
    storage::AcceptRequest accept;
    accept.notification_id = std::string(32, 'a');
    accept.sender = "gp-riverside";
    accept.idempotency_key = f.notification.idempotency_key();
    accept.type = f.notification.type();
    accept.envelope = f.envelope.SerializeAsString();
    accept.envelope_digest = std::string(32, 'd');
    accept.child_match = "matched on NHS number";
    for (const auto& subject : f.notification.subjects()) {
      for (const auto& id : subject.identifiers()) {
        accept.subject_keys.push_back(storage::SubjectKey(id));
      }
    }
    safeguard::v1::AuditEntry submitted;
    submitted.set_event(safeguard::v1::AUDIT_EVENT_SUBMITTED);
    submitted.set_actor("gp-riverside");
    submitted.set_actor_type("gp");
    submitted.set_envelope_digest(accept.envelope_digest);
    submitted.set_notification_type(f.notification.type());
    for (const auto& subject : f.notification.subjects()) {
      for (const auto& id : subject.identifiers()) {
        submitted.add_child_refs(f.audit_keys->ChildReference(id));
      }
    }
    accept.audit_entries.push_back(submitted);
    safeguard::v1::AuditEntry record;
    record.set_event(safeguard::v1::AUDIT_EVENT_POLICY_DECISION);
    record.set_actor("gp-riverside");
    *record.mutable_child_refs() = submitted.child_refs();
    record.set_reason(absl::StrCat("as lead-worker (lead worker of child-protection plan ref-2)"));
    accept.audit_entries.push_back(std::move(record));
    accept.deliveries.push_back({.node_id = "csc-north", .role = "lead-worker"});
    benchmark::DoNotOptimize(accept);
  }
}
BENCHMARK(BM_AcceptRequestBuild);

// --- After the commit: the cumulative-concern watcher (on_accepted) ---------------------------

// Counts notices instead of sending them.
class CountingSink final : public concern::ConcernSink {
 public:
  void Raise(Notification, protocol::NodeType, std::vector<routing::ResolvedRecipient>,
             Done done) override {
    ++raised;
    safeguard::v1::SubmitResponse response;
    std::move(done)(response);
  }
  std::atomic<int> raised{0};
};

struct WatcherFixture {
  std::unique_ptr<storage::SqliteStore> store;
  CountingSink sink;
  std::unique_ptr<concern::CumulativeConcernWatcher> watcher;
  concern::AcceptedEvent event;
};

// A store holding `events` was-not-brought notifications about one child in the last 90 days,
// from a GP and a school: the load generator's steady state (every notification is about the
// same child) once the store holds 2,000 (the watcher's chronology limit) or more.
WatcherFixture& GetWatcher(int events) {
  static std::map<int, WatcherFixture*> fixtures;
  auto& slot = fixtures[events];
  if (slot != nullptr) return *slot;
  auto& f = Get();
  auto* w = new WatcherFixture;
  std::string dir = absl::StrCat(f.dir, "/store-", events);
  std::filesystem::create_directories(dir);
  auto store = storage::SqliteStore::Open({.data_directory = dir, .clock = &f.clock});
  if (!store.ok()) {
    fprintf(stderr, "store: %s\n", std::string(store.status().message()).c_str());
    std::abort();
  }
  w->store = *std::move(store);
  std::string envelope = f.envelope.SerializeAsString();
  for (int i = 0; i < events; ++i) {
    storage::AcceptRequest request;
    request.notification_id = absl::StrFormat("ev%030d", i);
    request.sender = i % 2 == 0 ? "gp-riverside" : "school-oakfield";
    request.idempotency_key = request.notification_id;
    request.content_digest = request.notification_id;
    request.type = safeguard::v1::NOTIFICATION_TYPE_WAS_NOT_BROUGHT;
    request.subject_keys.push_back(storage::SubjectKey(Nhs(f.known_plan)));
    request.envelope = envelope;
    request.envelope_digest = "digest";
    request.deliveries.push_back({.node_id = "csc-north", .role = "lead-worker"});
    absl::Notification done;
    w->store->Accept(std::move(request), [&](absl::StatusOr<storage::Accepted> a) {
      if (!a.ok()) {
        fprintf(stderr, "store: %s\n", std::string(a.status().message()).c_str());
        std::abort();
      }
      w->event.sequence = a->sequence;
      w->event.accepted_at = a->accepted_at;
      done.Notify();
    });
    done.WaitForNotification();
  }
  policy::PolicyStore* policy = f.policy.get();
  w->watcher = std::make_unique<concern::CumulativeConcernWatcher>(
      *w->store, f.children.get(), *f.nodes, w->sink, f.clock,
      [policy] { return policy->Current(); });
  w->event.sender = "gp-riverside";
  w->event.sender_type = protocol::NodeType::kGp;
  w->event.sender_area = "swindon";
  w->event.notification = std::make_shared<const Notification>(f.notification);
  slot = w;
  return *w;
}

void BM_ConcernWatcherEvaluate(benchmark::State& state) {
  auto& w = GetWatcher(static_cast<int>(state.range(0)));
  int before = w.sink.raised;
  int64_t n = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(w.watcher->Evaluate(w.event));
    ++n;
  }
  state.SetLabel(absl::StrCat(state.range(0), " events of the child stored; ",
                              (w.sink.raised - before) * 100 / std::max<int64_t>(n, 1),
                              "% of evaluations raise a notice"));
}
BENCHMARK(BM_ConcernWatcherEvaluate)->Arg(10)->Arg(2000)->Unit(benchmark::kMicrosecond);

void BM_StoreReadChronology(benchmark::State& state) {
  auto& w = GetWatcher(static_cast<int>(state.range(0)));
  auto& f = Get();
  std::vector<std::string> keys = {storage::SubjectKey(Nhs(f.known_plan))};
  for (auto _ : state) {
    absl::Time now = absl::Now();
    benchmark::DoNotOptimize(
        w.store->ReadChronology(keys, now - absl::Hours(24 * 90), now, 0, 2000));
  }
}
BENCHMARK(BM_StoreReadChronology)->Arg(10)->Arg(2000)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace safeguard

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  std::filesystem::remove_all(safeguard::Get().dir);
  return 0;
}
