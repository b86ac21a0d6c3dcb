#pragma once
// MNIST as CSV, in OpenML's mnist_784 layout: a header row naming the columns (pixel1 ..
// pixel784, then class), one image per row, pixels as whole numbers 0..255. The label column may
// also be called "label" and stand first (as in Kaggle's copies); the pixel columns must make a
// square image. Quoted fields, CRLF line ends, a UTF-8 byte order mark and gzip are accepted.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nabla/data/dataset.hpp"
#include "nabla/data/gzip.hpp"
#include "nabla/io/file.hpp"

namespace nabla::data {

namespace detail {
inline std::string_view trim_field(std::string_view f) {
  while (!f.empty() && (f.front() == ' ' || f.front() == '\t')) f.remove_prefix(1);
  while (!f.empty() && (f.back() == ' ' || f.back() == '\t')) f.remove_suffix(1);
  if (f.size() >= 2 && (f.front() == '"' || f.front() == '\'') && f.back() == f.front()) {
    f.remove_prefix(1);
    f.remove_suffix(1);
  }
  return f;
}

inline bool parse_whole(std::string_view f, int64_t& value) {
  if (!f.empty() && f.front() == '+') f.remove_prefix(1);
  const auto [end, error] = std::from_chars(f.data(), f.data() + f.size(), value);
  return error == std::errc() && end == f.data() + f.size() && !f.empty();
}

inline bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

// Splits `line` at commas into `fields` (reusing its storage).
inline void split_fields(std::string_view line, std::vector<std::string_view>& fields) {
  fields.clear();
  size_t start = 0;
  for (;;) {
    const size_t comma = line.find(',', start);
    fields.push_back(trim_field(line.substr(start, comma == std::string_view::npos ? comma : comma - start)));
    if (comma == std::string_view::npos) return;
    start = comma + 1;
  }
}
}  // namespace detail

// Parses the bytes of such a file (gzip'd or not); `name` starts every error message.
inline ImageDataset decode_mnist_csv(std::span<const uint8_t> file_bytes, const std::string& name) {
  std::vector<uint8_t> inflated;
  if (is_gzip(file_bytes)) {
    inflated = gunzip(file_bytes, name);
    file_bytes = inflated;
  }
  std::string_view text(reinterpret_cast<const char*>(file_bytes.data()), file_bytes.size());
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);

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

  std::string_view line;
  std::vector<std::string_view> fields;
  NABLA_CHECK(next_line(line), "CSV file '", name, "' is empty, expected a header row (pixel1..pixel784,class) "
              "and one image per row");
  detail::split_fields(line, fields);
  const int64_t columns = static_cast<int64_t>(fields.size());
  int64_t label_column = -1, number_of_label_columns = 0;
  for (int64_t c = 0; c < columns; ++c) {
    if (detail::equals_ignoring_case(fields[c], "class") || detail::equals_ignoring_case(fields[c], "label")) {
      label_column = c;
      ++number_of_label_columns;
    }
  }
  int64_t ignored;
  NABLA_CHECK(!detail::parse_whole(fields[0], ignored), "CSV file '", name,
              "', line 1: expected a header row naming the columns (pixel1..pixel784,class), got data ('",
              line.substr(0, 40), line.size() > 40 ? "...'" : "'", ")");
  NABLA_CHECK(number_of_label_columns == 1, "CSV file '", name, "', line 1: expected one column named 'class' "
              "or 'label', found ", number_of_label_columns, " among ", columns, " columns");
  const int64_t pixels = columns - 1;
  const auto side = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(pixels))));
  NABLA_CHECK(pixels > 0 && side * side == pixels, "CSV file '", name, "', line 1: ", pixels,
              " pixel columns do not make a square image (mnist_784 has 784 = 28 x 28)");
  std::vector<std::string> column_names;
  for (std::string_view f : fields) column_names.emplace_back(f);

  const size_t rows_estimate = static_cast<size_t>(std::count(text.begin(), text.end(), '\n') + 1);
  std::vector<uint8_t> images;
  std::vector<int64_t> labels;
  // Every pixel takes at least two bytes of text ("0,"), which bounds the reservation by the file.
  images.reserve(std::min(rows_estimate * static_cast<size_t>(pixels), text.size() / 2 + static_cast<size_t>(pixels)));
  labels.reserve(rows_estimate);
  while (next_line(line)) {
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;  // blank lines
    detail::split_fields(line, fields);
    NABLA_CHECK(static_cast<int64_t>(fields.size()) == columns, "CSV file '", name, "', line ", line_number,
                ": expected ", columns, " fields (as the header names), got ", fields.size());
    for (int64_t c = 0; c < columns; ++c) {
      int64_t value = 0;
      const bool whole = detail::parse_whole(fields[c], value);
      if (c == label_column) {
        NABLA_CHECK(whole && value >= 0, "CSV file '", name, "', line ", line_number, ", column ", c + 1, " (",
                    column_names[c], "): '", fields[c], "' is not a class number (a whole number >= 0)");
        labels.push_back(value);
      } else {
        NABLA_CHECK(whole && value >= 0 && value <= 255, "CSV file '", name, "', line ", line_number,
                    ", column ", c + 1, " (", column_names[c], "): '", fields[c],
                    "' is not a pixel value (a whole number 0..255)");
        images.push_back(static_cast<uint8_t>(value));
      }
    }
  }
  const auto n = static_cast<int64_t>(labels.size());
  return ImageDataset(std::move(images), {n, 1, side, side}, std::move(labels), name);
}

inline ImageDataset load_mnist_csv(const std::filesystem::path& path) {
  return decode_mnist_csv(io::read_file(path), path.string());
}

}  // namespace nabla::data
