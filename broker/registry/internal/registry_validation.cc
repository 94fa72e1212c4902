#include "broker/registry/internal/registry_validation.h"

#include "absl/strings/str_cat.h"
#include "clients/protocol/identifiers.h"
#include "clients/protocol/notification_validator.h"
#include "clients/protocol/text_checks.h"
#include "google/protobuf/util/time_util.h"

namespace safeguard::registry::internal {
namespace {

using safeguard::v1::Involvement;
using safeguard::v1::Worker;

using protocol::FieldError;
using protocol::IsPrintableAscii;
using protocol::Utf8Length;

bool HasControlCharacter(absl::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

absl::Status ValidateText(absl::string_view s, absl::string_view path, size_t max) {
  if (Utf8Length(s) > max) {
    return FieldError(path, absl::StrCat("is longer than ", max, " characters"));
  }
  if (HasControlCharacter(s)) {
    return FieldError(path, "contains a control character (newline, tab, ...); remove it");
  }
  return absl::OkStatus();
}

absl::Status ValidateTimestamp(const google::protobuf::Timestamp& ts, absl::string_view path) {
  using google::protobuf::util::TimeUtil;
  if (ts.seconds() < TimeUtil::kTimestampMinSeconds ||
      ts.seconds() > TimeUtil::kTimestampMaxSeconds || ts.nanos() < 0 ||
      ts.nanos() > 999999999) {
    return FieldError(path, "timestamp is out of range");
  }
  if (FromTimestamp(ts) < absl::FromCivil(absl::CivilDay(1900, 1, 1), absl::UTCTimeZone())) {
    return FieldError(path, "is before 1900; was it left unset?");
  }
  return absl::OkStatus();
}

bool IsEmptyWorker(const Worker& w) {
  return w.node_id().empty() && w.worker_id().empty() && w.name().empty() && w.team().empty() &&
         w.contact().empty() && w.role().empty();
}

// Checks the lengths and shape of every field; fills node_id with the publisher.
absl::Status ValidateWorkerFields(Worker& w, const std::string& path, const std::string& publisher) {
  if (w.node_id().empty()) w.set_node_id(publisher);
  if (w.node_id().size() > 128 || !IsPrintableAscii(w.node_id())) {
    return FieldError(path + ".node_id", "must be a node id: 1 to 128 printable ASCII characters");
  }
  if (w.worker_id().size() > kMaxReferenceLength || HasControlCharacter(w.worker_id())) {
    return FieldError(path + ".worker_id",
                      "must be the worker's id in your system: 1 to 64 characters");
  }
  if (auto s = ValidateText(w.name(), path + ".name", 200); !s.ok()) return s;
  if (auto s = ValidateText(w.team(), path + ".team", 200); !s.ok()) return s;
  if (auto s = ValidateText(w.contact(), path + ".contact", 200); !s.ok()) return s;
  if (auto s = ValidateText(w.role(), path + ".role", 100); !s.ok()) return s;
  return absl::OkStatus();
}

absl::string_view PlanName(safeguard::v1::PlanType type) {
  switch (type) {
    case safeguard::v1::PLAN_TYPE_EARLY_HELP:
      return "an early-help plan";
    case safeguard::v1::PLAN_TYPE_CHILD_IN_NEED:
      return "a child-in-need plan";
    case safeguard::v1::PLAN_TYPE_CHILD_PROTECTION:
      return "a child-protection plan";
    case safeguard::v1::PLAN_TYPE_LOOKED_AFTER:
      return "a looked-after child";
    default:
      return "this plan";
  }
}

absl::Status ValidateIdentifiers(
    google::protobuf::RepeatedPtrField<safeguard::v1::SubjectIdentifier>& ids,
    const std::string& path, absl::string_view empty_hint) {
  if (ids.empty()) return FieldError(path, empty_hint);
  if (ids.size() > kMaxIdentifiersPerPerson) {
    return FieldError(path, absl::StrCat("has more than ", kMaxIdentifiersPerPerson, " entries"));
  }
  for (int i = 0; i < ids.size(); ++i) {
    if (auto s = NormaliseIdentifier(ids[i], absl::StrCat(path, "[", i, "]")); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

std::string SchemeName(safeguard::v1::IdentifierScheme scheme) {
  switch (scheme) {
    case safeguard::v1::IDENTIFIER_SCHEME_NHS_NUMBER:
      return "nhs-number";
    case safeguard::v1::IDENTIFIER_SCHEME_SCHOOL_UPN:
      return "school-upn";
    case safeguard::v1::IDENTIFIER_SCHEME_POLICE_REFERENCE:
      return "police-reference";
    case safeguard::v1::IDENTIFIER_SCHEME_HOUSING_REFERENCE:
      return "housing-reference";
    case safeguard::v1::IDENTIFIER_SCHEME_LOCAL_AUTHORITY_REFERENCE:
      return "la-reference";
    case safeguard::v1::IDENTIFIER_SCHEME_LOCAL_REFERENCE:
      return "local-reference";
    default:
      return "unknown-scheme";
  }
}

absl::Status NormaliseIdentifier(safeguard::v1::SubjectIdentifier& id, absl::string_view path) {
  if (absl::Status s = protocol::NormaliseIdentifier(id, path); !s.ok()) return s;
  switch (id.scheme()) {
    case safeguard::v1::IDENTIFIER_SCHEME_NHS_NUMBER:
    case safeguard::v1::IDENTIFIER_SCHEME_SCHOOL_UPN:
      id.clear_issuer();  // national: the same number whoever quotes it
      return absl::OkStatus();
    default:
      if (id.issuer().size() > 128 || !IsPrintableAscii(id.issuer())) {
        return FieldError(absl::StrCat(path, ".issuer"),
                          "must be 1 to 128 printable ASCII characters");
      }
      return absl::OkStatus();
  }
}

absl::Status ValidateReference(absl::string_view reference, absl::string_view path) {
  if (reference.empty()) {
    return FieldError(path, "is empty; give your own case or plan reference (1-64 characters)");
  }
  if (reference.size() > kMaxReferenceLength || !IsPrintableAscii(reference)) {
    return FieldError(path, "must be 1 to 64 printable ASCII characters without spaces");
  }
  return absl::OkStatus();
}

absl::Status NormaliseInvolvement(Involvement& inv, const std::string& publisher,
                                  const std::string& publisher_area, absl::Time now) {
  if (auto s = ValidateReference(inv.reference(), "involvement.reference"); !s.ok()) return s;
  if (inv.plan_type() == safeguard::v1::PLAN_TYPE_UNSPECIFIED ||
      !safeguard::v1::PlanType_IsValid(inv.plan_type())) {
    return FieldError("involvement.plan_type", "is unset or unknown; use one of PlanType");
  }
  if (auto s = ValidateIdentifiers(*inv.mutable_child(), "involvement.child",
                                   "is empty; give every identifier you hold for the child "
                                   "(an NHS number if known)");
      !s.ok()) {
    return s;
  }
  if (auto s = ValidateText(inv.child_display_name(), "involvement.child_display_name", 200);
      !s.ok()) {
    return s;
  }
  if (inv.area().empty()) inv.set_area(publisher_area);
  if (inv.area().size() > 64 || !IsPrintableAscii(inv.area())) {
    return FieldError("involvement.area", "must be an area code: 1 to 64 printable characters");
  }

  if (!inv.has_lead_worker() || IsEmptyWorker(inv.lead_worker())) {
    return FieldError("involvement.lead_worker",
                      "is required: give the lead worker's id in your system, name and contact");
  }
  if (auto s = ValidateWorkerFields(*inv.mutable_lead_worker(), "involvement.lead_worker",
                                    publisher);
      !s.ok()) {
    return s;
  }
  if (inv.lead_worker().worker_id().empty()) {
    return FieldError("involvement.lead_worker.worker_id",
                      "is empty; give the worker's id in your system (1-64 characters)");
  }
  if (inv.lead_worker().name().empty()) {
    return FieldError("involvement.lead_worker.name",
                      "is empty; agencies are told who the lead worker is by name");
  }
  if (inv.lead_worker().contact().empty()) {
    return FieldError("involvement.lead_worker.contact",
                      "is empty; give a phone number or secure e-mail address");
  }
  for (auto [worker, name] : {std::pair{inv.mutable_deputy(), "involvement.deputy"},
                              std::pair{inv.mutable_team_manager(), "involvement.team_manager"}}) {
    if (IsEmptyWorker(*worker)) continue;
    if (auto s = ValidateWorkerFields(*worker, name, publisher); !s.ok()) return s;
  }
  if (!inv.has_deputy() || IsEmptyWorker(inv.deputy())) inv.clear_deputy();
  if (!inv.has_team_manager() || IsEmptyWorker(inv.team_manager())) inv.clear_team_manager();

  const bool escalation_required = inv.plan_type() == safeguard::v1::PLAN_TYPE_CHILD_IN_NEED ||
                                   inv.plan_type() == safeguard::v1::PLAN_TYPE_CHILD_PROTECTION;
  if (!inv.has_escalation_contact() || IsEmptyWorker(inv.escalation_contact())) {
    inv.clear_escalation_contact();
    if (escalation_required) {
      return FieldError("involvement.escalation_contact",
                        absl::StrCat("is required for ", PlanName(inv.plan_type()),
                                     " (requirements §4.9): give a named person or role and a "
                                     "contact"));
    }
  } else {
    if (auto s = ValidateWorkerFields(*inv.mutable_escalation_contact(),
                                      "involvement.escalation_contact", publisher);
        !s.ok()) {
      return s;
    }
    if (inv.escalation_contact().name().empty() && inv.escalation_contact().role().empty()) {
      return FieldError("involvement.escalation_contact",
                        "names nobody: give a named person (name) or a role (e.g. \"team "
                        "manager, Safeguarding Hub\")");
    }
    if (inv.escalation_contact().contact().empty()) {
      return FieldError("involvement.escalation_contact.contact",
                        "is empty; give a phone number or secure e-mail address so others can "
                        "escalate");
    }
  }

  // An unset start is filled by the store (the stored start, or now for a new involvement).
  if (inv.has_start()) {
    if (auto s = ValidateTimestamp(inv.start(), "involvement.start"); !s.ok()) return s;
  }
  if (inv.has_next_review()) {
    if (auto s = ValidateTimestamp(inv.next_review(), "involvement.next_review"); !s.ok()) {
      return s;
    }
  }
  if (inv.has_end()) {
    return FieldError("involvement.end",
                      "is set by CloseInvolvement; leave it empty here, or call CloseInvolvement "
                      "to end the plan");
  }
  // Filled by the broker, whatever the caller sent.
  inv.set_publisher(publisher);
  inv.clear_subject_id();
  inv.set_open(true);
  inv.clear_version();
  inv.clear_updated_at();
  inv.clear_closure_reason();
  return absl::OkStatus();
}

absl::Status NormaliseHousehold(safeguard::v1::Household& household,
                                const std::string& publisher_area) {
  if (auto s = ValidateReference(household.reference(), "household.reference"); !s.ok()) return s;
  if (household.members().empty()) {
    return FieldError("household.members", "is empty; give the household's children and adults");
  }
  if (household.members_size() > kMaxHouseholdMembers) {
    return FieldError("household.members",
                      absl::StrCat("has more than ", kMaxHouseholdMembers, " people"));
  }
  bool has_child = false;
  for (int i = 0; i < household.members_size(); ++i) {
    auto& member = *household.mutable_members(i);
    const std::string path = absl::StrCat("household.members[", i, "]");
    if (member.role() == safeguard::v1::HOUSEHOLD_ROLE_UNSPECIFIED ||
        !safeguard::v1::HouseholdRole_IsValid(member.role())) {
      return FieldError(path + ".role", "is unset or unknown; use one of HouseholdRole");
    }
    has_child |= member.role() == safeguard::v1::HOUSEHOLD_ROLE_CHILD;
    if (auto s = ValidateIdentifiers(*member.mutable_identifiers(), path + ".identifiers",
                                     "is empty; the registry matches people by identifiers only, "
                                     "never by name: give at least one");
        !s.ok()) {
      return s;
    }
    if (auto s = ValidateText(member.display_name(), path + ".display_name", 200); !s.ok()) {
      return s;
    }
    if (auto s = ValidateText(member.relationship(), path + ".relationship", 100); !s.ok()) {
      return s;
    }
  }
  if (!has_child) {
    return FieldError("household.members",
                      "has no member with role HOUSEHOLD_ROLE_CHILD; the registry keeps "
                      "households to link children");
  }
  const std::string& uprn = household.address().uprn();
  if (!uprn.empty() &&
      (uprn.size() > 12 || uprn.find_first_not_of("0123456789") != std::string::npos)) {
    return FieldError("household.address.uprn", "must be 1 to 12 digits");
  }
  for (int i = 0; i < household.address().lines_size(); ++i) {
    if (auto s = ValidateText(household.address().lines(i),
                              absl::StrCat("household.address.lines[", i, "]"), 200);
        !s.ok()) {
      return s;
    }
  }
  if (auto s = ValidateText(household.address().postcode(), "household.address.postcode", 16);
      !s.ok()) {
    return s;
  }
  if (household.area().empty()) household.set_area(publisher_area);
  if (household.area().size() > 64 || !IsPrintableAscii(household.area())) {
    return FieldError("household.area", "must be an area code: 1 to 64 printable characters");
  }
  household.clear_publisher();
  household.clear_version();
  household.clear_updated_at();
  return absl::OkStatus();
}

absl::Status ValidateClose(const safeguard::v1::CloseInvolvementRequest& request, absl::Time now) {
  if (auto s = ValidateReference(request.reference(), "reference"); !s.ok()) return s;
  if (request.has_end()) {
    if (auto s = ValidateTimestamp(request.end(), "end"); !s.ok()) return s;
  }
  return ValidateText(request.reason(), "reason", 500);
}

absl::Time FromTimestamp(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

google::protobuf::Timestamp ToTimestamp(absl::Time t) {
  google::protobuf::Timestamp ts;
  const int64_t seconds = absl::ToUnixSeconds(t);
  ts.set_seconds(seconds);
  ts.set_nanos(static_cast<int32_t>((t - absl::FromUnixSeconds(seconds)) / absl::Nanoseconds(1)));
  return ts;
}

}  // namespace safeguard::registry::internal
