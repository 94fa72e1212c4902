#include "broker/policy/wire_vocabulary.h"

namespace safeguard::policy {

ChildStatus ChildStatusOf(safeguard::v1::ChildStatus status) {
  switch (status) {
    case safeguard::v1::CHILD_STATUS_EARLY_HELP: return ChildStatus::kEarlyHelp;
    case safeguard::v1::CHILD_STATUS_CHILD_IN_NEED: return ChildStatus::kChildInNeed;
    case safeguard::v1::CHILD_STATUS_CHILD_PROTECTION: return ChildStatus::kChildProtection;
    case safeguard::v1::CHILD_STATUS_LOOKED_AFTER: return ChildStatus::kLookedAfter;
    default: return ChildStatus::kNoPlan;
  }
}

ChildStatus ChildStatusOf(safeguard::v1::PlanType plan) {
  switch (plan) {
    case safeguard::v1::PLAN_TYPE_EARLY_HELP: return ChildStatus::kEarlyHelp;
    case safeguard::v1::PLAN_TYPE_CHILD_IN_NEED: return ChildStatus::kChildInNeed;
    case safeguard::v1::PLAN_TYPE_CHILD_PROTECTION: return ChildStatus::kChildProtection;
    case safeguard::v1::PLAN_TYPE_LOOKED_AFTER: return ChildStatus::kLookedAfter;
    default: return ChildStatus::kNoPlan;
  }
}

ConsentState ConsentOf(safeguard::v1::ConsentState consent) {
  switch (consent) {
    case safeguard::v1::CONSENT_STATE_GIVEN: return ConsentState::kGiven;
    case safeguard::v1::CONSENT_STATE_REFUSED: return ConsentState::kRefused;
    case safeguard::v1::CONSENT_STATE_WITHDRAWN: return ConsentState::kWithdrawn;
    default: return ConsentState::kNotSought;
  }
}

NotSoughtReason NotSoughtReasonOf(safeguard::v1::NotSoughtReason reason) {
  switch (reason) {
    case safeguard::v1::NOT_SOUGHT_REASON_CANNOT_BE_GIVEN: return NotSoughtReason::kCannotBeGiven;
    case safeguard::v1::NOT_SOUGHT_REASON_CANNOT_REASONABLY_OBTAIN:
      return NotSoughtReason::kCannotReasonablyObtain;
    case safeguard::v1::NOT_SOUGHT_REASON_WOULD_PREJUDICE_PROTECTION:
      return NotSoughtReason::kWouldPrejudiceProtection;
    case safeguard::v1::NOT_SOUGHT_REASON_NOT_THE_LAWFUL_BASIS:
      return NotSoughtReason::kNotTheLawfulBasis;
    default: return NotSoughtReason::kUnspecified;
  }
}

}  // namespace safeguard::policy
