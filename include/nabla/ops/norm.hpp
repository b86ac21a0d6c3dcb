#pragma once
// layer_norm and batch_norm, each fused: one pass for the statistics, one for the output, and a
// closed-form backward (no graph of elementwise ops).
#include <cmath>
#include <vector>

#include "nabla/ops/common.hpp"
#include "nabla/ops/elementwise.hpp"

namespace nabla {

namespace detail {
// batch_norm on [N, C] works on blocks of this many channels at a time (see forward_rows).
inline constexpr int64_t kRowBlock = 256;

// batch_norm's row loops on [N, C] (one row of m channels at a time), as functions of restrict
// pointers so that they vectorise (as lambda bodies over shared buffers they stayed scalar).
template <Floating T>
void bn_add_row(const T* __restrict row, T* __restrict sum, int64_t m) {
  for (int64_t j = 0; j < m; ++j) sum[j] += row[j];
}
template <Floating T>
void bn_add_sq_row(const T* __restrict row, const T* __restrict mean, T* __restrict sq, int64_t m) {
  for (int64_t j = 0; j < m; ++j) sq[j] += (row[j] - mean[j]) * (row[j] - mean[j]);
}
template <Floating T>
void bn_out_row(const T* __restrict row, const T* __restrict mean, const T* __restrict inv,
                const T* __restrict scale, const T* __restrict shift, T* __restrict o, int64_t m) {
  for (int64_t j = 0; j < m; ++j) o[j] = (row[j] - mean[j]) * inv[j] * scale[j] + shift[j];
}
// sum(g) and sum(g * xhat), xhat = (x - mean) * inv.
template <Floating T>
void bn_sums_row(const T* __restrict g, const T* __restrict x, const T* __restrict mean,
                 const T* __restrict inv, T* __restrict sum_g, T* __restrict sum_gh, int64_t m) {
  for (int64_t j = 0; j < m; ++j) {
    sum_g[j] += g[j];
    sum_gh[j] += g[j] * ((x[j] - mean[j]) * inv[j]);
  }
}
template <Floating T>
void bn_grad_row(const T* __restrict g, const T* __restrict x, const T* __restrict mean,
                 const T* __restrict inv, const T* __restrict k, const T* __restrict mg,
                 const T* __restrict mgh, T* __restrict out, int64_t m) {
  for (int64_t j = 0; j < m; ++j)
    out[j] = k[j] * (g[j] - mg[j] - (x[j] - mean[j]) * inv[j] * mgh[j]);
}
template <Floating T>
void bn_scale_row(const T* __restrict g, const T* __restrict k, T* __restrict out, int64_t m) {
  for (int64_t j = 0; j < m; ++j) out[j] = k[j] * g[j];
}

// The shared backward of a normalisation over groups of `m` values: with xhat the normalised
// input, gxhat = g * w, gx = rstd * (gxhat - mean(gxhat) - xhat * mean(gxhat * xhat)).
template <Floating T>
T mean_of(const T* p, int64_t n) {
  return n ? cpu::ConstArrayMap<T>(p, n).sum() / static_cast<T>(n) : T(0);
}
}  // namespace detail

// Normalises over the trailing dims given by normalized_shape, then scales by weight and shifts
// by bias (both of normalized_shape, or undefined).
template <Floating T>
Tensor<T> layer_norm(const Tensor<T>& x, const Shape& normalized_shape,
                     const Tensor<T>& weight = {}, const Tensor<T>& bias = {}, double eps = 1e-5) {
  detail::check_operand(x, "layer_norm");
  const int nd = normalized_shape.size();
  bool ok = nd >= 1 && nd <= x.dim();
  for (int i = 0; ok && i < nd; ++i) ok = x.shape()[x.dim() - nd + i] == normalized_shape[i];
  NABLA_CHECK(ok, "layer_norm: input of shape ", x.shape(), " does not end with normalized_shape ",
              normalized_shape);
  NABLA_CHECK(!weight.defined() || weight.shape() == normalized_shape,
              "layer_norm: weight has shape ", weight.defined() ? weight.shape() : Shape{},
              ", expected ", normalized_shape);
  NABLA_CHECK(!bias.defined() || bias.shape() == normalized_shape, "layer_norm: bias has shape ",
              bias.defined() ? bias.shape() : Shape{}, ", expected ", normalized_shape);
  NABLA_CHECK(eps >= 0, "layer_norm: eps must be non-negative, got ", eps);
  const int64_t m = normalized_shape.numel(), rows = m ? x.numel() / m : 0;
  const Tensor<T> xc = detail::contiguous_or_self(x);
  const Tensor<T> wc = weight.defined() ? detail::contiguous_or_self(weight) : Tensor<T>();
  const Tensor<T> bc = bias.defined() ? detail::contiguous_or_self(bias) : Tensor<T>();
  Tensor<T> out = Tensor<T>::empty(x.shape());
  Tensor<T> xhat = Tensor<T>::empty(x.shape());
  Tensor<T> rstd = Tensor<T>::empty({rows});
  const T* px = xc.data();
  T *po = out.data(), *ph = xhat.data(), *pr = rstd.data();
  const T* pw = wc.defined() ? wc.data() : nullptr;
  const T* pb = bc.defined() ? bc.data() : nullptr;
  cpu::parallel_for(rows, std::max<int64_t>(1, cpu::kElementwiseGrain / std::max<int64_t>(m, 1)),
                    [&](int64_t r0, int64_t r1) {
                      for (int64_t r = r0; r < r1; ++r) {
                        const T* xr = px + r * m;
                        // Eigen's reductions: vectorised, with several partial sums (a plain loop's
                        // float sum stays one scalar chain).
                        const T mean = detail::mean_of(xr, m);
                        const T var = (cpu::ConstArrayMap<T>(xr, m) - mean).square().sum() /
                                      static_cast<T>(m);
                        const T inv = T(1) / std::sqrt(var + static_cast<T>(eps));
                        pr[r] = inv;
                        for (int64_t i = 0; i < m; ++i) {
                          const T h = (xr[i] - mean) * inv;
                          ph[r * m + i] = h;
                          po[r * m + i] = (pw ? h * pw[i] : h) + (pb ? pb[i] : T(0));
                        }
                      }
                    });
  const bool affine_w = weight.defined(), affine_b = bias.defined();
  std::vector<const Tensor<T>*> inputs{&x};
  if (affine_w) inputs.push_back(&weight);
  if (affine_b) inputs.push_back(&bias);
  bool any = false;
  for (const Tensor<T>* t : inputs) any = any || t->requires_grad();
  if (any && grad_enabled()) {
    record("layer_norm", out, std::span<const Tensor<T>* const>(inputs),
           [xhat, rstd, sw = Saved<T>(wc), nshape = normalized_shape, m, rows, affine_w, affine_b](
               Node<T>& n, const Tensor<T>& g_in) {
             const Tensor<T> g = detail::contiguous_or_self(g_in);
             const T* pg = g.data();
             const T* ph = xhat.data();
             const T* pw = affine_w ? sw.get(n).data() : nullptr;
             if (n.needs_grad(0)) {
               Tensor<T> gx = Tensor<T>::empty(g.shape());
               T* out = gx.data();
               cpu::parallel_for(
                   rows, std::max<int64_t>(1, cpu::kElementwiseGrain / std::max<int64_t>(m, 1)),
                   [&](int64_t r0, int64_t r1) {
                     for (int64_t r = r0; r < r1; ++r) {
                       const T* gr = pg + r * m;
                       const T* hr = ph + r * m;
                       const cpu::ConstArrayMap<T> ga(gr, m), ha(hr, m);
                       T s1, s2;
                       if (pw) {
                         const cpu::ConstArrayMap<T> wa(pw, m);
                         s1 = (ga * wa).sum();
                         s2 = (ga * wa * ha).sum();
                       } else {
                         s1 = ga.sum();
                         s2 = (ga * ha).sum();
                       }
                       s1 /= static_cast<T>(m);
                       s2 /= static_cast<T>(m);
                       const T inv = rstd.data()[r];
                       for (int64_t i = 0; i < m; ++i) {
                         const T gh = pw ? gr[i] * pw[i] : gr[i];
                         out[r * m + i] = inv * (gh - s1 - hr[i] * s2);
                       }
                     }
                   });
               n.send(0, std::move(gx));
             }
             int slot = 1;
             if (affine_w) {
               if (n.needs_grad(slot)) {
                 Tensor<T> gw = Tensor<T>::zeros(nshape);
                 T* o = gw.data();
                 for (int64_t r = 0; r < rows; ++r)
                   for (int64_t i = 0; i < m; ++i) o[i] += pg[r * m + i] * ph[r * m + i];
                 n.send(slot, std::move(gw));
               }
               ++slot;
             }
             if (affine_b && n.needs_grad(slot)) {
               Tensor<T> gb = Tensor<T>::empty(nshape);
               cpu::sum_reduce(pg, gb.data(), cpu::ReduceView(Shape{rows, m}, 0, 0));
               n.send(slot, std::move(gb));
             }
           });
  }
  return out;
}

// Batch normalisation over dim 1 of x [N, C] or [N, C, *]. In training the batch statistics
// normalise and the running ones are updated in place (momentum, unbiased variance, as PyTorch);
// otherwise the running statistics normalise. Either running tensor may be undefined.
template <Floating T>
Tensor<T> batch_norm(const Tensor<T>& x, Tensor<T> running_mean, Tensor<T> running_var,
                     const Tensor<T>& weight, const Tensor<T>& bias, bool training,
                     double momentum = 0.1, double eps = 1e-5) {
  detail::check_operand(x, "batch_norm");
  NABLA_CHECK(x.dim() >= 2, "batch_norm: expected input [N, C] or [N, C, ...], got shape ",
              x.shape());
  const int64_t n = x.shape()[0], c = x.shape()[1], s = x.numel() / std::max<int64_t>(n * c, 1);
  auto check_vec = [&](const Tensor<T>& t, const char* what) {
    NABLA_CHECK(!t.defined() || (t.dim() == 1 && t.shape()[0] == c), "batch_norm: ", what,
                " has shape ", t.defined() ? t.shape() : Shape{}, ", expected [", c,
                "] for input of shape ", x.shape());
  };
  check_vec(running_mean, "running_mean");
  check_vec(running_var, "running_var");
  check_vec(weight, "weight");
  check_vec(bias, "bias");
  const bool use_batch = training || !running_mean.defined() || !running_var.defined();
  const int64_t count = n * s;
  NABLA_CHECK(
      !use_batch || count > 1,
      "batch_norm: expected more than 1 value per channel when training, got input of shape ",
      x.shape());
  const Tensor<T> xc = detail::contiguous_or_self(x);
  const Tensor<T> wc = weight.defined() ? detail::contiguous_or_self(weight) : Tensor<T>();
  const Tensor<T> bc = bias.defined() ? detail::contiguous_or_self(bias) : Tensor<T>();
  // The backward recomputes xhat = (x - mean) * rstd from x, the per-channel mean and rstd
  // (as PyTorch saves them): no x-sized buffer is written for it.
  Tensor<T> out = Tensor<T>::empty(x.shape());
  Tensor<T> mean_t = Tensor<T>::empty({c}), rstd = Tensor<T>::empty({c});
  const T* px = xc.data();
  T *po = out.data(), *pm = mean_t.data(), *pr = rstd.data();
  const T* pw = wc.defined() ? wc.data() : nullptr;
  const T* pb = bc.defined() ? bc.data() : nullptr;
  T* rm = running_mean.defined() ? running_mean.data() : nullptr;
  T* rv = running_var.defined() ? running_var.data() : nullptr;
  // Channels [c0, c1) of every sample. With one value per channel and sample (BatchNorm1d on
  // [N, C]) a channel's values are C apart, so the loops run along the rows, vectors across
  // the channels; otherwise along each channel's N runs of s values.
  auto update_running = [&](int64_t ch, T mean, T var) {
    if (training && rm) rm[ch] = static_cast<T>((1 - momentum) * rm[ch] + momentum * mean);
    if (training && rv)
      rv[ch] = static_cast<T>((1 - momentum) * rv[ch] +
                              momentum * var * static_cast<T>(count) / static_cast<T>(count - 1));
  };
  auto forward_row_block = [&](int64_t c0, int64_t c1) {
    const int64_t m = c1 - c0;
    std::vector<T> buf(static_cast<size_t>(4 * m), T(0));
    T *mean = buf.data(), *var = mean + m, *scale = var + m, *shift = scale + m;
    if (use_batch) {
      for (int64_t i = 0; i < n; ++i) detail::bn_add_row(px + i * c + c0, mean, m);
      for (int64_t j = 0; j < m; ++j) mean[j] /= static_cast<T>(count);
      for (int64_t i = 0; i < n; ++i) detail::bn_add_sq_row(px + i * c + c0, mean, var, m);
      for (int64_t j = 0; j < m; ++j) {
        var[j] /= static_cast<T>(count);
        update_running(c0 + j, mean[j], var[j]);
      }
    } else {
      std::copy_n(rm + c0, m, mean);
      std::copy_n(rv + c0, m, var);
    }
    for (int64_t j = 0; j < m; ++j) {
      pm[c0 + j] = mean[j];
      pr[c0 + j] = T(1) / std::sqrt(var[j] + static_cast<T>(eps));
      scale[j] = pw ? pw[c0 + j] : T(1);
      shift[j] = pb ? pb[c0 + j] : T(0);
    }
    const T* inv = pr + c0;
    for (int64_t i = 0; i < n; ++i)
      detail::bn_out_row(px + i * c + c0, mean, inv, scale, shift, po + i * c + c0, m);
  };
  // [N, C]: channels in blocks of kRowBlock, so that a block's N rows stay in L2 over the
  // passes (statistics, then output) instead of each pass reading all of x from memory.
  auto forward_rows = [&](int64_t c0, int64_t c1) {
    for (int64_t b0 = c0; b0 < c1; b0 += detail::kRowBlock)
      forward_row_block(b0, std::min(c1, b0 + detail::kRowBlock));
  };
  auto forward_planes = [&](int64_t c0, int64_t c1) {
    for (int64_t ch = c0; ch < c1; ++ch) {
      T mean, var;
      if (use_batch) {
        T sum = 0;
        for (int64_t i = 0; i < n; ++i)
          sum += cpu::ConstArrayMap<T>(px + (i * c + ch) * s, s).sum();
        mean = sum / static_cast<T>(count);
        T sq = 0;
        for (int64_t i = 0; i < n; ++i)
          sq += (cpu::ConstArrayMap<T>(px + (i * c + ch) * s, s) - mean).square().sum();
        var = sq / static_cast<T>(count);
        update_running(ch, mean, var);
      } else {
        mean = rm[ch];
        var = rv[ch];
      }
      const T inv = T(1) / std::sqrt(var + static_cast<T>(eps));
      pm[ch] = mean;
      pr[ch] = inv;
      const T scale = pw ? pw[ch] : T(1), shift = pb ? pb[ch] : T(0);
      for (int64_t i = 0; i < n; ++i) {
        const int64_t base = (i * c + ch) * s;
        for (int64_t k = 0; k < s; ++k) {
          po[base + k] = (px[base + k] - mean) * inv * scale + shift;
        }
      }
    }
  };
  // Channels per chunk: at least kElementwiseGrain values, and whole cache lines of a row.
  const int64_t grain =
      std::max<int64_t>(s == 1 ? 64 : 1, cpu::kElementwiseGrain / std::max<int64_t>(count, 1));
  if (s == 1)
    cpu::parallel_for(c, grain, forward_rows);
  else
    cpu::parallel_for(c, grain, forward_planes);
  if (training) {
    if (running_mean.defined()) running_mean.impl()->storage->bump_version();
    if (running_var.defined()) running_var.impl()->storage->bump_version();
  }
  const bool affine_w = weight.defined(), affine_b = bias.defined();
  std::vector<const Tensor<T>*> inputs{&x};
  if (affine_w) inputs.push_back(&weight);
  if (affine_b) inputs.push_back(&bias);
  bool any = false;
  for (const Tensor<T>* t : inputs) any = any || t->requires_grad();
  if (any && grad_enabled()) {
    record("batch_norm", out, std::span<const Tensor<T>* const>(inputs),
           [sx = Saved<T>(xc), mean_t, rstd, sw = Saved<T>(wc), n, c, s, use_batch, affine_w,
            affine_b](Node<T>& node, const Tensor<T>& g_in) {
             const Tensor<T> g = detail::contiguous_or_self(g_in);
             const T* pg = g.data();
             const T* px = sx.get(node).data();
             const T *pm = mean_t.data(), *pr = rstd.data();
             const T* pw = affine_w ? sw.get(node).data() : nullptr;
             const int64_t count = n * s;
             // Per channel: sum(g) and sum(g * xhat), used by every gradient; then gx. Along
             // the rows for [N, C] (as the forward), else along each channel's runs.
             std::vector<T> sum_g(static_cast<size_t>(c)), sum_gh(static_cast<size_t>(c));
             const bool want_x = node.needs_grad(0);
             Tensor<T> gx = want_x ? Tensor<T>::empty(g.shape()) : Tensor<T>();
             T* o = want_x ? gx.data() : nullptr;
             auto backward_row_block = [&](int64_t c0, int64_t c1) {
               const int64_t m = c1 - c0;
               T *a = sum_g.data() + c0, *b = sum_gh.data() + c0;
               std::fill_n(a, m, T(0));
               std::fill_n(b, m, T(0));
               for (int64_t i = 0; i < n; ++i)
                 detail::bn_sums_row(pg + i * c + c0, px + i * c + c0, pm + c0, pr + c0, a, b, m);
               if (!want_x) return;
               std::vector<T> buf(static_cast<size_t>(3 * m));
               T *k = buf.data(), *mg = k + m, *mgh = mg + m;
               for (int64_t j = 0; j < m; ++j) {
                 k[j] = (pw ? pw[c0 + j] : T(1)) * pr[c0 + j];
                 mg[j] = a[j] / static_cast<T>(count);
                 mgh[j] = b[j] / static_cast<T>(count);
               }
               for (int64_t i = 0; i < n; ++i) {
                 if (use_batch)
                   detail::bn_grad_row(pg + i * c + c0, px + i * c + c0, pm + c0, pr + c0, k, mg,
                                       mgh, o + i * c + c0, m);
                 else
                   detail::bn_scale_row(pg + i * c + c0, k, o + i * c + c0, m);
               }
             };
             auto backward_rows = [&](int64_t c0, int64_t c1) {
               for (int64_t b0 = c0; b0 < c1; b0 += detail::kRowBlock)
                 backward_row_block(b0, std::min(c1, b0 + detail::kRowBlock));
             };
             auto backward_planes = [&](int64_t c0, int64_t c1) {
               for (int64_t ch = c0; ch < c1; ++ch) {
                 const T mu = pm[ch], inv = pr[ch];
                 T a = 0, b = 0;
                 for (int64_t i = 0; i < n; ++i) {
                   const int64_t base = (i * c + ch) * s;
                   a += cpu::ConstArrayMap<T>(pg + base, s).sum();
                   b += (cpu::ConstArrayMap<T>(pg + base, s) *
                         (cpu::ConstArrayMap<T>(px + base, s) - mu))
                            .sum();
                 }
                 b *= inv;
                 sum_g[static_cast<size_t>(ch)] = a;
                 sum_gh[static_cast<size_t>(ch)] = b;
                 if (!want_x) continue;
                 const T k = (pw ? pw[ch] : T(1)) * inv;
                 const T mg = a / static_cast<T>(count), mgh = b / static_cast<T>(count);
                 for (int64_t i = 0; i < n; ++i) {
                   const int64_t base = (i * c + ch) * s;
                   for (int64_t j = 0; j < s; ++j)
                     o[base + j] = use_batch
                                       ? k * (pg[base + j] - mg - (px[base + j] - mu) * inv * mgh)
                                       : k * pg[base + j];
                 }
               }
             };
             const int64_t grain = std::max<int64_t>(
                 s == 1 ? 64 : 1, cpu::kElementwiseGrain / std::max<int64_t>(count, 1));
             if (s == 1)
               cpu::parallel_for(c, grain, backward_rows);
             else
               cpu::parallel_for(c, grain, backward_planes);
             if (want_x) node.send(0, std::move(gx));
             int slot = 1;
             if (affine_w) {
               if (node.needs_grad(slot))
                 node.send(slot, Tensor<T>::from(std::span<const T>(sum_gh), {c}));
               ++slot;
             }
             if (affine_b && node.needs_grad(slot))
               node.send(slot, Tensor<T>::from(std::span<const T>(sum_g), {c}));
           });
  }
  return out;
}

namespace detail {
// x [N, C, *] normalised over groups of `groups` channels (with everything after them) per sample,
// through layer_norm on the [N * groups, rest] view; then weight and bias [C] per channel.
template <Floating T>
Tensor<T> grouped_norm(const char* op, const Tensor<T>& x, int64_t groups, const Tensor<T>& weight,
                       const Tensor<T>& bias, double eps) {
  detail::check_operand(x, op);
  NABLA_CHECK(x.dim() >= 2, op, ": expected input [N, C, ...], got shape ", x.shape());
  const int64_t n = x.shape()[0], c = x.shape()[1];
  NABLA_CHECK(groups >= 1 && c % groups == 0, op, ": ", c, " channels do not split into ", groups,
              " groups");
  const int64_t rest = x.numel() / std::max<int64_t>(n * groups, 1);
  NABLA_CHECK(rest > 0, op, ": the input is empty (shape ", x.shape(), ")");
  for (const Tensor<T>* t : {&weight, &bias})
    NABLA_CHECK(!t->defined() || (t->dim() == 1 && t->shape()[0] == c), op,
                ": weight and bias must be [", c, "], got shape ", t->shape());
  Tensor<T> y = layer_norm(detail::contiguous_or_self(x).reshape({n * groups, rest}), Shape{rest},
                           Tensor<T>(), Tensor<T>(), eps)
                    .reshape(x.shape());
  if (!weight.defined() && !bias.defined()) return y;
  Shape per_channel{1, c};
  for (int64_t d = 2; d < x.dim(); ++d) per_channel.push_back(1);
  if (weight.defined()) y = mul(y, weight.reshape(per_channel));
  if (bias.defined()) y = add(y, bias.reshape(per_channel));
  return y;
}
}  // namespace detail

// Each sample's channels normalised over their own values (x [N, C, *]), then weight and bias
// per channel (optional): InstanceNorm as PyTorch computes it without running statistics.
template <Floating T>
Tensor<T> instance_norm(const Tensor<T>& x, const Tensor<T>& weight = {},
                        const Tensor<T>& bias = {}, double eps = 1e-5) {
  NABLA_CHECK(!x.defined() || x.dim() >= 3,
              "instance_norm: expected input [N, C, H, W] or [N, C, L], got shape ", x.shape());
  return detail::grouped_norm("instance_norm", x, x.defined() ? x.shape()[1] : 1, weight, bias,
                              eps);
}

// Each sample's channels in `groups` groups, each normalised over its channels' values together
// (Wu & He), then weight and bias per channel.
template <Floating T>
Tensor<T> group_norm(const Tensor<T>& x, int64_t groups, const Tensor<T>& weight = {},
                     const Tensor<T>& bias = {}, double eps = 1e-5) {
  return detail::grouped_norm("group_norm", x, groups, weight, bias, eps);
}

}  // namespace nabla
