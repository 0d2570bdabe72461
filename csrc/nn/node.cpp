// ParamReader and the fused activation (see node.h).
#include "nn/node.h"

#include "core/errors.h"

namespace convnet {
namespace nn {

namespace {

std::string describe(const ParamValue& v) {
  struct {
    std::string operator()(bool b) const { return b ? "True" : "False"; }
    std::string operator()(int64_t i) const { return std::to_string(i); }
    std::string operator()(double d) const { return std::to_string(d); }
    std::string operator()(const std::string& s) const { return "'" + s + "'"; }
    std::string operator()(const std::vector<int64_t>& v) const { return "a list of " + std::to_string(v.size()) + " ints"; }
    std::string operator()(const std::vector<double>& v) const { return "a list of " + std::to_string(v.size()) + " numbers"; }
  } text;
  return std::visit(text, v);
}

bool fits_int(int64_t v) { return v >= INT32_MIN && v <= INT32_MAX; }

}  // namespace

ParamReader::ParamReader(const NodeSpec& spec)
    : where_("layer '" + spec.name + "' (" + spec.kind + ")"), params_(spec.params) {}

const ParamValue* ParamReader::find(const std::string& key) {
  auto it = params_.find(key);
  if (it == params_.end()) return nullptr;
  read_.insert(key);
  return &it->second;
}

void ParamReader::wrong_type(const std::string& key, const std::string& expected) const {
  throw TypeError(where_ + ": argument '" + key + "' expected " + expected + ", got " + describe(params_.at(key)));
}

bool ParamReader::holds_text(const std::string& key) const {
  auto it = params_.find(key);
  return it != params_.end() && std::holds_alternative<std::string>(it->second);
}

bool ParamReader::boolean(const std::string& key, bool fallback) {
  const ParamValue* v = find(key);
  if (!v) return fallback;
  if (const bool* b = std::get_if<bool>(v)) return *b;
  wrong_type(key, "True or False");
}

int64_t ParamReader::integer(const std::string& key, int64_t fallback) {
  const ParamValue* v = find(key);
  if (!v) return fallback;
  if (const int64_t* i = std::get_if<int64_t>(v)) return *i;
  wrong_type(key, "an int");
}

double ParamReader::number(const std::string& key, double fallback) {
  const ParamValue* v = find(key);
  if (!v) return fallback;
  if (const double* d = std::get_if<double>(v)) return *d;
  if (const int64_t* i = std::get_if<int64_t>(v)) return static_cast<double>(*i);
  wrong_type(key, "a number");
}

std::string ParamReader::text(const std::string& key, const std::string& fallback) {
  const ParamValue* v = find(key);
  if (!v) return fallback;
  if (const std::string* s = std::get_if<std::string>(v)) return *s;
  wrong_type(key, "a string");
}

std::pair<int, int> ParamReader::int_pair(const std::string& key, std::pair<int, int> fallback) {
  const ParamValue* v = find(key);
  if (!v) return fallback;
  if (const int64_t* i = std::get_if<int64_t>(v); i && fits_int(*i)) return {int(*i), int(*i)};
  if (const auto* p = std::get_if<std::vector<int64_t>>(v); p && p->size() == 2 && fits_int((*p)[0]) && fits_int((*p)[1]))
    return {int((*p)[0]), int((*p)[1])};
  wrong_type(key, "an int or a pair of ints");
}

std::pair<double, double> ParamReader::number_pair(const std::string& key, std::pair<double, double> fallback) {
  const ParamValue* v = find(key);
  if (!v) return fallback;
  if (const auto* p = std::get_if<std::vector<double>>(v); p && p->size() == 2) return {(*p)[0], (*p)[1]};
  if (const auto* p = std::get_if<std::vector<int64_t>>(v); p && p->size() == 2) return {double((*p)[0]), double((*p)[1])};
  wrong_type(key, "a pair of numbers");
}

std::vector<int64_t> ParamReader::ints(const std::string& key) {
  const ParamValue* v = find(key);
  if (!v) throw ValueError(where_ + ": argument '" + key + "' expected a list of ints, got nothing");
  if (const auto* p = std::get_if<std::vector<int64_t>>(v)) return *p;
  wrong_type(key, "a list of ints");
}

void ParamReader::finish() const {
  for (const auto& entry : params_)
    if (!read_.count(entry.first))
      throw ValueError(where_ + ": unknown argument '" + entry.first + "' (" + describe(entry.second) + ")");
}

std::string FusedActivation::name() const {
  if (kind == Kind::None) return "";
  if (kind == Kind::Softmax) return "softmax";
  return ops::activation_name(elementwise);
}

FusedActivation read_activation(ParamReader& r) {
  FusedActivation a;
  const std::string name = r.text("activation", "");
  a.alpha = static_cast<float>(r.number("alpha", 0.0));
  if (name.empty()) return a;
  if (name == "softmax") {
    a.kind = FusedActivation::Kind::Softmax;
  } else {
    a.kind = FusedActivation::Kind::Elementwise;
    a.elementwise = ops::parse_activation(name);  // ValueError naming the choices
  }
  return a;
}

}  // namespace nn
}  // namespace convnet
