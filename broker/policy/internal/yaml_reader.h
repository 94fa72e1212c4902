// A thin layer over yaml-cpp for the policy and cases files: loads a document, reports problems
// with file:line:column, refuses unknown and duplicate keys (yaml-cpp accepts both silently), and
// turns yaml-cpp's exceptions into diagnostics so that nothing above it sees an exception.
#ifndef SAFEGUARD_BROKER_POLICY_INTERNAL_YAML_READER_H_
#define SAFEGUARD_BROKER_POLICY_INTERNAL_YAML_READER_H_

#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "broker/policy/diagnostic.h"
#include "broker/policy/internal/policy_model.h"
#include "yaml-cpp/yaml.h"

namespace safeguard::policy::internal {

struct MapEntry {
  std::string key;
  YAML::Node key_node;
  YAML::Node value;
};

class MapEntries {
 public:
  const MapEntry* Find(absl::string_view key) const;
  const std::vector<MapEntry>& all() const { return entries_; }
  std::vector<MapEntry>& mutable_all() { return entries_; }

 private:
  std::vector<MapEntry> entries_;
};

// Thread-compatible. Collects diagnostics into the vector it was given.
class YamlReader {
 public:
  YamlReader(std::string file, std::vector<Diagnostic>* out) : file_(std::move(file)), out_(out) {}

  // False (and a syntax diagnostic with the parser's line and column) when `text` is not YAML
  // or is empty.
  bool Load(const std::string& text, YAML::Node* root);

  SourceMark MarkOf(const YAML::Node& node) const;

  // The rule the next diagnostics are about ("" for none).
  void set_rule(std::string rule_id) { rule_id_ = std::move(rule_id); }

  void Report(Diagnostic::Severity severity, Diagnostic::Kind kind, SourceMark at,
              std::string message);
  void Error(Diagnostic::Kind kind, const YAML::Node& at, std::string message) {
    Report(Diagnostic::Severity::kError, kind, MarkOf(at), std::move(message));
  }
  void Error(Diagnostic::Kind kind, SourceMark at, std::string message) {
    Report(Diagnostic::Severity::kError, kind, at, std::move(message));
  }

  // The entries of a mapping, in file order. Reports a node that is not a mapping, keys not in
  // `allowed` (listing the allowed ones) and keys given twice; returns false only when `node`
  // is not a mapping. `what` names the node in messages ("rule 'x' match").
  bool Map(const YAML::Node& node, absl::string_view what,
           std::initializer_list<absl::string_view> allowed, MapEntries* out);
  // The same, for a mapping whose keys are names chosen by the author (no allowed list).
  bool AnyKeyMap(const YAML::Node& node, absl::string_view what, MapEntries* out);

  // Reports `key` missing from the mapping at `parent`.
  const MapEntry* Require(const MapEntries& entries, absl::string_view key,
                          const YAML::Node& parent, absl::string_view what);

  // A non-empty scalar, or nullopt after reporting.
  std::optional<std::string> String(const YAML::Node& node, absl::string_view what);
  // A list of scalars: a sequence (nested sequences, e.g. YAML aliases of shared lists, are
  // flattened) or a single scalar. nullopt after reporting.
  std::optional<std::vector<YAML::Node>> ScalarList(const YAML::Node& node, absl::string_view what);

  int error_count() const { return errors_; }
  const std::string& file() const { return file_; }

 private:
  bool Flatten(const YAML::Node& node, absl::string_view what, int depth,
               std::vector<YAML::Node>* out);

  std::string file_;
  std::vector<Diagnostic>* out_;
  std::string rule_id_;
  int errors_ = 0;
};

}  // namespace safeguard::policy::internal

#endif  // SAFEGUARD_BROKER_POLICY_INTERNAL_YAML_READER_H_
