// Tensor: a dense, contiguous, row-major n-d array on one device.
// Storage is shared (copying a Tensor is cheap and aliases the same memory); a view is a
// contiguous window of another tensor's memory: every Tensor is contiguous, so kernels index it as a flat array with the
// layout its op documents, e.g. (N, C, H, W).
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/errors.h"

namespace convnet {

using Shape = std::vector<int64_t>;

enum class DType { Float32, Int64, UInt8 };
size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);  // "float32", "int64", "uint8"

// A block of memory on a device. The deleter frees it (or releases a borrowed owner, e.g. a
// numpy array whose memory the Tensor shares).
struct Storage {
  void* data = nullptr;
  size_t nbytes = 0;
  Device device;
  std::function<void(void*)> deleter;
  bool read_only = false;
  Storage(void* data, size_t nbytes, Device device, std::function<void(void*)> deleter, bool read_only = false);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
};

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor: defined() is false
  // Allocates uninitialised memory (64-byte aligned on the CPU).
  static Tensor empty(const Shape& shape, DType dtype = DType::Float32, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::Float32, Device device = Device::cpu());
  // A 1-D tensor holding `values` on `device` (small per-call constants such as a seed).
  static Tensor from_values(const std::vector<int64_t>& values, Device device);
  static Tensor from_values(const std::vector<float>& values, Device device);
  // Wraps memory owned elsewhere; `release` is called once the last Tensor sharing it is gone.
  // `read_only` memory (a read-only numpy array, a memory map opened with mode 'r') is never
  // written: copy_from, fill and every op's output and in-place argument refuse it.
  static Tensor from_blob(void* data, const Shape& shape, DType dtype, Device device,
                          std::function<void(void*)> release, bool read_only = false);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int64_t dim() const { return static_cast<int64_t>(shape_.size()); }
  int64_t size(int64_t axis) const;  // negative axes count from the end
  int64_t numel() const { return numel_; }
  size_t nbytes() const { return static_cast<size_t>(numel_) * dtype_size(dtype_); }
  Shape strides() const;  // in elements, row-major
  DType dtype() const { return dtype_; }
  Device device() const { return storage_ ? storage_->device : Device::cpu(); }
  bool is_cuda() const { return device().type == DeviceType::CUDA; }
  bool read_only() const { return storage_ && storage_->read_only; }

  void* raw_data() const {
    return storage_ ? static_cast<char*>(storage_->data) + offset_ * dtype_size(dtype_) : nullptr;
  }
  template <typename T> T* data() const { return static_cast<T*>(raw_data()); }

  // Same memory, new shape, by numpy's rules: sizes >= 0 and at most one -1 (the size that makes
  // the element count match); the element count must match (ValueError otherwise).
  Tensor reshape(const Shape& shape) const;
  // A contiguous piece of this tensor's memory: `shape` elements starting at flat element
  // `offset`. Used to give each layer's parameters a window into one flat buffer.
  Tensor view(int64_t offset, const Shape& shape) const;
  // A copy on `device` (this same Tensor when it is already there).
  Tensor to(Device device) const;
  Tensor clone() const;
  // Copies src's elements into this tensor (same dtype and element count, any devices).
  void copy_from(const Tensor& src);
  void fill(double value);
  bool shares_storage(const Tensor& other) const { return storage_ == other.storage_; }

  std::string repr() const;

 private:
  std::shared_ptr<Storage> storage_;
  Shape shape_;
  DType dtype_ = DType::Float32;
  int64_t numel_ = 0;
  int64_t offset_ = 0;  // in elements, into storage_
};

// The element count of a shape, checked (checked_numel of core/checks.h, named "Tensor").
int64_t shape_numel(const Shape& shape);

}  // namespace convnet
