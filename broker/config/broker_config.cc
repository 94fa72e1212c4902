#include "broker/config/broker_config.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "clients/protocol/node_type.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"

namespace safeguard::config {
namespace {

class CollectFirstError : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    if (first_.empty()) first_ = absl::StrCat(line + 1, ":", column + 1, ": ", message);
  }
  const std::string& first() const { return first_; }

 private:
  std::string first_;
};

std::string Resolve(const std::filesystem::path& base, const std::string& p) {
  if (p.empty()) return p;
  std::filesystem::path path(p);
  if (path.is_absolute()) return p;
  return (base / path).lexically_normal().string();
}

}  // namespace

absl::StatusOr<BrokerConfig> ParseBrokerConfig(const std::string& text, const std::string& path) {
  BrokerConfig config;
  google::protobuf::TextFormat::Parser parser;
  CollectFirstError errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text, &config)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ":", errors.first()));
  }
  auto error = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", what));
  };
  if (config.partnership().empty()) {
    return error("partnership is required (the trust domain in node certificate URIs)");
  }
  if (config.listen_address().empty()) {
    return error("listen_address is required, e.g. \"127.0.0.1:7443\"");
  }
  if (config.tls().certificate().empty() || config.tls().private_key().empty() ||
      config.tls().ca_certificate().empty()) {
    return error("tls.certificate, tls.private_key and tls.ca_certificate are all required");
  }
  if (config.data_directory().empty()) return error("data_directory is required");
  if (config.policy_file().empty()) {
    return error("policy_file is required: the sharing policy, e.g. deploy/policy/england.yaml");
  }
  if (config.nodes().empty()) return error("nodes: at least one node is required");

  std::set<std::string> ids;
  std::set<std::string> areas;
  std::set<std::string> areas_with_front_door;
  for (int i = 0; i < config.nodes_size(); ++i) {
    const Node& node = config.nodes(i);
    std::string where = absl::StrCat("nodes[", i, "] (id '", node.id(), "')");
    if (!protocol::IsValidNodeId(node.id())) {
      return error(absl::StrCat(where, ": id must match [a-z0-9][a-z0-9-]{0,62}"));
    }
    if (!ids.insert(node.id()).second) return error(absl::StrCat(where, ": duplicate id"));
    auto type = protocol::ParseNodeType(node.type());
    if (!type) {
      return error(absl::StrCat(where, ": unknown type '", node.type(),
                                "'; use one of: ", protocol::AllNodeTypeNames()));
    }
    if (!protocol::IsValidNodeId(node.area())) {
      return error(absl::StrCat(where, ": area is required, an area code such as 'swindon'"));
    }
    areas.insert(node.area());
    if (*type == protocol::NodeType::kFrontDoor) {
      if (!areas_with_front_door.insert(node.area()).second) {
        return error(absl::StrCat(where, ": area '", node.area(),
                                  "' already has a front door; each area has exactly one"));
      }
    }
  }
  for (const std::string& area : areas) {
    if (!areas_with_front_door.count(area)) {
      return error(absl::StrCat("area '", area,
                                "' has nodes but no front-door node: concerns about its "
                                "children would have nowhere to go"));
    }
  }

  std::set<std::string> configured_areas;
  for (int i = 0; i < config.areas_size(); ++i) {
    const Area& a = config.areas(i);
    std::string where = absl::StrCat("areas[", i, "]");
    if (!areas.count(a.code())) {
      return error(absl::StrCat(where, ".code: '", a.code(),
                                "' is not the area of any node; use a node's area code"));
    }
    if (!configured_areas.insert(a.code()).second) {
      return error(absl::StrCat(where, ".code: area '", a.code(), "' is configured twice"));
    }
    if (a.resolution_route().empty() || a.resolution_route().size() > 500) {
      return error(absl::StrCat(where, ".resolution_route: give the resolution policy and a "
                                "contact referrers can use (1 to 500 characters)"));
    }
    if (!a.emergency_duty_node().empty()) {
      const Node* edt = nullptr;
      for (const Node& node : config.nodes()) {
        if (node.id() == a.emergency_duty_node()) edt = &node;
      }
      if (edt == nullptr) {
        return error(absl::StrCat(where, ".emergency_duty_node: '", a.emergency_duty_node(),
                                  "' is not the id of any node; register the emergency duty "
                                  "team under nodes (type front-door or social-care)"));
      }
      auto type = protocol::ParseNodeType(edt->type());
      if (!type ||
          (*type != protocol::NodeType::kFrontDoor && *type != protocol::NodeType::kSocialCare)) {
        return error(absl::StrCat(where, ".emergency_duty_node: node '", edt->id(), "' is a ",
                                  edt->type(), " node; the emergency duty team must be a "
                                  "front-door or social-care node"));
      }
    }
  }

  // Defaults.
  Limits* limits = config.mutable_limits();
  if (limits->max_message_bytes() == 0) limits->set_max_message_bytes(kDefaultMaxMessageBytes);
  if (limits->max_commit_batch() == 0) limits->set_max_commit_batch(kDefaultMaxCommitBatch);
  if (limits->max_subscriptions_per_node() == 0) {
    limits->set_max_subscriptions_per_node(kDefaultMaxSubscriptionsPerNode);
  }
  if (limits->max_clock_skew_seconds() == 0) {
    limits->set_max_clock_skew_seconds(kDefaultMaxClockSkewSeconds);
  }
  if (limits->max_submits_in_flight() == 0) {
    limits->set_max_submits_in_flight(2 * limits->max_commit_batch());
  }
  if (limits->max_concurrent_streams() == 0) {
    limits->set_max_concurrent_streams(kDefaultMaxConcurrentStreams);
  }
  Tls* tls = config.mutable_tls();
  if (tls->reload_interval_seconds() == 0) {
    tls->set_reload_interval_seconds(kDefaultReloadIntervalSeconds);
  }

  // Relative paths are relative to the configuration file.
  std::filesystem::path base = std::filesystem::absolute(path).parent_path();
  tls->set_certificate(Resolve(base, tls->certificate()));
  tls->set_private_key(Resolve(base, tls->private_key()));
  tls->set_ca_certificate(Resolve(base, tls->ca_certificate()));
  tls->set_crl_directory(Resolve(base, tls->crl_directory()));
  config.set_data_directory(Resolve(base, config.data_directory()));
  config.set_policy_file(Resolve(base, config.policy_file()));
  for (int i = 0; i < config.areas_size(); ++i) {
    Area* a = config.mutable_areas(i);
    if (a->calendar_file().empty()) continue;
    a->set_calendar_file(Resolve(base, a->calendar_file()));
    // The file's contents are checked by calendar::DeadlineCalendar::FromConfig at start-up;
    // a path that cannot be read is caught here, with the field that names it.
    std::error_code ec;
    if (!std::filesystem::is_regular_file(a->calendar_file(), ec)) {
      return error(absl::StrCat("areas[", i, "].calendar_file: cannot read '",
                                a->calendar_file(), "' (area '", a->code(),
                                "'); give the path of a calendar file such as "
                                "deploy/calendars/england-2026-27.yaml, relative to this file"));
    }
  }
  return config;
}

absl::StatusOr<BrokerConfig> LoadBrokerConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read configuration file ", path));
  }
  std::stringstream text;
  text << in.rdbuf();
  return ParseBrokerConfig(text.str(), path);
}

}  // namespace safeguard::config
