#include "broker/policy/vocabulary.h"

#include <array>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "clients/protocol/envelope.h"

namespace safeguard::policy {
namespace {

using safeguard::v1::DisclosableField;
using safeguard::v1::NotificationType;

constexpr std::array<absl::string_view, kChildStatusCount> kStatusNames = {
    "no-plan", "early-help", "child-in-need", "child-protection", "looked-after"};
constexpr std::array<absl::string_view, kConsentStateCount> kConsentNames = {
    "given", "not-sought", "refused", "withdrawn"};
constexpr std::array<absl::string_view, 5> kReasonNames = {
    "", "cannot-be-given", "cannot-reasonably-obtain", "would-prejudice-protection",
    "not-the-lawful-basis"};
constexpr std::array<absl::string_view, kFlagFieldCount> kFlagFieldNames = {
    "plan-type", "lead-worker", "escalation-contact", "plan-dates"};
constexpr std::array<absl::string_view, kLookupReasonCount> kLookupReasonNames = {
    "attendance", "registration", "record-check"};
constexpr absl::string_view kLeadWorker = "lead-worker";
constexpr absl::string_view kTypePrefix = "NOTIFICATION_TYPE_";

template <size_t N>
int Find(const std::array<absl::string_view, N>& names, absl::string_view name) {
  for (size_t i = 0; i < N; ++i) {
    if (names[i] == name) return static_cast<int>(i);
  }
  return -1;
}

struct TypeTable {
  std::vector<NotificationType> types;
  std::vector<std::string> names;
  std::array<int, 256> index;  // enum number -> position; -1 when absent
};

const TypeTable& Types() {
  static const TypeTable* table = [] {
    auto* t = new TypeTable;
    t->index.fill(-1);
    const auto* d = safeguard::v1::NotificationType_descriptor();
    for (int i = 0; i < d->value_count(); ++i) {
      const auto* v = d->value(i);
      if (v->number() == 0) continue;
      std::string name(absl::StripPrefix(v->name(), kTypePrefix));
      absl::AsciiStrToLower(&name);
      absl::StrReplaceAll({{"_", "-"}}, &name);
      if (v->number() > 0 && v->number() < static_cast<int>(t->index.size())) {
        t->index[v->number()] = static_cast<int>(t->types.size());
      }
      t->types.push_back(static_cast<NotificationType>(v->number()));
      t->names.push_back(std::move(name));
    }
    return t;
  }();
  return *table;
}

}  // namespace

RecipientRole RoleOf(protocol::NodeType type) { return static_cast<RecipientRole>(Index(type)); }

std::optional<protocol::NodeType> NodeTypeOf(RecipientRole role) {
  if (role == RecipientRole::kLeadWorker) return std::nullopt;
  return static_cast<protocol::NodeType>(Index(role));
}

absl::string_view ChildStatusName(ChildStatus s) { return kStatusNames[Index(s)]; }
std::optional<ChildStatus> ParseChildStatus(absl::string_view name) {
  int i = Find(kStatusNames, name);
  if (i < 0) return std::nullopt;
  return static_cast<ChildStatus>(i);
}

absl::string_view ConsentStateName(ConsentState c) { return kConsentNames[Index(c)]; }
std::optional<ConsentState> ParseConsentState(absl::string_view name) {
  int i = Find(kConsentNames, name);
  if (i < 0) return std::nullopt;
  return static_cast<ConsentState>(i);
}

absl::string_view NotSoughtReasonName(NotSoughtReason r) {
  return kReasonNames[static_cast<int>(r)];
}
std::optional<NotSoughtReason> ParseNotSoughtReason(absl::string_view name) {
  if (name.empty()) return std::nullopt;
  int i = Find(kReasonNames, name);
  if (i < 0) return std::nullopt;
  return static_cast<NotSoughtReason>(i);
}

absl::string_view RecipientRoleName(RecipientRole r) {
  if (r == RecipientRole::kLeadWorker) return kLeadWorker;
  return protocol::NodeTypeName(*NodeTypeOf(r));
}
std::optional<RecipientRole> ParseRecipientRole(absl::string_view name) {
  if (name == kLeadWorker) return RecipientRole::kLeadWorker;
  auto type = protocol::ParseNodeType(name);
  if (!type) return std::nullopt;
  return RoleOf(*type);
}

std::string NotificationTypeName(NotificationType type) {
  int i = TypeIndex(type);
  if (i < 0) return absl::StrCat("unknown-type-", static_cast<int>(type));
  return Types().names[i];
}

std::optional<NotificationType> ParseNotificationType(absl::string_view name) {
  const TypeTable& t = Types();
  for (size_t i = 0; i < t.names.size(); ++i) {
    if (t.names[i] == name) return t.types[i];
  }
  return std::nullopt;
}

const std::vector<NotificationType>& AllNotificationTypes() { return Types().types; }

int TypeIndex(NotificationType type) {
  int n = static_cast<int>(type);
  if (n <= 0 || n >= 256) return -1;
  return Types().index[n];
}

absl::string_view FlagFieldName(FlagField f) { return kFlagFieldNames[static_cast<int>(f)]; }
std::optional<FlagField> ParseFlagField(absl::string_view name) {
  int i = Find(kFlagFieldNames, name);
  if (i < 0) return std::nullopt;
  return static_cast<FlagField>(i);
}

absl::string_view LookupReasonName(LookupReason r) {
  return kLookupReasonNames[static_cast<int>(r)];
}
std::optional<LookupReason> ParseLookupReason(absl::string_view name) {
  int i = Find(kLookupReasonNames, name);
  if (i < 0) return std::nullopt;
  return static_cast<LookupReason>(i);
}

std::string AllFlagFieldNames() { return absl::StrJoin(kFlagFieldNames, ", "); }
std::string AllLookupReasonNames() { return absl::StrJoin(kLookupReasonNames, ", "); }

bool IsFlagRecipient(RecipientRole role) {
  return role == RecipientRole::kGp || role == RecipientRole::kHealth ||
         role == RecipientRole::kSchool;
}
std::string AllFlagRecipientNames() {
  return absl::StrCat(RecipientRoleName(RecipientRole::kGp), ", ",
                      RecipientRoleName(RecipientRole::kHealth), ", ",
                      RecipientRoleName(RecipientRole::kSchool));
}

std::string AllChildStatusNames() { return absl::StrJoin(kStatusNames, ", "); }
std::string AllConsentStateNames() { return absl::StrJoin(kConsentNames, ", "); }
std::string AllNotSoughtReasonNames() {
  return absl::StrJoin(kReasonNames.begin() + 1, kReasonNames.end(), ", ");
}
std::string AllRecipientRoleNames() {
  return absl::StrCat(protocol::AllNodeTypeNames(), ", ", kLeadWorker);
}
std::string AllFieldNames() { return FieldSet::All().ToString(); }

FieldSet FieldSet::All() {
  FieldSet s;
  for (int f = 1; f <= 6; ++f) s.Insert(static_cast<DisclosableField>(f));
  return s;
}

std::vector<DisclosableField> FieldSet::ToVector() const {
  std::vector<DisclosableField> out;
  for (int f = 1; f <= 6; ++f) {
    if (Contains(static_cast<DisclosableField>(f))) out.push_back(static_cast<DisclosableField>(f));
  }
  return out;
}

std::set<DisclosableField> FieldSet::ToSet() const {
  auto v = ToVector();
  return {v.begin(), v.end()};
}

std::string FieldSet::ToString() const {
  std::vector<absl::string_view> names;
  for (auto f : ToVector()) names.push_back(FieldName(f));
  return names.empty() ? "none" : absl::StrJoin(names, ", ");
}

absl::string_view FieldName(DisclosableField field) {
  static const auto* names = [] {
    auto* n = new std::array<std::string, 7>;
    for (int f = 1; f <= 6; ++f)
      (*n)[f] = protocol::DisclosableFieldName(static_cast<DisclosableField>(f));
    return n;
  }();
  int f = static_cast<int>(field);
  return f >= 1 && f <= 6 ? absl::string_view((*names)[f]) : absl::string_view("unspecified");
}

std::optional<DisclosableField> ParseField(absl::string_view name) {
  for (int f = 1; f <= 6; ++f) {
    auto field = static_cast<DisclosableField>(f);
    if (FieldName(field) == name) return field;
  }
  return std::nullopt;
}

}  // namespace safeguard::policy
