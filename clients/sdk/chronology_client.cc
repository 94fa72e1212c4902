#include "clients/sdk/chronology_client.h"

#include <algorithm>
#include <map>
#include <utility>

#include "google/protobuf/util/time_util.h"
#include "grpcpp/grpcpp.h"

namespace safeguard::client {
namespace {

using google::protobuf::util::TimeUtil;

google::protobuf::Timestamp ToProto(absl::Time t) {
  return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
}

void Add(google::protobuf::RepeatedPtrField<safeguard::v1::ChronologyCount>& into,
         const google::protobuf::RepeatedPtrField<safeguard::v1::ChronologyCount>& counts) {
  std::map<std::string, uint64_t> sum;
  for (const auto& c : into) sum[c.key()] += c.count();
  for (const auto& c : counts) sum[c.key()] += c.count();
  into.Clear();
  for (const auto& [k, v] : sum) {
    auto* c = into.Add();
    c->set_key(k);
    c->set_count(v);
  }
}

}  // namespace

ChronologyClient::ChronologyClient(std::shared_ptr<grpc::Channel> channel,
                                   ConnectionOptions options)
    : options_(std::move(options)),
      channel_(std::move(channel)),
      stub_(safeguard::v1::Chronology::NewStub(channel_)) {}

absl::StatusOr<ChronologyView> ChronologyClient::Get(const ChronologyQuery& query) {
  if (query.purpose.empty() || query.purpose.size() > 200) {
    return absl::InvalidArgumentError(
        "purpose: say why you view the chronology (1 to 200 characters), e.g. \"core group 12 "
        "May\"; it is recorded in the audit log");
  }
  safeguard::v1::GetChronologyRequest request;
  *request.mutable_child() = query.child;
  request.set_household(query.household);
  if (query.from) *request.mutable_from() = ToProto(*query.from);
  if (query.to) *request.mutable_to() = ToProto(*query.to);
  request.set_purpose(query.purpose);

  ChronologyView view;
  uint64_t cursor = 0;
  do {
    request.set_after_sequence(cursor);
    absl::Duration backoff = options_.initial_backoff;
    absl::Status status;
    for (int attempt = 1;; ++attempt) {
      grpc::ClientContext context;
      // A long chronology streams for a while: allow a minute per page.
      context.set_deadline(
          absl::ToChronoTime(absl::Now() + std::max(options_.call_timeout, absl::Minutes(1))));
      auto reader = stub_->GetChronology(&context, request);
      safeguard::v1::ChronologyMessage message;
      bool received = false;
      cursor = 0;
      while (reader->Read(&message)) {
        received = true;
        switch (message.part_case()) {
          case safeguard::v1::ChronologyMessage::kHeader:
            if (view.pages == 0) view.header = message.header();
            break;
          case safeguard::v1::ChronologyMessage::kEvent:
            view.events.push_back(std::move(*message.mutable_event()));
            break;
          case safeguard::v1::ChronologyMessage::kSummary: {
            const auto& s = message.summary();
            view.summary.set_shown(view.summary.shown() + s.shown());
            view.summary.set_withheld(view.summary.withheld() + s.withheld());
            Add(*view.summary.mutable_by_agency(), s.by_agency());
            Add(*view.summary.mutable_by_type(), s.by_type());
            cursor = s.next_cursor();
            break;
          }
          default:
            break;
        }
      }
      status = FromGrpcStatus(reader->Finish());
      if (status.ok() || received || status.code() != absl::StatusCode::kUnavailable ||
          attempt >= std::max(1, options_.max_attempts)) {
        break;
      }
      absl::SleepFor(backoff);
      backoff = std::min(backoff * 2, absl::Seconds(5));
    }
    if (!status.ok()) return status;
    ++view.pages;
  } while (cursor != 0);
  return view;
}

}  // namespace safeguard::client
