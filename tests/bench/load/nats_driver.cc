// The peer: NATS JetStream (the Debian nats-server package) with a file-backed stream, driven
// with the NATS C client (libnats): asynchronous JetStream publishes with a de-duplication id
// (the analogue of the broker's idempotency key), and one durable push consumer per recipient
// with explicit acknowledgement. The same sealed envelopes travel as message bodies, so both
// systems carry the same bytes.
#include "tests/bench/load/driver.h"

#ifdef SAFEGUARD_LOAD_HAVE_NATS

#include <nats/nats.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"

namespace safeguard::load {
namespace {

constexpr char kStream[] = "SAFEGUARD";
constexpr char kMsgIdHeader[] = "Nats-Msg-Id";

std::string NatsError(natsStatus s, const std::string& what) {
  const char* last = nats_GetLastError(nullptr);
  return absl::StrCat(what, ": ", natsStatus_GetText(s), last ? absl::StrCat(" (", last, ")") : "");
}

class NatsDriver final : public SystemDriver {
 public:
  NatsDriver(const Workload& workload, NatsTarget target)
      : workload_(workload), settings_(workload.settings()), target_(std::move(target)) {}
  ~NatsDriver() override { Teardown(); }

  std::string name() const override { return "jetstream"; }
  pid_t server_pid() const override { return process_.pid; }
  std::string strace_output() const override { return strace_output_; }
  std::string data_directory() const override { return store_dir_; }
  int deliveries_per_notification() const override {
    return workload_.partnership().recipients().empty() ? 0 : 1;
  }

  std::vector<std::string> notes() const override {
    std::vector<std::string> notes;
    notes.push_back(absl::StrCat(
        "nats-server: file storage, ",
        target_.sync_always ? "sync_interval: always (fsync every write)"
                            : "no per-message fsync (this nats-server version has no "
                              "sync_interval option; its file store flushes to the OS and syncs "
                              "on a timer)",
        "; mutual TLS with the partnership's certificates; async publish with Nats-Msg-Id; push "
        "consumers, explicit ack (fire-and-forget natsMsg_Ack)"));
    return notes;
  }

  absl::Status Setup(int run_index) override {
    const Partnership& p = workload_.partnership();
    std::string name = absl::StrCat("nats-run", run_index);
    store_dir_ = absl::StrCat(p.dir(), "/", name);
    std::filesystem::remove_all(store_dir_);
    std::filesystem::create_directories(store_dir_);
    port_ = FreeLoopbackPort();
    std::string config = absl::StrCat(p.dir(), "/", name, ".conf");
    {
      std::ofstream out(config);
      out << "# Written by safeguard-load.\n"
          << "listen: 127.0.0.1:" << port_ << "\n"
          << "server_name: safeguard_load\n"
          << "max_payload: 4MB\n"
          << "tls {\n  cert_file: \"" << p.dir() << "/broker/node.crt\"\n"
          << "  key_file: \"" << p.dir() << "/broker/node.key\"\n"
          << "  ca_file: \"" << p.dir() << "/ca/ca.crt\"\n  verify: true\n}\n"
          << "jetstream {\n  store_dir: \"" << store_dir_ << "\"\n"
          << (target_.sync_always ? "  sync_interval: always\n" : "") << "}\n";
    }
    strace_output_ =
        settings_.fsync == FsyncMode::kStrace ? absl::StrCat(p.dir(), "/", name, ".strace") : std::string();
    auto process = StartProcess({target_.binary, "-c", config},
                                absl::StrCat(p.dir(), "/", name, ".log"), strace_output_,
                                absl::StrCat(p.dir(), "/", name, ".pid"));
    if (!process.ok()) return process.status();
    process_ = *std::move(process);

    // Senders, each with its own connection and JetStream context.
    for (int s = 0; s < static_cast<int>(p.senders().size()); ++s) {
      auto sender = std::make_unique<Sender>();
      sender->driver = this;
      sender->index = s;
      auto nc = Connect(p.senders()[s], /*wait_for_server=*/s == 0);
      if (!nc.ok()) return nc.status();
      sender->nc = *nc;
      jsOptions options;
      jsOptions_Init(&options);
      options.PublishAsync.AckHandler = &NatsDriver::OnPublishAck;
      options.PublishAsync.AckHandlerClosure = sender.get();
      options.PublishAsync.MaxPending = 1 << 20;  // the generator bounds what is in flight
      if (natsStatus st = natsConnection_JetStream(&sender->js, sender->nc, &options);
          st != NATS_OK) {
        return absl::InternalError(NatsError(st, "JetStream context"));
      }
      senders_.push_back(std::move(sender));
    }

    // The stream: every notification subject, file storage, kept (like the broker keeps them).
    jsStreamConfig stream;
    jsStreamConfig_Init(&stream);
    stream.Name = kStream;
    const char* subjects[] = {"notif.>"};
    stream.Subjects = subjects;
    stream.SubjectsLen = 1;
    stream.Storage = js_FileStorage;
    stream.Retention = js_LimitsPolicy;
    stream.Duplicates = int64_t{120} * 1000000000;  // de-duplication window: 2 minutes
    jsStreamInfo* info = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    if (natsStatus st = js_AddStream(&info, senders_[0]->js, &stream, nullptr, &code);
        st != NATS_OK) {
      return absl::InternalError(NatsError(st, absl::StrCat("creating the stream (", code, ")")));
    }
    jsStreamInfo_Destroy(info);

    // Recipients: a durable push consumer each, on its own subject, explicit acks.
    for (int r = 0; r < static_cast<int>(p.recipients().size()); ++r) {
      auto recipient = std::make_unique<Recipient>();
      recipient->driver = this;
      const std::string& id = p.recipients()[r];
      auto nc = Connect(id, false);
      if (!nc.ok()) return nc.status();
      recipient->nc = *nc;
      if (natsStatus st = natsConnection_JetStream(&recipient->js, recipient->nc, nullptr);
          st != NATS_OK) {
        return absl::InternalError(NatsError(st, "JetStream context"));
      }
      jsSubOptions options;
      jsSubOptions_Init(&options);
      options.Stream = kStream;
      options.ManualAck = true;
      options.Config.Durable = id.c_str();
      options.Config.AckPolicy = js_AckExplicit;
      options.Config.DeliverPolicy = js_DeliverAll;
      options.Config.MaxAckPending = 100000;
      std::string subject = absl::StrCat("notif.", id);
      if (natsStatus st = js_Subscribe(&recipient->sub, recipient->js, subject.c_str(),
                                       &NatsDriver::OnMessage, recipient.get(), nullptr, &options,
                                       &code);
          st != NATS_OK) {
        return absl::InternalError(NatsError(st, absl::StrCat("subscribing ", id, " (", code, ")")));
      }
      natsSubscription_SetPendingLimits(recipient->sub, -1, -1);
      recipients_.push_back(std::move(recipient));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    return absl::OkStatus();
  }

  void StartLoad(Tracker* tracker, int64_t t0_ns) override {
    tracker_.store(tracker);
    generator_ = std::make_unique<Generator>(
        settings_, static_cast<int>(senders_.size()), tracker,
        [this](int s, uint64_t n, int64_t intended) { Issue(s, n, intended); });
    generator_->Start(t0_ns);
  }

  void StopLoad() override {
    if (generator_) generator_->Stop();
  }

  void Teardown() override {
    StopLoad();
    Tracker* tracker = tracker_.load();
    for (int i = 0; i < 1000 && tracker && tracker->in_flight.load() > 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    // Drain, so that no callback of the library can run once this returns (they use this object
    // and the run's tracker).
    for (auto& r : recipients_) {
      if (r->sub) {
        natsSubscription_Drain(r->sub);
        natsSubscription_WaitForDrainCompletion(r->sub, 5000);
      }
    }
    for (auto& s : senders_) {
      if (s->js) {
        jsPubOptions options;
        jsPubOptions_Init(&options);
        options.MaxWait = 5000;
        js_PublishAsyncComplete(s->js, &options);
      }
    }
    std::vector<natsConnection*> connections;
    for (auto& r : recipients_) connections.push_back(r->nc);
    for (auto& s : senders_) connections.push_back(s->nc);
    for (natsConnection* nc : connections) {
      if (nc) natsConnection_DrainTimeout(nc, 5000);
    }
    for (natsConnection* nc : connections) {
      for (int i = 0; nc && i < 700 && !natsConnection_IsClosed(nc); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    for (auto& r : recipients_) {
      if (r->sub) natsSubscription_Destroy(r->sub);
      if (r->js) jsCtx_Destroy(r->js);
      if (r->nc) natsConnection_Destroy(r->nc);
    }
    recipients_.clear();
    for (auto& s : senders_) {
      if (s->js) jsCtx_Destroy(s->js);
      if (s->nc) natsConnection_Destroy(s->nc);
    }
    senders_.clear();
    generator_.reset();
    if (process_.launcher > 0) StopProcess(process_, absl::Seconds(15));
    tracker_.store(nullptr);
    if (!target_.keep_data && !store_dir_.empty()) std::filesystem::remove_all(store_dir_);
  }

 private:
  struct Sender {
    NatsDriver* driver = nullptr;
    int index = 0;
    natsConnection* nc = nullptr;
    jsCtx* js = nullptr;
  };
  struct Recipient {
    NatsDriver* driver = nullptr;
    natsConnection* nc = nullptr;
    jsCtx* js = nullptr;
    natsSubscription* sub = nullptr;
  };

  absl::StatusOr<natsConnection*> Connect(const std::string& node_id, bool wait_for_server) {
    std::string dir = workload_.partnership().identity_dir(node_id);
    natsOptions* options = nullptr;
    natsOptions_Create(&options);
    std::string url = absl::StrCat("tls://127.0.0.1:", port_);
    natsOptions_SetURL(options, url.c_str());
    natsOptions_SetName(options, node_id.c_str());
    natsOptions_SetSecure(options, true);
    natsOptions_LoadCATrustedCertificates(options, (dir + "/ca.crt").c_str());
    natsOptions_LoadCertificatesChain(options, (dir + "/node.crt").c_str(),
                                      (dir + "/node.key").c_str());
    natsConnection* nc = nullptr;
    natsStatus st = NATS_OK;
    for (int i = 0; i < (wait_for_server ? 250 : 1); ++i) {
      st = natsConnection_Connect(&nc, options);
      if (st == NATS_OK) break;
      if (!ProcessAlive(process_)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    natsOptions_Destroy(options);
    if (st != NATS_OK) {
      return absl::UnavailableError(absl::StrCat(
          NatsError(st, absl::StrCat("connecting to nats-server as ", node_id)), "\n",
          ReadFileOrEmpty(process_.log)));
    }
    return nc;
  }

  void Issue(int s, uint64_t n, int64_t intended) {
    Tracker* tracker = tracker_.load();
    const safeguard::v1::SubmitRequest* request =
        settings_.seal == SealMode::kAhead ? workload_.Sealed(s, n) : nullptr;
    safeguard::v1::SubmitRequest live;
    if (request == nullptr) {
      auto sealed = workload_.SealLive(s, n);
      if (!sealed.ok()) {
        tracker->OnFailed(absl::StrCat("seal: ", sealed.status().message()), intended, NowNs());
        return;
      }
      live = *std::move(sealed);
      request = &live;
    }
    std::string data = request->SerializeAsString();
    int r = workload_.RecipientOf(s, n);
    std::string subject =
        absl::StrCat("notif.", r >= 0 ? workload_.partnership().recipients()[r] : "none");
    std::string key = MessageKey(workload_.key_prefix(), s, n);
    natsMsg* msg = nullptr;
    natsMsg_Create(&msg, subject.c_str(), nullptr, data.data(), static_cast<int>(data.size()));
    jsPubOptions options;
    jsPubOptions_Init(&options);
    options.MsgId = key.c_str();
    options.MaxWait = 30000;
    tracker->NoteSend(s, n, intended);
    tracker->in_flight.fetch_add(1);
    natsStatus st = js_PublishMsgAsync(senders_[s]->js, &msg, &options);
    if (st != NATS_OK) {
      // Not re-issued (a closed loop loses one slot): an immediate failure means the
      // connection is gone, and the failure count says so.
      tracker->OnFailed(NatsError(st, "publish"), intended, NowNs());
      if (msg != nullptr) natsMsg_Destroy(msg);
      tracker->in_flight.fetch_sub(1);
    }
  }

  static void OnPublishAck(jsCtx*, natsMsg* msg, jsPubAck* ack, jsPubAckErr* error,
                           void* closure) {
    int64_t done = NowNs();
    auto* sender = static_cast<Sender*>(closure);
    NatsDriver* self = sender->driver;
    Tracker* tracker = self->tracker_.load();
    const char* key = nullptr;
    int s = 0;
    uint64_t n = 0;
    int64_t intended = done;
    if (natsMsgHeader_Get(msg, kMsgIdHeader, &key) == NATS_OK && ParseMessageKey(key, &s, &n)) {
      intended = tracker->SendTime(s, n);
    }
    if (ack != nullptr && !ack->Duplicate) {
      tracker->OnAccepted(intended, done);
    } else if (ack != nullptr) {
      tracker->OnFailed("duplicate", intended, done);
    } else {
      tracker->OnFailed(error && error->ErrText ? std::string(error->ErrText)
                                                : NatsError(error ? error->Err : NATS_ERR, "ack"),
                        intended, done);
    }
    natsMsg_Destroy(msg);
    if (self->generator_) self->generator_->Completed(sender->index);
    tracker->in_flight.fetch_sub(1);
  }

  static void OnMessage(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
    int64_t now = NowNs();
    auto* recipient = static_cast<Recipient*>(closure);
    Tracker* tracker = recipient->driver->tracker_.load();
    if (tracker != nullptr) {
      const char* key = nullptr;
      if (natsMsgHeader_Get(msg, kMsgIdHeader, &key) == NATS_OK) {
        tracker->OnDelivered(key, now);
      } else {
        tracker->delivered_unknown.fetch_add(1);
      }
    }
    natsStatus st = natsMsg_Ack(msg, nullptr);
    if (tracker != nullptr) tracker->OnAcknowledged(st == NATS_OK);
    natsMsg_Destroy(msg);
  }

  const Workload& workload_;
  const Settings settings_;
  const NatsTarget target_;
  ChildProcess process_;
  int port_ = 0;
  std::string store_dir_;
  std::string strace_output_;
  std::vector<std::unique_ptr<Sender>> senders_;
  std::vector<std::unique_ptr<Recipient>> recipients_;
  std::unique_ptr<Generator> generator_;
  std::atomic<Tracker*> tracker_{nullptr};
};

}  // namespace

bool NatsSupported() { return true; }

std::unique_ptr<SystemDriver> MakeNatsDriver(const Workload& workload, NatsTarget target) {
  return std::make_unique<NatsDriver>(workload, std::move(target));
}

}  // namespace safeguard::load

#else  // !SAFEGUARD_LOAD_HAVE_NATS

namespace safeguard::load {
bool NatsSupported() { return false; }
std::unique_ptr<SystemDriver> MakeNatsDriver(const Workload&, NatsTarget) { return nullptr; }
}  // namespace safeguard::load

#endif
