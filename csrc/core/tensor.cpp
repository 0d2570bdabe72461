#include "core/tensor.h"

#include "core/checks.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace convnet {

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::Float32: return 4;
    case DType::Int64: return 8;
    case DType::UInt8: return 1;
  }
  return 0;
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::Float32: return "float32";
    case DType::Int64: return "int64";
    case DType::UInt8: return "uint8";
  }
  return "?";
}

int64_t shape_numel(const Shape& shape) { return checked_numel("Tensor", "shape", shape); }

Storage::Storage(void* data_, size_t nbytes_, Device device_, std::function<void(void*)> deleter_, bool read_only_)
    : data(data_), nbytes(nbytes_), device(device_), deleter(std::move(deleter_)), read_only(read_only_) {}

Storage::~Storage() {
  if (deleter) deleter(data);
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  // Byte sizes up to 2^63 - 64, so that the rounding up to 64 bytes below cannot wrap either.
  const int64_t nbytes = checked_add(checked_nbytes("Tensor", "shape", shape, dtype), 63, "Tensor", "allocation") - 63;
  t.numel_ = nbytes / static_cast<int64_t>(dtype_size(dtype));
  // Never a null pointer, so that empty tensors still have an address numpy accepts.
  size_t alloc = nbytes ? static_cast<size_t>(nbytes) : 64;
  if (device.type == DeviceType::CPU) {
    void* p = std::aligned_alloc(64, (alloc + 63) / 64 * 64);
    if (!p)
      throw OutOfMemoryError("Tensor: out of memory allocating " + std::to_string(nbytes) + " bytes on cpu for shape " +
                             shape_str(shape));
    t.storage_ = std::make_shared<Storage>(p, nbytes, device, [](void* q) { std::free(q); });
  } else {
    cuda::require(device, "Tensor");
    int index = device.index;
    void* p = cuda::malloc(alloc, index);
    t.storage_ = std::make_shared<Storage>(p, nbytes, device, [index, alloc](void* q) { cuda::free(q, alloc, index); });
  }
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill(0.0);
  return t;
}

Tensor Tensor::from_blob(void* data, const Shape& shape, DType dtype, Device device,
                         std::function<void(void*)> release, bool read_only) {
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.numel_ = checked_numel("Tensor", "shape", shape, dtype_size(dtype));
  t.storage_ = std::make_shared<Storage>(data, t.nbytes(), device, std::move(release), read_only);
  return t;
}

int64_t Tensor::size(int64_t axis) const {
  int64_t d = dim();
  int64_t a = axis < 0 ? axis + d : axis;
  CONVNET_CHECK_VALUE(a >= 0 && a < d, "Tensor.size", "axis",
                      "an axis in [" + std::to_string(-d) + ", " + std::to_string(d) + ")", std::to_string(axis));
  return shape_[a];
}

Shape Tensor::strides() const {
  Shape s(shape_.size());
  int64_t step = 1;
  for (size_t i = shape_.size(); i-- > 0;) {
    s[i] = step;
    step *= shape_[i];
  }
  return s;
}

Tensor Tensor::reshape(const Shape& shape) const {
  const std::string expected = "a shape with " + std::to_string(numel_) + " elements (from " + shape_str(shape_) + ")";
  Shape resolved = shape;
  int64_t unknown = -1, known = 1;  // the axis of the -1, the product of the other sizes
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1 && unknown < 0) {
      unknown = static_cast<int64_t>(i);
      continue;
    }
    CONVNET_CHECK_VALUE(shape[i] >= 0, "reshape", "shape", expected + ": sizes >= 0 and at most one -1",
                        shape_str(shape));
    known = checked_mul(known, shape[i], "reshape", "shape " + shape_str(shape));
  }
  if (unknown >= 0) {
    // -1 is numel / (product of the others), which must divide exactly (and 0 others leave it open).
    CONVNET_CHECK_VALUE(known > 0 && numel_ % known == 0, "reshape", "shape", expected, shape_str(shape));
    resolved[unknown] = numel_ / known;
    known = numel_;
  }
  CONVNET_CHECK_VALUE(known == numel_, "reshape", "shape", expected, shape_str(shape));
  Tensor t = *this;
  t.shape_ = resolved;
  return t;
}

Tensor Tensor::view(int64_t offset, const Shape& shape) const {
  const int64_t n = checked_numel("view", "shape", shape);
  CONVNET_CHECK_VALUE(offset >= 0 && offset <= numel_ && n <= numel_ - offset, "view", "offset",
                      "a window inside " + std::to_string(numel_) + " elements",
                      std::to_string(offset) + " + " + std::to_string(n) + " elements");
  Tensor t = *this;
  t.shape_ = shape;
  t.numel_ = n;
  t.offset_ = offset_ + offset;
  return t;
}

Tensor Tensor::to(Device device) const {
  if (device == this->device()) return *this;
  Tensor t = empty(shape_, dtype_, device);
  t.copy_from(*this);
  return t;
}

Tensor Tensor::clone() const {
  Tensor t = empty(shape_, dtype_, device());
  t.copy_from(*this);
  return t;
}

template <class T>
static Tensor tensor_of(const std::vector<T>& values, DType dtype, Device device) {
  Tensor host = Tensor::empty({static_cast<int64_t>(values.size())}, dtype);
  if (!values.empty()) std::memcpy(host.raw_data(), values.data(), values.size() * sizeof(T));
  return host.to(device);
}
Tensor Tensor::from_values(const std::vector<int64_t>& values, Device device) {
  return tensor_of(values, DType::Int64, device);
}
Tensor Tensor::from_values(const std::vector<float>& values, Device device) {
  return tensor_of(values, DType::Float32, device);
}

void Tensor::copy_from(const Tensor& src) {
  check_writable("Tensor.copy_", "self", *this);
  CONVNET_CHECK_VALUE(src.dtype_ == dtype_ && src.numel_ == numel_, "copy_from", "src",
                      std::string(dtype_name(dtype_)) + " tensor with " + std::to_string(numel_) + " elements",
                      std::string(dtype_name(src.dtype_)) + " tensor of shape " + shape_str(src.shape_));
  if (nbytes() == 0 || raw_data() == src.raw_data()) return;
  if (is_cuda() || src.is_cuda())
    cuda::memcpy(raw_data(), device(), src.raw_data(), src.device(), nbytes());
  else
    std::memcpy(raw_data(), src.raw_data(), nbytes());
}

void Tensor::fill(double value) {
  check_writable("Tensor.fill", "self", *this);
  if (numel_ == 0) return;
  if (is_cuda()) {
    if (value == 0.0 && !std::signbit(value)) {  // all-zero bits in every dtype: a memset, no wait
      cuda::memset_zero(raw_data(), nbytes(), device().index);
      return;
    }
    // Other device fills go through a host buffer: they are for set-up, not for the steady state.
    Tensor host = empty(shape_, dtype_, Device::cpu());
    host.fill(value);
    copy_from(host);
    return;
  }
  switch (dtype_) {
    case DType::Float32: {
      float v = static_cast<float>(value);
      float* p = data<float>();
      for (int64_t i = 0; i < numel_; ++i) p[i] = v;
      break;
    }
    case DType::Int64: {
      int64_t v = static_cast<int64_t>(value);
      int64_t* p = data<int64_t>();
      for (int64_t i = 0; i < numel_; ++i) p[i] = v;
      break;
    }
    case DType::UInt8: std::memset(raw_data(), static_cast<uint8_t>(value), nbytes()); break;
  }
}

std::string Tensor::repr() const {
  if (!defined()) return "Tensor(undefined)";
  std::ostringstream s;
  s << "Tensor(shape=" << shape_str(shape_) << ", dtype=" << dtype_name(dtype_) << ", device='"
    << device().str() << "')";
  return s.str();
}

}  // namespace convnet
