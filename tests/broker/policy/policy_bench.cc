// Decision latency of the sharing-policy engine on the default policy (deploy/policy).
//
//   build/tests/broker/policy/policy_bench                 percentiles, then Google Benchmark
//   build/tests/broker/policy/policy_bench --benchmark_filter=Evaluate
//
// First a timing loop over one million decisions (requests drawn from the whole request space in
// a shuffled order, so the table is not all in cache), each timed alone with the steady clock,
// building and destroying the complete decision record: p50, p90, p99, p99.9 and max. Then
// Google Benchmark's means for evaluation, all ten recipients, explain, JSON, flags, and loading.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>

#include "absl/strings/str_cat.h"
#include "broker/policy/sharing_policy.h"

namespace safeguard::policy {
namespace {

const std::string kPolicyPath = absl::StrCat(SAFEGUARD_POLICY_DIR, "/england.yaml");

std::shared_ptr<const SharingPolicy> Policy() {
  static auto* policy = [] {
    auto p = SharingPolicy::LoadFile(kPolicyPath);
    if (!p.ok()) {
      std::fprintf(stderr, "%s\n", std::string(p.status().message()).c_str());
      std::abort();
    }
    return new std::shared_ptr<const SharingPolicy>(*p);
  }();
  return *policy;
}

const std::vector<SharingRequest>& Requests() {
  static auto* requests = [] {
    auto* out = new std::vector<SharingRequest>;
    SharingRequest r;
    for (int s = 0; s < kNodeTypeCount - 1; ++s) {
      r.sender = static_cast<protocol::NodeType>(s);
      for (auto type : AllNotificationTypes()) {
        r.type = type;
        for (int st = 0; st < kChildStatusCount; ++st) {
          r.child_status = static_cast<ChildStatus>(st);
          for (int c = 0; c < kConsentStateCount; ++c) {
            r.consent = static_cast<ConsentState>(c);
            for (bool risk : {false, true}) {
              r.risk_of_harm = risk;
              for (int role = 0; role < kRecipientRoleCount; ++role) {
                r.recipient = static_cast<RecipientRole>(role);
                out->push_back(r);
              }
            }
          }
        }
      }
    }
    std::shuffle(out->begin(), out->end(), std::mt19937(42));
    return out;
  }();
  return *requests;
}

struct Percentiles {
  double p50, p90, p99, p999, max, mean;
};

template <typename F>
Percentiles Time(int samples, F&& f) {
  using Clock = std::chrono::steady_clock;
  std::vector<double> ns(samples);
  for (int i = 0; i < samples / 10; ++i) f(i);  // warm up
  for (int i = 0; i < samples; ++i) {
    auto t0 = Clock::now();
    f(i);
    auto t1 = Clock::now();
    ns[i] = std::chrono::duration<double, std::nano>(t1 - t0).count();
  }
  double sum = 0;
  for (double v : ns) sum += v;
  std::sort(ns.begin(), ns.end());
  auto at = [&](double q) { return ns[static_cast<size_t>(q * (ns.size() - 1))]; };
  return {at(0.50), at(0.90), at(0.99), at(0.999), ns.back(), sum / ns.size()};
}

void Print(const char* what, const Percentiles& p) {
  std::printf("%-44s p50 %8.2f µs  p90 %8.2f  p99 %8.2f  p99.9 %8.2f  max %9.2f  mean %8.2f\n",
              what, p.p50 / 1e3, p.p90 / 1e3, p.p99 / 1e3, p.p999 / 1e3, p.max / 1e3, p.mean / 1e3);
}

void PrintPercentiles() {
  const SharingPolicy& p = *Policy();
  const auto& requests = Requests();
  std::printf("policy %s (%d rules, sha256 %.16s...), %zu distinct requests\n", p.name().c_str(),
              p.rule_count(), p.digest().c_str(), requests.size());
  Print("clock overhead (empty timed region)", Time(1000000, [](int) {}));
  Print("Evaluate (one recipient, full record)", Time(1000000, [&](int i) {
          Decision d = p.Evaluate(requests[i % requests.size()]);
          benchmark::DoNotOptimize(d);
        }));
  std::vector<SharingRequest> shares;
  for (const SharingRequest& r : requests) {
    if (p.Evaluate(r).shared()) shares.push_back(r);
  }
  std::printf("%zu of the requests are shares\n", shares.size());
  Print("Evaluate, shares only (the larger records)", Time(1000000, [&](int i) {
          Decision d = p.Evaluate(shares[i % shares.size()]);
          benchmark::DoNotOptimize(d);
        }));
  Print("EvaluateAll (ten recipients)", Time(200000, [&](int i) {
          auto all = p.EvaluateAll(requests[i % requests.size()]);
          benchmark::DoNotOptimize(all);
        }));
  Print("Evaluate + DecisionToJson", Time(200000, [&](int i) {
          std::string json = DecisionToJson(p.Evaluate(requests[i % requests.size()]));
          benchmark::DoNotOptimize(json);
        }));
  Print("Explain (rule-by-rule trace, tools only)", Time(20000, [&](int i) {
          Explanation e = p.Explain(requests[i % requests.size()]);
          benchmark::DoNotOptimize(e);
        }));
  std::vector<FlagRequest> flags;
  for (int role = 0; role < kRecipientRoleCount; ++role) {
    for (int st = 0; st < kChildStatusCount; ++st) {
      flags.push_back({static_cast<RecipientRole>(role), static_cast<ChildStatus>(st)});
    }
  }
  std::shuffle(flags.begin(), flags.end(), std::mt19937(7));
  Print("EvaluateFlag (one role and plan status)", Time(1000000, [&](int i) {
          FlagDecision d = p.EvaluateFlag(flags[i % flags.size()]);
          benchmark::DoNotOptimize(d);
        }));
  Print("LoadFile (parse, validate, compile)", Time(20, [&](int) {
          auto loaded = SharingPolicy::LoadFile(kPolicyPath);
          benchmark::DoNotOptimize(loaded);
        }));
  std::printf("\n");
}

void BM_Evaluate(benchmark::State& state) {
  const SharingPolicy& p = *Policy();
  const auto& requests = Requests();
  size_t i = 0;
  for (auto _ : state) {
    Decision d = p.Evaluate(requests[i++ % requests.size()]);
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_Evaluate);

void BM_EvaluateFromManyThreads(benchmark::State& state) {
  const SharingPolicy& p = *Policy();
  const auto& requests = Requests();
  size_t i = state.thread_index() * 7919;
  for (auto _ : state) {
    Decision d = p.Evaluate(requests[i++ % requests.size()]);
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_EvaluateFromManyThreads)->Threads(2);

void BM_EvaluateAll(benchmark::State& state) {
  const SharingPolicy& p = *Policy();
  const auto& requests = Requests();
  size_t i = 0;
  for (auto _ : state) {
    auto all = p.EvaluateAll(requests[i++ % requests.size()]);
    benchmark::DoNotOptimize(all);
  }
}
BENCHMARK(BM_EvaluateAll);

void BM_DecisionToJson(benchmark::State& state) {
  Decision d = Policy()->Evaluate(Requests()[0]);
  for (auto _ : state) {
    std::string json = DecisionToJson(d);
    benchmark::DoNotOptimize(json);
  }
}
BENCHMARK(BM_DecisionToJson);

void BM_Explain(benchmark::State& state) {
  const SharingPolicy& p = *Policy();
  const auto& requests = Requests();
  size_t i = 0;
  for (auto _ : state) {
    Explanation e = p.Explain(requests[i++ % requests.size()]);
    benchmark::DoNotOptimize(e);
  }
}
BENCHMARK(BM_Explain);

void BM_EvaluateFlag(benchmark::State& state) {
  const SharingPolicy& p = *Policy();
  int i = 0;
  for (auto _ : state) {
    FlagDecision d = p.EvaluateFlag({static_cast<RecipientRole>(i % kRecipientRoleCount),
                                     static_cast<ChildStatus>(i / 3 % kChildStatusCount)});
    ++i;
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_EvaluateFlag);

void BM_LoadFile(benchmark::State& state) {
  for (auto _ : state) {
    auto p = SharingPolicy::LoadFile(kPolicyPath);
    benchmark::DoNotOptimize(p);
  }
}
BENCHMARK(BM_LoadFile)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace safeguard::policy

int main(int argc, char** argv) {
  safeguard::policy::PrintPercentiles();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
