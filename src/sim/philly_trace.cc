#include "sim/philly_trace.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <system_error>
#include <utility>

#include "sim/text_file.h"

namespace gpool::sim {
namespace {

std::string_view TrimBlanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

template <typename Int>
bool ParseWholeInt(std::string_view text, Int* out) {
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, *out);
  return !text.empty() && ec == std::errc() && ptr == end;
}

// ---- Job traces ----------------------------------------------------------------------------

constexpr int kTraceFields = 7;
constexpr std::array<std::string_view, kTraceFields> kTraceFieldNames = {
    "job type", "command", "steps flag", "needs-data flag", "total steps", "arrival time", "GPUs"};

// Parses one non-blank trace line into *job (team left alone). Returns the error text without the
// "source:line: " prefix.
std::optional<std::string> ParseTraceLine(std::string_view line, PhillyJob* job) {
  std::array<std::string_view, kTraceFields> fields;
  int count = 0;
  std::size_t start = 0;
  while (true) {
    const std::size_t tab = line.find('\t', start);
    const std::string_view field =
        line.substr(start, tab == std::string_view::npos ? std::string_view::npos : tab - start);
    if (count < kTraceFields) fields[static_cast<std::size_t>(count)] = field;
    ++count;
    if (tab == std::string_view::npos) break;
    start = tab + 1;
  }
  if (count != kTraceFields) {
    return "expected " + std::to_string(kTraceFields) + " tab-separated fields, got " +
           std::to_string(count);
  }
  auto field_error = [](int index, std::string_view message) {
    return "field " + std::to_string(index + 1) + " (" +
           std::string(kTraceFieldNames[static_cast<std::size_t>(index)]) +
           "): " + std::string(message);
  };
  if (fields[0].empty()) return field_error(0, "must not be empty");
  job->job_type = std::string(fields[0]);
  job->command = std::string(fields[1]);
  job->steps_flag = std::string(fields[2]);
  if (fields[3] == "0") {
    job->needs_data = false;
  } else if (fields[3] == "1") {
    job->needs_data = true;
  } else {
    return field_error(3, "expected 0 or 1, got " + Quoted(fields[3]));
  }
  if (!ParseWholeInt(fields[4], &job->total_steps) || job->total_steps < 0) {
    return field_error(4, "expected a non-negative integer, got " + Quoted(fields[4]));
  }
  {
    const char* end = fields[5].data() + fields[5].size();
    const auto [ptr, ec] = std::from_chars(fields[5].data(), end, job->arrival_s);
    if (fields[5].empty() || ec != std::errc() || ptr != end || !std::isfinite(job->arrival_s) ||
        job->arrival_s < 0) {
      return field_error(5, "expected a non-negative number of seconds, got " + Quoted(fields[5]));
    }
  }
  if (!ParseWholeInt(fields[6], &job->gpus) || job->gpus < 1) {
    return field_error(6, "expected an integer >= 1, got " + Quoted(fields[6]));
  }
  return std::nullopt;
}

// ---- Throughput table ----------------------------------------------------------------------

std::string Unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size() &&
        (s[i + 1] == '\\' || s[i + 1] == '\'' || s[i + 1] == '"')) {
      ++i;
    }
    out += s[i];
  }
  return out;
}

std::string KeyPath(std::string_view source, std::initializer_list<std::string_view> keys) {
  std::string out(source);
  out += ':';
  bool first = true;
  for (std::string_view key : keys) {
    out += first ? " " : " / ";
    out.append(key);
    first = false;
  }
  return out;
}

std::string UnknownGpuType(std::string_view gpu_type, const std::vector<std::string>& known) {
  std::string out = "unknown GPU type " + Quoted(gpu_type) + " (known:";
  for (const std::string& g : known) out += " " + g;
  out += ")";
  return out;
}

}  // namespace

Result<std::vector<PhillyJob>> ParsePhillyTrace(std::string_view text, std::string_view team,
                                                std::string_view source_name) {
  std::vector<PhillyJob> jobs;
  jobs.reserve(static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1);
  int line_number = 0;
  while (!text.empty()) {
    const std::size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
    ++line_number;
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (TrimBlanks(line).empty()) continue;
    PhillyJob job;
    job.team = std::string(team);
    if (std::optional<std::string> error = ParseTraceLine(line, &job)) {
      return Status::InvalidArgument(std::string(source_name) + ":" + std::to_string(line_number) +
                                     ": " + *error);
    }
    jobs.push_back(std::move(job));
  }
  return jobs;
}

Result<std::vector<PhillyJob>> ReadPhillyDir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  auto io_error = [&dir](const std::error_code& code) -> Status {
    std::string message = "cannot list directory \"" + dir + "\": " + code.message();
    if (code == std::errc::no_such_file_or_directory) return Status::NotFound(std::move(message));
    return Status::Unavailable(std::move(message));
  };
  if (ec) return io_error(ec);
  std::vector<fs::path> files;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) return io_error(ec);
    const fs::path& path = it->path();
    if (path.extension() != ".trace") continue;
    if (!it->is_regular_file(ec) || ec) continue;
    files.push_back(path);
  }
  if (ec) return io_error(ec);
  if (files.empty()) return Status::NotFound("no *.trace file in directory \"" + dir + "\"");
  std::sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) {
    return a.filename().string() < b.filename().string();
  });

  std::vector<PhillyJob> all;
  for (const fs::path& path : files) {
    Result<std::string> text = ReadWholeFile(path.string());
    if (!text.ok()) return text.status();
    Result<std::vector<PhillyJob>> jobs =
        ParsePhillyTrace(*text, path.stem().string(), path.string());
    if (!jobs.ok()) return jobs.status();
    all.insert(all.end(), std::make_move_iterator(jobs->begin()),
               std::make_move_iterator(jobs->end()));
  }
  return all;
}

Result<JobKey> ParseJobKey(std::string_view text) {
  auto bad = [text](std::string_view why) {
    return Status::InvalidArgument("bad job key " + Quoted(text) + ": " + std::string(why) +
                                   " (expected \"('Job type', scale)\")");
  };
  std::string_view s = TrimBlanks(text);
  if (s.size() < 2 || s.front() != '(' || s.back() != ')') return bad("not in parentheses");
  s = s.substr(1, s.size() - 2);
  const std::size_t comma = s.rfind(',');
  if (comma == std::string_view::npos) return bad("no comma before the scale");
  JobKey key;
  if (!ParseWholeInt(TrimBlanks(s.substr(comma + 1)), &key.scale) || key.scale < 1) {
    return bad("the scale is not an integer >= 1");
  }
  std::string_view name = TrimBlanks(s.substr(0, comma));
  if (name.size() < 2 || (name.front() != '\'' && name.front() != '"') ||
      name.back() != name.front()) {
    return bad("the job type is not a quoted string");
  }
  key.job_type = Unescape(name.substr(1, name.size() - 2));
  if (key.job_type.empty()) return bad("empty job type");
  return key;
}

std::string FormatJobKey(const JobKey& key) {
  return "('" + key.job_type + "', " + std::to_string(key.scale) + ")";
}

Result<ThroughputTable> ThroughputTable::Parse(std::string_view json_text,
                                               std::string_view source_name) {
  using nlohmann::json;
  json root;
  try {
    root = json::parse(json_text.begin(), json_text.end());
  } catch (const json::parse_error& e) {
    return Status::InvalidArgument(std::string(source_name) + ": malformed JSON at byte " +
                                   std::to_string(e.byte) + ": " + e.what());
  }
  auto shape_error = [source_name](std::initializer_list<std::string_view> keys,
                                   std::string_view expected, const json& got) {
    return Status::InvalidArgument(KeyPath(source_name, keys) + ": expected " +
                                   std::string(expected) + ", got " + got.type_name());
  };
  auto speed_error = [source_name](std::initializer_list<std::string_view> keys, const json& got) {
    return Status::InvalidArgument(KeyPath(source_name, keys) +
                                   ": expected a non-negative speed, got " + got.dump());
  };
  if (!root.is_object()) return shape_error({"top level"}, "an object of GPU types", root);

  ThroughputTable table;
  for (const auto& [gpu_type, jobs] : root.items()) {
    if (!jobs.is_object()) return shape_error({gpu_type}, "an object of job keys", jobs);
    GpuEntry& gpu_entry = table.gpus_[gpu_type];
    for (const auto& [job_text, entries] : jobs.items()) {
      Result<JobKey> job = ParseJobKey(job_text);
      if (!job.ok()) {
        return Status::InvalidArgument(KeyPath(source_name, {gpu_type}) + ": " +
                                       job.status().message());
      }
      if (!entries.is_object()) {
        return shape_error({gpu_type, job_text}, "an object of speeds", entries);
      }
      JobEntry& job_entry = gpu_entry[*std::move(job)];
      for (const auto& [other_text, speed] : entries.items()) {
        if (other_text == "null") {
          if (!speed.is_number()) {
            return shape_error({gpu_type, job_text, other_text}, "a number", speed);
          }
          const double alone = speed.get<double>();
          if (!(alone >= 0)) return speed_error({gpu_type, job_text, other_text}, speed);
          job_entry.alone = alone;
          continue;
        }
        Result<JobKey> other = ParseJobKey(other_text);
        if (!other.ok()) {
          return Status::InvalidArgument(KeyPath(source_name, {gpu_type, job_text}) + ": " +
                                         other.status().message());
        }
        if (!speed.is_array() || speed.size() != 2 || !speed[0].is_number() ||
            !speed[1].is_number()) {
          return shape_error({gpu_type, job_text, other_text}, "an array of 2 numbers", speed);
        }
        const ColocatedSpeed pair{speed[0].get<double>(), speed[1].get<double>()};
        if (!(pair.own >= 0)) return speed_error({gpu_type, job_text, other_text}, speed[0]);
        if (!(pair.other >= 0)) return speed_error({gpu_type, job_text, other_text}, speed[1]);
        job_entry.pairs[*std::move(other)] = pair;
      }
    }
  }
  return table;
}

Result<ThroughputTable> ThroughputTable::Read(const std::string& path) {
  Result<std::string> text = ReadWholeFile(path);
  if (!text.ok()) return text.status();
  return Parse(*text, path);
}

Result<double> ThroughputTable::Alone(std::string_view gpu_type, const JobKey& job) const {
  const auto gpu = gpus_.find(gpu_type);
  if (gpu == gpus_.end()) return Status::NotFound(UnknownGpuType(gpu_type, GpuTypes()));
  const auto entry = gpu->second.find(job);
  if (entry == gpu->second.end() || !entry->second.alone.has_value()) {
    return Status::NotFound("no throughput for " + FormatJobKey(job) + " alone on " +
                            std::string(gpu_type));
  }
  return *entry->second.alone;
}

Result<ColocatedSpeed> ThroughputTable::Colocated(std::string_view gpu_type, const JobKey& a,
                                                  const JobKey& b) const {
  const auto gpu = gpus_.find(gpu_type);
  if (gpu == gpus_.end()) return Status::NotFound(UnknownGpuType(gpu_type, GpuTypes()));
  if (const auto entry = gpu->second.find(a); entry != gpu->second.end()) {
    if (const auto pair = entry->second.pairs.find(b); pair != entry->second.pairs.end()) {
      return pair->second;
    }
  }
  if (const auto entry = gpu->second.find(b); entry != gpu->second.end()) {
    if (const auto pair = entry->second.pairs.find(a); pair != entry->second.pairs.end()) {
      return ColocatedSpeed{pair->second.other, pair->second.own};
    }
  }
  return Status::NotFound("no co-located throughput for " + FormatJobKey(a) + " with " +
                          FormatJobKey(b) + " on " + std::string(gpu_type));
}

std::vector<std::string> ThroughputTable::GpuTypes() const {
  std::vector<std::string> out;
  out.reserve(gpus_.size());
  for (const auto& [name, entry] : gpus_) out.push_back(name);
  return out;
}

std::vector<JobKey> ThroughputTable::Jobs(std::string_view gpu_type) const {
  std::vector<JobKey> out;
  const auto gpu = gpus_.find(gpu_type);
  if (gpu == gpus_.end()) return out;
  out.reserve(gpu->second.size());
  for (const auto& [key, entry] : gpu->second) out.push_back(key);
  return out;
}

}  // namespace gpool::sim
