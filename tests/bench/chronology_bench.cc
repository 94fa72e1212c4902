// A child's chronology at scale: how the cost of one child's chronology (the store's
// ReadChronology, the sharing-policy decision and the minimisation of every event, exactly as
// the Chronology service does them) grows with the events of that child (k = 10, 100, 1,000,
// 10,000) and with the events and children stored (N).
//
//   build/tests/bench/chronology_bench             # N = 100,000 events over 10,000 children
//   build/tests/bench/chronology_bench --large     # ... then grows the store to N = 1,000,000
//                                                  #     events over 100,000 children
//   [--dir=DIR] [--runs=N] [--policy=FILE]
//
// The measured children's notifications are sealed (ECDSA, salted disclosures) as a sender
// would; the background children's carry one shared envelope (never decoded). Prints medians,
// p99 and rows/s, and the process's peak memory; asserts nothing.

#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "broker/policy/sharing_policy.h"
#include "broker/server/chronology_service.h"
#include "broker/storage/sqlite_store.h"
#include "clients/protocol/identifiers.h"
#include "clients/protocol/envelope.h"
#include "clients/protocol/notification_validator.h"

namespace {

using SteadyClock = std::chrono::steady_clock;
using safeguard::protocol::NodeType;

double Seconds(SteadyClock::time_point a, SteadyClock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

uint64_t FileSize(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

long PeakRssMb() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024;
}

// A valid NHS number (modulus 11) from a 9-digit stem; skips stems whose check digit is 10.
std::string NhsNumber(uint64_t& stem) {
  for (;;) {
    std::string s = absl::StrCat(stem++);
    while (s.size() < 9) s = "0" + s;
    std::optional<int> check = safeguard::protocol::NhsCheckDigit(s);
    if (!check) continue;
    return absl::StrCat(s, *check);
  }
}

safeguard::v1::SubjectIdentifier Nhs(const std::string& number) {
  safeguard::v1::SubjectIdentifier id;
  id.set_scheme(safeguard::v1::IDENTIFIER_SCHEME_NHS_NUMBER);
  id.set_value(number);
  return id;
}

std::string Run(const std::string& command) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

struct Sender {
  std::string id;
  NodeType type;
  safeguard::v1::NotificationType event;
};
const Sender kSenders[] = {
    {"gp-riverside", NodeType::kGp, safeguard::v1::NOTIFICATION_TYPE_WAS_NOT_BROUGHT},
    {"school-oakfield", NodeType::kSchool, safeguard::v1::NOTIFICATION_TYPE_SCHOOL_ABSENCE},
    {"police-wiltshire", NodeType::kPolice,
     safeguard::v1::NOTIFICATION_TYPE_POLICE_DOMESTIC_ABUSE_INCIDENT},
    {"housing-swindon", NodeType::kHousing, safeguard::v1::NOTIFICATION_TYPE_NO_ACCESS_VISIT},
};

// Fills the store: accepts are pipelined through the group commit (a window of 4,096).
class Filler {
 public:
  explicit Filler(safeguard::storage::Store& store) : store_(store) {}

  void Add(safeguard::storage::AcceptRequest request) {
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](int* n) { return *n < 4096; }, &in_flight_));
      ++in_flight_;
    }
    store_.Accept(std::move(request), [this](absl::StatusOr<safeguard::storage::Accepted> a) {
      absl::MutexLock lock(&mu_);
      if (!a.ok() && failures_++ == 0) {
        std::fprintf(stderr, "accept failed: %s\n", a.status().ToString().c_str());
      }
      --in_flight_;
    });
  }
  void Wait() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(+[](int* n) { return *n == 0; }, &in_flight_));
  }

 private:
  safeguard::storage::Store& store_;
  absl::Mutex mu_;
  int in_flight_ = 0;
  int failures_ = 0;
};

struct Measured {
  std::string nhs;
  int events;
  safeguard::server::ChronologySubject subject;
};

void Percentiles(const char* what, uint64_t n_store, int k, std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) {
    return ms[std::min(ms.size() - 1, static_cast<size_t>(q * static_cast<double>(ms.size())))];
  };
  std::printf("N=%8llu  k=%6d  %-18s p50 %9.2f ms  p99 %9.2f ms  %10.0f rows/s\n",
              static_cast<unsigned long long>(n_store), k, what, at(0.5), at(0.99),
              k / (at(0.5) / 1000.0));
}

}  // namespace

int main(int argc, char** argv) {
  bool large = false;
  int runs = 21;
  std::string dir;
  std::string policy_file = SAFEGUARD_DEFAULT_POLICY;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--large") {
      large = true;
    } else if (a.rfind("--dir=", 0) == 0) {
      dir = a.substr(6);
    } else if (a.rfind("--runs=", 0) == 0) {
      if (!absl::SimpleAtoi(a.substr(7), &runs) || runs < 1) return 2;
    } else if (a.rfind("--policy=", 0) == 0) {
      policy_file = a.substr(9);
    } else {
      std::fprintf(stderr, "usage: %s [--large] [--dir=DIR] [--runs=N] [--policy=FILE]\n",
                   argv[0]);
      return 2;
    }
  }
  bool temporary = dir.empty();
  if (temporary) {
    char tmpl[] = "/tmp/chronology-bench-XXXXXX";
    dir = mkdtemp(tmpl);
  }
  auto policy = safeguard::policy::SharingPolicy::LoadFile(policy_file);
  if (!policy.ok()) {
    std::fprintf(stderr, "policy: %s\n", policy.status().ToString().c_str());
    return 1;
  }
  // A throwaway sender certificate (self-signed; the bench never verifies signatures).
  Run(absl::StrCat("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
                   "-keyout ", dir, "/key.pem -out ", dir, "/cert.pem -days 2 -subj /CN=gp "
                   "-addext subjectAltName=URI:spiffe://bench.example/gp/gp-riverside "
                   "2>/dev/null"));
  auto signer = safeguard::protocol::Signer::FromPem(ReadFile(dir + "/cert.pem"),
                                                     ReadFile(dir + "/key.pem"));
  if (!signer.ok()) {
    std::fprintf(stderr, "signer: %s\n", signer.status().ToString().c_str());
    return 1;
  }
  auto store = safeguard::storage::SqliteStore::Open({.data_directory = dir});
  if (!store.ok()) {
    std::fprintf(stderr, "store: %s\n", store.status().ToString().c_str());
    return 1;
  }
  std::printf("chronology benchmark in %s (policy %s)\n", dir.c_str(), policy_file.c_str());

  const absl::Time now = absl::Now();
  uint64_t stem = 100000000;
  uint64_t serial = 0;
  std::mt19937_64 rng(42);

  // One sealed notification for a measured child.
  auto sealed = [&](const std::string& nhs, int i) {
    const Sender& s = kSenders[i % 4];
    safeguard::v1::Notification n;
    n.set_idempotency_key(absl::StrCat("bench-", serial));
    n.set_type(s.event);
    n.set_severity(safeguard::v1::SEVERITY_CONCERN);
    auto* subject = n.add_subjects();
    *subject->add_identifiers() = Nhs(nhs);
    subject->set_area("swindon");
    n.set_summary(absl::StrCat("Event ", i, " reported by ", s.id,
                               ": the child was seen, concerns noted about home conditions, "
                               "follow-up agreed with the family."));
    n.mutable_occurred_at()->set_seconds(absl::ToUnixSeconds(now - absl::Hours(24 * 365)) + i);
    n.mutable_sharing()->set_consent(safeguard::v1::CONSENT_STATE_NOT_SOUGHT);
    n.mutable_sharing()->set_not_sought_reason(
        safeguard::v1::NOT_SOUGHT_REASON_WOULD_PREJUDICE_PROTECTION);
    n.mutable_sharing()->set_risk_of_harm(true);
    (void)safeguard::protocol::NormaliseAndValidate(n, now);
    auto env = safeguard::protocol::Seal(n, **signer, now);
    if (!env.ok()) {
      std::fprintf(stderr, "seal: %s\n", env.status().ToString().c_str());
      std::exit(1);
    }
    return env->SerializeAsString();
  };
  const std::string background_envelope = sealed(NhsNumber(stem), 0);

  auto request = [&](const std::string& nhs, int i, std::string envelope) {
    const Sender& s = kSenders[i % 4];
    safeguard::storage::AcceptRequest r;
    r.notification_id = absl::StrCat("n", serial);
    r.sender = s.id;
    r.idempotency_key = absl::StrCat("k", serial);
    r.content_digest = absl::StrCat("c", serial);
    ++serial;
    r.type = s.event;
    r.envelope = std::move(envelope);
    r.envelope_digest = std::string(32, 'd');
    r.subject_keys.push_back(safeguard::storage::SubjectKey(Nhs(nhs)));
    return r;
  };

  // The measured children: their events spread evenly through the first 100,000.
  std::vector<Measured> measured;
  for (int k : {10, 100, 1000, 10000}) {
    Measured m;
    m.nhs = NhsNumber(stem);
    m.events = k;
    m.subject.label = "the child";
    m.subject.keys.push_back(safeguard::storage::SubjectKey(Nhs(m.nhs)));
    m.subject.status = safeguard::policy::ChildStatus::kChildProtection;
    m.subject.role = safeguard::policy::RecipientRole::kLeadWorker;
    measured.push_back(std::move(m));
  }
  std::vector<std::string> background;
  auto fill_background = [&](int children, uint64_t events, Filler& filler) {
    size_t first = background.size();
    for (int c = 0; c < children; ++c) background.push_back(NhsNumber(stem));
    std::uniform_int_distribution<size_t> pick(first, background.size() - 1);
    return [&, pick](uint64_t i) mutable {
      (void)events;
      filler.Add(request(background[pick(rng)], static_cast<int>(i), background_envelope));
    };
  };

  auto measure = [&](uint64_t n_store) {
    std::printf("-- store: %llu notifications, %zu children, %.0f MB on disk; peak RSS %ld MB\n",
                static_cast<unsigned long long>(serial), background.size() + measured.size(),
                (FileSize(dir + "/broker.db") + FileSize(dir + "/broker.db-wal")) / 1e6,
                PeakRssMb());
    for (const Measured& m : measured) {
      std::vector<double> read_ms, total_ms;
      size_t shown = 0;
      for (int r = 0; r < runs; ++r) {
        auto t0 = SteadyClock::now();
        auto entries = (*store)->ReadChronology(m.subject.keys, absl::InfinitePast(),
                                                absl::InfiniteFuture(), 0, 10000);
        auto t1 = SteadyClock::now();
        if (!entries.ok() || static_cast<int>(entries->size()) != m.events) {
          std::fprintf(stderr, "read %zu of %d events\n", entries.ok() ? entries->size() : 0,
                       m.events);
          std::exit(1);
        }
        shown = 0;
        for (const auto& e : *entries) {
          NodeType type = NodeType::kGp;
          for (const Sender& s : kSenders) {
            if (s.id == e.sender) type = s.type;
          }
          auto event = safeguard::server::DecideChronologyEvent(e, type, {m.subject}, **policy);
          if (event.ok() && event->has_value()) ++shown;
        }
        auto t2 = SteadyClock::now();
        read_ms.push_back(Seconds(t0, t1) * 1000);
        total_ms.push_back(Seconds(t0, t2) * 1000);
      }
      Percentiles("read", n_store, m.events, read_ms);
      Percentiles("read+decide", n_store, m.events, total_ms);
      if (m.events == 10000) std::printf("      (%zu of 10000 shown to the lead worker)\n", shown);
    }
    std::printf("   peak RSS after reads %ld MB\n", PeakRssMb());
  };

  // Phase 1: N = 100,000 (the measured 11,110 and 88,890 over 10,000 background children).
  {
    Filler filler(**store);
    auto t0 = SteadyClock::now();
    const uint64_t total = 100000;
    std::vector<std::pair<int, int>> plan;  // (measured index, event number)
    for (int mi = 0; mi < static_cast<int>(measured.size()); ++mi) {
      for (int e = 0; e < measured[mi].events; ++e) plan.emplace_back(mi, e);
    }
    std::shuffle(plan.begin(), plan.end(), rng);
    std::vector<std::string> sealed_envelopes;
    sealed_envelopes.reserve(plan.size());
    for (const auto& [mi, e] : plan) sealed_envelopes.push_back(sealed(measured[mi].nhs, e));
    auto add_background = fill_background(10000, total - plan.size(), filler);
    // Interleave: one measured event every total/plan.size() notifications.
    const double every = static_cast<double>(total) / static_cast<double>(plan.size());
    size_t next = 0;
    for (uint64_t i = 0; i < total; ++i) {
      if (next < plan.size() && static_cast<double>(i) >= next * every) {
        filler.Add(request(measured[plan[next].first].nhs, plan[next].second,
                           std::move(sealed_envelopes[next])));
        ++next;
      } else {
        add_background(i);
      }
    }
    filler.Wait();
    std::printf("filled 100,000 in %.1f s\n", Seconds(t0, SteadyClock::now()));
    measure(100000);
  }
  if (large) {
    Filler filler(**store);
    auto t0 = SteadyClock::now();
    auto add_background = fill_background(90000, 900000, filler);
    for (uint64_t i = 0; i < 900000; ++i) add_background(i);
    filler.Wait();
    std::printf("grew to 1,000,000 in %.1f s\n", Seconds(t0, SteadyClock::now()));
    measure(1000000);
  } else {
    std::printf("(--large grows the store to 1,000,000 notifications over 100,000 children)\n");
  }
  store->reset();
  if (temporary) std::filesystem::remove_all(dir);
  return 0;
}
