// Checkpoints: round trips of modules and optimizers, atomic replacement, and every way a file or
// a module can fail to match.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nabla/nabla.hpp>

using namespace nabla;
using Catch::Contains;
namespace fs = std::filesystem;

namespace {
struct TempDir {
  fs::path path;
  TempDir() : path(fs::temp_directory_path() / ("nabla_ckpt_" + std::to_string(::getpid()))) {
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

nn::Sequential<float> make_net() {
  return nn::Sequential<float>(nn::Linear<float>(4, 3), nn::BatchNorm1d<float>(3),
                               nn::LeakyReLU<float>(0.2), nn::Linear<float>(3, 1));
}

std::vector<char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
void write_bytes(const std::string& path, const std::vector<char>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::vector<std::vector<float>> values(nn::Module<float>& m) {
  std::vector<std::vector<float>> out;
  for (auto& [n, t] : m.state_dict()) out.push_back(t.to_vector());
  return out;
}
}  // namespace

TEST_CASE("a module and its optimizer round-trip through a file", "[checkpoint]") {
  TempDir dir;
  manual_seed(1);
  auto net = make_net();
  optim::Adam<float> opt(net.parameters(), optim::AdamOptions{.lr = 0.01, .amsgrad = true});
  auto x = Tensor<float>::randn({8, 4});
  for (int i = 0; i < 3; ++i) {
    opt.zero_grad();
    mean(net(x)).backward();
    opt.step();
  }
  Checkpoint c;
  c.add("net.", net);
  c.add("opt.", opt);
  c.add_tensor("epoch", Tensor<int64_t>::from({7}));
  c.save(dir.file("a.ckpt"));

  manual_seed(2);
  auto other = make_net();
  optim::Adam<float> other_opt(other.parameters(), optim::AdamOptions{.lr = 0.5, .amsgrad = true});
  const auto loaded = Checkpoint::load(dir.file("a.ckpt"));
  loaded.restore("net.", other);
  loaded.restore("opt.", other_opt);
  CHECK(values(other) == values(net));
  CHECK(loaded.tensor<int64_t>("epoch").item() == 7);
  CHECK(other_opt.lr() == Approx(0.01));
  CHECK(other_opt.state(0).step == 3);
  CHECK(other_opt.state(0).max_exp_avg_sq.to_vector() == opt.state(0).max_exp_avg_sq.to_vector());
  // Both continue identically.
  opt.zero_grad();
  other_opt.zero_grad();
  mean(net(x)).backward();
  mean(other(x)).backward();
  opt.step();
  other_opt.step();
  CHECK(values(other) == values(net));

  save_module(dir.file("b.ckpt"), net);
  auto third = make_net();
  load_module(dir.file("b.ckpt"), third);
  CHECK(values(third) == values(net));
}

TEST_CASE(
    "RMSprop (centered, with momentum) and AdamW round-trip through a file and continue "
    "identically",
    "[checkpoint]") {
  TempDir dir;
  auto x = Tensor<float>::randn({8, 4});
  auto run = [&](auto make_opt, const char* name) {
    INFO(name);
    manual_seed(3);
    auto net = make_net();
    auto opt = make_opt(net.parameters(), 0.01);
    for (int i = 0; i < 3; ++i) {
      opt.zero_grad();
      mean(net(x)).backward();
      opt.step();
    }
    Checkpoint c;
    c.add("net.", net);
    c.add("opt.", opt);
    c.save(dir.file(std::string(name) + ".ckpt"));
    manual_seed(4);
    auto other = make_net();
    auto other_opt = make_opt(other.parameters(), 0.5);
    const auto loaded = Checkpoint::load(dir.file(std::string(name) + ".ckpt"));
    loaded.restore("net.", other);
    loaded.restore("opt.", other_opt);
    CHECK(other_opt.lr() == Approx(0.01));
    for (int i = 0; i < 2; ++i) {
      opt.zero_grad();
      other_opt.zero_grad();
      mean(net(x)).backward();
      mean(other(x)).backward();
      opt.step();
      other_opt.step();
    }
    CHECK(values(other) == values(net));
  };
  run(
      [](std::vector<Tensor<float>> p, double lr) {
        return optim::RMSprop<float>(std::move(p), {.lr = lr, .momentum = 0.9, .centered = true});
      },
      "rmsprop");
  run([](std::vector<Tensor<float>> p,
         double lr) { return optim::AdamW<float>(std::move(p), {.lr = lr, .weight_decay = 0.1}); },
      "adamw");
  // A state without what the options need is refused.
  manual_seed(5);
  auto net = make_net();
  optim::RMSprop<float> plain(net.parameters(), 0.01);
  plain.zero_grad();
  mean(net(x)).backward();
  plain.step();
  optim::RMSprop<float> centered(net.parameters(), {.centered = true});
  CHECK_THROWS_WITH(centered.load_state_dict(plain.state_dict()), Contains("grad_avg"));
}

TEST_CASE("saving replaces the old file atomically", "[checkpoint]") {
  TempDir dir;
  auto net = make_net();
  save_module(dir.file("m.ckpt"), net);
  const auto before = read_bytes(dir.file("m.ckpt"));
  {
    NoGradGuard g;
    net.parameters()[0].fill_(1.f);
  }
  save_module(dir.file("m.ckpt"), net);
  CHECK(read_bytes(dir.file("m.ckpt")) != before);
  // No temporary file is left behind.
  int files = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator(dir.path)) ++files;
  CHECK(files == 1);
  // A save that cannot complete leaves the previous file as it was.
  const auto good = read_bytes(dir.file("m.ckpt"));
  CHECK_THROWS_AS(save_module(dir.file("no/such/dir/m.ckpt"), net), Error);
  CHECK(read_bytes(dir.file("m.ckpt")) == good);
}

TEST_CASE("corrupt, truncated and foreign files are refused", "[checkpoint]") {
  TempDir dir;
  auto net = make_net();
  save_module(dir.file("ok.ckpt"), net);
  const auto bytes = read_bytes(dir.file("ok.ckpt"));

  CHECK_THROWS_WITH(Checkpoint::load(dir.file("missing.ckpt")),
                    Contains("cannot open") && Contains("missing.ckpt"));

  auto truncated = bytes;
  truncated.resize(bytes.size() / 2);
  write_bytes(dir.file("t.ckpt"), truncated);
  CHECK_THROWS_WITH(Checkpoint::load(dir.file("t.ckpt")),
                    Contains("t.ckpt") && (Contains("truncated") || Contains("checksum")));

  auto flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x10;
  write_bytes(dir.file("f.ckpt"), flipped);
  CHECK_THROWS_WITH(Checkpoint::load(dir.file("f.ckpt")), Contains("checksum"));

  write_bytes(dir.file("x.ckpt"), std::vector<char>(100, 'x'));
  CHECK_THROWS_WITH(Checkpoint::load(dir.file("x.ckpt")), Contains("bad magic"));

  write_bytes(dir.file("s.ckpt"), std::vector<char>(5, 'N'));
  CHECK_THROWS_WITH(Checkpoint::load(dir.file("s.ckpt")), Contains("truncated"));

  // A crafted file whose checksum is right but whose lengths lie.
  Checkpoint c;
  c.add_tensor("w", Tensor<float>::ones({2}));
  c.save(dir.file("lie.ckpt"));
  auto lie = read_bytes(dir.file("lie.ckpt"));
  std::vector<unsigned char> raw(lie.begin(), lie.end());
  const uint32_t huge = 0x7fffffff;
  std::memcpy(raw.data() + 16, &huge, 4);  // the first entry's name length
  const uint32_t crc = detail::crc32(raw.data(), raw.size() - 4);
  std::memcpy(raw.data() + raw.size() - 4, &crc, 4);
  CHECK_THROWS_WITH(Checkpoint::parse(raw, "lie"), Contains("truncated"));
}

TEST_CASE("restoring into a mismatched module throws and changes nothing", "[checkpoint]") {
  TempDir dir;
  auto net = make_net();
  save_module(dir.file("n.ckpt"), net);
  const auto ckpt = Checkpoint::load(dir.file("n.ckpt"));

  auto wider = nn::Sequential<float>(nn::Linear<float>(4, 5), nn::BatchNorm1d<float>(5),
                                     nn::LeakyReLU<float>(0.2), nn::Linear<float>(5, 1));
  const auto before = values(wider);
  CHECK_THROWS_WITH(ckpt.restore("", wider),
                    Contains("0.weight") && Contains("[3, 4]") && Contains("[5, 4]"));
  CHECK(values(wider) == before);

  auto deeper = nn::Sequential<float>(nn::Linear<float>(4, 3), nn::BatchNorm1d<float>(3),
                                      nn::LeakyReLU<float>(0.2), nn::Linear<float>(3, 1),
                                      nn::Linear<float>(1, 1));
  const auto deeper_before = values(deeper);
  CHECK_THROWS_WITH(ckpt.restore("", deeper), Contains("missing key '4.weight'"));
  CHECK(values(deeper) == deeper_before);

  auto shallower = nn::Sequential<float>(nn::Linear<float>(4, 3), nn::BatchNorm1d<float>(3));
  CHECK_THROWS_WITH(ckpt.restore("", shallower), Contains("unexpected key '3.weight'"));

  nn::Sequential<double> as_double(nn::Linear<double>(4, 3), nn::BatchNorm1d<double>(3),
                                   nn::LeakyReLU<double>(0.2), nn::Linear<double>(3, 1));
  CHECK_THROWS_WITH(ckpt.restore("", as_double), Contains("float32") && Contains("float64"));

  optim::SGD<float> sgd(net.parameters(), optim::SGDOptions{.lr = 0.1, .momentum = 0.9});
  Checkpoint bad;
  bad.add_tensor("0.momentum_buffer", Tensor<float>::zeros({9}));
  CHECK_THROWS_WITH(bad.restore("", sgd), Contains("0.momentum_buffer") && Contains("[9]"));
  Checkpoint extra;
  extra.add_tensor("99.momentum_buffer", Tensor<float>::zeros({9}));
  CHECK_THROWS_WITH(extra.restore("", sgd), Contains("does not know"));
}
