#include "clients/sdk/registry_client.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "clients/protocol/identifiers.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/grpcpp.h"

namespace safeguard::client {
namespace {

using safeguard::v1::SubjectIdentifier;

struct SchemeWord {
  const char* word;
  safeguard::v1::IdentifierScheme scheme;
};
constexpr SchemeWord kSchemes[] = {
    {"nhs", safeguard::v1::IDENTIFIER_SCHEME_NHS_NUMBER},
    {"upn", safeguard::v1::IDENTIFIER_SCHEME_SCHOOL_UPN},
    {"police", safeguard::v1::IDENTIFIER_SCHEME_POLICE_REFERENCE},
    {"housing", safeguard::v1::IDENTIFIER_SCHEME_HOUSING_REFERENCE},
    {"la", safeguard::v1::IDENTIFIER_SCHEME_LOCAL_AUTHORITY_REFERENCE},
    {"local", safeguard::v1::IDENTIFIER_SCHEME_LOCAL_REFERENCE},
};

bool IsTransient(const absl::Status& s, bool retry_deadline) {
  return absl::IsUnavailable(s) || (retry_deadline && absl::IsDeadlineExceeded(s));
}

}  // namespace

absl::StatusOr<SubjectIdentifier> ParseIdentifier(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  size_t colon = text.find(':');
  if (colon == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", text, "' has no scheme: write nhs:NUMBER or upn:UPN (or police:, housing:, la:, "
        "local: with @ISSUER)"));
  }
  std::string word(text.substr(0, colon));
  absl::AsciiStrToLower(&word);
  absl::string_view value = text.substr(colon + 1);
  SubjectIdentifier id;
  bool known = false;
  for (const SchemeWord& s : kSchemes) {
    if (word == s.word) {
      id.set_scheme(s.scheme);
      known = true;
    }
  }
  if (!known) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown identifier scheme '", word, "': use nhs, upn, police, housing, la or local"));
  }
  switch (id.scheme()) {
    case safeguard::v1::IDENTIFIER_SCHEME_NHS_NUMBER: {
      auto nhs = protocol::NormaliseNhsNumber(value);
      if (!nhs.ok()) return absl::InvalidArgumentError(absl::StrCat(text, ": ", nhs.status().message()));
      id.set_value(*nhs);
      break;
    }
    case safeguard::v1::IDENTIFIER_SCHEME_SCHOOL_UPN: {
      auto upn = protocol::NormaliseSchoolUpn(value);
      if (!upn.ok()) return absl::InvalidArgumentError(absl::StrCat(text, ": ", upn.status().message()));
      id.set_value(*upn);
      break;
    }
    default: {
      size_t at = value.rfind('@');
      if (at != absl::string_view::npos) {
        id.set_issuer(std::string(value.substr(at + 1)));
        value = value.substr(0, at);
      }
      if (value.empty()) {
        return absl::InvalidArgumentError(absl::StrCat("'", text, "': the reference is empty"));
      }
      id.set_value(std::string(value));
    }
  }
  return id;
}

std::string FormatIdentifier(const SubjectIdentifier& id) {
  for (const SchemeWord& s : kSchemes) {
    if (s.scheme == id.scheme()) {
      return absl::StrCat(s.word, ":", id.value(), id.issuer().empty() ? "" : "@", id.issuer());
    }
  }
  return absl::StrCat("scheme-", static_cast<int>(id.scheme()), ":", id.value());
}

std::string PlanTypeWord(safeguard::v1::PlanType plan) {
  std::string s(absl::StripPrefix(safeguard::v1::PlanType_Name(plan), "PLAN_TYPE_"));
  absl::AsciiStrToLower(&s);
  for (char& c : s) {
    if (c == '_') c = '-';
  }
  return s.empty() ? absl::StrCat("plan-type-", static_cast<int>(plan)) : s;
}

std::optional<safeguard::v1::PlanType> ParsePlanType(absl::string_view word) {
  std::string name = absl::StrCat("PLAN_TYPE_", word);
  absl::AsciiStrToUpper(&name);
  for (char& c : name) {
    if (c == '-') c = '_';
  }
  safeguard::v1::PlanType plan;
  if (!safeguard::v1::PlanType_Parse(name, &plan) || plan == safeguard::v1::PLAN_TYPE_UNSPECIFIED) {
    return std::nullopt;
  }
  return plan;
}

std::string DescribeWorker(const safeguard::v1::Worker& w) {
  std::string out = w.name().empty() ? (w.role().empty() ? "(no name)" : w.role()) : w.name();
  if (!w.team().empty()) absl::StrAppend(&out, " (", w.team(), ")");
  if (!w.contact().empty()) absl::StrAppend(&out, " ", w.contact());
  return out;
}

std::string DescribeFlag(const safeguard::v1::Flag& flag) {
  if (!flag.flagged()) return "not flagged (no open plan)";
  std::string out = flag.plan_type() == safeguard::v1::PLAN_TYPE_UNSPECIFIED
                        ? "flagged"
                        : absl::StrCat(PlanTypeWord(flag.plan_type()), " plan");
  if (flag.has_lead_worker()) absl::StrAppend(&out, ", lead worker ", DescribeWorker(flag.lead_worker()));
  if (flag.has_escalation_contact()) {
    absl::StrAppend(&out, "; escalation: ", DescribeWorker(flag.escalation_contact()));
  }
  auto day = [](const google::protobuf::Timestamp& t) {
    return absl::FormatTime("%Y-%m-%d",
                            absl::FromUnixSeconds(t.seconds()), absl::UTCTimeZone());
  };
  if (flag.has_plan_start()) absl::StrAppend(&out, "; since ", day(flag.plan_start()));
  if (flag.has_next_review()) absl::StrAppend(&out, "; next review ", day(flag.next_review()));
  if (flag.withheld_size() > 0) {
    absl::StrAppend(&out, " [withheld by policy: ", absl::StrJoin(flag.withheld(), ", "), "]");
  }
  return out;
}

absl::StatusOr<std::unique_ptr<RegistryClient>> RegistryClient::Connect(
    ConnectionOptions options) {
  // The same channel set-up (mutual TLS, keepalive, limits) as the Broker service's client.
  auto broker = BrokerClient::Connect(options);
  if (!broker.ok()) return broker.status();
  return std::make_unique<RegistryClient>((*broker)->channel(), std::move(options));
}

RegistryClient::RegistryClient(std::shared_ptr<grpc::Channel> channel, ConnectionOptions options)
    : options_(std::move(options)),
      channel_(std::move(channel)),
      stub_(safeguard::v1::Registry::NewStub(channel_)) {}

template <typename Call>
absl::Status RegistryClient::WithRetries(const Call& call, bool retry_deadline) {
  absl::Duration backoff = options_.initial_backoff;
  absl::Status status;
  const int attempts = std::max(1, options_.max_attempts);
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + options_.call_timeout));
    status = FromGrpcStatus(call(context));
    if (!IsTransient(status, retry_deadline) || attempt == attempts) break;
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(5));
  }
  return status;
}

absl::StatusOr<safeguard::v1::PutInvolvementResponse> RegistryClient::PutInvolvement(
    safeguard::v1::Involvement involvement) {
  safeguard::v1::PutInvolvementRequest request;
  *request.mutable_involvement() = std::move(involvement);
  safeguard::v1::PutInvolvementResponse response;
  absl::Status status = WithRetries([&](grpc::ClientContext& context) {
    return stub_->PutInvolvement(&context, request, &response);
  });
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<safeguard::v1::PutInvolvementResponse> RegistryClient::CloseInvolvement(
    std::string reference, std::string reason, std::optional<absl::Time> end) {
  safeguard::v1::CloseInvolvementRequest request;
  request.set_reference(std::move(reference));
  request.set_reason(std::move(reason));
  if (end) {
    *request.mutable_end() =
        google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(*end));
  }
  safeguard::v1::PutInvolvementResponse response;
  absl::Status status = WithRetries([&](grpc::ClientContext& context) {
    return stub_->CloseInvolvement(&context, request, &response);
  });
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<safeguard::v1::PutHouseholdResponse> RegistryClient::PutHousehold(
    safeguard::v1::Household household) {
  safeguard::v1::PutHouseholdRequest request;
  *request.mutable_household() = std::move(household);
  safeguard::v1::PutHouseholdResponse response;
  absl::Status status = WithRetries([&](grpc::ClientContext& context) {
    return stub_->PutHousehold(&context, request, &response);
  });
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<safeguard::v1::ChildRecord> RegistryClient::GetChild(SubjectIdentifier id) {
  safeguard::v1::GetChildRequest request;
  *request.mutable_identifier() = std::move(id);
  safeguard::v1::ChildRecord response;
  absl::Status status = WithRetries([&](grpc::ClientContext& context) {
    return stub_->GetChild(&context, request, &response);
  });
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<safeguard::v1::UpdateServedChildrenResponse> RegistryClient::UpdateServedChildren(
    const safeguard::v1::UpdateServedChildrenRequest& request) {
  safeguard::v1::UpdateServedChildrenResponse response;
  absl::Status status = WithRetries([&](grpc::ClientContext& context) {
    return stub_->UpdateServedChildren(&context, request, &response);
  });
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<safeguard::v1::UpdateServedChildrenResponse>
RegistryClient::ReplaceServedChildren(const std::vector<SubjectIdentifier>& children) {
  safeguard::v1::UpdateServedChildrenRequest request;
  request.set_replace(true);
  for (const auto& id : children) *request.add_add()->mutable_identifier() = id;
  return UpdateServedChildren(request);
}

absl::Status RegistryClient::SubscribeFlags(
    safeguard::v1::SubscribeFlagsRequest request,
    const std::function<bool(const safeguard::v1::Flag&)>& on_flag) {
  absl::Duration backoff = options_.initial_backoff;
  for (;;) {
    grpc::ClientContext context;
    {
      absl::MutexLock lock(&mu_);
      if (cancelled_) return absl::CancelledError("subscription cancelled");
      streaming_ = &context;
    }
    if (!request.follow()) {
      context.set_deadline(absl::ToChronoTime(absl::Now() + options_.call_timeout * 4));
    }
    auto reader = stub_->SubscribeFlags(&context, request);
    safeguard::v1::Flag flag;
    bool stop = false;
    while (!stop && reader->Read(&flag)) {
      if (flag.cursor() <= request.after_cursor()) continue;  // already seen before a resume
      request.set_after_cursor(flag.cursor());
      backoff = options_.initial_backoff;
      if (!on_flag(flag)) stop = true;
    }
    if (stop) context.TryCancel();
    absl::Status status = FromGrpcStatus(reader->Finish());
    bool cancelled;
    {
      absl::MutexLock lock(&mu_);
      streaming_ = nullptr;
      cancelled = cancelled_;
    }
    if (stop || cancelled) return absl::OkStatus();
    if (!request.follow() || !absl::IsUnavailable(status)) return status;
    absl::SleepFor(backoff);  // the broker restarted or the network dropped: resume
    backoff = std::min(backoff * 2, absl::Seconds(10));
  }
}

void RegistryClient::Cancel() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
  if (streaming_ != nullptr) streaming_->TryCancel();
}

absl::StatusOr<safeguard::v1::LookupChildResponse> RegistryClient::LookupChild(
    SubjectIdentifier id, safeguard::v1::LookupReason reason, std::string looked_up_by) {
  safeguard::v1::LookupChildRequest request;
  *request.mutable_identifier() = std::move(id);
  request.set_reason(reason);
  request.set_looked_up_by(std::move(looked_up_by));
  safeguard::v1::LookupChildResponse response;
  absl::Status status = WithRetries(
      [&](grpc::ClientContext& context) {
        return stub_->LookupChild(&context, request, &response);
      },
      /*retry_deadline=*/false);
  if (!status.ok()) return status;
  return response;
}

}  // namespace safeguard::client
