#include "sim/openb_trace.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <limits>
#include <span>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "sim/text_file.h"

// Returns the Status of expr from the enclosing function when it is not ok. Local to this file.
#define GPOOL_RETURN_IF_ERROR(expr)     \
  do {                                  \
    if (Status s_ = (expr); !s_.ok()) { \
      return s_;                        \
    }                                   \
  } while (false)

namespace gpool::sim {
namespace {

constexpr std::int64_t kMaxGpusPerEntry = 64;
constexpr std::int64_t kNoLimit = std::numeric_limits<std::int64_t>::max();

std::string_view TrimBlanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

void SplitFields(std::string_view line, std::vector<std::string_view>* fields) {
  fields->clear();
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = line.find(',', start);
    if (comma == std::string_view::npos) {
      fields->push_back(line.substr(start));
      return;
    }
    fields->push_back(line.substr(start, comma - start));
    start = comma + 1;
  }
}

struct WantedColumn {
  std::string_view name;
  bool required;
};

// Walks the rows of a header-first CSV text and hands out the wanted columns of each row by their
// position in the `wanted` list. Holds views into the text: the text must outlive it.
class CsvRows {
 public:
  CsvRows(std::string_view text, std::string_view source, std::span<const WantedColumn> wanted)
      : rest_(text), source_(source), wanted_(wanted), wanted_index_(wanted.size(), -1) {
    constexpr std::string_view kBom = "\xEF\xBB\xBF";
    if (rest_.starts_with(kBom)) rest_.remove_prefix(kBom.size());
  }

  // Reads the header line and locates each wanted column.
  Status ReadHeader() {
    std::string_view line;
    if (!NextNonBlankLine(&line)) {
      return Status::InvalidArgument(std::string(source_) + ":1: empty file, expected a header");
    }
    SplitFields(line, &header_);
    for (std::string_view& name : header_) name = TrimBlanks(name);
    for (std::size_t w = 0; w < wanted_.size(); ++w) {
      for (std::size_t c = 0; c < header_.size(); ++c) {
        if (header_[c] != wanted_[w].name) continue;
        if (wanted_index_[w] >= 0) {
          return Status::InvalidArgument(Where(c) + ": duplicate column " +
                                         Quoted(wanted_[w].name) + " (also column " +
                                         std::to_string(wanted_index_[w] + 1) + ")");
        }
        wanted_index_[w] = static_cast<int>(c);
      }
      if (wanted_index_[w] < 0 && wanted_[w].required) {
        return Status::InvalidArgument(std::string(source_) + ":" + std::to_string(line_number_) +
                                       ": missing required column " + Quoted(wanted_[w].name) +
                                       " in header " + Quoted(line));
      }
    }
    return Status::Ok();
  }

  // Moves to the next data row. Returns false at the end of the text, or with *status set when the
  // row does not have as many fields as the header.
  bool Next(Status* status) {
    std::string_view line;
    if (!NextNonBlankLine(&line)) return false;
    SplitFields(line, &fields_);
    if (fields_.size() < header_.size()) {
      *status = Status::InvalidArgument(Where(fields_.size()) + ": missing field (row has " +
                                        std::to_string(fields_.size()) + " fields, header has " +
                                        std::to_string(header_.size()) + ")");
      return false;
    }
    if (fields_.size() > header_.size()) {
      *status = Status::InvalidArgument(Where(header_.size()) + ": extra field (row has " +
                                        std::to_string(fields_.size()) + " fields, header has " +
                                        std::to_string(header_.size()) + ")");
      return false;
    }
    return true;
  }

  bool Has(std::size_t w) const { return wanted_index_[w] >= 0; }
  // The field of wanted column w in the current row; "" for an absent optional column.
  std::string_view Field(std::size_t w) const {
    return Has(w) ? fields_[static_cast<std::size_t>(wanted_index_[w])] : std::string_view();
  }
  int line_number() const { return line_number_; }

  Status FieldError(std::size_t w, std::string_view message) const {
    return Status::InvalidArgument(Where(static_cast<std::size_t>(wanted_index_[w])) + ": " +
                                   std::string(message));
  }

  Status NonNegativeInt(std::size_t w, std::int64_t max, std::int64_t* out) const {
    const std::string_view text = Field(w);
    std::int64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < 0) {
      return FieldError(w, "expected a non-negative integer, got " + Quoted(text));
    }
    if (value > max) {
      return FieldError(w, "expected at most " + std::to_string(max) + ", got " + Quoted(text));
    }
    *out = value;
    return Status::Ok();
  }

  Status NonEmpty(std::size_t w) const {
    if (Field(w).empty()) return FieldError(w, "must not be empty");
    return Status::Ok();
  }

 private:
  // "source:line:column (name)" for the 1-based column c + 1 of the current line.
  std::string Where(std::size_t c) const {
    std::string out =
        std::string(source_) + ":" + std::to_string(line_number_) + ":" + std::to_string(c + 1);
    if (c < header_.size()) {
      out += " (";
      out.append(header_[c]);
      out += ')';
    }
    return out;
  }

  bool NextNonBlankLine(std::string_view* line) {
    while (!rest_.empty()) {
      const std::size_t newline = rest_.find('\n');
      std::string_view current = rest_.substr(0, newline);
      rest_ = newline == std::string_view::npos ? std::string_view() : rest_.substr(newline + 1);
      ++line_number_;
      if (current.ends_with('\r')) current.remove_suffix(1);
      if (TrimBlanks(current).empty()) continue;
      *line = current;
      return true;
    }
    return false;
  }

  std::string_view rest_;
  std::string_view source_;
  std::span<const WantedColumn> wanted_;
  std::vector<int> wanted_index_;  // header column of each wanted column, -1 if absent
  std::vector<std::string_view> header_;
  std::vector<std::string_view> fields_;
  int line_number_ = 0;
};

std::size_t CountLines(std::string_view text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
}

}  // namespace

std::string NormalizeGpuSpec(std::string_view raw) {
  if (raw == "NaN" || raw == "nan" || raw == "NAN") return "";
  std::string out;
  out.reserve(raw.size());
  std::size_t start = 0;
  while (start <= raw.size()) {
    std::size_t bar = raw.find('|', start);
    if (bar == std::string_view::npos) bar = raw.size();
    if (bar > start) {
      if (!out.empty()) out += '|';
      out.append(raw.substr(start, bar - start));
    }
    start = bar + 1;
  }
  return out;
}

Result<std::vector<OpenbNode>> ParseOpenbNodes(std::string_view csv_text,
                                               std::string_view source_name) {
  enum Column : std::size_t { kSn, kCpu, kMemory, kGpu, kModel };
  static constexpr WantedColumn kWanted[] = {
      {"sn", true}, {"cpu_milli", true}, {"memory_mib", true}, {"gpu", true}, {"model", true}};
  CsvRows rows(csv_text, source_name, kWanted);
  GPOOL_RETURN_IF_ERROR(rows.ReadHeader());

  std::vector<OpenbNode> nodes;
  nodes.reserve(CountLines(csv_text));
  std::unordered_map<std::string_view, int> first_line_of_sn;
  first_line_of_sn.reserve(CountLines(csv_text));
  Status status;
  while (rows.Next(&status)) {
    OpenbNode node;
    GPOOL_RETURN_IF_ERROR(rows.NonEmpty(kSn));
    const auto [it, inserted] = first_line_of_sn.emplace(rows.Field(kSn), rows.line_number());
    if (!inserted) {
      return rows.FieldError(kSn, "duplicate node " + Quoted(rows.Field(kSn)) + " (first on line " +
                                      std::to_string(it->second) + ")");
    }
    node.sn = std::string(rows.Field(kSn));
    GPOOL_RETURN_IF_ERROR(rows.NonNegativeInt(kCpu, kNoLimit, &node.cpu_milli));
    GPOOL_RETURN_IF_ERROR(rows.NonNegativeInt(kMemory, kNoLimit, &node.memory_mib));
    std::int64_t gpus = 0;
    GPOOL_RETURN_IF_ERROR(rows.NonNegativeInt(kGpu, kMaxGpusPerEntry, &gpus));
    node.gpus = static_cast<int>(gpus);
    node.model = std::string(rows.Field(kModel));
    nodes.push_back(std::move(node));
  }
  if (!status.ok()) return status;
  return nodes;
}

Result<std::vector<OpenbPod>> ParseOpenbPods(std::string_view csv_text,
                                             std::string_view source_name) {
  enum Column : std::size_t { kName, kCpu, kMemory, kNumGpu, kGpuMilli, kGpuSpec };
  static constexpr WantedColumn kWanted[] = {{"name", true},       {"cpu_milli", true},
                                             {"memory_mib", true}, {"num_gpu", true},
                                             {"gpu_milli", true},  {"gpu_spec", false}};
  CsvRows rows(csv_text, source_name, kWanted);
  GPOOL_RETURN_IF_ERROR(rows.ReadHeader());

  std::vector<OpenbPod> pods;
  pods.reserve(CountLines(csv_text));
  Status status;
  while (rows.Next(&status)) {
    OpenbPod pod;
    GPOOL_RETURN_IF_ERROR(rows.NonEmpty(kName));
    pod.name = std::string(rows.Field(kName));
    GPOOL_RETURN_IF_ERROR(rows.NonNegativeInt(kCpu, kNoLimit, &pod.cpu_milli));
    GPOOL_RETURN_IF_ERROR(rows.NonNegativeInt(kMemory, kNoLimit, &pod.memory_mib));
    std::int64_t num_gpu = 0;
    GPOOL_RETURN_IF_ERROR(rows.NonNegativeInt(kNumGpu, kMaxGpusPerEntry, &num_gpu));
    pod.num_gpu = static_cast<int>(num_gpu);
    GPOOL_RETURN_IF_ERROR(rows.NonNegativeInt(kGpuMilli, kNoLimit, &pod.gpu_milli));
    pod.gpu_spec = NormalizeGpuSpec(rows.Field(kGpuSpec));
    pods.push_back(std::move(pod));
  }
  if (!status.ok()) return status;
  return pods;
}

Result<std::vector<OpenbNode>> ReadOpenbNodes(const std::string& path) {
  Result<std::string> text = ReadWholeFile(path);
  if (!text.ok()) return text.status();
  return ParseOpenbNodes(*text, path);
}

Result<std::vector<OpenbPod>> ReadOpenbPods(const std::string& path) {
  Result<std::string> text = ReadWholeFile(path);
  if (!text.ok()) return text.status();
  return ParseOpenbPods(*text, path);
}

}  // namespace gpool::sim

#undef GPOOL_RETURN_IF_ERROR
