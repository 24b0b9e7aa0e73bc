#include "ckpt/chunk_codec.h"

#include <zstd.h>

#include <cassert>

namespace gpool::ckpt {
namespace {

constexpr std::string_view kMagic = "GPCK";
constexpr char kCodecVersion = 1;
constexpr std::size_t kHeaderSize = 6;

bool ValidWidth(std::size_t w) { return w == 1 || w == 2 || w == 4 || w == 8; }

}  // namespace

std::string SplitPlanes(std::string_view bytes, std::size_t width) {
  assert(width >= 1);
  std::string out(bytes);
  const std::size_t n = bytes.size() / width;  // whole elements; the tail stays in place
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t b = 0; b < width; ++b) out[b * n + i] = bytes[i * width + b];
  }
  return out;
}

std::string JoinPlanes(std::string_view planed, std::size_t width) {
  assert(width >= 1);
  std::string out(planed);
  const std::size_t n = planed.size() / width;
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t b = 0; b < width; ++b) out[i * width + b] = planed[b * n + i];
  }
  return out;
}

Result<std::string> EncodeChunk(std::string_view original, std::size_t plane_width, int level) {
  assert(ValidWidth(plane_width));
  assert(level >= 1 && level <= ZSTD_maxCLevel());
  const std::string planed =
      plane_width == 1 ? std::string(original) : SplitPlanes(original, plane_width);
  std::string out(kHeaderSize + ZSTD_compressBound(planed.size()), '\0');
  out.replace(0, kMagic.size(), kMagic);
  out[4] = kCodecVersion;
  out[5] = static_cast<char>(plane_width);
  const std::size_t n = ZSTD_compress(out.data() + kHeaderSize, out.size() - kHeaderSize,
                                      planed.data(), planed.size(), level);
  if (ZSTD_isError(n)) return Status::Internal(std::string("zstd: ") + ZSTD_getErrorName(n));
  out.resize(kHeaderSize + n);
  return out;
}

Result<std::string> DecodeChunk(std::string_view file, std::uint64_t expected_size) {
  if (file.size() < kHeaderSize) return Status::Internal("truncated (no chunk header)");
  if (file.substr(0, kMagic.size()) != kMagic) return Status::Internal("not a gpool chunk");
  if (file[4] != kCodecVersion) {
    return Status::Internal("unknown chunk codec version " + std::to_string(int(file[4])));
  }
  const auto width = static_cast<std::size_t>(static_cast<unsigned char>(file[5]));
  if (!ValidWidth(width)) {
    return Status::Internal("bad plane width " + std::to_string(width));
  }
  const std::string_view frame = file.substr(kHeaderSize);
  const unsigned long long content = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (content == ZSTD_CONTENTSIZE_ERROR) return Status::Internal("corrupt zstd frame header");
  if (content == ZSTD_CONTENTSIZE_UNKNOWN) return Status::Internal("zstd frame without a size");
  if (content != expected_size) {
    return Status::Internal("holds " + std::to_string(content) + " bytes, the manifest says " +
                            std::to_string(expected_size));
  }
  std::string planed(expected_size, '\0');
  const std::size_t n = ZSTD_decompress(planed.data(), planed.size(), frame.data(), frame.size());
  if (ZSTD_isError(n)) {
    return Status::Internal(std::string("corrupt or truncated zstd frame: ") +
                            ZSTD_getErrorName(n));
  }
  if (n != expected_size) return Status::Internal("truncated zstd frame");
  return width == 1 ? planed : JoinPlanes(planed, width);
}

}  // namespace gpool::ckpt
