#include "clients/sdk/broker_client.h"

#include <openssl/rand.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "clients/protocol/node_type.h"
#include "clients/protocol/notification_validator.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/grpcpp.h"

namespace safeguard::client {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path, absl::string_view what) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read ", what, " at ", path));
  }
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool IsTransient(const absl::Status& s) {
  return absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s);
}

void SetDeadline(grpc::ClientContext& context, absl::Duration timeout) {
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
}

}  // namespace

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

absl::StatusOr<NodeIdentity> LoadIdentityDirectory(const std::string& directory) {
  NodeIdentity identity;
  auto ca = ReadFile(directory + "/ca.crt", "the partnership CA certificate");
  if (!ca.ok()) return ca.status();
  auto cert = ReadFile(directory + "/node.crt", "the node's certificate");
  if (!cert.ok()) return cert.status();
  auto key = ReadFile(directory + "/node.key", "the node's private key");
  if (!key.ok()) return key.status();
  identity.ca_certificate = *std::move(ca);
  identity.certificate = *std::move(cert);
  identity.private_key = *std::move(key);
  return identity;
}

absl::StatusOr<std::unique_ptr<BrokerClient>> BrokerClient::Connect(ConnectionOptions options) {
  if (options.broker_address.empty()) {
    return absl::InvalidArgumentError("broker address is empty; give host:port");
  }
  if (options.identity.ca_certificate.empty() || options.identity.certificate.empty() ||
      options.identity.private_key.empty()) {
    return absl::InvalidArgumentError(
        "the node identity is incomplete: the CA certificate, node certificate and key are all "
        "needed for mutual TLS");
  }
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = options.identity.ca_certificate;
  ssl.pem_cert_chain = options.identity.certificate;
  ssl.pem_private_key = options.identity.private_key;
  grpc::ChannelArguments args;
  if (!options.server_name_override.empty()) {
    args.SetSslTargetNameOverride(options.server_name_override);
  }
  args.SetMaxReceiveMessageSize(4 * 1024 * 1024);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  auto channel =
      grpc::CreateCustomChannel(options.broker_address, grpc::SslCredentials(ssl), args);
  auto stub = safeguard::v1::Broker::NewStub(channel);
  auto signer = protocol::Signer::FromPem(options.identity.certificate, options.identity.private_key);
  if (!signer.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the node certificate and key cannot sign: ", signer.status().message()));
  }
  auto trust = protocol::TrustAnchor::FromPem(options.identity.ca_certificate);
  if (!trust.ok()) return trust.status();
  return std::unique_ptr<BrokerClient>(new BrokerClient(std::move(options), std::move(channel),
                                                        std::move(stub), *std::move(signer),
                                                        *std::move(trust)));
}

template <typename Call>
absl::Status BrokerClient::WithRetries(const Call& call) {
  absl::Duration backoff = options_.initial_backoff;
  absl::Status status;
  for (int attempt = 1; attempt <= std::max(1, options_.max_attempts); ++attempt) {
    grpc::ClientContext context;
    SetDeadline(context, options_.call_timeout);
    status = FromGrpcStatus(call(context));
    if (!IsTransient(status) || attempt == options_.max_attempts) break;
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(5));
  }
  return status;
}

absl::StatusOr<safeguard::v1::SubmitRequest> BrokerClient::Seal(
    safeguard::v1::Notification& notification) {
  if (notification.idempotency_key().empty()) {
    unsigned char bytes[16];
    if (RAND_bytes(bytes, sizeof bytes) != 1) {
      return absl::InternalError("could not generate an idempotency key");
    }
    notification.set_idempotency_key(
        absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(bytes), sizeof bytes)));
  }
  if (absl::Status valid = protocol::NormaliseAndValidate(notification, absl::Now());
      !valid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("notification.", valid.message()));
  }
  // Sealed once: every retry sends the same signed bytes.
  auto envelope = protocol::Seal(notification, *signer_, absl::Now());
  if (!envelope.ok()) return envelope.status();
  safeguard::v1::SubmitRequest request;
  *request.mutable_envelope() = *std::move(envelope);
  return request;
}

absl::Status BrokerClient::CheckReceipt(const safeguard::v1::SubmitRequest& request,
                                        const std::string& idempotency_key,
                                        const safeguard::v1::SubmitResponse& response) const {
  protocol::ExpectedReceipt expected{.envelope_id = idempotency_key, .sender = signer_->uri()};
  if (!response.duplicate()) {
    expected.envelope_digest = protocol::Sha256(request.envelope().payload());
  }
  auto receipt = protocol::VerifyReceipt(response.receipt(), *trust_, expected);
  if (!receipt.ok()) {
    return absl::DataLossError(absl::StrCat(
        "the broker answered, but its receipt does not prove acceptance: ",
        receipt.status().message()));
  }
  if (receipt->notification_id() != response.notification_id() ||
      receipt->sequence() != response.sequence()) {
    return absl::DataLossError("the broker's receipt disagrees with its answer");
  }
  return absl::OkStatus();
}

absl::StatusOr<safeguard::v1::SubmitResponse> BrokerClient::Submit(
    safeguard::v1::Notification notification) {
  auto request = Seal(notification);
  if (!request.ok()) return request.status();
  safeguard::v1::SubmitResponse response;
  absl::Status status = WithRetries([&](grpc::ClientContext& context) {
    response.Clear();
    return stub_->Submit(&context, *request, &response);
  });
  if (!status.ok()) return status;
  if (absl::Status receipt = CheckReceipt(*request, notification.idempotency_key(), response);
      !receipt.ok()) {
    return receipt;
  }
  return response;
}

std::vector<absl::StatusOr<safeguard::v1::SubmitResponse>> BrokerClient::SubmitMany(
    std::vector<safeguard::v1::Notification> notifications) {
  const size_t n = notifications.size();
  std::vector<absl::StatusOr<safeguard::v1::SubmitResponse>> results(
      n, absl::UnavailableError("not answered"));
  std::vector<safeguard::v1::SubmitRequest> requests(n);
  std::vector<size_t> to_send;  // indexes still to be answered, in order
  for (size_t i = 0; i < n; ++i) {
    auto request = Seal(notifications[i]);
    if (!request.ok()) {
      results[i] = request.status();
      continue;
    }
    requests[i] = *std::move(request);
    to_send.push_back(i);
  }
  absl::Duration backoff = options_.initial_backoff;
  for (int attempt = 1; !to_send.empty(); ++attempt) {
    grpc::ClientContext context;
    SetDeadline(context, options_.call_timeout +
                             absl::Seconds(static_cast<double>(to_send.size()) / 1000));
    auto stream = stub_->SubmitStream(&context);
    // One thread writes while this one reads: the broker answers while the sender still sends.
    std::thread writer([&] {
      for (size_t i : to_send) {
        if (!stream->Write(requests[i])) return;  // the stream broke: Finish says why
      }
      stream->WritesDone();
    });
    std::vector<size_t> again;
    size_t answered = 0;
    safeguard::v1::SubmitStreamResponse answer;
    while (answered < to_send.size() && stream->Read(&answer)) {
      const size_t i = to_send[answered++];
      if (answer.code() == 0) {
        absl::Status receipt =
            CheckReceipt(requests[i], notifications[i].idempotency_key(), answer.accepted());
        if (receipt.ok()) {
          results[i] = std::move(*answer.mutable_accepted());
        } else {
          results[i] = receipt;
        }
      } else {
        results[i] = absl::Status(static_cast<absl::StatusCode>(answer.code()), answer.message());
        if (IsTransient(results[i].status())) again.push_back(i);
      }
    }
    // Every request answered (so written), or Read returned false (the call is over, so Write
    // has returned too): the writer is finishing or done.
    writer.join();
    absl::Status ended = FromGrpcStatus(stream->Finish());
    for (size_t k = answered; k < to_send.size(); ++k) {
      const size_t i = to_send[k];
      results[i] = ended.ok() ? absl::DataLossError("the broker ended the stream unanswered")
                              : ended;
      // Unanswered: it may or may not have been accepted; the same envelope settles it.
      if (ended.ok() || IsTransient(ended) || absl::IsCancelled(ended)) again.push_back(i);
    }
    if (attempt >= std::max(1, options_.max_attempts)) break;
    std::sort(again.begin(), again.end());
    to_send = std::move(again);
    if (!to_send.empty()) {
      absl::SleepFor(backoff);
      backoff = std::min(backoff * 2, absl::Seconds(5));
    }
  }
  return results;
}

absl::StatusOr<protocol::OpenedEnvelope> BrokerClient::Verify(
    const safeguard::v1::Delivery& delivery) const {
  return VerifyDelivery(delivery, *trust_);
}

absl::StatusOr<protocol::OpenedEnvelope> VerifyDelivery(const safeguard::v1::Delivery& delivery,
                                                        const protocol::TrustAnchor& trust) {
  auto opened = protocol::Open(delivery.envelope(), trust);
  if (!opened.ok()) return opened.status();
  auto sender = protocol::ParseNodeUri(opened->signer_uri);
  // The broker itself sends some notifications (e.g. that a GP looked up a flagged child),
  // signed with its certificate: spiffe://<partnership>/broker/<name>.
  const bool from_broker =
      delivery.sender_node_type() == "broker" &&
      absl::EndsWith(opened->signer_uri, absl::StrCat("/broker/", delivery.sender_node_id()));
  if (!from_broker && (!sender.ok() || sender->id != delivery.sender_node_id())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the delivery names sender '", delivery.sender_node_id(), "' but the envelope is signed by ",
        opened->signer_uri));
  }
  if (!google::protobuf::util::MessageDifferencer::Equals(opened->notification,
                                                          delivery.notification())) {
    return absl::InvalidArgumentError(
        "the delivered notification differs from what the sender signed");
  }
  return opened;
}

absl::Status BrokerClient::Subscribe(
    safeguard::v1::SubscribeRequest request,
    const std::function<bool(const safeguard::v1::Delivery&)>& on_delivery) {
  absl::Duration backoff = options_.initial_backoff;
  for (;;) {
    grpc::ClientContext context;
    {
      absl::MutexLock lock(&mu_);
      if (cancelled_) return absl::CancelledError("subscription cancelled");
      streaming_ = &context;
    }
    if (!request.follow()) SetDeadline(context, options_.call_timeout * 4);
    auto reader = stub_->Subscribe(&context, request);
    safeguard::v1::Delivery delivery;
    bool stop = false;
    while (!stop && reader->Read(&delivery)) {
      if (delivery.cursor() <= request.after_cursor() && request.after_cursor() != 0) continue;
      request.set_after_cursor(delivery.cursor());
      backoff = options_.initial_backoff;
      if (!on_delivery(delivery)) stop = true;
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

void BrokerClient::Cancel() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
  if (streaming_ != nullptr) streaming_->TryCancel();
}

absl::StatusOr<safeguard::v1::AcknowledgeResponse> BrokerClient::Acknowledge(
    uint64_t cursor, std::string acknowledged_by) {
  safeguard::v1::AcknowledgeRequest request;
  request.set_cursor(cursor);
  request.set_acknowledged_by(std::move(acknowledged_by));
  safeguard::v1::AcknowledgeResponse response;
  absl::Status status = WithRetries([&](grpc::ClientContext& context) {
    return stub_->Acknowledge(&context, request, &response);
  });
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<safeguard::v1::AcknowledgeManyResponse> BrokerClient::AcknowledgeMany(
    std::vector<uint64_t> cursors, std::string acknowledged_by) {
  safeguard::v1::AcknowledgeManyRequest request;
  request.mutable_cursors()->Add(cursors.begin(), cursors.end());
  request.set_acknowledged_by(std::move(acknowledged_by));
  safeguard::v1::AcknowledgeManyResponse response;
  absl::Status status = WithRetries([&](grpc::ClientContext& context) {
    response.Clear();
    return stub_->AcknowledgeMany(&context, request, &response);
  });
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<safeguard::v1::Outcome> BrokerClient::RecordOutcome(
    safeguard::v1::RecordOutcomeRequest request) {
  safeguard::v1::Outcome response;
  absl::Status status = WithRetries([&](grpc::ClientContext& context) {
    return stub_->RecordOutcome(&context, request, &response);
  });
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<safeguard::v1::NotificationStatus> BrokerClient::GetStatus(
    std::string notification_id) {
  safeguard::v1::GetStatusRequest request;
  request.set_notification_id(std::move(notification_id));
  safeguard::v1::NotificationStatus response;
  absl::Status status = WithRetries([&](grpc::ClientContext& context) {
    return stub_->GetStatus(&context, request, &response);
  });
  if (!status.ok()) return status;
  return response;
}

}  // namespace safeguard::client
