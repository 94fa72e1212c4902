// Checks a notification before it is signed, sent or accepted. Broker and SDK run the same
// checks, so a client learns about a mistake before it leaves the agency's system.
#ifndef SAFEGUARD_CLIENTS_PROTOCOL_NOTIFICATION_VALIDATOR_H_
#define SAFEGUARD_CLIENTS_PROTOCOL_NOTIFICATION_VALIDATOR_H_

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "safeguard/v1/notification.pb.h"

namespace safeguard::protocol {

inline constexpr size_t kMaxIdempotencyKeyLength = 128;
inline constexpr size_t kMaxSummaryLength = 4000;
inline constexpr int kMaxSubjects = 16;
inline constexpr int kMaxIdentifiersPerSubject = 8;
inline constexpr int kMaxRecipients = 16;
inline constexpr absl::Duration kMaxClockSkew = absl::Minutes(5);

// True for the types only the broker itself sends (flag look-up notices, escalations,
// cumulative concerns, plan drift), sealed with its own key.
bool IsBrokerNotice(safeguard::v1::NotificationType type);

// One identifier in normal form (NHS number as 10 digits, UPN in capitals) and valid for its
// scheme (local references name their issuer); errors name `path` and the part that is wrong.
absl::Status NormaliseIdentifier(safeguard::v1::SubjectIdentifier& id, absl::string_view path);

// Normalises identifiers in place (NHS numbers lose spaces, UPNs are upper-cased) and returns
// INVALID_ARGUMENT naming the first bad field and what is wrong, e.g.
// "subjects[0].identifiers[0].value: NHS number fails its modulus-11 check: ...".
// `now` bounds how far in the future occurred_at may be.
absl::Status NormaliseAndValidate(safeguard::v1::Notification& notification, absl::Time now);

// The same checks for a notification that was signed as it is (the broker's side): an identifier
// that is valid but not in normal form is refused ("...: must be signed in normal form ...")
// instead of changed, since changing it would break the signature. Copies and changes nothing.
absl::Status ValidateSigned(const safeguard::v1::Notification& notification, absl::Time now);

}  // namespace safeguard::protocol

#endif  // SAFEGUARD_CLIENTS_PROTOCOL_NOTIFICATION_VALIDATOR_H_
