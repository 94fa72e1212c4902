// Which disclosable fields each kind of recipient may see. A fixed table until the lawful-basis
// policy engine decides this per rule; it exists so minimisation is exercised end to end now.
#ifndef SAFEGUARD_BROKER_POLICY_MINIMISATION_TABLE_H_
#define SAFEGUARD_BROKER_POLICY_MINIMISATION_TABLE_H_

#include <set>

#include "clients/protocol/node_type.h"
#include "safeguard/v1/envelope.pb.h"

namespace safeguard::policy {

// Thread-safe (pure function).
//   front door, social care, early help: everything
//   GP, health:  identity, summary, details, address, health details (not police details)
//   police:      identity, summary, details, address, police details (not health details)
//   school, housing: identity, summary, details, address
std::set<safeguard::v1::DisclosableField> FieldsVisibleTo(protocol::NodeType recipient);

}  // namespace safeguard::policy

#endif  // SAFEGUARD_BROKER_POLICY_MINIMISATION_TABLE_H_
