// The broker's log: one line per event on stderr, for operators. Never given a child's details:
// callers log node ids, notification ids, types and reasons, not identifiers or summaries.
#ifndef SAFEGUARD_BROKER_SERVER_LOG_H_
#define SAFEGUARD_BROKER_SERVER_LOG_H_

#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace safeguard::server {

inline bool& VerboseLogging() {
  static bool verbose = false;
  return verbose;
}

template <typename... Args>
void Log(const char* level, const Args&... args) {
  std::string line = absl::StrCat(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(),
                                                   absl::UTCTimeZone()),
                                   " ", level, " ", args..., "\n");
  std::fwrite(line.data(), 1, line.size(), stderr);
}

#define SAFEGUARD_LOG_INFO(...) ::safeguard::server::Log("INFO", __VA_ARGS__)
#define SAFEGUARD_LOG_WARN(...) ::safeguard::server::Log("WARN", __VA_ARGS__)
#define SAFEGUARD_LOG_ERROR(...) ::safeguard::server::Log("ERROR", __VA_ARGS__)
#define SAFEGUARD_LOG_DEBUG(...) \
  do {                                                                 \
    if (::safeguard::server::VerboseLogging()) ::safeguard::server::Log("DEBUG", __VA_ARGS__); \
  } while (0)

}  // namespace safeguard::server

#endif  // SAFEGUARD_BROKER_SERVER_LOG_H_
