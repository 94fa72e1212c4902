// gp-flag-sync: keeps a GP practice's child-protection and plan flags current.
//
//   gp-flag-sync --broker=broker.example:7443 --identity=/etc/safeguard/gp-riverside
//       --practice-list=/var/lib/practice/children.txt --state=/var/lib/practice/flags.state
//
// Uploads the practice list (one NHS number per line) to the broker's Registry service on start
// and whenever the file changes, follows the practice's flag stream, and keeps a state file with
// each flagged child's current flag and the last cursor processed, written durably (temporary
// file, fsync, rename, fsync of the directory) so a restart resumes exactly where it stopped.
// Each change is printed in one line. --once catches up and exits (for cron jobs and tests).
//
// The state file is text: a "cursor N" line, then one line per flagged child:
//   9434765919<TAB>{...the Flag in protobuf JSON...}
// A practice system would import it (or take the printed lines) into its own record.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "clients/sdk/registry_client.h"
#include "google/protobuf/util/json_util.h"

ABSL_FLAG(std::string, broker, "", "The broker's HOST:PORT (default: $SAFEGUARD_BROKER).");
ABSL_FLAG(std::string, identity, "",
          "The practice node's certificate folder with ca.crt, node.crt, node.key (default: "
          "$SAFEGUARD_IDENTITY).");
ABSL_FLAG(std::string, server_name, "", "Name to check the broker's certificate against.");
ABSL_FLAG(std::string, practice_list, "",
          "The practice list: one NHS number per line ('nhs:' prefix optional; blank lines and "
          "lines starting with # are skipped). Required.");
ABSL_FLAG(std::string, state, "", "The state file (created if missing). Required.");
ABSL_FLAG(bool, once, false, "Upload the list, catch up with the flag stream, then exit.");
ABSL_FLAG(int, poll_seconds, 10, "How often to check the practice list for changes.");

namespace {

using safeguard::v1::Flag;

std::atomic<safeguard::client::RegistryClient*> g_client{nullptr};
std::atomic<bool> g_stopping{false};

// What the practice knows: each flagged child's current flag, and the last cursor processed.
// Invariants: every flag in `flags` has flagged() == true; `cursor` is the cursor of the last
// flag applied (0 before any).
struct State {
  uint64_t cursor = 0;
  std::map<std::string, Flag> flags;  // by NHS number
};

absl::StatusOr<State> LoadState(const std::string& path) {
  State state;
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) return state;  // first run
    return absl::NotFoundError(absl::StrCat("cannot read the state file ", path));
  }
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty() || line[0] == '#') continue;
    if (absl::StartsWith(line, "cursor ")) {
      if (!absl::SimpleAtoi(line.substr(7), &state.cursor)) {
        return absl::DataLossError(absl::StrCat(path, ":", number, ": bad cursor line"));
      }
      continue;
    }
    std::vector<std::string> parts = absl::StrSplit(line, absl::MaxSplits('\t', 1));
    Flag flag;
    if (parts.size() != 2 ||
        !google::protobuf::util::JsonStringToMessage(parts[1], &flag).ok()) {
      return absl::DataLossError(absl::StrCat(path, ":", number,
                                              ": not 'NHS-NUMBER<TAB>flag JSON'; restore the "
                                              "file or delete it to start again from cursor 0"));
    }
    state.flags[parts[0]] = std::move(flag);
  }
  return state;
}

// Writes the whole state to path.tmp, fsyncs it, renames it over `path` and fsyncs the
// directory: after a crash the file is either the old state or the new, never a mixture.
absl::Status SaveState(const std::string& path, const State& state) {
  std::string text = "# gp-flag-sync state: the last flag cursor and each flagged child\n";
  absl::StrAppend(&text, "cursor ", state.cursor, "\n");
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  for (const auto& [nhs, flag] : state.flags) {
    std::string json;
    (void)google::protobuf::util::MessageToJsonString(flag, &json, options);
    absl::StrAppend(&text, nhs, "\t", json, "\n");
  }
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("cannot write ", tmp));
  size_t written = 0;
  while (written < text.size()) {
    ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return absl::UnavailableError(absl::StrCat("writing ", tmp, " failed"));
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    return absl::UnavailableError(absl::StrCat("fsync of ", tmp, " failed"));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot rename ", tmp, " to ", path));
  }
  std::string dir = path.find('/') == std::string::npos ? "." : path.substr(0, path.rfind('/'));
  if (dir.empty()) dir = "/";
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<safeguard::v1::SubjectIdentifier>> ReadPracticeList(
    const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read the practice list ", path));
  std::vector<safeguard::v1::SubjectIdentifier> out;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    absl::string_view text = absl::StripAsciiWhitespace(line);
    if (text.empty() || text[0] == '#') continue;
    std::string id = absl::StrContains(text, ':') ? std::string(text) : absl::StrCat("nhs:", text);
    auto parsed = safeguard::client::ParseIdentifier(id);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", number, ": ", parsed.status().message()));
    }
    out.push_back(*std::move(parsed));
  }
  return out;
}

// mtime and size: enough to notice the practice system rewriting the list.
std::string FileVersion(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return "";
  return absl::StrCat(st.st_mtim.tv_sec, ".", st.st_mtim.tv_nsec, ":", st.st_size);
}

absl::Status Upload(safeguard::client::RegistryClient& client, const std::string& path) {
  auto list = ReadPracticeList(path);
  if (!list.ok()) return list.status();
  auto done = client.ReplaceServedChildren(*list);
  if (!done.ok()) return done.status();
  std::cout << "practice list uploaded: " << done->served() << " children, " << done->flagged()
            << " flagged now" << std::endl;
  return absl::OkStatus();
}

int Fail(absl::string_view message) {
  std::cerr << "gp-flag-sync: " << message << "\n";
  return 1;
}

int Run() {
  auto flag_or_env = [](const std::string& value, const char* env) {
    if (!value.empty()) return value;
    const char* e = std::getenv(env);
    return std::string(e ? e : "");
  };
  const std::string broker = flag_or_env(absl::GetFlag(FLAGS_broker), "SAFEGUARD_BROKER");
  const std::string identity_dir =
      flag_or_env(absl::GetFlag(FLAGS_identity), "SAFEGUARD_IDENTITY");
  const std::string list_path = absl::GetFlag(FLAGS_practice_list);
  const std::string state_path = absl::GetFlag(FLAGS_state);
  if (broker.empty() || identity_dir.empty() || list_path.empty() || state_path.empty()) {
    std::cerr << "gp-flag-sync: --broker, --identity, --practice-list and --state are required "
                 "(see --help)\n";
    return 2;
  }
  auto identity = safeguard::client::LoadIdentityDirectory(identity_dir);
  if (!identity.ok()) return Fail(identity.status().message());
  auto client = safeguard::client::RegistryClient::Connect(
      {.broker_address = broker,
       .identity = *std::move(identity),
       .server_name_override = absl::GetFlag(FLAGS_server_name)});
  if (!client.ok()) return Fail(client.status().message());
  auto state = LoadState(state_path);
  if (!state.ok()) return Fail(state.status().message());
  std::cout << "resuming after flag cursor " << state->cursor << " with "
            << state->flags.size() << " flagged children" << std::endl;

  std::string list_version = FileVersion(list_path);
  if (absl::Status up = Upload(**client, list_path); !up.ok()) return Fail(up.message());

  const bool once = absl::GetFlag(FLAGS_once);
  g_client = client->get();
  std::signal(SIGINT, [](int) {
    g_stopping = true;
    if (auto* c = g_client.load()) c->Cancel();
  });
  std::signal(SIGTERM, [](int) {
    g_stopping = true;
    if (auto* c = g_client.load()) c->Cancel();
  });

  // Watches the practice list while the stream is followed.
  std::thread watcher;
  if (!once) {
    watcher = std::thread([&] {
      const absl::Duration poll = absl::Seconds(std::max(1, absl::GetFlag(FLAGS_poll_seconds)));
      while (!g_stopping) {
        for (absl::Time until = absl::Now() + poll; !g_stopping && absl::Now() < until;) {
          absl::SleepFor(absl::Milliseconds(200));
        }
        if (g_stopping) break;
        std::string now = FileVersion(list_path);
        if (now == list_version) continue;
        if (absl::Status up = Upload(**client, list_path); up.ok()) {
          list_version = now;
        } else {
          std::cerr << "gp-flag-sync: practice list not uploaded (will retry): " << up.message()
                    << "\n";
        }
      }
    });
  }

  safeguard::v1::SubscribeFlagsRequest request;
  request.set_after_cursor(state->cursor);
  request.set_follow(!once);
  absl::Status saved = absl::OkStatus();
  absl::Status streamed = (*client)->SubscribeFlags(request, [&](const Flag& flag) {
    const std::string nhs = flag.identifier().value();
    if (flag.flagged()) {
      state->flags[nhs] = flag;
    } else {
      state->flags.erase(nhs);
    }
    state->cursor = flag.cursor();
    // Durable before the change is reported: a crash now replays this flag, never loses it.
    saved = SaveState(state_path, *state);
    if (!saved.ok()) return false;
    std::cout << nhs << ": " << safeguard::client::DescribeFlag(flag) << std::endl;
    return true;
  });
  g_stopping = true;
  if (watcher.joinable()) watcher.join();
  g_client = nullptr;
  if (!saved.ok()) return Fail(saved.message());
  // The stream may have delivered nothing new: the state file still says where we are.
  if (absl::Status s = SaveState(state_path, *state); !s.ok()) return Fail(s.message());
  if (!streamed.ok() && !absl::IsCancelled(streamed)) return Fail(streamed.message());
  std::cout << "up to date at flag cursor " << state->cursor << ": " << state->flags.size()
            << " flagged children" << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "keeps a GP practice's child-protection and plan flags current.\n\n"
      "Usage: gp-flag-sync --broker=HOST:PORT --identity=DIR --practice-list=FILE "
      "--state=FILE [--once]\n\n"
      "Uploads the practice list on start and when it changes, follows the practice's flag\n"
      "stream, keeps each flagged child's flag and the last cursor in the state file (written\n"
      "durably) and prints each change. Restarting resumes from the saved cursor.");
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() > 1) {
    std::cerr << "gp-flag-sync: unexpected argument '" << rest[1] << "' (see --help)\n";
    return 2;
  }
  return Run();
}
