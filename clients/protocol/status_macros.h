// Small Status helpers: Abseil 20220623 ships no RETURN_IF_ERROR / ASSIGN_OR_RETURN.
#ifndef SAFEGUARD_CLIENTS_PROTOCOL_STATUS_MACROS_H_
#define SAFEGUARD_CLIENTS_PROTOCOL_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define SAFEGUARD_CONCAT_INNER_(a, b) a##b
#define SAFEGUARD_CONCAT_(a, b) SAFEGUARD_CONCAT_INNER_(a, b)

#define RETURN_IF_ERROR(expr)                   \
  do {                                          \
    ::absl::Status _status = (expr);            \
    if (!_status.ok()) return _status;          \
  } while (0)

#define ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                           \
  if (!tmp.ok()) return tmp.status();          \
  lhs = std::move(tmp).value()

#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL_(SAFEGUARD_CONCAT_(_statusor_, __LINE__), lhs, expr)

#endif  // SAFEGUARD_CLIENTS_PROTOCOL_STATUS_MACROS_H_
