// Checks and normalises what registry writers send, before anything is stored. Every error is
// INVALID_ARGUMENT naming the field and saying what to fix.
#ifndef SAFEGUARD_BROKER_REGISTRY_INTERNAL_REGISTRY_VALIDATION_H_
#define SAFEGUARD_BROKER_REGISTRY_INTERNAL_REGISTRY_VALIDATION_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "safeguard/v1/notification.pb.h"
#include "safeguard/v1/registry.pb.h"

namespace safeguard::registry::internal {

inline constexpr int kMaxIdentifiersPerPerson = 8;
inline constexpr int kMaxHouseholdMembers = 50;
inline constexpr size_t kMaxReferenceLength = 64;

// "nhs-number", "school-upn", "police-reference", "housing-reference", "la-reference",
// "local-reference".
std::string SchemeName(safeguard::v1::IdentifierScheme scheme);

// Normalises `id` in place (NHS numbers lose spaces, UPNs are upper-cased, and the issuer of an
// NHS number or UPN is cleared because those are national) or fails naming `path`.
absl::Status NormaliseIdentifier(safeguard::v1::SubjectIdentifier& id, absl::string_view path);

// Checks a PutInvolvement's content and fills the defaults: worker node ids (the publisher),
// area (the publisher's). An unset start stays unset: the store keeps the stored start (or uses
// now), so re-publishing does not move a plan's start. Broker-filled fields are cleared. Paths
// start with "involvement.".
absl::Status NormaliseInvolvement(safeguard::v1::Involvement& involvement,
                                  const std::string& publisher, const std::string& publisher_area,
                                  absl::Time now);

// Checks a PutHousehold's content; fills the area. Paths start with "household.".
absl::Status NormaliseHousehold(safeguard::v1::Household& household,
                                const std::string& publisher_area);

// Checks a CloseInvolvement request's own fields (not whether the reference exists).
absl::Status ValidateClose(const safeguard::v1::CloseInvolvementRequest& request, absl::Time now);

// Checks a reference (1-64 printable ASCII characters) named `path`.
absl::Status ValidateReference(absl::string_view reference, absl::string_view path);

absl::Time FromTimestamp(const google::protobuf::Timestamp& ts);
google::protobuf::Timestamp ToTimestamp(absl::Time t);

}  // namespace safeguard::registry::internal

#endif  // SAFEGUARD_BROKER_REGISTRY_INTERNAL_REGISTRY_VALIDATION_H_
