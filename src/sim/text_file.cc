#include "sim/text_file.h"

#include <array>
#include <cerrno>
#include <cstdio>
#include <system_error>

namespace gpool::sim {
namespace {

constexpr std::size_t kMaxQuotedValue = 60;  // longer values are cut in error messages

}  // namespace

Result<std::string> ReadWholeFile(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    const int err = errno;
    std::string message = "cannot open \"" + path + "\": " + std::generic_category().message(err);
    if (err == ENOENT) return Status::NotFound(std::move(message));
    return Status::Unavailable(std::move(message));
  }
  std::string text;
  std::array<char, 1 << 16> buffer;
  std::size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), file)) > 0) text.append(buffer.data(), n);
  const bool failed = std::ferror(file) != 0;
  const int err = errno;
  std::fclose(file);
  if (failed) {
    return Status::Unavailable("cannot read \"" + path +
                               "\": " + std::generic_category().message(err));
  }
  return text;
}

std::string Quoted(std::string_view value) {
  std::string out = "\"";
  if (value.size() > kMaxQuotedValue) {
    out.append(value.substr(0, kMaxQuotedValue));
    out += "...";
  } else {
    out.append(value);
  }
  out += '"';
  return out;
}

}  // namespace gpool::sim
