// Loads and checks the broker's configuration file (protobuf text format, broker_config.proto).
#ifndef SAFEGUARD_BROKER_CONFIG_BROKER_CONFIG_H_
#define SAFEGUARD_BROKER_CONFIG_BROKER_CONFIG_H_

#include <string>

#include "absl/status/statusor.h"
#include "broker/config/broker_config.pb.h"

namespace safeguard::config {

// Defaults applied to unset fields.
inline constexpr uint32_t kDefaultMaxMessageBytes = 256 * 1024;
inline constexpr uint32_t kDefaultMaxCommitBatch = 512;
inline constexpr uint32_t kDefaultMaxSubscriptionsPerNode = 16;
inline constexpr uint32_t kDefaultReloadIntervalSeconds = 60;
inline constexpr uint32_t kDefaultMaxClockSkewSeconds = 300;
inline constexpr uint32_t kDefaultMaxConcurrentStreams = 128;

// Parses `text` (whose file name `path` is used in messages and to resolve relative paths),
// applies defaults and checks it. Errors name the file, line and what to fix, e.g.
// "broker.conf:12:5: unknown field 'nodez'" or "broker.conf: nodes[3] (id 'gp-1'): duplicate id".
absl::StatusOr<BrokerConfig> ParseBrokerConfig(const std::string& text, const std::string& path);

// Reads the file and calls ParseBrokerConfig.
absl::StatusOr<BrokerConfig> LoadBrokerConfig(const std::string& path);

}  // namespace safeguard::config

#endif  // SAFEGUARD_BROKER_CONFIG_BROKER_CONFIG_H_
