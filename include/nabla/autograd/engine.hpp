#pragma once
// backward(): walks the graph from a tensor to the leaves. Nodes run once every node that feeds
// them a gradient has run (a dependency count per node, found by one depth-first pass). Gradients
// move along edges without copies where possible: a node's first incoming gradient is taken as
// is, later ones are added; a leaf takes ownership of a uniquely held contiguous gradient.
#include <vector>

#include "nabla/autograd/node.hpp"
#include "nabla/backend/cpu/kernels.hpp"

namespace nabla {

namespace detail {
// True when `t` is the only handle on its storage and covers all of it: it may be adopted as a
// gradient buffer or updated in place without anyone else seeing the change.
template <Element T>
bool sole_owner(const Tensor<T>& t) {
  const TensorImpl<T>* impl = t.impl();
  return impl->refs.load(std::memory_order_relaxed) == 1 &&
         impl->storage->refs.load(std::memory_order_relaxed) == 1 && impl->offset == 0 &&
         t.is_contiguous() &&
         impl->storage->bytes() == static_cast<size_t>(t.numel()) * sizeof(T);
}

template <Floating T>
Tensor<T> contiguous_copy(const Tensor<T>& t) {
  Tensor<T> out = Tensor<T>::empty(t.shape());
  cpu::copy(out, t);
  return out;
}

// slot += g, or slot = g when empty.
template <Floating T>
void accumulate_grad(Tensor<T>& slot, Tensor<T>&& g, bool adopt_any_layout) {
  if (!slot.defined()) {
    slot = adopt_any_layout || sole_owner(g) ? std::move(g) : contiguous_copy(g);
  } else if (sole_owner(slot)) {
    cpu::accumulate(slot, g);
    slot.impl()->storage->bump_version();
  } else {
    Tensor<T> sum = contiguous_copy(slot);
    cpu::accumulate(sum, g);
    slot = std::move(sum);
  }
}
}  // namespace detail

template <Element T>
void Node<T>::send(int i, Tensor<T> grad) {
  Edge& e = edges_[i];
  if (e.node) {
    detail::accumulate_grad(e.node->grad_, std::move(grad), true);
  } else if (e.leaf) {
    Tensor<T> slot(std::move(e.leaf->grad));
    detail::accumulate_grad(slot, std::move(grad), false);
    e.leaf->grad = Ref<TensorImpl<T>>(slot.impl());
  }
}

template <Element T>
T* Node<T>::grad_buffer(int i) {
  TensorImpl<T>* leaf = edges_[i].leaf.get();
  if (!leaf || !leaf->grad) return nullptr;
  TensorImpl<T>* g = leaf->grad.get();
  const bool sole = g->refs.load(std::memory_order_relaxed) == 1 &&
                    g->storage->refs.load(std::memory_order_relaxed) == 1 && g->offset == 0 &&
                    detail::is_contiguous(g->shape, g->strides) &&
                    g->storage->bytes() == static_cast<size_t>(g->shape.numel()) * sizeof(T);
  if (!sole) return nullptr;
  g->storage->bump_version();
  return g->data();
}

template <Element T>
class Engine {
 public:
  static void run(const Tensor<T>& root, Tensor<T> grad, bool retain_graph) {
    NoGradGuard no_grad;
    Node<T>* root_node = root.grad_fn();
    if (!root_node) {  // a leaf: the gradient is its own
      Tensor<T> slot = root.grad();
      detail::accumulate_grad(slot, std::move(grad), false);
      root.set_grad(slot);
      return;
    }
    NABLA_CHECK(!root_node->released_,
                "backward: the graph of this tensor was already freed by an earlier backward "
                "(from '", root_node->name(), "'); pass retain_graph=true to the first backward "
                "to call it again");
    static thread_local uint64_t epochs = 0;
    static thread_local std::vector<Node<T>*> ready;
    // Holds every node of this pass alive until it ends, so releasing one node's edges never
    // frees a node still queued.
    static thread_local std::vector<Ref<Node<T>>> visited;
    const uint64_t epoch = ++epochs;
    // Count, for every node, how many edges lead into it.
    visited.clear();
    visited.push_back(root.impl()->grad_fn);
    root_node->epoch_ = epoch;
    root_node->pending_ = 0;
    for (size_t k = 0; k < visited.size(); ++k) {
      Node<T>* n = visited[k].get();
      for (int i = 0; i < n->num_edges_; ++i) {
        const Ref<Node<T>>& m = n->edges_[i].node;
        if (!m) continue;
        if (m->epoch_ != epoch) {
          m->epoch_ = epoch;
          m->pending_ = 0;
          visited.push_back(m);
        }
        ++m->pending_;
      }
    }
    try {
      root_node->grad_ = std::move(grad);
      ready.assign(1, root_node);
      while (!ready.empty()) {
        Node<T>* n = ready.back();
        ready.pop_back();
        NABLA_CHECK(!n->released_, "backward: the graph through '", n->name(),
                    "' was already freed by an earlier backward; pass retain_graph=true to the "
                    "first backward to call it again");
        Tensor<T> g = std::move(n->grad_);
        if (g.defined()) n->apply(g);
        for (int i = 0; i < n->num_edges_; ++i) {
          Node<T>* m = n->edges_[i].node.get();
          if (m && --m->pending_ == 0) ready.push_back(m);
        }
        if (!retain_graph) n->release();
      }
    } catch (...) {
      for (auto& n : visited) n->grad_ = Tensor<T>();
      visited.clear();
      throw;
    }
    visited.clear();
  }
};

template <Element T>
void Tensor<T>::backward(const Tensor& gradient, bool retain_graph) const {
  if constexpr (!Floating<T>) {
    detail::fail("backward: ", dtype_name<T>(), " tensors have no gradients");
  } else {
    NABLA_CHECK(requires_grad(), "backward: this tensor (shape ", shape(),
                ") does not require grad and has no grad_fn; mark its inputs with requires_grad_()");
    Tensor g;
    if (gradient.defined()) {
      NABLA_CHECK(gradient.shape() == shape(), "backward: gradient shape ", gradient.shape(),
                  " does not match the tensor's shape ", shape());
      g = gradient.detach();
    } else {
      NABLA_CHECK(numel() == 1, "backward: a gradient can be implied only for a scalar output; "
                                "this tensor has shape ", shape(),
                  " — pass a gradient of that shape");
      g = Tensor::ones(shape());
    }
    Engine<T>::run(*this, std::move(g), retain_graph);
  }
}

}  // namespace nabla
