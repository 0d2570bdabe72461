#include "core/errors.h"

namespace convnet {

std::string shape_str(const std::vector<int64_t>& shape) {
  std::ostringstream s;
  s << "(";
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  if (shape.size() == 1) s << ",";
  s << ")";
  return s.str();
}

std::string arg_message(const std::string& op, const std::string& arg, const std::string& expected,
                        const std::string& got) {
  return op + ": argument '" + arg + "' expected " + expected + ", got " + got;
}

}  // namespace convnet
