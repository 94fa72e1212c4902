// SubmitStream: many notifications on one call, each accepted exactly as Submit accepts it.
#include <algorithm>
#include <deque>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "broker/server/broker_service.h"
#include "broker/server/grpc_status.h"
#include "clients/protocol/node_type.h"
#include "grpcpp/alarm.h"

namespace safeguard::server {

using safeguard::v1::SubmitRequest;
using safeguard::v1::SubmitResponse;
using safeguard::v1::SubmitStreamResponse;

// One open SubmitStream call. Each request read is accepted as Submit accepts it (AcceptAdmitted)
// and its answer written in request order, one write in flight. At most kWindow requests are
// read ahead of the answers being written, so a sender that does not read its answers is held
// back by HTTP/2 flow control rather than buffered here.
//
// At capacity (limits.max_submits_in_flight) a stream is slowed, not refused: it keeps the
// request it has read, reads no more, and tries for a place again when one of its own
// notifications is answered or after a back-off (1 ms doubling to 32 ms), so a bulk sender is
// never told UNAVAILABLE for load and the broker holds one waiting request per stream.
//
// Thread-safe: gRPC's reactions, the back-off alarm and the answers (on worker threads) all take
// mu_. The object deletes itself once gRPC is done with it (OnDone) and nothing it started is
// still to call back (holds_ == 0): a notification on its way to the store is never abandoned.
class BrokerService::BulkSubmission final
    : public grpc::ServerBidiReactor<SubmitRequest, SubmitStreamResponse> {
 public:
  static constexpr uint64_t kWindow = 256;  // as documented in broker.proto

  // Refused at the start: finishes at once with `refusal`.
  explicit BulkSubmission(const absl::Status& refusal) : service_(nullptr), node_(nullptr) {
    absl::MutexLock lock(&mu_);
    FinishLocked(ToGrpcStatus(refusal));
  }

  BulkSubmission(BrokerService& service, const identity::NodeInfo& node)
      : service_(&service), node_(&node) {
    absl::MutexLock lock(&mu_);
    reading_ = true;
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      if (!ok) {  // the sender closed its side (or went away)
        reading_ = false;
        reads_done_ = true;
        FinishIfAnsweredLocked();
        return;
      }
      if (finished_) {
        reading_ = false;
        return;
      }
      // reading_ stays true while request_ is held, so no new read overwrites it.
      held_index_ = next_index_++;
      answers_.emplace_back();
      ++holds_;  // Admit's, until it has handed request_ on
    }
    Admit();
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    write_in_flight_ = false;
    if (!ok) {  // the sender went away: what it sent is stored or refused all the same
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "the stream broke"));
      return;
    }
    WriteNextLocked();
    ReadMoreLocked();
    FinishIfAnsweredLocked();
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the sender"));
  }

  void OnDone() override {
    bool last;
    {
      absl::MutexLock lock(&mu_);
      done_ = true;
      last = holds_ == 0;
    }
    if (last) delete this;
  }

 private:
  // Accepts the held request_ (number held_index_) if a place is free, else waits for one.
  // REQUIRES: the caller took a hold for it, which Admit gives back (or hands to the alarm).
  void Admit() {
    if (!service_->TryTakeSubmitPlace()) {
      if (backoff_ == absl::Milliseconds(1)) service_->NoteStreamWaiting();  // once per request
      absl::MutexLock lock(&mu_);
      waiting_ = true;  // the hold passes to the alarm
      alarm_.Set(absl::ToChronoTime(absl::Now() + backoff_), [this](bool) { Retry(); });
      backoff_ = std::min(backoff_ * 2, absl::Milliseconds(32));
      return;
    }
    backoff_ = absl::Milliseconds(1);
    const uint64_t index = held_index_;
    {
      absl::MutexLock lock(&mu_);
      ++holds_;  // the answer's
    }
    // Outside the lock: a refusal answers before AcceptAdmitted returns.
    service_->AcceptAdmitted(*node_, request_,
                             [this, index](absl::StatusOr<SubmitResponse> result) {
                               Answer(index, std::move(result));
                             });
    // AcceptAdmitted is done with request_: the next read may reuse it.
    bool last;
    {
      absl::MutexLock lock(&mu_);
      reading_ = false;
      ReadMoreLocked();
      --holds_;
      last = done_ && holds_ == 0;
    }
    if (last) delete this;
  }

  // The back-off alarm fired, or was cancelled because a place is likely free.
  void Retry() {
    bool abandoned;
    bool last = false;
    {
      absl::MutexLock lock(&mu_);
      waiting_ = false;
      // The sender went away: the held request was never accepted, so nothing is lost. Else the
      // alarm's hold passes back to Admit.
      abandoned = finished_;
      if (abandoned) {
        reading_ = false;
        --holds_;
        last = done_ && holds_ == 0;
      }
    }
    if (!abandoned) return Admit();
    if (last) delete this;
  }

  void Answer(uint64_t index, absl::StatusOr<SubmitResponse> result) {
    bool last;
    {
      absl::MutexLock lock(&mu_);
      std::optional<SubmitStreamResponse>& answer = answers_[index - first_];
      answer.emplace();
      if (result.ok()) {
        *answer->mutable_accepted() = *std::move(result);
      } else {
        answer->set_code(static_cast<int>(result.status().code()));
        answer->set_message(std::string(result.status().message()));
      }
      --holds_;
      if (waiting_) alarm_.Cancel();  // a place was just given back: try now
      WriteNextLocked();
      last = done_ && holds_ == 0;
    }
    if (last) delete this;
  }

  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (write_in_flight_ || finished_ || answers_.empty() || !answers_.front()) return;
    writing_ = *std::move(answers_.front());
    answers_.pop_front();
    ++first_;
    write_in_flight_ = true;
    StartWrite(&writing_);
  }

  void ReadMoreLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (reading_ || reads_done_ || finished_ || next_index_ - first_ >= kWindow) return;
    reading_ = true;
    StartRead(&request_);
  }

  void FinishIfAnsweredLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (reads_done_ && answers_.empty() && !write_in_flight_) FinishLocked(grpc::Status::OK);
  }

  void FinishLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    Finish(std::move(status));
  }

  BrokerService* const service_;
  const identity::NodeInfo* const node_;
  SubmitRequest request_;  // the read in flight, then held until accepted
  uint64_t held_index_ = 0;   // request_'s number, while held
  absl::Duration backoff_ = absl::Milliseconds(1);  // held requests' wait for a place
  grpc::Alarm alarm_;

  absl::Mutex mu_;
  SubmitStreamResponse writing_ ABSL_GUARDED_BY(mu_);  // the write in flight
  // Answers not yet written, in request order; front() is request number first_. Empty
  // optionals are still being accepted.
  std::deque<std::optional<SubmitStreamResponse>> answers_ ABSL_GUARDED_BY(mu_);
  uint64_t first_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_index_ ABSL_GUARDED_BY(mu_) = 0;  // requests read so far
  // Answers still to come, the alarm while set, and Admit while it runs: each references this.
  int holds_ ABSL_GUARDED_BY(mu_) = 0;
  bool waiting_ ABSL_GUARDED_BY(mu_) = false;  // request_ waits for a place (alarm_ set)
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

grpc::ServerBidiReactor<SubmitRequest, SubmitStreamResponse>* BrokerService::SubmitStream(
    grpc::CallbackServerContext* context) {
  auto sender = Authenticate(context);
  if (!sender.ok()) {
    RecordRefusal(nullptr, "", sender.status());
    return new BulkSubmission(sender.status());
  }
  if ((*sender)->type == protocol::NodeType::kAuditor) {
    absl::Status refusal = absl::PermissionDeniedError("auditor nodes may not send notifications");
    RecordRefusal(*sender, "", refusal);
    return new BulkSubmission(refusal);
  }
  return new BulkSubmission(*this, **sender);
}

}  // namespace safeguard::server
