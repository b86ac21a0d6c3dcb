// What nabla writes for people: PNG images (round trips), image grids laid out and rounded as
// torchvision's make_grid/save_image, plots and their CSV, and progress lines. The plots' looks
// were checked by eye; here they are checked for size, content and robustness.
#include <catch2/catch.hpp>

#include <png.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include <nabla/io.hpp>
#include <nabla/nabla.hpp>

using namespace nabla;
using Catch::Contains;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    static std::atomic<int> counter{0};
    path = fs::temp_directory_path() /
           ("nabla_test_io_" + std::to_string(getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  fs::path operator/(const std::string& name) const { return path / name; }
};

uint8_t at(const io::Image& image, int64_t y, int64_t x, int64_t c = 0) {
  return image.row(y)[x * image.channels + c];
}

// How many pixels of `image` are exactly `color`.
int64_t count_color(const io::Image& image, io::Color color) {
  int64_t n = 0;
  for (int64_t p = 0; p < image.width * image.height; ++p)
    n += image.pixels[static_cast<size_t>(3 * p)] == color.r && image.pixels[static_cast<size_t>(3 * p + 1)] == color.g &&
         image.pixels[static_cast<size_t>(3 * p + 2)] == color.b;
  return n;
}

// Everything `fill` writes to a FILE*.
template <class Fill>
std::string captured(Fill fill) {
  std::FILE* f = std::tmpfile();
  REQUIRE(f);
  fill(f);
  std::fflush(f);
  std::rewind(f);
  std::string text;
  for (int c; (c = std::fgetc(f)) != EOF;) text += static_cast<char>(c);
  std::fclose(f);
  return text;
}

}  // namespace

TEST_CASE("PNG: gray and RGB images round-trip exactly; alpha is dropped on reading", "[io][png]") {
  TempDir dir;
  for (int64_t channels : {1, 3}) {
    io::Image image(7, 5, channels);
    for (size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = static_cast<uint8_t>(i * 13);
    io::write_png(dir / "a.png", image);
    const io::Image back = io::read_image(dir / "a.png");
    CHECK(back.height == 7);
    CHECK(back.width == 5);
    CHECK(back.channels == channels);
    CHECK(back.pixels == image.pixels);
  }

  const std::vector<uint8_t> rgba = {10, 20, 30, 255, 40, 50, 60, 0};
  png_image png{};
  png.version = PNG_IMAGE_VERSION;
  png.width = 2;
  png.height = 1;
  png.format = PNG_FORMAT_RGBA;
  REQUIRE(png_image_write_to_file(&png, (dir / "rgba.png").c_str(), 0, rgba.data(), 0, nullptr));
  const io::Image opaque = io::read_image(dir / "rgba.png");
  CHECK(opaque.channels == 3);
  CHECK(opaque.pixels == std::vector<uint8_t>{10, 20, 30, 40, 50, 60});

  CHECK(io::convert_channels(opaque, 1).pixels == std::vector<uint8_t>{18, 48});  // PIL's "L"
  CHECK_THROWS_WITH(io::encode_png(io::Image(2, 2, 2)), Contains("expected 1 (gray) or 3 (RGB)"));
  CHECK_THROWS_WITH(io::decode_image(std::vector<uint8_t>{1, 2, 3}, "x.bin"),
                    Contains("x.bin") && Contains("not a PNG or JPEG") && Contains("01 02 03"));
  CHECK_THROWS_WITH(io::write_png(dir / "missing" / "a.png", opaque), Contains("cannot create") && Contains("a.png"));
}

TEST_CASE("Grids: torchvision's layout, padding, rounding and normalisation", "[io][grid]") {
  // Three 2 x 2 gray images, two to a row, padding 1 of value 0.5.
  const auto images = Tensor<float>::from(
      std::vector<float>{0, 0, 0, 0, 1, 1, 1, 1, 0.25f, 0.5f, 0.75f, 1}, {3, 1, 2, 2});
  const io::Image grid = io::make_grid(images, {.nrow = 2, .padding = 1, .pad_value = 0.5f});
  CHECK(grid.channels == 1);
  CHECK(grid.height == 7);
  CHECK(grid.width == 7);
  CHECK(at(grid, 0, 0) == 128);   // padding: 0.5 * 255 + 0.5, truncated
  CHECK(at(grid, 1, 1) == 0);     // image 0
  CHECK(at(grid, 2, 5) == 255);   // image 1
  CHECK(at(grid, 4, 1) == 64);    // image 2: 0.25 * 255 + 0.5 = 64.25
  CHECK(at(grid, 4, 2) == 128);   // 0.5
  CHECK(at(grid, 5, 1) == 191);   // 0.75 * 255 + 0.5 = 191.75
  CHECK(at(grid, 4, 4) == 128);   // the empty fourth cell
  CHECK(at(grid, 3, 3) == 128);

  // Default options: 8 to a row, padding 2, black; values outside [0, 1] are clamped.
  const io::Image wide = io::make_grid(Tensor<float>::full({10, 3, 4, 5}, 2.0f));
  CHECK(wide.channels == 3);
  CHECK(wide.width == 8 * (5 + 2) + 2);
  CHECK(wide.height == 2 * (4 + 2) + 2);
  CHECK(at(wide, 2, 2, 1) == 255);
  CHECK(at(wide, 0, 0, 1) == 0);

  // One image comes back without padding, as in torchvision; H x W and C x H x W are accepted.
  CHECK(io::make_grid(Tensor<float>::zeros({1, 1, 3, 4})).width == 4);
  CHECK(io::make_grid(Tensor<float>::zeros({3, 4})).height == 3);
  CHECK(io::make_grid(Tensor<float>::zeros({3, 3, 4})).channels == 3);

  // [-1, 1] through value_range; min-max over all, or per image with scale_each.
  const auto tanh = Tensor<float>::from(std::vector<float>{-1, 0, 1, 3}, {1, 1, 2, 2});
  CHECK(io::make_grid(tanh, {.normalize = true, .value_range = {{-1, 1}}}).pixels ==
        std::vector<uint8_t>{0, 128, 255, 255});
  const auto two = Tensor<float>::from(std::vector<float>{2, 4, 6, 6, 10, 20, 20, 20}, {2, 1, 2, 2});
  const io::Image together = io::make_grid(two, {.padding = 0, .normalize = true});
  CHECK(std::vector<uint8_t>(together.pixels.begin(), together.pixels.begin() + 2) == std::vector<uint8_t>{0, 28});
  const io::Image each = io::make_grid(two, {.padding = 0, .normalize = true, .scale_each = true});
  CHECK(at(each, 0, 0) == 0);
  CHECK(at(each, 0, 1) == 128);
  CHECK(at(each, 0, 2) == 0);
  CHECK(at(each, 1, 3) == 255);
  // Strided views are read in logical order.
  const auto t = Tensor<float>::from(std::vector<float>{0, 1, 0, 1}, {2, 2}).t();
  CHECK(io::make_grid(t).pixels == std::vector<uint8_t>{0, 0, 255, 255});

  CHECK_THROWS_WITH(io::make_grid(Tensor<float>::zeros({2, 2, 3, 3})), Contains("C = 1 or 3") && Contains("[2, 2, 3, 3]"));
  CHECK_THROWS_WITH(io::make_grid(Tensor<float>::zeros({0, 1, 3, 3})), Contains("no images"));
  CHECK_THROWS_WITH(io::make_grid(Tensor<float>::zeros({2, 1, 3, 3}), {.nrow = 0}), Contains("nrow > 0"));

  TempDir dir;
  io::save_image(images, dir / "grid.png", {.nrow = 2, .padding = 1, .pad_value = 0.5f});
  CHECK(io::read_image(dir / "grid.png").pixels == grid.pixels);
}

TEST_CASE("Canvas: lines, rectangles and text land on the pixels they should", "[io][canvas]") {
  io::Canvas canvas(20, 12);
  canvas.line({2, 5.5}, {9, 5.5}, {0, 0, 0});
  for (int64_t x = 3; x < 9; ++x) CHECK(at(canvas.image(), 5, x) == 0);
  CHECK(at(canvas.image(), 3, 5) == 255);
  CHECK(at(canvas.image(), 5, 15) == 255);
  canvas.fill_rect(12, 1, 14, 3, {255, 0, 0}, 0.5f);
  CHECK(at(canvas.image(), 2, 13, 0) == 255);
  CHECK(at(canvas.image(), 2, 13, 1) == 128);
  // Drawing off the canvas is clipped, not an error.
  canvas.line({-50, -50}, {100, 100}, {0, 0, 255}, 3);
  canvas.dot({-3, 30}, 5, {0, 255, 0});
  canvas.text(15, 10, "off the edge", {0, 0, 0}, 2);
  canvas.text_up(0, 0, "up", {0, 0, 0});

  CHECK(io::Canvas::text_width("abc", 2) == 34);
  CHECK(io::Canvas::text_width("", 2) == 0);
  io::Canvas letters(12, 9);
  letters.text(0, 0, "I", {0, 0, 0});
  CHECK(at(letters.image(), 0, 1) == 0);  // the top bar of "I": .###.
  CHECK(at(letters.image(), 0, 0) == 255);
  CHECK(at(letters.image(), 3, 2) == 0);  // its stem
}

TEST_CASE("Plots: ticks at round numbers, labels as short as they can be", "[io][plot]") {
  const auto ticks = io::detail::nice_ticks(0, 1);
  CHECK(ticks.values.size() == 6);
  CHECK(ticks.values.back() == Approx(1.0));
  CHECK(io::detail::nice_ticks(0, 6000).step == 1000);
  CHECK(io::detail::nice_ticks(0.63, 0.71).step == Approx(0.02));
  CHECK(io::detail::tick_label(20000, 5000) == "20k");
  CHECK(io::detail::tick_label(0, 5000) == "0");
  CHECK(io::detail::tick_label(2500000, 500000) == "2500k");
  CHECK(io::detail::tick_label(3000000, 1000000) == "3M");
  CHECK(io::detail::tick_label(0.25, 0.05) == "0.25");
  CHECK(io::detail::tick_label(1.5, 0.5) == "1.5");
  CHECK(io::detail::tick_label(3, 1) == "3");
  CHECK(io::detail::moving_average({1, 2, 3, 4, 5}, 3) == std::vector<double>{1.5, 2, 3, 4, 4.5});
}

TEST_CASE("Plots: curves and histograms render at the size asked, in the series' colours", "[io][plot]") {
  std::vector<io::Series> series(2);
  series[0].name = "d_loss";
  series[1].name = "g_loss";
  for (int i = 0; i < 3000; ++i) {
    series[0].x.push_back(i);
    series[0].y.push_back(0.7 + 0.2 * std::sin(i * 0.01));
    if (i % 5 == 0) {
      series[1].x.push_back(i);
      series[1].y.push_back(i == 0 ? 1e6 : 1.2 - i * 1e-4);  // an early spike does not set the scale
    }
  }
  const io::Image plot = io::render_series(series, {.width = 800, .height = 500});
  CHECK(plot.width == 800);
  CHECK(plot.height == 500);
  CHECK(count_color(plot, io::kPalette[0]) > 500);  // the lines are drawn opaque
  CHECK(count_color(plot, io::kPalette[1]) > 500);

  // Degenerate input still gives a readable frame.
  std::vector<io::Series> odd = {{"empty", {}, {}}, {"one", {5}, {0.5}}, {"flat", {1, 2, 3}, {2, 2, 2}},
                                 {"nan", {1, 2}, {std::nan(""), std::numeric_limits<double>::infinity()}}};
  CHECK(io::render_series(odd).width == 960);
  CHECK(io::render_series(std::vector<io::Series>{}).height == 600);
  CHECK_THROWS_WITH(io::render_series(std::vector<io::Series>{{"bad", {1, 2}, {1}}}),
                    Contains("'bad'") && Contains("2 x values and 1 y values"));
  CHECK_THROWS_WITH(io::render_series(series, {.y_range = {{1, 0}}}), Contains("y_range must be increasing"));
  CHECK_THROWS_WITH(io::render_series(series, {.width = 60, .height = 40}), Contains("no room"));

  const std::vector<io::Sample> samples = {
      {"real", {0, 0, 0, 1, 1, 0.5}},
      io::Sample::of("fake", Tensor<float>::from(std::vector<float>{0.25f, 0.5f, 0.75f, 1}, {2, 1, 1, 2}))};
  CHECK(samples[1].values == std::vector<double>{0.25, 0.5, 0.75, 1});
  const io::Image histogram = io::render_histogram(samples, {.bins = 10});
  CHECK(histogram.width == 960);
  CHECK(count_color(histogram, io::kPalette[0]) > 50);
  CHECK(io::render_histogram(std::vector<io::Sample>{{"same", {3, 3, 3}}, {"none", {}}}).height == 600);
  CHECK_THROWS_WITH(io::render_histogram(samples, {.bins = 0}), Contains("bins must be positive"));
  CHECK_THROWS_WITH(io::render_histogram(samples, {.range = {{1, 1}}}), Contains("range must be increasing"));

  TempDir dir;
  io::plot_series(dir / "loss.png", series);
  io::plot_histogram(dir / "hist.png", samples);
  CHECK(io::read_image(dir / "loss.png").width == 960);
  CHECK(io::read_image(dir / "hist.png").channels == 3);
}

TEST_CASE("LossHistory: CSV that reads back to the same doubles, and a plot", "[io][plot]") {
  TempDir dir;
  io::LossHistory history({"d_loss", "g_loss"});
  history.add(0, {0.5, std::nan("")});
  history.add(1, {0.1, 1e-20});
  history.add(2, {2.0 / 3.0, 0.693147});
  CHECK(history.to_csv() == "step,d_loss,g_loss\n0,0.5,\n1,0.1,1e-20\n2,0.6666666666666666,0.693147\n");
  history.save_csv(dir / "loss.csv");
  const io::LossHistory back = io::LossHistory::load_csv(dir / "loss.csv");
  CHECK(back.names() == history.names());
  REQUIRE(back.size() == 3);
  CHECK(back.value(2, 0) == 2.0 / 3.0);
  CHECK(std::isnan(back.value(0, 1)));
  CHECK(back.to_csv() == history.to_csv());
  CHECK(back.series()[1].x == std::vector<double>{1, 2});

  io::LossHistory resumed = back;
  resumed.truncate_after(1);
  CHECK(resumed.size() == 2);
  resumed.save_png(dir / "loss.png", {.title = "GAN"});
  CHECK(io::read_image(dir / "loss.png").height == 600);

  CHECK_THROWS_WITH(history.add(3, {1.0}), Contains("1 values for 2 series"));
  CHECK_THROWS_WITH(io::LossHistory({"a,b"}), Contains("'a,b'"));
  const auto fails_with = [&](const std::string& name, const std::string& text, const std::string& problem) {
    INFO(name);
    io::write_file(dir / name, std::vector<uint8_t>(text.begin(), text.end()));
    CHECK_THROWS_WITH(io::LossHistory::load_csv(dir / name), Contains(name) && Contains(problem));
  };
  fails_with("header.csv", "iteration,loss\n", "expected a header 'step,<name>,...'");
  fails_with("fields.csv", "step,loss\n1,2,3\n", "line 2: expected 2 fields, got 3");
  fails_with("number.csv", "step,loss\n1,abc\n", "line 2: 'abc' in column loss is not a number");
  fails_with("step.csv", "step,loss\n1.5,2\n", "line 2: step '1.5' is not a whole number");
  fails_with("empty.csv", "", "is empty");
}

TEST_CASE("Progress: plain lines for logs, a bar for terminals", "[io][progress]") {
  CHECK(io::detail::format_duration(75) == "1:15");
  CHECK(io::detail::format_duration(3725) == "1:02:05");
  CHECK(io::detail::format_rate(0.4, "it") == "2.50 s/it");
  CHECK(io::detail::format_rate(1234.4, "img") == "1234 img/s");
  CHECK(io::detail::format_rate(12.34, "it") == "12.3 it/s");

  const std::string log = captured([](std::FILE* f) {
    io::Progress progress(10, "epoch 1/2", {.out = f, .terminal = false, .log_interval_seconds = 0});
    for (int i = 0; i < 3; ++i) progress.advance();
    progress.set_status("d_loss 0.693");
    progress.advance();
    progress.finish();
    progress.finish();  // once is enough
  });
  CHECK_THAT(log, Contains("epoch 1/2: 1/10 (10%)"));
  CHECK_THAT(log, Contains("epoch 1/2: 4/10 (40%)"));
  CHECK_THAT(log, Contains("it/s"));
  CHECK_THAT(log, Contains(", left "));
  CHECK_THAT(log, Contains("d_loss 0.693"));
  CHECK(std::count(log.begin(), log.end(), '\n') == 5);
  CHECK(log.find('\r') == std::string::npos);

  // A log line only when the interval has passed.
  const std::string quiet = captured([](std::FILE* f) {
    io::Progress progress(1000, "", {.out = f, .terminal = false, .log_interval_seconds = 3600});
    for (int i = 0; i < 1000; ++i) progress.advance();
    CHECK_THAT(progress.line(), Contains("1000/1000 (100%), ") && Contains(" it/s, elapsed 0:00"));
  });
  CHECK(quiet.empty());

  const std::string bar = captured([](std::FILE* f) {
    io::Progress progress(4, "train", {.out = f, .terminal = true, .unit = "img"});
    progress.update(4);
    progress.finish();
  });
  CHECK_THAT(bar, Contains("\rtrain 100% [") && Contains("4/4") && Contains("img/s"));
  CHECK(bar.back() == '\n');

  const std::string unknown = captured([](std::FILE* f) {
    io::Progress progress(0, "steps", {.out = f, .terminal = false});
    progress.update(7);
    progress.finish();
  });
  CHECK_THAT(unknown, Contains("steps: 7, "));
  CHECK(unknown.find('%') == std::string::npos);
}
