#include "clients/protocol/notification_validator.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "clients/protocol/identifiers.h"
#include "clients/protocol/node_type.h"
#include "clients/protocol/text_checks.h"
#include "google/protobuf/util/time_util.h"

namespace safeguard::protocol {
namespace {

using safeguard::v1::IdentifierScheme;
using safeguard::v1::Notification;


absl::Status ValidateTimestamp(const google::protobuf::Timestamp& ts, absl::string_view field,
                               absl::Time now) {
  if (ts.seconds() < google::protobuf::util::TimeUtil::kTimestampMinSeconds ||
      ts.seconds() > google::protobuf::util::TimeUtil::kTimestampMaxSeconds || ts.nanos() < 0 ||
      ts.nanos() > 999999999) {
    return FieldError(field, "timestamp is out of range");
  }
  absl::Time t = absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
  if (t > now + kMaxClockSkew) {
    return FieldError(field, "is in the future; check the sending system's clock");
  }
  if (t < absl::FromCivil(absl::CivilDay(1900, 1, 1), absl::UTCTimeZone())) {
    return FieldError(field, "is before 1900; was it left unset?");
  }
  return absl::OkStatus();
}

// What to do with an identifier that is valid but not in normal form.
enum class Form {
  kNormalise,      // put it in normal form
  kRequireNormal,  // refuse it: it was signed, and changing it would break the signature
};

absl::Status NotNormal(const std::string& path) {
  return FieldError(path + ".value",
                    "must be signed in normal form (NHS number as 10 digits without spaces, UPN "
                    "in capitals); the SDK does this before signing");
}

absl::Status ValidateIdentifier(safeguard::v1::SubjectIdentifier& id, const std::string& path,
                                Form form) {
  // A valid value's normal form: kept, put in place, or (signed) refused if it differs.
  auto settle = [&](absl::StatusOr<std::string> normal) {
    if (!normal.ok()) return FieldError(path + ".value", normal.status().message());
    if (*normal != id.value()) {
      if (form == Form::kRequireNormal) return NotNormal(path);
      id.set_value(*std::move(normal));
    }
    return absl::OkStatus();
  };
  if (id.value().empty()) return FieldError(path + ".value", "is empty");
  if (id.value().size() > 64) return FieldError(path + ".value", "is longer than 64 characters");
  switch (id.scheme()) {
    case safeguard::v1::IDENTIFIER_SCHEME_NHS_NUMBER:
      return settle(NormaliseNhsNumber(id.value()));
    case safeguard::v1::IDENTIFIER_SCHEME_SCHOOL_UPN:
      return settle(NormaliseSchoolUpn(id.value()));
    case safeguard::v1::IDENTIFIER_SCHEME_POLICE_REFERENCE:
    case safeguard::v1::IDENTIFIER_SCHEME_HOUSING_REFERENCE:
    case safeguard::v1::IDENTIFIER_SCHEME_LOCAL_AUTHORITY_REFERENCE:
    case safeguard::v1::IDENTIFIER_SCHEME_LOCAL_REFERENCE:
      if (id.issuer().empty()) {
        return FieldError(path + ".issuer",
                          "is required for a local reference: name the node or organisation "
                          "that issued it");
      }
      if (!IsPrintableAscii(id.value())) {
        return FieldError(path + ".value", "must be printable ASCII without spaces");
      }
      return absl::OkStatus();
    default:
      return FieldError(path + ".scheme", "is unset or unknown; use one of IdentifierScheme");
  }
}

absl::Status Check(Notification& n, absl::Time now, Form form) {
  if (n.idempotency_key().empty()) {
    return FieldError("idempotency_key", "is empty; give each notification a unique key");
  }
  if (n.idempotency_key().size() > kMaxIdempotencyKeyLength ||
      !IsPrintableAscii(n.idempotency_key())) {
    return FieldError("idempotency_key", "must be 1 to 128 printable ASCII characters");
  }
  if (n.type() == safeguard::v1::NOTIFICATION_TYPE_UNSPECIFIED ||
      !safeguard::v1::NotificationType_IsValid(n.type())) {
    return FieldError("type", "is unset or unknown; use one of NotificationType");
  }
  if (IsBrokerNotice(n.type())) {
    return FieldError("type", absl::StrCat(
        safeguard::v1::NotificationType_Name(n.type()),
        " is sent only by the broker itself (a flag look-up is reported through the Registry "
        "service's LookupChild); agencies may not send it"));
  }
  if (n.severity() == safeguard::v1::SEVERITY_UNSPECIFIED ||
      !safeguard::v1::Severity_IsValid(n.severity())) {
    return FieldError("severity", "is unset or unknown; use one of Severity");
  }
  if (n.subjects().empty()) {
    return FieldError("subjects", "is empty; name at least one child");
  }
  if (n.subjects_size() > kMaxSubjects) {
    return FieldError("subjects", absl::StrCat("has more than ", kMaxSubjects, " children"));
  }
  for (int i = 0; i < n.subjects_size(); ++i) {
    auto& subject = *n.mutable_subjects(i);
    std::string path = absl::StrCat("subjects[", i, "]");
    if (subject.identifiers().empty()) {
      return FieldError(path + ".identifiers",
                        "is empty; give at least one identifier (an NHS number if known)");
    }
    if (subject.identifiers_size() > kMaxIdentifiersPerSubject) {
      return FieldError(path + ".identifiers",
                        absl::StrCat("has more than ", kMaxIdentifiersPerSubject, " entries"));
    }
    for (int j = 0; j < subject.identifiers_size(); ++j) {
      auto status = ValidateIdentifier(*subject.mutable_identifiers(j),
                                       absl::StrCat(path, ".identifiers[", j, "]"), form);
      if (!status.ok()) return status;
    }
    if (!subject.area().empty() && !IsValidNodeId(subject.area())) {
      return FieldError(path + ".area", "must be an area code such as 'swindon'");
    }
    if (Utf8Length(subject.display_name()) > 200) {
      return FieldError(path + ".display_name", "is longer than 200 characters");
    }
    if (subject.has_date_of_birth()) {
      auto status = ValidateTimestamp(subject.date_of_birth(), path + ".date_of_birth", now);
      if (!status.ok()) return status;
    }
  }
  if (n.summary().empty()) {
    return FieldError("summary", "is empty; say in a sentence what happened");
  }
  if (Utf8Length(n.summary()) > kMaxSummaryLength) {
    return FieldError("summary",
                      absl::StrCat("is longer than ", kMaxSummaryLength,
                                   " characters; put structured facts in details"));
  }
  if (!n.has_occurred_at()) {
    return FieldError("occurred_at", "is required: when did the event happen?");
  }
  if (auto s = ValidateTimestamp(n.occurred_at(), "occurred_at", now); !s.ok()) return s;
  if (n.has_reported_at()) {
    if (auto s = ValidateTimestamp(n.reported_at(), "reported_at", now); !s.ok()) return s;
  }
  if (n.recipients_size() > kMaxRecipients) {
    return FieldError("recipients", absl::StrCat("has more than ", kMaxRecipients, " nodes"));
  }
  for (int i = 0; i < n.recipients_size(); ++i) {
    if (!IsValidNodeId(n.recipients(i))) {
      return FieldError(absl::StrCat("recipients[", i, "]"),
                        absl::StrCat("'", n.recipients(i), "' is not a valid node id"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status NormaliseAndValidate(Notification& n, absl::Time now) {
  return Check(n, now, Form::kNormalise);
}

absl::Status ValidateSigned(const Notification& n, absl::Time now) {
  // Check() takes a mutable notification for normalising; with kRequireNormal it writes nothing.
  return Check(const_cast<Notification&>(n), now, Form::kRequireNormal);
}

bool IsBrokerNotice(safeguard::v1::NotificationType type) {
  switch (type) {
    case safeguard::v1::NOTIFICATION_TYPE_FLAG_LOOKED_UP:
    case safeguard::v1::NOTIFICATION_TYPE_ESCALATION:
    case safeguard::v1::NOTIFICATION_TYPE_CUMULATIVE_CONCERN:
    case safeguard::v1::NOTIFICATION_TYPE_PLAN_DRIFT:
      return true;
    default:
      return false;
  }
}

absl::Status NormaliseIdentifier(safeguard::v1::SubjectIdentifier& id, absl::string_view path) {
  return ValidateIdentifier(id, std::string(path), Form::kNormalise);
}

}  // namespace safeguard::protocol
