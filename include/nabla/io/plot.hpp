#pragma once
// Plots as PNG files: training curves (every step as a light dot, a moving average as a line, one
// colour per series) and histograms (overlaid, e.g. real against generated pixel values), with
// ticked and labelled axes, a title and a legend. LossHistory records the numbers a training loop
// produces and writes them both as a plot and as CSV.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <initializer_list>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "nabla/core/tensor.hpp"
#include "nabla/io/canvas.hpp"
#include "nabla/io/file.hpp"

namespace nabla::io {

// matplotlib's "tab10" colours: distinct, and familiar from every other loss plot.
inline constexpr std::array<Color, 10> kPalette = {{{31, 119, 180}, {255, 127, 14}, {44, 160, 44},
                                                   {214, 39, 40}, {148, 103, 189}, {140, 86, 75},
                                                   {227, 119, 194}, {127, 127, 127}, {188, 189, 34},
                                                   {23, 190, 207}}};

struct Series {
  std::string name;
  std::vector<double> x, y;
};

struct PlotOptions {
  std::string title = "Training losses";
  std::string x_label = "step";
  std::string y_label = "loss";
  int64_t width = 960, height = 600;
  int64_t smooth = 0;  // moving-average window in points; 0 picks about 1/50 of the longest series
  bool points = true;  // a light dot for every value under the average
  // The y axis. By default it spans every value of a short series; past 200 values it leaves out
  // the most extreme 0.5% at either end (averages there run along the border), so that one early
  // spike does not flatten the rest of the curve.
  std::optional<std::pair<double, double>> y_range{};
};

struct HistogramOptions {
  std::string title = "Pixel values";
  std::string x_label = "value";
  std::string y_label = "fraction of values";
  int64_t width = 960, height = 600;
  int64_t bins = 50;
  std::optional<std::pair<double, double>> range{};  // default: the smallest to the largest value
};

// One set of values for plot_histogram.
struct Sample {
  std::string name;
  std::vector<double> values;

  // Every element of a tensor: Sample::of("real", batch.images).
  template <Floating T>
  static Sample of(std::string name, const Tensor<T>& tensor) {
    const std::vector<T> v = tensor.to_vector();
    return {std::move(name), std::vector<double>(v.begin(), v.end())};
  }
};

namespace detail {
inline constexpr int kTextScale = 2;
inline constexpr Color kInk{34, 34, 34}, kMutedInk{110, 110, 110}, kGridLine{228, 228, 228}, kFrame{140, 140, 140};

struct Ticks {
  std::vector<double> values;
  double step = 1;
};

// About `target` round-numbered ticks (1, 2 or 5 times a power of ten apart) inside [lo, hi].
inline Ticks nice_ticks(double lo, double hi, int target = 6) {
  Ticks t;
  const double raw = (hi - lo) / std::max(target - 1, 1);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double fraction = raw / magnitude;
  t.step = (fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10) * magnitude;
  const double first = std::ceil(lo / t.step - 1e-9);
  for (double k = first; k * t.step <= hi + t.step * 1e-9; k += 1) t.values.push_back(k == 0 ? 0.0 : k * t.step);
  return t;
}

// Tick labels with just the decimals the step needs; thousands as "k" and millions as "M" when
// every tick is a whole number of them (steps 0, 20k, 40k, ...).
inline std::string tick_label(double v, double step) {
  char buffer[32];
  for (const auto& [unit, suffix] : {std::pair{1e6, "M"}, std::pair{1e3, "k"}}) {
    if (step >= unit && std::fmod(step, unit) == 0) {
      std::snprintf(buffer, sizeof buffer, "%.0f%s", v / unit, v == 0 ? "" : suffix);
      return buffer;
    }
  }
  const int decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, v);
  return buffer;
}

// A range widened by `margin` of its length on each side; an empty range becomes a unit one.
inline std::pair<double, double> padded(double lo, double hi, double margin) {
  if (!(hi > lo)) {
    const double half = std::max(std::abs(lo) * 0.1, 0.5);
    return {lo - half, hi + half};
  }
  return {lo - (hi - lo) * margin, hi + (hi - lo) * margin};
}

// The frame of a plot: title, note, axes with grid, ticks and labels. Maps data to pixels.
class Axes {
 public:
  Axes(Canvas& canvas, const std::string& title, const std::string& note, const std::string& x_label,
       const std::string& y_label, std::pair<double, double> x_range, std::pair<double, double> y_range)
      : canvas_(canvas), x_(x_range), y_(y_range) {
    const int s = kTextScale;
    const int64_t line = Canvas::text_height(s);
    x_ticks_ = nice_ticks(x_.first, x_.second);
    y_ticks_ = nice_ticks(y_.first, y_.second);
    int64_t widest = 0;
    for (double v : y_ticks_.values) widest = std::max(widest, Canvas::text_width(tick_label(v, y_ticks_.step), s));
    top_ = 20 + line + (note.empty() ? 0 : 10 + line) + 22;
    left_ = 20 + line + 14 + widest + 10;
    right_ = canvas.width() - 30;
    bottom_ = canvas.height() - (20 + line + 12 + line + 10);
    NABLA_CHECK(right_ - left_ >= 50 && bottom_ - top_ >= 50, "plot: a ", canvas.width(), "x", canvas.height(),
                " image leaves no room for the axes");

    // The title in bold: the glyphs drawn twice, a pixel apart.
    const int64_t title_x = (canvas.width() - Canvas::text_width(title, s)) / 2;
    canvas.text(title_x, 20, title, kInk, s);
    canvas.text(title_x + 1, 20, title, kInk, s);
    if (!note.empty())
      canvas.text((canvas.width() - Canvas::text_width(note, s)) / 2, 20 + line + 10, note, kMutedInk, s);
    for (double v : y_ticks_.values) {
      const auto y = static_cast<int64_t>(std::lround(py(v)));
      canvas.fill_rect(left_, y, right_, y + 1, kGridLine);
      canvas.fill_rect(left_ - 5, y, left_, y + 1, kFrame);
      const std::string label = tick_label(v, y_ticks_.step);
      canvas.text(left_ - 10 - Canvas::text_width(label, s), y - line / 2, label, kInk, s);
    }
    for (double v : x_ticks_.values) {
      const auto x = static_cast<int64_t>(std::lround(px(v)));
      canvas.fill_rect(x, top_, x + 1, bottom_, kGridLine);
      canvas.fill_rect(x, bottom_, x + 1, bottom_ + 5, kFrame);
      const std::string label = tick_label(v, x_ticks_.step);
      canvas.text(x - Canvas::text_width(label, s) / 2, bottom_ + 12, label, kInk, s);
    }
    canvas.text((left_ + right_ - Canvas::text_width(x_label, s)) / 2, canvas.height() - 20 - line, x_label, kInk, s);
    canvas.text_up(20, (top_ + bottom_ + Canvas::text_width(y_label, s)) / 2, y_label, kInk, s);
  }

  // Drawn last, over the data.
  void frame() { canvas_.stroke_rect(left_, top_, right_ + 1, bottom_ + 1, kFrame); }

  double px(double x) const {
    return static_cast<double>(left_) + (x - x_.first) / (x_.second - x_.first) * static_cast<double>(right_ - left_);
  }
  double py(double y) const {
    return static_cast<double>(bottom_) - (y - y_.first) / (y_.second - y_.first) * static_cast<double>(bottom_ - top_);
  }
  bool inside(double y) const { return y >= y_.first && y <= y_.second; }
  int64_t plot_width() const { return right_ - left_; }

  // A legend in the top right corner of the plot: a colour swatch and a name per entry.
  void legend(const std::vector<std::pair<std::string, Color>>& entries) {
    if (entries.empty()) return;
    const int s = kTextScale;
    const int64_t line = Canvas::text_height(s), row = line + 12, swatch = 28;
    int64_t widest = 0;
    for (const auto& e : entries) widest = std::max(widest, Canvas::text_width(e.first, s));
    const int64_t w = 14 + swatch + 10 + widest + 14, h = 10 + row * static_cast<int64_t>(entries.size()) + 2;
    const int64_t x0 = right_ - 12 - w, y0 = top_ + 12;
    canvas_.fill_rect(x0, y0, x0 + w, y0 + h, {255, 255, 255}, 0.88f);
    canvas_.stroke_rect(x0, y0, x0 + w, y0 + h, {200, 200, 200});
    for (size_t i = 0; i < entries.size(); ++i) {
      const int64_t y = y0 + 12 + static_cast<int64_t>(i) * row;
      const double mid = static_cast<double>(y) + static_cast<double>(line) / 2;
      canvas_.line({static_cast<double>(x0 + 14), mid}, {static_cast<double>(x0 + 14 + swatch), mid},
                   entries[i].second, 3);
      canvas_.text(x0 + 14 + swatch + 10, y, entries[i].first, kInk, s);
    }
  }

 private:
  Canvas& canvas_;
  std::pair<double, double> x_, y_;
  Ticks x_ticks_, y_ticks_;
  int64_t left_ = 0, top_ = 0, right_ = 0, bottom_ = 0;
};

// Centred moving average over `window` points (fewer at the ends).
inline std::vector<double> moving_average(const std::vector<double>& y, int64_t window) {
  const auto n = static_cast<int64_t>(y.size());
  std::vector<double> prefix(static_cast<size_t>(n + 1), 0.0), out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) prefix[static_cast<size_t>(i + 1)] = prefix[static_cast<size_t>(i)] + y[static_cast<size_t>(i)];
  const int64_t half = window / 2;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t lo = std::max<int64_t>(0, i - half), hi = std::min(n, i + half + 1);
    out[static_cast<size_t>(i)] = (prefix[static_cast<size_t>(hi)] - prefix[static_cast<size_t>(lo)]) / static_cast<double>(hi - lo);
  }
  return out;
}

inline double quantile(std::vector<double> v, double q) {
  const auto k = static_cast<size_t>(std::clamp(q, 0.0, 1.0) * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}
}  // namespace detail

inline Image render_series(std::span<const Series> series, const PlotOptions& options = {}) {
  std::vector<double> all_x, all_y;
  int64_t longest = 0;
  for (const Series& s : series) {
    NABLA_CHECK(s.x.size() == s.y.size(), "plot: series '", s.name, "' has ", s.x.size(), " x values and ",
                s.y.size(), " y values");
    for (size_t i = 0; i < s.x.size(); ++i)
      if (std::isfinite(s.x[i]) && std::isfinite(s.y[i])) all_x.push_back(s.x[i]), all_y.push_back(s.y[i]);
    longest = std::max(longest, static_cast<int64_t>(s.x.size()));
  }
  const int64_t window = options.smooth > 0 ? options.smooth : std::max<int64_t>(1, longest / 50);

  // Finite points and their moving averages (which stay within the points' range), per series.
  std::vector<std::vector<Point>> raw(series.size()), averaged(series.size());
  for (size_t k = 0; k < series.size(); ++k) {
    std::vector<double> xs, ys;
    for (size_t i = 0; i < series[k].x.size(); ++i)
      if (std::isfinite(series[k].x[i]) && std::isfinite(series[k].y[i]))
        xs.push_back(series[k].x[i]), ys.push_back(series[k].y[i]);
    const std::vector<double> avg = detail::moving_average(ys, window);
    for (size_t i = 0; i < xs.size(); ++i) {
      raw[k].push_back({xs[i], ys[i]});
      averaged[k].push_back({xs[i], avg[i]});
    }
  }

  std::pair<double, double> x_range{0, 1}, y_range{0, 1};
  if (!all_x.empty()) {
    const auto [xmin, xmax] = std::minmax_element(all_x.begin(), all_x.end());
    x_range = detail::padded(*xmin, *xmax, 0.02);
    const double tail = all_y.size() > 200 ? 0.005 : 0.0;
    const double lo = detail::quantile(all_y, tail), hi = detail::quantile(all_y, 1 - tail);
    y_range = detail::padded(lo, hi, 0.05);
  }
  if (options.y_range) y_range = *options.y_range;
  NABLA_CHECK(y_range.second > y_range.first, "plot: y_range must be increasing, got [", y_range.first, ", ",
              y_range.second, "]");

  Canvas canvas(options.width, options.height);
  std::string note;
  if (options.points && window > 1)
    note = "dots: every value; lines: moving average over " + std::to_string(window) + " values";
  else if (options.points)
    note = "dots: every value";
  detail::Axes axes(canvas, options.title, note, options.x_label, options.y_label, x_range, y_range);

  // Denser data gets fainter dots, so that a band of thousands of steps stays see-through.
  const double per_column = static_cast<double>(longest) / static_cast<double>(axes.plot_width());
  const auto dot_alpha = static_cast<float>(std::clamp(0.5 / std::sqrt(std::max(per_column, 1.0)), 0.03, 0.5));
  if (options.points)
    for (size_t k = 0; k < series.size(); ++k)
      for (const Point& p : raw[k])
        if (axes.inside(p.y)) canvas.dot({axes.px(p.x), axes.py(p.y)}, 1.6, kPalette[k % kPalette.size()], dot_alpha);
  std::vector<std::pair<std::string, Color>> legend;
  for (size_t k = 0; k < series.size(); ++k) {
    // At most about two vertices per pixel column: more add nothing a reader can see.
    const size_t stride = std::max<size_t>(1, averaged[k].size() / static_cast<size_t>(2 * axes.plot_width()));
    std::vector<Point> line;
    for (size_t i = 0; i < averaged[k].size(); i += stride) {
      const Point& p = averaged[k][i];
      line.push_back({axes.px(p.x), axes.py(std::clamp(p.y, y_range.first, y_range.second))});
    }
    if (!averaged[k].empty() && (averaged[k].size() - 1) % stride != 0) {
      const Point& p = averaged[k].back();
      line.push_back({axes.px(p.x), axes.py(std::clamp(p.y, y_range.first, y_range.second))});
    }
    canvas.polyline(line, kPalette[k % kPalette.size()], 2.5);
    legend.emplace_back(series[k].name, kPalette[k % kPalette.size()]);
  }
  axes.frame();
  axes.legend(legend);
  return canvas.image();
}

inline void plot_series(const std::filesystem::path& path, std::span<const Series> series,
                        const PlotOptions& options = {}) {
  write_png(path, render_series(series, options));
}

inline Image render_histogram(std::span<const Sample> samples, const HistogramOptions& options = {}) {
  NABLA_CHECK(options.bins > 0, "plot_histogram: bins must be positive, got ", options.bins);
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  if (options.range) {
    lo = options.range->first, hi = options.range->second;
    NABLA_CHECK(hi > lo, "plot_histogram: range must be increasing, got [", lo, ", ", hi, "]");
  } else {
    for (const Sample& s : samples)
      for (double v : s.values)
        if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    if (!(hi >= lo)) lo = 0, hi = 1;
    if (hi == lo) std::tie(lo, hi) = detail::padded(lo, hi, 0);
  }
  const double width = (hi - lo) / static_cast<double>(options.bins);
  std::vector<std::vector<double>> fractions;
  double top = 0;
  for (const Sample& s : samples) {
    std::vector<double> counts(static_cast<size_t>(options.bins), 0.0);
    double total = 0;
    for (double v : s.values) {
      if (!(v >= lo && v <= hi)) continue;
      const auto bin = std::min(options.bins - 1, static_cast<int64_t>((v - lo) / width));
      counts[static_cast<size_t>(bin)] += 1;
      total += 1;
    }
    for (double& c : counts) c = total > 0 ? c / total : 0, top = std::max(top, c);
    fractions.push_back(std::move(counts));
  }

  Canvas canvas(options.width, options.height);
  detail::Axes axes(canvas, options.title, "", options.x_label, options.y_label, detail::padded(lo, hi, 0.02),
                    {0.0, top > 0 ? top * 1.08 : 1.0});
  std::vector<std::pair<std::string, Color>> legend;
  for (size_t k = 0; k < samples.size(); ++k) {
    const Color color = kPalette[k % kPalette.size()];
    std::vector<Point> outline;
    for (int64_t b = 0; b < options.bins; ++b) {
      const double x0 = axes.px(lo + width * static_cast<double>(b)), x1 = axes.px(lo + width * static_cast<double>(b + 1));
      const double y = axes.py(fractions[k][static_cast<size_t>(b)]);
      canvas.fill_rect(std::lround(x0), std::lround(y), std::lround(x1), std::lround(axes.py(0)), color, 0.35f);
      if (b == 0) outline.push_back({x0, axes.py(0)});
      outline.push_back({x0, y});
      outline.push_back({x1, y});
    }
    outline.push_back({outline.back().x, axes.py(0)});
    canvas.polyline(outline, color, 1.5);
    legend.emplace_back(samples[k].name, color);
  }
  axes.frame();
  axes.legend(legend);
  return canvas.image();
}

inline void plot_histogram(const std::filesystem::path& path, std::span<const Sample> samples,
                           const HistogramOptions& options = {}) {
  write_png(path, render_histogram(samples, options));
}

// The values a training loop reports, one row per step: written as CSV (step, then one column per
// series; an empty field where a series has no value at that step) and as a plot. Loading the CSV
// back lets a resumed run continue its curves.
class LossHistory {
 public:
  explicit LossHistory(std::vector<std::string> names) : names_(std::move(names)) {
    NABLA_CHECK(!names_.empty(), "LossHistory: expected at least one series name");
    for (const std::string& n : names_)
      NABLA_CHECK(!n.empty() && n.find_first_of(",\"\r\n") == std::string::npos,
                  "LossHistory: series name '", n, "' must be non-empty, without commas, quotes or line breaks");
  }

  // One value per series, in the order of the names; NaN where a series has no value this step.
  void add(int64_t step, std::span<const double> values) {
    NABLA_CHECK(values.size() == names_.size(), "LossHistory::add: ", values.size(), " values for ",
                names_.size(), " series");
    steps_.push_back(step);
    values_.insert(values_.end(), values.begin(), values.end());
  }
  void add(int64_t step, std::initializer_list<double> values) { add(step, std::span<const double>(values.begin(), values.size())); }

  const std::vector<std::string>& names() const { return names_; }
  size_t size() const { return steps_.size(); }
  int64_t step(size_t row) const { return steps_[row]; }
  double value(size_t row, size_t series) const { return values_[row * names_.size() + series]; }

  // Drops the rows after `step`: a run resumed from a checkpoint taken at that step repeats them.
  void truncate_after(int64_t step) {
    size_t keep = 0;
    while (keep < steps_.size() && steps_[keep] <= step) ++keep;
    steps_.resize(keep);
    values_.resize(keep * names_.size());
  }

  std::vector<Series> series() const {
    std::vector<Series> out;
    for (size_t k = 0; k < names_.size(); ++k) {
      Series s{names_[k], {}, {}};
      for (size_t r = 0; r < steps_.size(); ++r)
        if (!std::isnan(value(r, k))) s.x.push_back(static_cast<double>(steps_[r])), s.y.push_back(value(r, k));
      out.push_back(std::move(s));
    }
    return out;
  }

  // Values are written in the shortest form that reads back to the same double.
  std::string to_csv() const {
    std::string text = "step";
    for (const std::string& n : names_) text += "," + n;
    text += "\n";
    char buffer[64];
    for (size_t r = 0; r < steps_.size(); ++r) {
      text += std::to_string(steps_[r]);
      for (size_t k = 0; k < names_.size(); ++k) {
        text += ",";
        const double v = value(r, k);
        if (std::isnan(v)) continue;
        const auto result = std::to_chars(buffer, buffer + sizeof buffer, v);
        text.append(buffer, result.ptr);
      }
      text += "\n";
    }
    return text;
  }

  void save_csv(const std::filesystem::path& path) const {
    const std::string text = to_csv();
    write_file(path, {reinterpret_cast<const uint8_t*>(text.data()), text.size()});
  }

  void save_png(const std::filesystem::path& path, const PlotOptions& options = {}) const {
    const std::vector<Series> s = series();
    plot_series(path, s, options);
  }

  static LossHistory load_csv(const std::filesystem::path& path) {
    const std::vector<uint8_t> bytes = read_file(path);
    std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    const std::string name = path.string();
    int64_t line_number = 0;
    auto next_line = [&](std::string_view& line) {
      if (text.empty()) return false;
      const size_t end = text.find('\n');
      line = text.substr(0, end);
      text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
      if (line.ends_with('\r')) line.remove_suffix(1);
      ++line_number;
      return true;
    };
    auto split = [](std::string_view line) {
      std::vector<std::string_view> fields;
      for (size_t start = 0;;) {
        const size_t comma = line.find(',', start);
        fields.push_back(line.substr(start, comma == std::string_view::npos ? comma : comma - start));
        if (comma == std::string_view::npos) return fields;
        start = comma + 1;
      }
    };
    std::string_view line;
    NABLA_CHECK(next_line(line), "loss CSV '", name, "' is empty, expected a header 'step,<name>,...'");
    const std::vector<std::string_view> header = split(line);
    NABLA_CHECK(header.size() >= 2 && header[0] == "step", "loss CSV '", name,
                "', line 1: expected a header 'step,<name>,...', got '", line, "'");
    LossHistory history(std::vector<std::string>(header.begin() + 1, header.end()));
    std::vector<double> values(header.size() - 1);
    while (next_line(line)) {
      if (line.empty()) continue;
      const std::vector<std::string_view> fields = split(line);
      NABLA_CHECK(fields.size() == header.size(), "loss CSV '", name, "', line ", line_number, ": expected ",
                  header.size(), " fields, got ", fields.size());
      int64_t step = 0;
      const auto parsed = std::from_chars(fields[0].data(), fields[0].data() + fields[0].size(), step);
      NABLA_CHECK(parsed.ec == std::errc() && parsed.ptr == fields[0].data() + fields[0].size(), "loss CSV '",
                  name, "', line ", line_number, ": step '", fields[0], "' is not a whole number");
      for (size_t k = 1; k < fields.size(); ++k) {
        double& v = values[k - 1];
        if (fields[k].empty()) {
          v = std::numeric_limits<double>::quiet_NaN();
          continue;
        }
        const auto r = std::from_chars(fields[k].data(), fields[k].data() + fields[k].size(), v);
        NABLA_CHECK(r.ec == std::errc() && r.ptr == fields[k].data() + fields[k].size(), "loss CSV '", name,
                    "', line ", line_number, ": '", fields[k], "' in column ", header[k], " is not a number");
      }
      history.add(step, values);
    }
    return history;
  }

 private:
  std::vector<std::string> names_;
  std::vector<int64_t> steps_;
  std::vector<double> values_;
};

}  // namespace nabla::io
