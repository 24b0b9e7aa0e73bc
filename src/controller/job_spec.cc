#include "controller/job_spec.h"

#include <yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <initializer_list>
#include <limits>

#include "core/cluster.h"
#include "core/gpu_model.h"
#include "core/mig_geometry.h"

namespace gpool::controller {
namespace {

using nlohmann::json;

Status Bad(std::string_view field, const std::string& message) {
  return Status::InvalidArgument(std::string(field) + ": " + message);
}

std::string Join(std::string_view a, std::string_view b) {
  return a.empty() ? std::string(b) : std::string(a) + "." + std::string(b);
}

std::string TypeName(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "an integer";
    case json::value_t::number_float:
      return "a number";
    case json::value_t::string:
      return "a string";
    case json::value_t::array:
      return "a list";
    case json::value_t::object:
      return "a mapping";
    default:
      return "a value";
  }
}

std::size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// InvalidArgument for the first key of `obj` not in `known`, with a suggestion when one is close.
Status OnlyKnownFields(const json& obj, std::string_view path,
                       std::initializer_list<std::string_view> known) {
  for (const auto& [key, value] : obj.items()) {
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    std::string message = "unknown field '" + key + "'";
    std::string_view best;
    std::size_t best_d = 3;
    for (std::string_view k : known) {
      const std::size_t d = EditDistance(key, k);
      if (d < best_d) {
        best_d = d;
        best = k;
      }
    }
    if (!best.empty()) message += " (did you mean '" + std::string(best) + "'?)";
    std::string fields;
    for (std::string_view k : known) fields += (fields.empty() ? "" : ", ") + std::string(k);
    message += "; known fields: " + fields;
    return Bad(path.empty() ? key : Join(path, key), message);
  }
  return Status();
}

Result<std::string> NameField(const json& v, std::string_view field) {
  if (!v.is_string()) return Bad(field, "expected a string, got " + TypeName(v));
  const std::string s = v.get<std::string>();
  if (!IsValidName(s)) {
    return Bad(field, "'" + s +
                          "' is not a valid name: use 1 to 63 lowercase letters, digits and '-', "
                          "starting and ending with a letter or digit");
  }
  return s;
}

Result<std::int64_t> IntegerField(const json& v, std::string_view field, std::int64_t lo,
                                  std::int64_t hi) {
  std::int64_t n = 0;
  if (v.is_number_integer()) {
    n = v.get<std::int64_t>();
  } else if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    n = u > static_cast<std::uint64_t>(hi) ? hi + 1 : static_cast<std::int64_t>(u);
  } else {
    return Bad(field, "expected an integer, got " + TypeName(v));
  }
  if (n < lo || n > hi) {
    return Bad(field, "must be between " + std::to_string(lo) + " and " + std::to_string(hi) +
                          ", got " + (v.is_number_unsigned() ? v.dump() : std::to_string(n)));
  }
  return n;
}

// "12.5" -> 12.5 for strings made only of a decimal number.
bool ParseDecimal(std::string_view s, double* out) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c)) && c != '.') return false;
  }
  if (std::count(s.begin(), s.end(), '.') > 1 || s == ".") return false;
  *out = std::strtod(std::string(s).c_str(), nullptr);
  return std::isfinite(*out);
}

Result<core::PriorityClass> ParsePriority(const json& v) {
  if (!v.is_string()) return Bad("priority", "expected a string, got " + TypeName(v));
  const std::string s = v.get<std::string>();
  if (s == "production") return core::PriorityClass::kProduction;
  if (s == "standard") return core::PriorityClass::kStandard;
  if (s == "opportunistic") return core::PriorityClass::kOpportunistic;
  return Bad("priority",
             "'" + s + "' is not a priority class: use production, standard or opportunistic");
}

Result<std::vector<std::string>> ParseCommand(const json& v) {
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    if (s.find_first_not_of(" \t\n") == std::string::npos) return Bad("command", "is empty");
    return std::vector<std::string>{"/bin/sh", "-c", s};
  }
  if (!v.is_array()) {
    return Bad("command",
               "expected a string (run by /bin/sh -c) or a list of arguments, got " + TypeName(v));
  }
  if (v.empty()) return Bad("command", "is empty");
  std::vector<std::string> argv;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const json& a = v[i];
    const std::string field = "command[" + std::to_string(i) + "]";
    if (a.is_string()) {
      argv.push_back(a.get<std::string>());
    } else if (a.is_number() || a.is_boolean()) {
      argv.push_back(a.dump());
    } else {
      return Bad(field, "expected a string, got " + TypeName(a));
    }
    if (argv.back().find('\0') != std::string::npos) return Bad(field, "contains a NUL byte");
  }
  if (argv[0].empty()) return Bad("command[0]", "the program name is empty");
  return argv;
}

Result<std::vector<std::pair<std::string, std::string>>> ParseEnv(const json& v) {
  if (!v.is_object()) return Bad("env", "expected a mapping of NAME: value, got " + TypeName(v));
  std::vector<std::pair<std::string, std::string>> env;
  for (const auto& [name, value] : v.items()) {
    const std::string field = "env." + name;
    const bool valid = !name.empty() && !std::isdigit(static_cast<unsigned char>(name[0])) &&
                       std::all_of(name.begin(), name.end(), [](char c) {
                         return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
                       });
    if (!valid) return Bad(field, "not a valid variable name (letters, digits, '_')");
    // GPOOL_CKPT_STORE is the job's own: where its checkpoint SDK saves (docs/checkpoint.md).
    if ((name.rfind("GPOOL_", 0) == 0 && name != "GPOOL_CKPT_STORE") ||
        name == "CUDA_VISIBLE_DEVICES") {
      return Bad(field, "is set by gpool for the workload's slice and cannot be given");
    }
    std::string text;
    if (value.is_string()) {
      text = value.get<std::string>();
    } else if (value.is_number() || value.is_boolean()) {
      text = value.dump();
    } else {
      return Bad(field, "expected a string, got " + TypeName(value));
    }
    if (text.find('\0') != std::string::npos) return Bad(field, "contains a NUL byte");
    env.emplace_back(name, text);
  }
  std::sort(env.begin(), env.end());
  return env;
}

// A quantity in thousandths: a number of units (2, 0.5, "1.5") or milli ("500m"); `expected`
// completes the error message ("expected <expected>, got ...").
Result<double> MilliOf(const json& v, std::string_view field, const std::string& expected) {
  if (v.is_number()) return v.get<double>() * 1000;
  if (!v.is_string()) return Bad(field, "expected " + expected + ", got " + TypeName(v));
  const std::string s = v.get<std::string>();
  double x = 0;
  if (s.size() > 1 && s.back() == 'm' &&
      ParseDecimal(std::string_view(s).substr(0, s.size() - 1), &x)) {
    return x;
  }
  if (ParseDecimal(s, &x)) return x * 1000;
  return Bad(field, "expected " + expected + ", got '" + s + "'");
}

// Share compute: a fraction of one GPU (0.25) or milli ("250m"), strictly between 0 and 1.
Result<core::Milli> ParseShareCompute(const json& v, std::string_view field) {
  auto m = MilliOf(v, field, "a fraction of one GPU (0.5) or milli-GPU (\"500m\")");
  if (!m.ok()) return m.status();
  const double milli = *m;
  if (milli != std::floor(milli)) return Bad(field, "finer than one milli-GPU");
  if (milli < 1 || milli > 999) {
    return Bad(field,
               "a share is more than 0 and less than one GPU (1m..999m); ask for whole "
               "GPUs with gpus.count");
  }
  return static_cast<core::Milli>(milli);
}

Status ParseGpus(const json& v, core::GpuRequest* out) {
  const std::string_view path = "resources.gpus";
  if (v.is_number_integer() || v.is_number_unsigned()) {
    auto n = IntegerField(v, path, 0, core::kMaxDevicesPerNode);
    if (!n.ok()) return n.status();
    out->count = static_cast<int>(*n);
    out->milli_per_gpu = *n > 0 ? core::kWholeGpuMilli : 0;
    return Status();
  }
  if (!v.is_object()) {
    return Bad(path,
               "expected a number of whole GPUs or a mapping (count, model, mig, share), got " +
                   TypeName(v));
  }
  if (Status s = OnlyKnownFields(v, path, {"count", "model", "models", "mig", "share"}); !s.ok())
    return s;
  if (v.contains("model") && v.contains("models")) {
    return Bad(path, "give either model or models, not both");
  }
  if (v.contains("mig") && v.contains("share")) {
    return Bad(path,
               "a request is whole GPUs, MIG instances or a share: give mig or share, not both");
  }
  if (v.contains("model")) {
    const json& m = v["model"];
    if (!m.is_string()) return Bad(Join(path, "model"), "expected a string, got " + TypeName(m));
    auto id = core::FindGpuModel(m.get<std::string>());
    if (!id.ok()) return Bad(Join(path, "model"), id.status().message());
    out->models = core::ModelBit(*id);
  } else if (v.contains("models")) {
    const json& ms = v["models"];
    if (!ms.is_array() || ms.empty()) {
      return Bad(Join(path, "models"), "expected a non-empty list of GPU models");
    }
    for (std::size_t i = 0; i < ms.size(); ++i) {
      const std::string field = std::string(path) + ".models[" + std::to_string(i) + "]";
      if (!ms[i].is_string()) return Bad(field, "expected a string, got " + TypeName(ms[i]));
      auto id = core::FindGpuModel(ms[i].get<std::string>());
      if (!id.ok()) return Bad(field, id.status().message());
      out->models |= core::ModelBit(*id);
    }
  }
  if (v.contains("share")) {
    const json& sh = v["share"];
    const std::string spath = Join(path, "share");
    if (!sh.is_object())
      return Bad(spath, "expected a mapping (compute, memory), got " + TypeName(sh));
    if (Status s = OnlyKnownFields(sh, spath, {"compute", "memory"}); !s.ok()) return s;
    if (!sh.contains("compute")) return Bad(Join(spath, "compute"), "is required for a share");
    auto milli = ParseShareCompute(sh["compute"], Join(spath, "compute"));
    if (!milli.ok()) return milli.status();
    out->milli_per_gpu = *milli;
    if (sh.contains("memory")) {
      auto mem = ParseMemory(sh["memory"], Join(spath, "memory"));
      if (!mem.ok()) return mem.status();
      out->memory_per_gpu = *mem;
    }
    if (v.contains("count")) {
      auto n = IntegerField(v["count"], Join(path, "count"), 1, 1);
      if (!n.ok()) return Bad(Join(path, "count"), "a share is a part of one GPU: count must be 1");
    }
    out->count = 1;
    return Status();
  }
  if (v.contains("mig")) {
    const json& m = v["mig"];
    if (!m.is_string())
      return Bad(Join(path, "mig"), "expected a MIG profile name, got " + TypeName(m));
    auto profile = core::ParseMigProfileAnyFamily(m.get<std::string>());
    if (!profile.ok()) return Bad(Join(path, "mig"), profile.status().message());
    out->mig = *profile;
    out->count = 1;
    if (v.contains("count")) {
      auto n = IntegerField(v["count"], Join(path, "count"), 1, 7);
      if (!n.ok()) return n.status();
      out->count = static_cast<int>(*n);
    }
    out->milli_per_gpu = core::MigMilli(*profile);
    return Status();
  }
  if (!v.contains("count")) return Bad(Join(path, "count"), "is required for whole GPUs");
  auto n = IntegerField(v["count"], Join(path, "count"), 1, core::kMaxDevicesPerNode);
  if (!n.ok()) return n.status();
  out->count = static_cast<int>(*n);
  out->milli_per_gpu = core::kWholeGpuMilli;
  return Status();
}

Status ParseResources(const json& v, JobSpec* spec) {
  if (!v.is_object())
    return Bad("resources", "expected a mapping (cpu, memory, gpus), got " + TypeName(v));
  if (Status s = OnlyKnownFields(v, "resources", {"cpu", "memory", "gpus"}); !s.ok()) return s;
  if (v.contains("cpu")) {
    auto cpu = ParseCpu(v["cpu"], "resources.cpu");
    if (!cpu.ok()) return cpu.status();
    spec->cpu_milli = *cpu;
  }
  if (v.contains("memory")) {
    auto mem = ParseMemory(v["memory"], "resources.memory");
    if (!mem.ok()) return mem.status();
    spec->memory_mib = *mem;
  }
  if (v.contains("gpus")) return ParseGpus(v["gpus"], &spec->gpu);
  return Status();
}

// ---- YAML -> JSON --------------------------------------------------------------------------

std::string Where(std::string_view source, const yaml_mark_t& m) {
  return std::string(source) + ":" + std::to_string(m.line + 1) + ":" +
         std::to_string(m.column + 1);
}

json PlainScalar(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  // Integers: [-+]?[0-9]+, 0o..., 0x...
  std::string_view t = s;
  bool neg = false;
  if (!t.empty() && (t[0] == '-' || t[0] == '+')) {
    neg = t[0] == '-';
    t.remove_prefix(1);
  }
  auto all = [](std::string_view x, auto pred) {
    return !x.empty() && std::all_of(x.begin(), x.end(), pred);
  };
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  int base = 10;
  std::string_view digits = t;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
    base = s[1] == 'x' ? 16 : 8;
    digits = std::string_view(s).substr(2);
    neg = false;
    t = s;
  }
  const bool integer =
      base == 10 ? all(digits, digit)
      : base == 16
          ? all(digits, [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; })
          : all(digits, [](char c) { return c >= '0' && c <= '7'; });
  if (integer) {
    std::uint64_t u = 0;
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), u, base);
    if (ec == std::errc() && p == digits.data() + digits.size()) {
      if (!neg)
        return u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())
                   ? json(static_cast<std::int64_t>(u))
                   : json(u);
      if (u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) + 1) {
        return json(u == static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) + 1
                        ? std::numeric_limits<std::int64_t>::min()
                        : -static_cast<std::int64_t>(u));
      }
    }
    return s;  // too large: keep the text, the validator says it is out of range
  }
  if (s == ".inf" || s == "+.inf" || s == ".Inf" || s == "-.inf" || s == ".nan" || s == ".NaN")
    return s;
  // Floats: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
  std::size_t i = 0;
  std::string_view f = s;
  if (i < f.size() && (f[i] == '-' || f[i] == '+')) ++i;
  std::size_t int_digits = 0, frac_digits = 0;
  while (i < f.size() && digit(f[i])) ++i, ++int_digits;
  if (i < f.size() && f[i] == '.') {
    ++i;
    while (i < f.size() && digit(f[i])) ++i, ++frac_digits;
  }
  if (int_digits + frac_digits == 0) return s;
  if (i < f.size() && (f[i] == 'e' || f[i] == 'E')) {
    ++i;
    if (i < f.size() && (f[i] == '-' || f[i] == '+')) ++i;
    std::size_t exp_digits = 0;
    while (i < f.size() && digit(f[i])) ++i, ++exp_digits;
    if (exp_digits == 0) return s;
  }
  if (i != f.size()) return s;
  const double d = std::strtod(s.c_str(), nullptr);
  if (!std::isfinite(d)) return s;
  return d;
}

// Builds the JSON value from libyaml's event stream. libyaml (the C parser PyYAML uses) rather
// than yaml-cpp: Debian 12's yaml-cpp 0.7 loops forever on inputs like "  , \"4\"" (found by
// fuzz/job_spec_fuzz.cc).
class EventReader {
 public:
  EventReader(std::string_view text, std::string_view source) : source_(source) {
    yaml_parser_initialize(&parser_);
    yaml_parser_set_input_string(&parser_, reinterpret_cast<const unsigned char*>(text.data()),
                                 text.size());
  }
  ~EventReader() {
    if (has_event_) yaml_event_delete(&event_);
    yaml_parser_delete(&parser_);
  }
  EventReader(const EventReader&) = delete;
  EventReader& operator=(const EventReader&) = delete;

  Result<json> Read() {
    int documents = 0;
    json out;
    for (;;) {
      if (Status s = Next(); !s.ok()) return s;
      switch (event_.type) {
        case YAML_STREAM_START_EVENT:
          continue;
        case YAML_STREAM_END_EVENT:
          if (documents == 0) {
            return Status::InvalidArgument(std::string(source_) + ": the file is empty");
          }
          return out;
        case YAML_DOCUMENT_START_EVENT: {
          if (++documents > 1) {
            return Status::InvalidArgument(std::string(source_) +
                                           ": holds several YAML documents; submit one job per "
                                           "file");
          }
          if (Status s = Next(); !s.ok()) return s;
          if (Status s = Value(0, &out); !s.ok()) return s;
          if (Status s = Next(); !s.ok()) return s;  // the document end
          continue;
        }
        default:
          return Status::InvalidArgument(Where(source_, event_.start_mark) +
                                         ": unexpected YAML structure");
      }
    }
  }

 private:
  Status Next() {
    if (has_event_) yaml_event_delete(&event_);
    has_event_ = false;
    if (!yaml_parser_parse(&parser_, &event_)) {
      const char* problem = parser_.problem != nullptr ? parser_.problem : "syntax error";
      std::string message = Where(source_, parser_.problem_mark) + ": " + problem;
      if (parser_.context != nullptr) message += " " + std::string(parser_.context);
      return Status::InvalidArgument(message);
    }
    has_event_ = true;
    return Status();
  }

  // The value that starts at the current event (which it consumes, with its children).
  Status Value(int depth, json* out) {
    if (depth > 64)
      return Status::InvalidArgument(Where(source_, event_.start_mark) + ": nested too deeply");
    switch (event_.type) {
      case YAML_ALIAS_EVENT:
        return Status::InvalidArgument(Where(source_, event_.start_mark) +
                                       ": aliases (*name) are not supported");
      case YAML_SCALAR_EVENT: {
        const auto& sc = event_.data.scalar;
        const std::string value(reinterpret_cast<const char*>(sc.value), sc.length);
        const std::string tag = sc.tag != nullptr ? reinterpret_cast<const char*>(sc.tag) : "";
        if (tag == "tag:yaml.org,2002:str" || (tag.empty() && !sc.plain_implicit)) {
          *out = value;  // quoted, or an explicit !!str
        } else if (tag.empty()) {
          *out = PlainScalar(value);
        } else {
          return Status::InvalidArgument(Where(source_, event_.start_mark) + ": tag '" + tag +
                                         "' is not supported");
        }
        return Status();
      }
      case YAML_SEQUENCE_START_EVENT: {
        *out = json::array();
        for (;;) {
          if (Status s = Next(); !s.ok()) return s;
          if (event_.type == YAML_SEQUENCE_END_EVENT) return Status();
          json v;
          if (Status s = Value(depth + 1, &v); !s.ok()) return s;
          out->push_back(std::move(v));
        }
      }
      case YAML_MAPPING_START_EVENT: {
        *out = json::object();
        for (;;) {
          if (Status s = Next(); !s.ok()) return s;
          if (event_.type == YAML_MAPPING_END_EVENT) return Status();
          if (event_.type != YAML_SCALAR_EVENT) {
            return Status::InvalidArgument(Where(source_, event_.start_mark) +
                                           ": a mapping key must be a plain string");
          }
          const yaml_mark_t key_mark = event_.start_mark;
          const std::string key(reinterpret_cast<const char*>(event_.data.scalar.value),
                                event_.data.scalar.length);
          if (out->contains(key)) {
            return Status::InvalidArgument(Where(source_, key_mark) + ": duplicate key '" + key +
                                           "'");
          }
          if (Status s = Next(); !s.ok()) return s;
          json v;
          if (Status s = Value(depth + 1, &v); !s.ok()) return s;
          (*out)[key] = std::move(v);
        }
      }
      default:
        return Status::InvalidArgument(Where(source_, event_.start_mark) +
                                       ": unexpected YAML structure");
    }
  }

  std::string_view source_;
  yaml_parser_t parser_;
  yaml_event_t event_{};
  bool has_event_ = false;
};

}  // namespace

bool IsValidName(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(s.front()) || !alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) { return alnum(c) || c == '-'; });
}

Result<core::Milli> ParseCpu(const json& v, std::string_view field) {
  auto m = MilliOf(v, field, "cores (2, 0.5) or milli-cores (\"500m\")");
  if (!m.ok()) return m.status();
  const double milli = *m;
  if (!std::isfinite(milli) || milli != std::floor(milli)) {
    return Bad(field, "finer than one milli-core");
  }
  if (milli < 1 || milli > 1e9)
    return Bad(field, "must be more than 0 and at most 1,000,000 cores");
  return static_cast<core::Milli>(milli);
}

Result<core::MiB> ParseMemory(const json& v, std::string_view field) {
  if (v.is_number()) {
    return Bad(field, "give a unit, e.g. \"16Gi\" or \"512Mi\" (a bare number is ambiguous)");
  }
  if (!v.is_string()) return Bad(field, "expected a size like \"16Gi\", got " + TypeName(v));
  const std::string s = v.get<std::string>();
  std::size_t unit_at = 0;
  while (unit_at < s.size() &&
         (std::isdigit(static_cast<unsigned char>(s[unit_at])) || s[unit_at] == '.')) {
    ++unit_at;
  }
  double number = 0;
  if (!ParseDecimal(std::string_view(s).substr(0, unit_at), &number)) {
    return Bad(field, "expected a size like \"16Gi\" or \"512Mi\", got '" + s + "'");
  }
  const std::string unit = s.substr(unit_at);
  double bytes_per = 0;
  if (unit == "Ki")
    bytes_per = 1024.0;
  else if (unit == "Mi")
    bytes_per = 1024.0 * 1024;
  else if (unit == "Gi")
    bytes_per = 1024.0 * 1024 * 1024;
  else if (unit == "Ti")
    bytes_per = 1024.0 * 1024 * 1024 * 1024;
  else if (unit == "K")
    bytes_per = 1e3;
  else if (unit == "M")
    bytes_per = 1e6;
  else if (unit == "G")
    bytes_per = 1e9;
  else if (unit == "T")
    bytes_per = 1e12;
  else if (unit.empty()) {
    return Bad(field, "give a unit, e.g. \"16Gi\" or \"512Mi\" (a bare number is ambiguous)");
  } else {
    return Bad(field,
               "unknown unit '" + unit + "': use Ki, Mi, Gi, Ti (1024) or K, M, G, T (1000)");
  }
  const double mib = std::ceil(number * bytes_per / (1024.0 * 1024) - 1e-9);
  if (mib < 1) return Bad(field, "must be at least 1Mi");
  if (mib > 1024.0 * 1024 * 1024) return Bad(field, "more than 1024Ti is not a real machine");
  return static_cast<core::MiB>(mib);
}

Result<std::int64_t> ParseDuration(const json& v, std::string_view field) {
  if (v.is_number_integer() || v.is_number_unsigned()) {
    return IntegerField(v, field, 1, std::int64_t{100} * 365 * 86400);
  }
  if (!v.is_string())
    return Bad(field, "expected a duration like \"2h\" or \"90m\", got " + TypeName(v));
  const std::string s = v.get<std::string>();
  std::int64_t total = 0;
  std::size_t i = 0;
  if (s.empty()) return Bad(field, "is empty");
  while (i < s.size()) {
    std::int64_t n = 0;
    const std::size_t start = i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])) && n < 1'000'000'000) {
      n = n * 10 + (s[i] - '0');
      ++i;
    }
    if (i == start || i >= s.size()) {
      return Bad(field,
                 "expected a duration like \"90s\", \"30m\", \"2h\", \"1d\" or \"1h30m\", got '" +
                     s + "'");
    }
    const char unit = s[i++];
    const std::int64_t per = unit == 's'   ? 1
                             : unit == 'm' ? 60
                             : unit == 'h' ? 3600
                             : unit == 'd' ? 86400
                                           : 0;
    if (per == 0) {
      return Bad(field,
                 "unknown unit '" + std::string(1, unit) + "' in '" + s + "': use s, m, h, d");
    }
    total += n * per;
    if (total > std::int64_t{100} * 365 * 86400) return Bad(field, "longer than 100 years");
  }
  if (total < 1) return Bad(field, "must be at least 1s");
  return total;
}

Result<JobSpec> ParseJobSpec(const json& doc) {
  if (!doc.is_object()) {
    return Status::InvalidArgument(
        "job spec: expected a mapping (name, command, resources, ...), got " + TypeName(doc));
  }
  if (Status s = OnlyKnownFields(doc, "",
                                 {"name", "tenant", "priority", "command", "env", "resources",
                                  "gang", "checkpointable", "max_runtime"});
      !s.ok()) {
    return s;
  }
  JobSpec spec;
  if (!doc.contains("name")) return Bad("name", "is required");
  auto name = NameField(doc["name"], "name");
  if (!name.ok()) return name.status();
  spec.name = *name;
  if (doc.contains("tenant") && !doc["tenant"].is_null()) {
    auto tenant = NameField(doc["tenant"], "tenant");
    if (!tenant.ok()) return tenant.status();
    spec.tenant = *tenant;
  }
  if (doc.contains("priority")) {
    auto p = ParsePriority(doc["priority"]);
    if (!p.ok()) return p.status();
    spec.priority = *p;
  }
  if (!doc.contains("command")) return Bad("command", "is required");
  auto command = ParseCommand(doc["command"]);
  if (!command.ok()) return command.status();
  spec.command = std::move(*command);
  if (doc.contains("env") && !doc["env"].is_null()) {
    auto env = ParseEnv(doc["env"]);
    if (!env.ok()) return env.status();
    spec.env = std::move(*env);
  }
  if (doc.contains("resources") && !doc["resources"].is_null()) {
    if (Status s = ParseResources(doc["resources"], &spec); !s.ok()) return s;
  }
  if (doc.contains("gang")) {
    auto g = IntegerField(doc["gang"], "gang", 1, 1024);
    if (!g.ok()) return g.status();
    spec.gang_size = static_cast<int>(*g);
  }
  if (doc.contains("checkpointable")) {
    if (!doc["checkpointable"].is_boolean()) {
      return Bad("checkpointable",
                 "expected true or false, got " + TypeName(doc["checkpointable"]));
    }
    spec.checkpointable = doc["checkpointable"].get<bool>();
  }
  if (doc.contains("max_runtime") && !doc["max_runtime"].is_null()) {
    auto d = ParseDuration(doc["max_runtime"], "max_runtime");
    if (!d.ok()) return d.status();
    spec.max_runtime_s = *d;
  }
  return spec;
}

json JobSpecToJson(const JobSpec& spec) {
  json j;
  j["name"] = spec.name;
  if (!spec.tenant.empty()) j["tenant"] = spec.tenant;
  j["priority"] = core::PriorityClassName(spec.priority);
  j["command"] = spec.command;
  json env = json::object();
  for (const auto& [k, v] : spec.env) env[k] = v;
  j["env"] = env;
  json res;
  res["cpu"] = std::to_string(spec.cpu_milli) + "m";
  res["memory"] = std::to_string(spec.memory_mib) + "Mi";
  if (spec.gpu.count > 0) {
    json g;
    if (spec.gpu.mig) {
      g["mig"] = std::string(core::MigProfileName(*spec.gpu.mig, core::MigFamily::kNone));
      g["count"] = spec.gpu.count;
    } else if (spec.gpu.Kind() == core::SliceKind::kShare) {
      json share;
      share["compute"] = std::to_string(spec.gpu.milli_per_gpu) + "m";
      if (spec.gpu.memory_per_gpu > 0)
        share["memory"] = std::to_string(spec.gpu.memory_per_gpu) + "Mi";
      g["share"] = share;
    } else {
      g["count"] = spec.gpu.count;
    }
    if (spec.gpu.models != 0) {
      json models = json::array();
      for (std::size_t id = 0; id < core::GpuCatalog().size(); ++id) {
        if (spec.gpu.models & core::ModelBit(static_cast<core::GpuModelId>(id))) {
          models.push_back(std::string(core::GetGpuModel(static_cast<core::GpuModelId>(id)).name));
        }
      }
      g["models"] = models;
    }
    res["gpus"] = g;
  }
  j["resources"] = res;
  j["gang"] = spec.gang_size;
  j["checkpointable"] = spec.checkpointable;
  if (spec.max_runtime_s > 0) j["max_runtime"] = spec.max_runtime_s;
  return j;
}

Result<json> YamlToJson(std::string_view text, std::string_view source) {
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return Status::InvalidArgument(std::string(source) + ": the file is empty");
  }
  EventReader reader(text, source);
  return reader.Read();
}

Result<JobSpec> ParseJobSpecYaml(std::string_view text, std::string_view source) {
  auto doc = YamlToJson(text, source);
  if (!doc.ok()) return doc.status();
  auto spec = ParseJobSpec(*doc);
  if (!spec.ok())
    return Status::InvalidArgument(std::string(source) + ": " + spec.status().message());
  return spec;
}

}  // namespace gpool::controller
