// Turns a parsed policy into a decision table and finds what only the whole policy shows:
// overlapping share rules with different outcomes and no order between them (errors), rules
// that can never decide, withholdings that silently override shares, and unused overrides
// (warnings).
//
// The request space is finite (sender x type x status x consent x risk x recipient: about 10^5
// cells), so the compiler resolves every cell once at load time. Evaluation is then one table
// lookup plus a copy of a prebuilt decision record, and the analysis is exact, not heuristic.
#ifndef SAFEGUARD_BROKER_POLICY_INTERNAL_POLICY_COMPILER_H_
#define SAFEGUARD_BROKER_POLICY_INTERNAL_POLICY_COMPILER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "broker/policy/decision.h"
#include "broker/policy/diagnostic.h"
#include "broker/policy/internal/policy_model.h"

namespace safeguard::policy::internal {

// One coordinate of the request space.
struct Cell {
  int role = 0;
  int type = 0;  // TypeIndex
  int sender = 0;
  int status = 0;
  int consent = 0;
  int risk = 0;  // 1 = risk indicated
};

// A (rule, recipient) pair: rules are resolved per recipient.
struct Entry {
  int rule = 0;  // index into PolicyModel::rules
  RecipientRole role = RecipientRole::kFrontDoor;
  FieldSet fields;
};

// How one cell is decided.
struct Resolution {
  std::vector<int> matched;  // entries matching the cell, file order
  int winner = -1;           // entry, or -1: nothing matched (or a conflict)
  bool conflict = false;
  std::vector<std::pair<int, int>> conflicting;  // share entries with no order between them
};

// Immutable after Compile; thread-safe to read.
// Invariants: table.size() == CellCount(); every table value indexes `verdicts`; entries
// reference only valid rules.
struct CompiledPolicy {
  PolicyModel model;
  std::string digest;  // hex SHA-256 of the file's bytes
  int type_count = 0;
  std::vector<Entry> entries;
  std::vector<std::vector<int>> entries_by_role;  // [role] -> entries, file order
  std::vector<Decision> verdicts;                 // decision templates; request left empty
  std::vector<uint16_t> table;                    // cell -> verdict
  uint16_t unknown_type_verdict = 0;              // for a type the policy cannot know
  std::vector<uint8_t> beats;                     // entries x entries: Beats(), precomputed
  // Flags: [role * kChildStatusCount + status] -> the decision, request filled in. Every role
  // and status has one (most are the default "no flag").
  std::vector<FlagDecision> flag_table;
  // The index of the flag rule deciding each flag_table entry, or -1 for the default.
  std::vector<int> flag_winner;

  size_t CellCount() const;
  size_t CellIndex(const Cell& c) const;
  bool Matches(const Entry& e, const Cell& c) const;
  // True when entry a decides over entry b (same role) should both match: a names b in
  // `overrides`, or a matches strictly fewer requests than b (and b does not override a).
  bool Beats(int a, int b) const;
  bool SameOutcome(int a, int b) const;
  Resolution Resolve(const Cell& c) const;
};

inline size_t FlagCellIndex(RecipientRole role, ChildStatus status) {
  return static_cast<size_t>(Index(role)) * kChildStatusCount + Index(status);
}

// Compiles `model`; appends conflicts (errors) and the analysis warnings to `diagnostics`.
std::unique_ptr<CompiledPolicy> Compile(PolicyModel model, std::string digest,
                                        std::vector<Diagnostic>* diagnostics);

// "status child-protection", "consent refused", ... for messages.
std::string DescribeCell(const Cell& c);
// Why entry `e` does not match cell `c` ("status child-protection is not in [no-plan, ...]").
std::string WhyNotMatched(const CompiledPolicy& p, const Entry& e, const Cell& c);

}  // namespace safeguard::policy::internal

#endif  // SAFEGUARD_BROKER_POLICY_INTERNAL_POLICY_COMPILER_H_
