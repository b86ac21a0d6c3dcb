#pragma once
// nabla::Error and the NABLA_CHECK macro: every bad input ends here with a message that says
// what was expected and what came.
#include <sstream>
#include <stdexcept>
#include <string>

namespace nabla {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
template <class... Args>
[[noreturn, gnu::cold, gnu::noinline]] void fail(const Args&... args) {
  std::ostringstream message;
  (message << ... << args);
  throw Error(message.str());
}
}  // namespace detail

}  // namespace nabla

// The message arguments are only formatted when the check fails.
#define NABLA_CHECK(cond, ...)                              \
  do {                                                      \
    if (!(cond)) [[unlikely]] ::nabla::detail::fail(__VA_ARGS__); \
  } while (0)
