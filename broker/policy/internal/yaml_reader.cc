#include "broker/policy/internal/yaml_reader.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace safeguard::policy::internal {
namespace {

// Nested lists deeper than this are a mistake, not a shared list.
constexpr int kMaxListDepth = 4;

const char* NodeKind(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a single value";
    case YAML::NodeType::Null:
      return "empty";
    default:
      return "undefined";
  }
}

}  // namespace

const MapEntry* MapEntries::Find(absl::string_view key) const {
  for (const MapEntry& e : entries_) {
    if (e.key == key) return &e;
  }
  return nullptr;
}

bool YamlReader::Load(const std::string& text, YAML::Node* root) {
  try {
    *root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    SourceMark at;
    if (!e.mark.is_null()) at = {e.mark.line + 1, e.mark.column + 1};
    Error(Diagnostic::Kind::kSyntax, at, absl::StrCat("not valid YAML: ", e.msg));
    return false;
  }
  if (!root->IsDefined() || root->IsNull()) {
    Error(Diagnostic::Kind::kSyntax, SourceMark{1, 1}, "the file is empty");
    return false;
  }
  return true;
}

SourceMark YamlReader::MarkOf(const YAML::Node& node) const {
  try {
    YAML::Mark m = node.Mark();
    if (m.is_null()) return {};
    return {m.line + 1, m.column + 1};
  } catch (const YAML::Exception&) {
    return {};
  }
}

void YamlReader::Report(Diagnostic::Severity severity, Diagnostic::Kind kind, SourceMark at,
                        std::string message) {
  Diagnostic d;
  d.severity = severity;
  d.kind = kind;
  d.file = file_;
  d.line = at.line;
  d.column = at.column;
  d.rule_id = rule_id_;
  d.message = std::move(message);
  if (severity == Diagnostic::Severity::kError) ++errors_;
  out_->push_back(std::move(d));
}

bool YamlReader::AnyKeyMap(const YAML::Node& node, absl::string_view what, MapEntries* out) {
  if (!node.IsMap()) {
    Error(Diagnostic::Kind::kSyntax, node,
          absl::StrCat(what, " must be a mapping (key: value lines), not ", NodeKind(node)));
    return false;
  }
  for (auto it = node.begin(); it != node.end(); ++it) {
    const YAML::Node key = it->first;
    if (!key.IsScalar()) {
      Error(Diagnostic::Kind::kSyntax, key, absl::StrCat("a key in ", what, " must be a name"));
      continue;
    }
    if (out->Find(key.Scalar()) != nullptr) {
      Error(Diagnostic::Kind::kDuplicate, key,
            absl::StrCat(what, " has '", key.Scalar(), "' twice; give each key once"));
      continue;
    }
    out->mutable_all().push_back({key.Scalar(), key, it->second});
  }
  return true;
}

bool YamlReader::Map(const YAML::Node& node, absl::string_view what,
                     std::initializer_list<absl::string_view> allowed, MapEntries* out) {
  MapEntries all;
  if (!AnyKeyMap(node, what, &all)) return false;
  for (MapEntry& e : all.mutable_all()) {
    if (std::find(allowed.begin(), allowed.end(), e.key) == allowed.end()) {
      Error(Diagnostic::Kind::kSyntax, e.key_node,
            absl::StrCat(what, " has an unknown key '", e.key,
                         "'; the keys it may have are: ", absl::StrJoin(allowed, ", ")));
      continue;
    }
    out->mutable_all().push_back(std::move(e));
  }
  return true;
}

const MapEntry* YamlReader::Require(const MapEntries& entries, absl::string_view key,
                                    const YAML::Node& parent, absl::string_view what) {
  const MapEntry* e = entries.Find(key);
  if (e == nullptr) {
    Error(Diagnostic::Kind::kMissing, parent, absl::StrCat(what, " needs '", key, "'"));
  }
  return e;
}

std::optional<std::string> YamlReader::String(const YAML::Node& node, absl::string_view what) {
  if (!node.IsScalar()) {
    Error(Diagnostic::Kind::kSyntax, node,
          absl::StrCat(what, " must be a single value, not ", NodeKind(node)));
    return std::nullopt;
  }
  std::string value = node.Scalar();
  if (absl::StripAsciiWhitespace(value).empty()) {
    Error(Diagnostic::Kind::kMissing, node, absl::StrCat(what, " is empty"));
    return std::nullopt;
  }
  return value;
}

bool YamlReader::Flatten(const YAML::Node& node, absl::string_view what, int depth,
                         std::vector<YAML::Node>* out) {
  if (node.IsScalar()) {
    out->push_back(node);
    return true;
  }
  if (!node.IsSequence() || depth > kMaxListDepth) {
    Error(Diagnostic::Kind::kSyntax, node,
          absl::StrCat(what, " must be a list of names, but holds ", NodeKind(node)));
    return false;
  }
  bool ok = true;
  for (const YAML::Node& item : node) ok = Flatten(item, what, depth + 1, out) && ok;
  return ok;
}

std::optional<std::vector<YAML::Node>> YamlReader::ScalarList(const YAML::Node& node,
                                                              absl::string_view what) {
  std::vector<YAML::Node> out;
  if (!Flatten(node, what, 0, &out)) return std::nullopt;
  return out;
}

}  // namespace safeguard::policy::internal
