#pragma once
// Graph nodes. A node is created by an op's forward when grad mode is on and an input requires
// grad. It holds one edge per input (to the input's own node, or to a leaf that accumulates the
// gradient), and the op's backward as a lambda stored inline in the node: one pooled allocation
// per recorded op, one virtual call per node in backward, no std::function.
#include <optional>
#include <span>

#include "nabla/core/tensor.hpp"

namespace nabla {

template <Element T>
class Node {
 public:
  std::atomic<int32_t> refs{0};

  struct Edge {
    Ref<Node> node;            // the input was produced by an op: its gradient goes to `node`
    Ref<TensorImpl<T>> leaf;   // the input is a leaf that requires grad
    bool active() const { return node || leaf; }
  };

  explicit Node(const char* name) : name_(name) {}
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  virtual ~Node() {
    if (edges_ != inline_edges_) delete[] edges_;
  }

  const char* name() const { return name_; }
  int num_inputs() const { return num_edges_; }
  // Whether input i needs a gradient (an op skips computing the ones nobody needs).
  bool needs_grad(int i) const { return edges_[i].active(); }
  // Hands the gradient for input i on; defined in engine.hpp.
  void send(int i, Tensor<T> grad);
  // When input i is a leaf that already holds a contiguous gradient no one else can see, that
  // buffer's data, so the op can add into it in place (one pass instead of computing a temporary
  // and adding it); otherwise null, and the op calls send(). Defined in engine.hpp.
  T* grad_buffer(int i);

  static void* operator new(size_t n) { return detail::pool_alloc(n); }
  static void operator delete(void* p, size_t n) { detail::pool_free(p, n); }

 protected:
  virtual void apply(const Tensor<T>& grad) = 0;
  virtual void release_saved() = 0;

 private:
  template <Element U>
  friend class Engine;
  template <Element U, class Fn>
  friend Node<U>* make_node(const char*, std::span<const Tensor<U>* const>, Fn&&);

  void set_edges(std::span<const Tensor<T>* const> inputs) {
    num_edges_ = static_cast<int>(inputs.size());
    if (inputs.size() > kInlineEdges) edges_ = new Edge[inputs.size()];
    for (size_t i = 0; i < inputs.size(); ++i) {
      TensorImpl<T>* in = inputs[i]->impl();
      if (!in->requires_grad) continue;
      if (in->grad_fn) edges_[i].node = in->grad_fn;
      else edges_[i].leaf = Ref<TensorImpl<T>>(in);
    }
  }
  void release() {
    release_saved();
    for (int i = 0; i < num_edges_; ++i) edges_[i] = Edge{};
    released_ = true;
  }

  static constexpr size_t kInlineEdges = 2;
  const char* name_;
  Edge inline_edges_[kInlineEdges];
  Edge* edges_ = inline_edges_;
  int num_edges_ = 0;
  // Engine bookkeeping for one backward pass.
  Tensor<T> grad_;
  uint64_t epoch_ = 0;
  int32_t pending_ = 0;
  bool released_ = false;
};

namespace detail {
template <Element T, class Fn>
class FunctionNode final : public Node<T> {
 public:
  FunctionNode(const char* name, Fn&& fn) : Node<T>(name), fn_(std::move(fn)) {}

 protected:
  void apply(const Tensor<T>& grad) override { (*fn_)(static_cast<Node<T>&>(*this), grad); }
  void release_saved() override { fn_.reset(); }

 private:
  std::optional<Fn> fn_;
};
}  // namespace detail

template <Element T, class Fn>
Node<T>* make_node(const char* name, std::span<const Tensor<T>* const> inputs, Fn&& fn) {
  auto* node = new detail::FunctionNode<T, std::decay_t<Fn>>(name, std::forward<Fn>(fn));
  node->set_edges(inputs);
  return node;
}

// True when an op on these inputs must record a node.
template <Element T>
bool needs_graph(std::initializer_list<const Tensor<T>*> inputs) {
  if (!grad_enabled()) return false;
  for (const Tensor<T>* t : inputs)
    if (t->impl()->requires_grad) return true;
  return false;
}
template <Element T>
bool needs_graph(const Tensor<T>& a) {
  return grad_enabled() && a.impl()->requires_grad;
}
template <Element T>
bool needs_graph(const Tensor<T>& a, const Tensor<T>& b) {
  return grad_enabled() && (a.impl()->requires_grad || b.impl()->requires_grad);
}

// Makes `out` the result of a recorded op: `backward(node, grad_of_out)` sends a gradient for each
// input that needs one with node.send(i, g).
template <Element T, class Fn>
void record(const char* name, Tensor<T>& out, std::initializer_list<const Tensor<T>*> inputs,
            Fn&& backward) {
  out.impl()->grad_fn = Ref<Node<T>>::adopt(
      make_node<T>(name, std::span<const Tensor<T>* const>(inputs.begin(), inputs.size()),
                   std::forward<Fn>(backward)));
  out.impl()->requires_grad = true;
}
template <Element T, class Fn>
void record(const char* name, Tensor<T>& out, std::span<const Tensor<T>* const> inputs,
            Fn&& backward) {
  out.impl()->grad_fn = Ref<Node<T>>::adopt(make_node<T>(name, inputs, std::forward<Fn>(backward)));
  out.impl()->requires_grad = true;
}

// A tensor saved for backward, with the version it had when saved. get() throws if it was
// modified in place since, instead of computing a wrong gradient.
template <Element T>
class Saved {
 public:
  Saved() = default;
  explicit Saved(const Tensor<T>& t) : tensor_(t), version_(t.defined() ? t.version() : 0) {}
  // An op's own output is saved detached, so that the node does not own itself.
  static Saved output(const Tensor<T>& t) { return Saved(t.detach()); }

  // An undefined tensor (an optional input that was not given) comes back undefined.
  const Tensor<T>& get(const Node<T>& node) const {
    NABLA_CHECK(!tensor_.defined() || tensor_.version() == version_, "backward of '", node.name(),
                "': a tensor it saved (shape ", tensor_.shape(),
                ") was modified in place after the forward pass (version ", tensor_.version(),
                ", saved at version ", version_, "); use an out-of-place op or clone() it first");
    return tensor_;
  }

 private:
  Tensor<T> tensor_;
  uint32_t version_ = 0;
};

}  // namespace nabla
