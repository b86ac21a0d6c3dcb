#pragma once
// nn::Module: a layer or a model. A module lists its own parameters, buffers and direct
// submodules in visit(); everything recursive (named_parameters, train/eval, zero_grad, printing,
// state dicts) is derived from that one function, so modules hold plain Tensor members and stay
// freely movable. nn::Sequential chains modules that map one tensor to one tensor.
#include <memory>
#include <ostream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "nabla/core/tensor.hpp"

namespace nabla::nn {

template <Floating T>
class Module;

template <Floating T>
class Visitor {
 public:
  virtual void parameter(const std::string& /*name*/, Tensor<T>& /*p*/) {}
  virtual void buffer(const std::string& /*name*/, Tensor<T>& /*b*/) {}
  virtual void module(const std::string& /*name*/, Module<T>& /*m*/) {}

 protected:
  ~Visitor() = default;
};

template <Floating T>
using NamedTensors = std::vector<std::pair<std::string, Tensor<T>>>;

template <Floating T>
class Module {
 public:
  Module() = default;
  Module(const Module&) = default;
  Module(Module&&) noexcept = default;
  Module& operator=(const Module&) = default;
  Module& operator=(Module&&) noexcept = default;
  virtual ~Module() = default;

  virtual Tensor<T> forward(const Tensor<T>& x) = 0;
  Tensor<T> operator()(const Tensor<T>& x) { return forward(x); }

  // One line with the module's type and settings, as PyTorch prints it.
  virtual std::string describe() const = 0;
  // Lists this module's own parameters and buffers and its direct submodules.
  virtual void visit(Visitor<T>&) {}

  // ---- derived from visit(), recursive, names joined with '.' ----
  NamedTensors<T> named_parameters() {
    NamedTensors<T> out;
    walk("", [&](const std::string& n, Tensor<T>& p) { out.emplace_back(n, p); }, nullptr);
    return out;
  }
  std::vector<Tensor<T>> parameters() {
    std::vector<Tensor<T>> out;
    walk("", [&](const std::string&, Tensor<T>& p) { out.push_back(p); }, nullptr);
    return out;
  }
  NamedTensors<T> named_buffers() {
    NamedTensors<T> out;
    walk("", nullptr, [&](const std::string& n, Tensor<T>& b) { out.emplace_back(n, b); });
    return out;
  }
  // Parameters and buffers together, in visit order: what a checkpoint stores.
  NamedTensors<T> state_dict() {
    NamedTensors<T> out;
    auto add = [&](const std::string& n, Tensor<T>& t) { out.emplace_back(n, t); };
    walk("", add, add);
    return out;
  }
  int64_t num_parameters() {
    int64_t n = 0;
    for (const Tensor<T>& p : parameters()) n += p.numel();
    return n;
  }

  void train(bool on = true) {
    training_ = on;
    for_children([on](Module<T>& m) { m.train(on); });
  }
  void eval() { train(false); }
  bool is_training() const { return training_; }

  void zero_grad(bool set_to_none = true) {
    for (Tensor<T>& p : parameters()) p.zero_grad(set_to_none);
  }

  Module& to(Device device) {
    NABLA_CHECK(device.is_cpu(), "Module::to(", device,
                "): this build of nabla has no CUDA backend (configure with NABLA_CUDA=ON)");
    return *this;
  }

  friend std::ostream& operator<<(std::ostream& os, Module& m) {
    m.print(os, 0);
    return os;
  }

 protected:
  bool training_ = true;

 private:
  template <class OnParam, class OnBuffer>
  void walk(const std::string& prefix, const OnParam& on_param, const OnBuffer& on_buffer) {
    struct Walker final : Visitor<T> {
      const std::string& prefix;
      const OnParam& on_param;
      const OnBuffer& on_buffer;
      Walker(const std::string& p, const OnParam& a, const OnBuffer& b) : prefix(p), on_param(a), on_buffer(b) {}
      void parameter(const std::string& n, Tensor<T>& p) override {
        if constexpr (!std::is_null_pointer_v<OnParam>) on_param(prefix + n, p);
      }
      void buffer(const std::string& n, Tensor<T>& b) override {
        if constexpr (!std::is_null_pointer_v<OnBuffer>) on_buffer(prefix + n, b);
      }
      void module(const std::string& n, Module<T>& m) override { m.walk(prefix + n + ".", on_param, on_buffer); }
    } walker(prefix, on_param, on_buffer);
    visit(walker);
  }

  template <class F>
  void for_children(const F& f) {
    struct Children final : Visitor<T> {
      const F& f;
      explicit Children(const F& fn) : f(fn) {}
      void module(const std::string&, Module<T>& m) override { f(m); }
    } children(f);
    visit(children);
  }

  void print(std::ostream& os, int indent) {
    std::vector<std::pair<std::string, Module<T>*>> kids;
    struct Collect final : Visitor<T> {
      std::vector<std::pair<std::string, Module<T>*>>& kids;
      explicit Collect(std::vector<std::pair<std::string, Module<T>*>>& k) : kids(k) {}
      void module(const std::string& n, Module<T>& m) override { kids.emplace_back(n, &m); }
    } collect(kids);
    visit(collect);
    os << describe();
    if (kids.empty()) return;
    os << "(\n";
    for (auto& [name, child] : kids) {
      os << std::string(static_cast<size_t>(indent + 2), ' ') << '(' << name << "): ";
      child->print(os, indent + 2);
      os << '\n';
    }
    os << std::string(static_cast<size_t>(indent), ' ') << ')';
  }
};

// Applies modules in order. Holds them by shared_ptr: a module added by value is moved in;
// a shared_ptr is shared (so the caller can keep a typed handle on a layer).
template <Floating T>
class Sequential : public Module<T> {
 public:
  Sequential() = default;
  template <class... Ms>
    requires(sizeof...(Ms) > 0)
  explicit Sequential(Ms&&... modules) {
    (push_back(std::forward<Ms>(modules)), ...);
  }

  template <class M>
  Sequential& push_back(M&& m) {
    if constexpr (requires { typename std::decay_t<M>::element_type; }) {
      NABLA_CHECK(m != nullptr, "Sequential: cannot add a null module");
      modules_.push_back(std::shared_ptr<Module<T>>(std::forward<M>(m)));
    } else {
      static_assert(std::is_base_of_v<Module<T>, std::decay_t<M>>, "Sequential holds nn::Module<T>s of one T");
      modules_.push_back(std::make_shared<std::decay_t<M>>(std::forward<M>(m)));
    }
    return *this;
  }

  Tensor<T> forward(const Tensor<T>& x) override {
    Tensor<T> y = x;
    for (auto& m : modules_) y = m->forward(y);
    return y;
  }
  std::string describe() const override { return "Sequential"; }
  void visit(Visitor<T>& v) override {
    for (size_t i = 0; i < modules_.size(); ++i) v.module(std::to_string(i), *modules_[i]);
  }

  size_t size() const { return modules_.size(); }
  Module<T>& operator[](size_t i) {
    NABLA_CHECK(i < modules_.size(), "Sequential: index ", i, " is out of range for ", modules_.size(), " modules");
    return *modules_[i];
  }
  // The i-th module as its concrete type; throws if it is another type.
  template <class M>
  M& get(size_t i) {
    auto* m = dynamic_cast<M*>(&(*this)[i]);
    NABLA_CHECK(m, "Sequential: module ", i, " (", modules_[i]->describe(), ") is not of the requested type");
    return *m;
  }

 private:
  std::vector<std::shared_ptr<Module<T>>> modules_;
};

}  // namespace nabla::nn
