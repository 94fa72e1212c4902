// Helpers shared by the libFuzzer targets: carving typed values out of the fuzzer's bytes, and a
// property check that crashes loudly so libFuzzer records the input.
#ifndef SAFEGUARD_TESTS_FUZZ_FUZZ_INPUT_H_
#define SAFEGUARD_TESTS_FUZZ_FUZZ_INPUT_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"

// A property the code under test must keep for every input. abort() rather than assert():
// fuzz builds may define NDEBUG, and the check must stay.
#define FUZZ_CHECK(cond)                                                                 \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)

namespace safeguard::fuzz {

// Reads from the front of the input; once it runs dry every read returns zeros or empty,
// so any input is a valid program for the fuzzer.
// Thread-compatible.
class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  uint8_t Byte() { return size_ == 0 ? 0 : (--size_, *data_++); }

  uint64_t U64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | Byte();
    return v;
  }

  uint16_t U16() { return static_cast<uint16_t>((Byte() << 8) | Byte()); }

  // Up to `max` bytes, its length taken from the input.
  std::string Bytes(size_t max) {
    size_t n = U16() % (max + 1);
    if (n > size_) n = size_;
    std::string out(reinterpret_cast<const char*>(data_), n);
    data_ += n;
    size_ -= n;
    return out;
  }

  absl::string_view Rest() {
    absl::string_view rest(reinterpret_cast<const char*>(data_), size_);
    data_ += size_;
    size_ = 0;
    return rest;
  }

  size_t remaining() const { return size_; }

 private:
  const uint8_t* data_;
  size_t size_;
};

}  // namespace safeguard::fuzz

#endif  // SAFEGUARD_TESTS_FUZZ_FUZZ_INPUT_H_
