#pragma once
// Whether ops record the graph, per thread, like torch.no_grad().

namespace nabla {

namespace detail {
inline bool& grad_mode_flag() {
  static thread_local bool enabled = true;
  return enabled;
}
}  // namespace detail

inline bool grad_enabled() { return detail::grad_mode_flag(); }

// Scoped: inside, no op records a graph node; on exit the previous mode returns.
class NoGradGuard {
 public:
  NoGradGuard() : previous_(detail::grad_mode_flag()) { detail::grad_mode_flag() = false; }
  ~NoGradGuard() { detail::grad_mode_flag() = previous_; }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

class EnableGradGuard {
 public:
  EnableGradGuard() : previous_(detail::grad_mode_flag()) { detail::grad_mode_flag() = true; }
  ~EnableGradGuard() { detail::grad_mode_flag() = previous_; }
  EnableGradGuard(const EnableGradGuard&) = delete;
  EnableGradGuard& operator=(const EnableGradGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace nabla
