#pragma once
// Datasets and the DataLoader: IDX (MNIST, Fashion-MNIST), CSV (OpenML mnist_784), HDF5 (CelebA
// layout), folders of JPEG/PNG images; batches as N x C x H x W float tensors.
#include "nabla/data/dataset.hpp"
#include "nabla/data/idx.hpp"
#include "nabla/data/mnist.hpp"
#include "nabla/data/csv.hpp"
#include "nabla/data/hdf5.hpp"
#include "nabla/data/image_folder.hpp"
#include "nabla/data/loader.hpp"
#include "nabla/data/convert.hpp"
