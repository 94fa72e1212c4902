// The wire contract's enums (proto/safeguard/v1) in the policy's vocabulary: one place, so the
// Broker, Registry and Chronology services ask the policy the same question.
#ifndef SAFEGUARD_BROKER_POLICY_WIRE_VOCABULARY_H_
#define SAFEGUARD_BROKER_POLICY_WIRE_VOCABULARY_H_

#include "broker/policy/vocabulary.h"
#include "safeguard/v1/notification.pb.h"
#include "safeguard/v1/registry.pb.h"

namespace safeguard::policy {

// Unspecified and unknown values read as the least: no plan, consent not sought, no reason.
ChildStatus ChildStatusOf(safeguard::v1::ChildStatus status);
ChildStatus ChildStatusOf(safeguard::v1::PlanType plan);
ConsentState ConsentOf(safeguard::v1::ConsentState consent);
NotSoughtReason NotSoughtReasonOf(safeguard::v1::NotSoughtReason reason);

}  // namespace safeguard::policy

#endif  // SAFEGUARD_BROKER_POLICY_WIRE_VOCABULARY_H_
