// The safeguard broker under load: real safeguard-broker process, mTLS, sealed and signed
// notifications submitted with gRPC's callback API (or the SDK), recipients on Subscribe
// (follow=true) acknowledging every delivery.
#include <deque>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "clients/protocol/envelope.h"
#include "grpcpp/alarm.h"
#include "grpcpp/grpcpp.h"
#include "tests/bench/load/driver.h"

namespace safeguard::load {
namespace {

using safeguard::v1::AcknowledgeRequest;
using safeguard::v1::AcknowledgeResponse;
using safeguard::v1::SubmitRequest;
using safeguard::v1::SubmitResponse;
using safeguard::v1::SubmitStreamResponse;

constexpr int kMaxAcksInFlight = 4096;

class BrokerDriver final : public SystemDriver {
 public:
  BrokerDriver(const Workload& workload, BrokerTarget target)
      : workload_(workload), settings_(workload.settings()), target_(std::move(target)) {}
  ~BrokerDriver() override { Teardown(); }

  std::string name() const override { return "broker"; }
  pid_t server_pid() const override { return target_.address.empty() ? process_.pid : target_.pid; }
  std::string strace_output() const override { return strace_output_; }
  std::string data_directory() const override { return data_dir_; }
  int deliveries_per_notification() const override {
    return workload_.partnership().recipients().empty() ? 0 : 1;
  }

  absl::Status Setup(int run_index) override {
    closing_.store(false);
    const Partnership& p = workload_.partnership();
    address_ = target_.address;
    if (address_.empty()) {
      std::string name = absl::StrCat("broker-run", run_index);
      data_dir_ = absl::StrCat(p.dir(), "/data-run", run_index);
      std::filesystem::remove_all(data_dir_);
      std::string config = p.WriteBrokerConfig(name, absl::StrCat("data-run", run_index),
                                               settings_.max_commit_batch);
      std::string port_file = absl::StrCat(p.dir(), "/", name, ".port");
      std::filesystem::remove(port_file);
      strace_output_ =
          settings_.fsync == FsyncMode::kStrace ? absl::StrCat(p.dir(), "/", name, ".strace") : std::string();
      auto process = StartProcess(
          {target_.binary, "--config=" + config, "--port_file=" + port_file},
          absl::StrCat(p.dir(), "/", name, ".log"), strace_output_,
          absl::StrCat(p.dir(), "/", name, ".pid"));
      if (!process.ok()) return process.status();
      process_ = *std::move(process);
      int port = 0;
      for (int i = 0; i < 500 && port == 0; ++i) {
        std::string text = ReadFileOrEmpty(port_file);
        if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &port)) port = 0;
        if (port == 0) {
          if (!ProcessAlive(process_)) {
            return absl::FailedPreconditionError(absl::StrCat(
                "safeguard-broker exited during start-up:\n", ReadFileOrEmpty(process_.log)));
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
      }
      if (port == 0) return absl::DeadlineExceededError("the broker did not start in 10 s");
      address_ = absl::StrCat("127.0.0.1:", port);
    }
    for (const std::string& id : p.senders()) {
      auto c = client::BrokerClient::Connect({.broker_address = address_,
                                              .identity = workload_.identity(id),
                                              .call_timeout = absl::Seconds(30),
                                              .max_attempts = 1});
      if (!c.ok()) return c.status();
      senders_.push_back(*std::move(c));
    }
    for (const std::string& id : p.recipients()) {
      auto c = client::BrokerClient::Connect({.broker_address = address_,
                                              .identity = workload_.identity(id),
                                              .call_timeout = absl::Seconds(30),
                                              .max_attempts = 1});
      if (!c.ok()) return c.status();
      recipients_.push_back(*std::move(c));
      ack_batches_.push_back(std::make_unique<AckBatch>());
    }
    // Connect every channel (TLS handshakes) before the clock starts: one Subscribe per
    // recipient, and a harmless GetStatus per sender (NOT_FOUND).
    for (auto& sender : senders_) {
      (void)sender->GetStatus(std::string(32, '0'));
    }
    for (size_t r = 0; r < recipients_.size(); ++r) {
      subscribers_.emplace_back([this, r] { Subscribe(r); });
    }
    if (settings_.client == ClientMode::kStream) {
      for (auto& sender : senders_) streams_.push_back(std::make_unique<Stream>(*this, *sender));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    return absl::OkStatus();
  }

  void StartLoad(Tracker* tracker, int64_t t0_ns) override {
    tracker_.store(tracker);
    if (settings_.client == ClientMode::kSdk) {
      stop_sdk_.store(false);
      for (int s = 0; s < static_cast<int>(senders_.size()); ++s) {
        for (int k = 0; k < settings_.in_flight; ++k) {
          sdk_threads_.emplace_back([this, s, t0_ns, k] { SdkLoop(s, k, t0_ns); });
        }
      }
      return;
    }
    generator_ = std::make_unique<Generator>(
        settings_, static_cast<int>(senders_.size()), tracker,
        [this](int s, uint64_t n, int64_t intended) { Issue(s, n, intended); });
    generator_->Start(t0_ns);
  }

  void StopLoad() override {
    if (generator_) generator_->Stop();
    stop_sdk_.store(true);
    for (auto& t : sdk_threads_) t.join();
    sdk_threads_.clear();
  }

  void Teardown() override {
    StopLoad();
    Tracker* tracker = tracker_.load();
    // Let answers still in flight arrive (bounded), then stop the recipients.
    for (int i = 0; i < 1000 && tracker && tracker->in_flight.load() > 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    // Submits still waiting to retry give up when their back-off ends (at most 5 s).
    closing_.store(true);
    for (int i = 0; i < 600 && tracker && tracker->in_flight.load() > 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    for (auto& stream : streams_) stream->Close();  // waits for the broker's last answer
    streams_.clear();
    for (auto& r : recipients_) r->Cancel();
    for (auto& t : subscribers_) t.join();
    subscribers_.clear();
    for (int i = 0; i < 1000 && acks_in_flight_.load() > 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    generator_.reset();
    senders_.clear();
    recipients_.clear();
    ack_batches_.clear();
    if (process_.launcher > 0) StopProcess(process_, absl::Seconds(15));
    tracker_.store(nullptr);
    if (!target_.keep_data && !data_dir_.empty()) {
      std::filesystem::remove_all(data_dir_);
    }
  }

  std::vector<std::string> notes() const override {
    std::vector<std::string> notes;
    if (settings_.client == ClientMode::kSdk) {
      notes.push_back("clients: BrokerClient::Submit (seal + sign + submit + verify receipt), "
                      "one call per thread");
    } else {
      notes.push_back(absl::StrCat(
          "clients: gRPC callback API, ",
          settings_.client == ClientMode::kStream ? "one SubmitStream per sender"
                                                  : "one unary Submit per notification",
          ", envelopes ",
          settings_.seal == SealMode::kAhead ? "sealed before the run" : "sealed live",
          ", receipts ", settings_.verify_receipts ? "verified" : "not verified"));
    }
    if (uint64_t live = sealed_live_.load(); live > 0) {
      notes.push_back(absl::StrCat("the sealed corpus ran out: ", live,
                                   " envelopes were sealed during the run (raise --corpus_rate)"));
    }
    return notes;
  }

 private:
  struct Call {
    std::unique_ptr<grpc::ClientContext> context;  // a new one per attempt
    SubmitRequest owned;  // live-sealed requests
    const SubmitRequest* request = nullptr;
    SubmitResponse response;
    int sender = 0;
    int64_t intended = 0;
    int attempts = 0;
    absl::Duration backoff = kRetry.initial_backoff;
    grpc::Alarm retry;  // a refusal at capacity waits here, as the SDK sleeps
  };
  // As client::BrokerClient with its default options: UNAVAILABLE is retried with the same
  // envelope after 100 ms, doubling to at most 5 s, so a refusal at capacity shows as latency.
  static inline const client::ConnectionOptions kRetry{};

  void Issue(int s, uint64_t n, int64_t intended) {
    Tracker* tracker = tracker_.load();
    auto* call = new Call;
    call->sender = s;
    call->intended = intended;
    call->request = settings_.seal == SealMode::kAhead ? workload_.Sealed(s, n) : nullptr;
    if (call->request == nullptr) {
      auto sealed = workload_.SealLive(s, n);
      if (!sealed.ok()) {
        tracker->OnFailed(absl::StrCat("seal: ", sealed.status().message()), intended, NowNs());
        delete call;
        return;
      }
      call->owned = *std::move(sealed);
      call->request = &call->owned;
      if (settings_.seal == SealMode::kAhead) sealed_live_.fetch_add(1);
    }
    tracker->NoteSend(s, n, intended);
    tracker->in_flight.fetch_add(1);
    Send(call, tracker);
  }

  // The broker's answer to a Submit (unary or on a stream): a refusal at capacity is sent again
  // after a back-off; anything else is the call's result.
  void Answered(Call* call, Tracker* tracker, grpc::Status status) {
    int64_t done = NowNs();
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE &&
        call->attempts < kRetry.max_attempts) {
      tracker->refused_unavailable.fetch_add(1, std::memory_order_relaxed);
      auto at = std::chrono::system_clock::now() + absl::ToChronoMicroseconds(call->backoff);
      call->retry.Set(at, [this, call, tracker](bool) {
        if (!closing_.load()) return Send(call, tracker);
        Finish(call, tracker,
               grpc::Status(grpc::StatusCode::UNAVAILABLE, "still refused when the run ended"));
      });
      call->backoff = std::min(call->backoff * 2, absl::Seconds(5));
      return;
    }
    if (status.ok() && settings_.verify_receipts) status = VerifyReceipt(*call);
    Finish(call, tracker, status, done);
  }

  void Send(Call* call, Tracker* tracker) {
    ++call->attempts;
    if (settings_.client == ClientMode::kStream) {
      return streams_[call->sender]->Send(call, tracker);
    }
    call->context = std::make_unique<grpc::ClientContext>();
    call->context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    senders_[call->sender]->stub().async()->Submit(
        call->context.get(), call->request, &call->response,
        [this, call, tracker](grpc::Status status) { Answered(call, tracker, status); });
  }

  // One SubmitStream (--client=stream): requests written one at a time in the order sent, the
  // broker's answers read in the same order. Thread-safe.
  class Stream final : public grpc::ClientBidiReactor<SubmitRequest, SubmitStreamResponse> {
   public:
    Stream(BrokerDriver& driver, client::BrokerClient& sender) : driver_(driver) {
      sender.stub().async()->SubmitStream(&context_, this);
      StartRead(&answer_);
      StartCall();
    }

    void Send(Call* call, Tracker* tracker) {
      {
        absl::MutexLock lock(&mu_);
        if (!over_) {
          to_write_.push_back({call, tracker});
          WriteNextLocked();
          return;
        }
      }
      // The stream has ended (the broker went away): fail the call from gRPC's threads, not
      // here, where a closed loop would send the next one and recurse.
      call->retry.Set(std::chrono::system_clock::now(), [this, call, tracker](bool) {
        driver_.Finish(call, tracker,
                       grpc::Status(grpc::StatusCode::UNAVAILABLE, "the SubmitStream ended"));
      });
    }

    // Closes the sending side and waits for the stream to end.
    void Close() {
      absl::MutexLock lock(&mu_);
      closing_ = true;
      WriteNextLocked();
      mu_.Await(absl::Condition(&ended_));
    }

    void OnWriteDone(bool ok) override {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (ok) WriteNextLocked();  // else the stream is over: OnDone answers the rest
    }

    void OnReadDone(bool ok) override {
      if (!ok) return;  // the stream ended: OnDone
      Pending pending;
      {
        absl::MutexLock lock(&mu_);
        pending = awaiting_.front();
        awaiting_.pop_front();
      }
      grpc::Status status = grpc::Status::OK;
      if (answer_.code() != 0) {
        status = grpc::Status(static_cast<grpc::StatusCode>(answer_.code()), answer_.message());
      } else {
        pending.call->response.Swap(answer_.mutable_accepted());
      }
      StartRead(&answer_);
      driver_.Answered(pending.call, pending.tracker, status);
    }

    void OnDone(const grpc::Status& status) override {
      std::deque<Pending> unanswered;
      {
        absl::MutexLock lock(&mu_);
        over_ = true;
        unanswered.swap(awaiting_);
        for (Pending& p : to_write_) unanswered.push_back(p);
        to_write_.clear();
      }
      grpc::Status failed = status.ok() ? grpc::Status(grpc::StatusCode::DATA_LOSS,
                                                       "the stream ended unanswered")
                                        : status;
      for (Pending& p : unanswered) driver_.Finish(p.call, p.tracker, failed);
      absl::MutexLock lock(&mu_);
      ended_ = true;
    }

   private:
    struct Pending {
      Call* call = nullptr;
      Tracker* tracker = nullptr;
    };

    void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      if (writing_ || writes_done_) return;
      if (to_write_.empty()) {
        if (closing_) {
          writes_done_ = true;
          StartWritesDone();
        }
        return;
      }
      Pending next = to_write_.front();
      to_write_.pop_front();
      awaiting_.push_back(next);  // before the write: its answer may come before OnWriteDone
      writing_ = true;
      StartWrite(next.call->request);
    }

    BrokerDriver& driver_;
    grpc::ClientContext context_;
    SubmitStreamResponse answer_;  // the read in flight
    absl::Mutex mu_;
    std::deque<Pending> to_write_ ABSL_GUARDED_BY(mu_);
    std::deque<Pending> awaiting_ ABSL_GUARDED_BY(mu_);  // written, in order, not yet answered
    bool writing_ ABSL_GUARDED_BY(mu_) = false;
    bool closing_ ABSL_GUARDED_BY(mu_) = false;
    bool writes_done_ ABSL_GUARDED_BY(mu_) = false;
    bool over_ ABSL_GUARDED_BY(mu_) = false;   // OnDone began: no more writes
    bool ended_ ABSL_GUARDED_BY(mu_) = false;  // OnDone finished: Close may return
  };

  void Finish(Call* call, Tracker* tracker, const grpc::Status& status, int64_t done = NowNs()) {
    if (status.ok()) {
      tracker->OnAccepted(call->intended, done);
    } else {
      tracker->OnFailed(absl::StrCat("grpc ", status.error_code(), ": ",
                                     status.error_message().substr(0, 80)),
                        call->intended, done);
    }
    int sender = call->sender;
    delete call;
    // Completed() may issue the next send; only then is this one no longer in flight,
    // so Teardown (which waits for none in flight) never races the generator.
    if (generator_) generator_->Completed(sender);
    tracker->in_flight.fetch_sub(1);
  }

  grpc::Status VerifyReceipt(const Call& call) {
    const auto& payload = call.request->envelope().payload();
    safeguard::v1::SignedPayload signed_payload;
    signed_payload.ParseFromString(payload);
    protocol::ExpectedReceipt expected{.envelope_digest = protocol::Sha256(payload),
                                       .envelope_id = signed_payload.envelope_id(),
                                       .sender = signed_payload.sender()};
    auto body = protocol::VerifyReceipt(call.response.receipt(), workload_.trust(), expected);
    if (!body.ok()) {
      return grpc::Status(grpc::StatusCode::DATA_LOSS, std::string(body.status().message()));
    }
    return grpc::Status::OK;
  }

  void SdkLoop(int s, int k, int64_t t0_ns) {
    while (NowNs() < t0_ns) std::this_thread::sleep_for(std::chrono::microseconds(200));
    Tracker* tracker = tracker_.load();
    // Thread k of the sender uses n = k, k + K, k + 2K, ...
    uint64_t n = static_cast<uint64_t>(k);
    while (!stop_sdk_.load()) {
      if (settings_.backlog > 0 && sdk_issued_.fetch_add(1) >= settings_.backlog) return;
      int64_t start = NowNs();
      tracker->NoteSend(s, n, start);
      tracker->in_flight.fetch_add(1);
      auto response = senders_[s]->Submit(workload_.MakeNotification(s, n));
      int64_t done = NowNs();
      if (response.ok()) {
        tracker->OnAccepted(start, done);
      } else {
        tracker->OnFailed(response.status().ToString().substr(0, 100), start, done);
      }
      tracker->in_flight.fetch_sub(1);
      n += static_cast<uint64_t>(settings_.in_flight);
    }
  }

  void Subscribe(size_t r) {
    client::BrokerClient& client = *recipients_[r];
    safeguard::v1::SubscribeRequest request;
    request.set_follow(true);
    absl::Status status = client.Subscribe(request, [&](const safeguard::v1::Delivery& d) {
      int64_t now = NowNs();
      Tracker* tracker = tracker_.load();
      if (tracker != nullptr) {
        bool ok = true;
        if (settings_.verify_deliveries) ok = client.Verify(d).ok();
        if (ok) {
          tracker->OnDelivered(d.notification().idempotency_key(), now);
        } else {
          tracker->OnFailed("delivery did not verify", now, now);
        }
      }
      if (settings_.ack == AckMode::kBatch) {
        AcknowledgeInBatch(r, d.cursor(), tracker);
      } else {
        Acknowledge(client, d.cursor(), tracker);
      }
      return true;
    });
    if (!status.ok()) {
      Tracker* tracker = tracker_.load();
      if (tracker) tracker->OnFailed(absl::StrCat("subscribe: ", status.ToString()), 0, 0);
    }
  }

  struct AckCall {
    grpc::ClientContext context;
    AcknowledgeRequest request;
    AcknowledgeResponse response;
  };

  void Acknowledge(client::BrokerClient& client, uint64_t cursor, Tracker* tracker) {
    while (acks_in_flight_.load() >= kMaxAcksInFlight) {
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    auto* call = new AckCall;
    call->request.set_cursor(cursor);
    call->request.set_acknowledged_by("safeguard-load");
    call->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    acks_in_flight_.fetch_add(1);
    client.stub().async()->Acknowledge(&call->context, &call->request, &call->response,
                                       [this, call, tracker](grpc::Status status) {
                                         if (tracker) tracker->OnAcknowledged(status.ok());
                                         delete call;
                                         acks_in_flight_.fetch_sub(1);
                                       });
  }

  // Per recipient: cursors received and not yet sent in an AcknowledgeMany, and whether one is
  // in flight (then the next goes when it completes, with everything gathered meanwhile).
  struct AckBatch {
    absl::Mutex mu;
    std::vector<uint64_t> waiting ABSL_GUARDED_BY(mu);
    bool in_flight ABSL_GUARDED_BY(mu) = false;
  };
  struct AckManyCall {
    grpc::ClientContext context;
    safeguard::v1::AcknowledgeManyRequest request;
    safeguard::v1::AcknowledgeManyResponse response;
  };
  static constexpr size_t kMaxPerAckMany = 1000;
  std::vector<std::unique_ptr<AckBatch>> ack_batches_;

  void AcknowledgeInBatch(size_t r, uint64_t cursor, Tracker* tracker) {
    AckBatch& batch = *ack_batches_[r];
    absl::MutexLock lock(&batch.mu);
    batch.waiting.push_back(cursor);
    if (!batch.in_flight) SendAckBatchLocked(r, tracker);
  }

  void SendAckBatchLocked(size_t r, Tracker* tracker) {
    AckBatch& batch = *ack_batches_[r];
    auto* call = new AckManyCall;
    size_t n = std::min(batch.waiting.size(), kMaxPerAckMany);
    call->request.mutable_cursors()->Add(batch.waiting.begin(), batch.waiting.begin() + n);
    batch.waiting.erase(batch.waiting.begin(), batch.waiting.begin() + n);
    call->request.set_acknowledged_by("safeguard-load");
    call->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    batch.in_flight = true;
    acks_in_flight_.fetch_add(1);
    recipients_[r]->stub().async()->AcknowledgeMany(
        &call->context, &call->request, &call->response,
        [this, r, call, tracker](grpc::Status status) {
          if (tracker) {
            for (int i = 0; i < call->request.cursors_size(); ++i) {
              bool ok = status.ok() && i < call->response.results_size() &&
                        call->response.results(i).has_acknowledged();
              tracker->OnAcknowledged(ok);
            }
          }
          delete call;
          {
            AckBatch& batch = *ack_batches_[r];
            absl::MutexLock lock(&batch.mu);
            batch.in_flight = false;
            if (!batch.waiting.empty()) SendAckBatchLocked(r, tracker);
          }
          acks_in_flight_.fetch_sub(1);
        });
  }

  const Workload& workload_;
  const Settings settings_;
  const BrokerTarget target_;
  ChildProcess process_;
  std::string address_;
  std::string data_dir_;
  std::string strace_output_;
  std::vector<std::unique_ptr<client::BrokerClient>> senders_;
  std::vector<std::unique_ptr<client::BrokerClient>> recipients_;
  std::vector<std::unique_ptr<Stream>> streams_;  // --client=stream: one per sender
  std::vector<std::thread> subscribers_;
  std::unique_ptr<Generator> generator_;
  std::atomic<Tracker*> tracker_{nullptr};
  std::atomic<int64_t> acks_in_flight_{0};
  std::atomic<uint64_t> sealed_live_{0};
  std::atomic<bool> stop_sdk_{false};
  std::atomic<bool> closing_{false};  // Teardown: retries waiting to resend give up
  std::atomic<uint64_t> sdk_issued_{0};
  std::vector<std::thread> sdk_threads_;
};

}  // namespace

std::unique_ptr<SystemDriver> MakeBrokerDriver(const Workload& workload, BrokerTarget target) {
  return std::make_unique<BrokerDriver>(workload, std::move(target));
}

}  // namespace safeguard::load
