// ChunkCodec: how one chunk of tensor bytes becomes a chunk file and back. Pure functions
// (computation only: zstd and SHA-256, no file, clock or thread).
//
// A chunk file is:
//   "GPCK" (4 bytes) | codec version = 1 (1 byte) | plane width w (1 byte: 1, 2, 4 or 8) |
//   one zstd frame of the planed bytes, with its content size and its content checksum (the
//   low 32 bits of XXH64 of the planed bytes; zstd checks it as it decodes, ~10 GB/s; it does
//   not cover the header). Chunk
//   files written before 2026-11-27 have frames without the checksum: they decode the same, and
//   CarriesChecksum tells them apart (a reader then checks their SHA-256 instead).
// Planes (w > 1): the original bytes viewed as elements of w bytes are byte-transposed — every
// element's byte 0, then every element's byte 1, ... — so that for floating-point data the
// bytes holding sign and exponent (the slowly varying ones) sit together apart from the noisy
// mantissa bytes, which zstd then compresses better. A tail shorter than w stays as it is.
// w = 1 leaves the bytes as they are (integers, bools, blobs).
//
// A chunk is named by the SHA-256 of its original bytes (before planes and compression), in
// lower-case hex: identical bytes get one name whatever their dtype, and DecodeChunk needs only
// the file, since the file says its own plane width.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "core/sha256.h"
#include "core/status.h"

namespace gpool::ckpt {

using core::Sha256Hex;  // chunks are named by the SHA-256 of their original bytes

// The byte transpose described above, and its inverse. REQUIRES: width >= 1.
std::string SplitPlanes(std::string_view bytes, std::size_t width);
std::string JoinPlanes(std::string_view planed, std::size_t width);

// Encodes and decodes chunk files one after another, keeping its memory between calls: the zstd
// contexts and a buffer each for the planes and the chunk file. The store gives one to each of
// its threads, so that a 1 GiB save or load does not allocate (and page-fault in) 2 GiB of
// scratch memory 4 MiB at a time. Not thread-safe: one per thread. EncodeChunk and DecodeChunk
// below are the same work with a fresh codec.
class ChunkCodec {
 public:
  ChunkCodec();
  ~ChunkCodec();
  ChunkCodec(ChunkCodec&&) noexcept;
  ChunkCodec& operator=(ChunkCodec&&) noexcept;

  // The chunk file for `original` (as EncodeChunk), in this codec's memory: valid until the
  // next call on this codec. REQUIRES: as EncodeChunk.
  Result<std::string_view> Encode(std::string_view original, std::size_t plane_width, int level);
  // The original bytes of `file` (as DecodeChunk) written straight into `out`, which must be
  // exactly as long as the chunk says it is. On an error `out` holds unspecified bytes.
  Status DecodeInto(std::string_view file, std::span<char> out);

 private:
  struct Contexts;  // zstd's, made on first use
  std::unique_ptr<Contexts> zstd_;
  std::string planes_;  // a chunk's planes, on the way to or from zstd
  std::string file_;    // the last encoded chunk file
};

// Whether `file`'s zstd frame carries a content checksum (which DecodeChunk and
// ChunkCodec::DecodeInto check: damaged or truncated compressed data is an error). False for
// files written before checksums were added, and for anything that is not a chunk file.
// The checksum covers the frame's content, not the 6-byte header before it: DecodeInto checks
// the magic and version, but a plane width overwritten with another valid one decodes to other
// bytes without an error — see PlaneWidthOf.
bool CarriesChecksum(std::string_view file);
// The plane width byte of a chunk file's header (0 for a file too short to have one). A reader
// that skips the SHA-256 because the file carries a checksum should still hash it when the width
// is not one a writer would have used for the tensor's dtype (checkpoint_store.cc does).
std::size_t PlaneWidthOf(std::string_view file);

// The chunk file for `original`. REQUIRES: plane_width in {1, 2, 4, 8}; level in [1, 22].
// Internal only if zstd fails (out of memory).
Result<std::string> EncodeChunk(std::string_view original, std::size_t plane_width, int level);

// The original bytes back from a chunk file that must hold exactly `expected_size` of them.
// Internal with the reason ("not a gpool chunk", "truncated", "corrupt zstd frame: ...", "holds N
// bytes, the manifest says M", "content checksum mismatch: the chunk file is damaged") for any
// file that does not decode, or holds more than one zstd frame.
// Checks the content checksum if the file carries one; does not check the SHA-256 name.
Result<std::string> DecodeChunk(std::string_view file, std::uint64_t expected_size);

}  // namespace gpool::ckpt
