// Errors for people. Every argument check in an op's contract throws one of these, with a
// message that names the op (or layer), the argument, what was expected and what came.
// The Python bindings map ValueError -> ValueError, TypeError -> TypeError and
// DeviceError -> RuntimeError (OutOfMemoryError -> convnet.OutOfMemoryError); nothing in the core aborts the process.
#pragma once
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace convnet {

struct ValueError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};
struct TypeError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};
// Device, driver, memory and I/O failures (RuntimeError in Python).
struct DeviceError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// An allocation the device could not satisfy (convnet.OutOfMemoryError in Python: both a
// MemoryError and a RuntimeError).
struct OutOfMemoryError : DeviceError {
  using DeviceError::DeviceError;
};

// "(2, 3, 28, 28)"
std::string shape_str(const std::vector<int64_t>& shape);

// Builds "op: argument 'arg' expected EXPECTED, got GOT".
std::string arg_message(const std::string& op, const std::string& arg, const std::string& expected,
                        const std::string& got);

}  // namespace convnet

// Checks an argument; the message strings are only built when the check fails.
#define CONVNET_CHECK_VALUE(cond, op, arg, expected, got)                                   \
  do {                                                                                      \
    if (!(cond)) throw ::convnet::ValueError(::convnet::arg_message((op), (arg), (expected), (got))); \
  } while (0)
#define CONVNET_CHECK_TYPE(cond, op, arg, expected, got)                                    \
  do {                                                                                      \
    if (!(cond)) throw ::convnet::TypeError(::convnet::arg_message((op), (arg), (expected), (got))); \
  } while (0)
