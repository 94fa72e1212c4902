#include "broker/delivery/mailbox_hub.h"

#include "absl/strings/str_cat.h"

namespace safeguard::delivery {

absl::Status MailboxHub::Register(const std::string& mailbox, MailboxListener* listener) {
  absl::MutexLock lock(&mu_);
  auto& set = listeners_[mailbox];
  if (static_cast<int>(set.size()) >= max_listeners_per_mailbox_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "mailbox '", mailbox, "' already has ", set.size(),
        " open streams, the most allowed; close one (or raise limits.max_subscriptions_per_node)"));
  }
  set.insert(listener);
  return absl::OkStatus();
}

void MailboxHub::Unregister(const std::string& mailbox, MailboxListener* listener) {
  absl::MutexLock lock(&mu_);
  auto it = listeners_.find(mailbox);
  if (it == listeners_.end()) return;
  it->second.erase(listener);
  if (it->second.empty()) listeners_.erase(it);
}

void MailboxHub::Notify(const std::vector<std::string>& mailboxes) {
  absl::MutexLock lock(&mu_);
  for (const std::string& mailbox : mailboxes) {
    auto it = listeners_.find(mailbox);
    if (it == listeners_.end()) continue;
    for (MailboxListener* listener : it->second) listener->OnMailboxChanged();
  }
}

void MailboxHub::StopAll() {
  absl::MutexLock lock(&mu_);
  for (auto& [mailbox, listeners] : listeners_) {
    for (MailboxListener* listener : listeners) listener->OnBrokerStopping();
  }
}

}  // namespace safeguard::delivery
