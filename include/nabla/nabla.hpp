#pragma once
// The one include for users of nabla.
#include "nabla/core/tensor.hpp"
#include "nabla/autograd/engine.hpp"
#include "nabla/ops/inplace.hpp"
#include "nabla/ops/shape.hpp"
#include "nabla/ops/elementwise.hpp"
#include "nabla/ops/activation.hpp"
#include "nabla/ops/reduce.hpp"
#include "nabla/ops/matmul.hpp"
#include "nabla/ops/indexing.hpp"
#include "nabla/autograd/gradcheck.hpp"
