// Wakes open mailbox streams when their mailbox gains deliveries.
#ifndef SAFEGUARD_BROKER_DELIVERY_MAILBOX_HUB_H_
#define SAFEGUARD_BROKER_DELIVERY_MAILBOX_HUB_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace safeguard::delivery {

// Something that reads a mailbox and wants to hear when there is more to read.
class MailboxListener {
 public:
  virtual ~MailboxListener() = default;
  // Called on the store's committer thread; must not block.
  virtual void OnMailboxChanged() = 0;
  // The broker is stopping: end the stream (the client resumes from its cursor elsewhere or
  // later). Must not block.
  virtual void OnBrokerStopping() = 0;
};

// Thread-safe.
//
// Invariants: a listener is called only between its Register and Unregister, and Unregister
// returns only once no call to it is in progress (both happen under mu_).
class MailboxHub {
 public:
  explicit MailboxHub(int max_listeners_per_mailbox)
      : max_listeners_per_mailbox_(max_listeners_per_mailbox) {}

  // RESOURCE_EXHAUSTED when the mailbox already has the maximum number of open streams.
  absl::Status Register(const std::string& mailbox, MailboxListener* listener);
  void Unregister(const std::string& mailbox, MailboxListener* listener);
  void Notify(const std::vector<std::string>& mailboxes);
  // Tells every open stream that the broker is stopping, so shutdown need not wait for them.
  void StopAll();

 private:
  const int max_listeners_per_mailbox_;
  absl::Mutex mu_;
  std::map<std::string, std::set<MailboxListener*>> listeners_ ABSL_GUARDED_BY(mu_);
};

}  // namespace safeguard::delivery

#endif  // SAFEGUARD_BROKER_DELIVERY_MAILBOX_HUB_H_
