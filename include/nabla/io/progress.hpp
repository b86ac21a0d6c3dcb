#pragma once
// Progress of a long loop. On a terminal: one bar redrawn in place, with the rate and the time
// left. Anywhere else (CI logs, pipes, files): a plain line now and then, so logs stay readable.
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

#include "nabla/core/error.hpp"

namespace nabla::io {

struct ProgressOptions {
  std::FILE* out = stdout;
  std::optional<bool> terminal{};   // redraw a bar in place; by default, whether `out` is a terminal
  double log_interval_seconds = 10;  // how often the plain line is written
  std::string unit = "it";           // what is counted: "it" (iterations), "img", ...
};

namespace detail {
// 75 -> "1:15", 3725 -> "1:02:05".
inline std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<int64_t>(std::llround(seconds));
  char buffer[32];
  if (s >= 3600) std::snprintf(buffer, sizeof buffer, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                               static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  else std::snprintf(buffer, sizeof buffer, "%lld:%02lld", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  return buffer;
}

// 1234.5 -> "1234 it/s"; 0.4 -> "2.50 s/it".
inline std::string format_rate(double per_second, const std::string& unit) {
  char buffer[48];
  if (!(per_second > 0)) std::snprintf(buffer, sizeof buffer, "? %s/s", unit.c_str());
  else if (per_second >= 100) std::snprintf(buffer, sizeof buffer, "%.0f %s/s", per_second, unit.c_str());
  else if (per_second >= 1) std::snprintf(buffer, sizeof buffer, "%.1f %s/s", per_second, unit.c_str());
  else std::snprintf(buffer, sizeof buffer, "%.2f s/%s", 1 / per_second, unit.c_str());
  return buffer;
}
}  // namespace detail

class Progress {
 public:
  using Clock = std::chrono::steady_clock;

  // `total` <= 0 means unknown: no percentage and no time left.
  explicit Progress(int64_t total, std::string label = "", ProgressOptions options = {})
      : total_(total), label_(std::move(label)), options_(std::move(options)), start_(Clock::now()),
        last_draw_(start_) {
    terminal_ = options_.terminal.value_or(options_.out && isatty(fileno(options_.out)));
  }
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  ~Progress() {
    if (!finished_ && terminal_ && drawn_) std::fputc('\n', options_.out);
  }

  void advance(int64_t steps = 1) { update(done_ + steps); }
  void update(int64_t done) {
    done_ = done;
    const Clock::time_point now = Clock::now();
    const double since = std::chrono::duration<double>(now - last_draw_).count();
    if (since >= (terminal_ ? 0.1 : options_.log_interval_seconds)) draw(now, false);
  }
  // Shown after the counts, e.g. "d_loss 0.693  g_loss 0.701"; used from the next redraw on.
  void set_status(std::string status) { status_ = std::move(status); }

  // Draws the final state: the bar completed on a terminal, a last line elsewhere.
  void finish() {
    if (finished_) return;
    draw(Clock::now(), true);
    finished_ = true;
  }

  int64_t done() const { return done_; }
  double elapsed_seconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }
  // Items per second since the start.
  double rate() const {
    const double t = elapsed_seconds();
    return t > 0 ? static_cast<double>(done_) / t : 0;
  }

  // The line as it would be drawn now (no bar): for tests and for callers with their own logging.
  std::string line() const { return describe(Clock::now(), false); }

 private:
  // "label: 420/1000 (42%), 1234 it/s, elapsed 0:03, left 0:04, status" (the percentage only in
  // plain lines: the bar shows its own). Built by appending: GCC 12 warns falsely about
  // "literal" + std::string.
  std::string describe(Clock::time_point now, bool final) const {
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const double per_second = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0;
    std::string s;
    const auto add = [&s](const auto&... parts) { (s.append(parts), ...); };
    if (!label_.empty()) add(label_, terminal_ ? " " : ": ");
    add(std::to_string(done_));
    if (total_ > 0) {
      add("/", std::to_string(total_));
      if (!terminal_) add(" (", std::to_string(percent()), "%)");
    }
    add(", ", detail::format_rate(per_second, options_.unit), ", elapsed ", detail::format_duration(elapsed));
    if (total_ > 0 && !final && done_ < total_)
      add(", left ", per_second > 0 ? detail::format_duration(static_cast<double>(total_ - done_) / per_second) : "?");
    if (!status_.empty()) add(", ", status_);
    return s;
  }

  int percent() const {
    return total_ > 0 ? static_cast<int>(std::clamp<int64_t>(done_ * 100 / total_, 0, 100)) : 0;
  }

  static int terminal_columns(std::FILE* out) {
    winsize size{};
    if (ioctl(fileno(out), TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
    return 80;
  }

  void draw(Clock::time_point now, bool final) {
    if (!options_.out) return;
    last_draw_ = now;
    drawn_ = true;
    std::string text = describe(now, final);
    if (!terminal_) {
      std::fprintf(options_.out, "%s\n", text.c_str());
      std::fflush(options_.out);
      return;
    }
    const int columns = terminal_columns(options_.out);
    if (total_ > 0) {
      // "label  42% [#####.....] 420/1000, ..." with the bar taking what the line leaves, up to
      // 40 columns; below 10 the bar goes and the percentage stays. (The percentage takes 5
      // columns, the brackets 3; the last column stays free.)
      const int room = columns - 1 - static_cast<int>(text.size()) - 5;
      char percent_text[8];
      std::snprintf(percent_text, sizeof percent_text, "%3d%% ", percent());
      std::string prefix = percent_text;
      if (room - 3 >= 10) {
        const int bar = std::min(room - 3, 40);
        const int filled = static_cast<int>(static_cast<int64_t>(bar) * std::clamp<int64_t>(done_, 0, total_) / total_);
        prefix.append(1, '[').append(static_cast<size_t>(filled), '#').append(static_cast<size_t>(bar - filled), '.');
        prefix.append("] ");
      }
      text.insert(label_.empty() ? 0 : label_.size() + 1, prefix);
    }
    if (static_cast<int>(text.size()) >= columns) text.resize(static_cast<size_t>(std::max(columns - 1, 0)));
    std::fprintf(options_.out, "\r%s\x1b[K%s", text.c_str(), final ? "\n" : "");
    std::fflush(options_.out);
  }

  int64_t total_;
  std::string label_;
  ProgressOptions options_;
  Clock::time_point start_, last_draw_;
  bool terminal_ = false;
  bool drawn_ = false;
  bool finished_ = false;
  int64_t done_ = 0;
  std::string status_;
};

}  // namespace nabla::io
