#pragma once
// What a person looks at: image grids and plots as PNG, loss numbers as CSV, progress lines.
#include "nabla/io/image.hpp"
#include "nabla/io/grid.hpp"
#include "nabla/io/canvas.hpp"
#include "nabla/io/plot.hpp"
#include "nabla/io/progress.hpp"
