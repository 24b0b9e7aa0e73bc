// ChunkCodec: how one chunk of tensor bytes becomes a chunk file and back. Pure functions
// (computation only: zstd and SHA-256, no file, clock or thread).
//
// A chunk file is:
//   "GPCK" (4 bytes) | codec version = 1 (1 byte) | plane width w (1 byte: 1, 2, 4 or 8) |
//   one zstd frame (with its content size) of the planed bytes.
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
#include <string>
#include <string_view>

#include "core/sha256.h"
#include "core/status.h"

namespace gpool::ckpt {

using core::Sha256Hex;  // chunks are named by the SHA-256 of their original bytes

// The byte transpose described above, and its inverse. REQUIRES: width >= 1.
std::string SplitPlanes(std::string_view bytes, std::size_t width);
std::string JoinPlanes(std::string_view planed, std::size_t width);

// The chunk file for `original`. REQUIRES: plane_width in {1, 2, 4, 8}; level in [1, 22].
// Internal only if zstd fails (out of memory).
Result<std::string> EncodeChunk(std::string_view original, std::size_t plane_width, int level);

// The original bytes back from a chunk file that must hold exactly `expected_size` of them.
// Internal with the reason ("not a gpool chunk", "truncated", "corrupt zstd frame: ...", "holds N
// bytes, the manifest says M") for any file that does not decode. Does not check the hash.
Result<std::string> DecodeChunk(std::string_view file, std::uint64_t expected_size);

}  // namespace gpool::ckpt
