// Safetensors: a checkpoint to and from the safetensors format, so that a checkpoint can leave
// gpool for any framework (PyTorch, JAX, transformers) and a file from anywhere can start a store.
//
// The format (https://github.com/huggingface/safetensors):
//   8 bytes   N, the header length, an unsigned 64-bit little-endian integer
//   N bytes   the header, UTF-8 JSON: {"<tensor>": {"dtype": "F32", "shape": [2, 3],
//             "data_offsets": [begin, end]}, ..., "__metadata__": {"<key>": "<string>"}}
//             gpool pads it with spaces to a multiple of 8, as the reference writer does
//   the rest  the data buffer; offsets are relative to its start; the tensors cover it exactly,
//             back to back, with no gap, overlap or trailing byte (as the reference requires)
//
// DTypes: F32 F16 BF16 F64 I8 I16 I32 I64 U8 BOOL map to the ckpt DType of the same name; any
// other (F8_E4M3, U16, C64, ...) is refused on import. A kBlob tensor is written as U8 of shape
// [len] and marked in the metadata so that import gives it back as a blob.
//
// Metadata mapping (`__metadata__`, every value a string), lossless both ways:
//   gpool.step, gpool.epoch        CheckpointMetadata step and epoch, decimal; always written
//   gpool.loader_position          loader_position, written when non-empty
//   gpool.blob.<tensor>            marks <tensor> as a kBlob; the value is its gpool shape as a
//                                  JSON array (conventionally "[]")
//   <k> (not starting "gpool.")    extra[<k>], verbatim both ways, so keys other writers rely on
//                                  ("format": "pt") survive a trip through gpool unchanged
//   gpool.extra.<k>                extra[<k>]; export uses it for extra keys starting "gpool."
// On import a missing gpool.step or gpool.epoch is 0, every foreign key lands in extra, and an
// unknown "gpool.*" key (from a later gpool) is kept in extra verbatim.
//
// Tensor order: export writes the tensors' data in checkpoint order; import orders tensors by
// their data offsets (ties, which only empty tensors can have, by their order in the header), so
// export then import gives back an equal Checkpoint (operator==), bit for bit.
//
// Import validates everything and never throws: every malformed input is InvalidArgument with a
// message naming what is wrong (the tensor, the key, the offsets, the sizes).
//
// The pure core (no I/O) comes first: header encoding and parsing, and export into a ByteSink.
// The file functions at the end are the only code here that touches the filesystem.
//
// Memory: export streams — it writes the header, then each tensor's bytes from the Checkpoint
// the caller holds, with no second copy of the data. Import holds the whole checkpoint in
// memory (a Checkpoint owns its bytes), but reads and validates the header first, against the
// file's size, before reading any tensor data.
//
// Thread safety: free functions over values; safe to call from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "ckpt/checkpoint.h"
#include "core/status.h"

namespace gpool::ckpt {

// The largest header import accepts, like the reference implementation.
inline constexpr std::uint64_t kSafetensorsMaxHeaderSize = 100'000'000;

// "F32", "BF16", ... for a DType; a kBlob is "U8".
const char* SafetensorsDTypeName(DType dtype);

// One tensor of a parsed header.
struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::kU8;  // kBlob when the metadata marks the tensor as a gpool blob
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0;  // its bytes: [begin, end) of the data buffer
  std::uint64_t end = 0;
};

// What a header says, validated against the size of the data buffer that follows it.
struct SafetensorsLayout {
  std::vector<SafetensorsEntry> tensors;  // by data offset: the buffer front to back
  CheckpointMetadata metadata;
};

// ---- Import (pure) ----

// From the file's first 8 bytes (fewer if the file is shorter) and its size: the header length
// N. InvalidArgument if the file is shorter than 8 bytes, N exceeds kSafetensorsMaxHeaderSize or
// 8 + N runs past the end of the file.
Result<std::uint64_t> ParseSafetensorsHeaderSize(std::string_view first_bytes,
                                                 std::uint64_t file_size);

// Parses and validates the N header bytes; `data_size` is the size of the buffer after the
// header (file size - 8 - N). InvalidArgument when the header is not a JSON object, an entry
// lacks or mistypes a field, a dtype is not supported, shape x dtype size differs from the
// offsets, offsets run past the buffer (a truncated file), overlap, leave a gap or leave bytes
// after the last tensor, a name appears twice, or a gpool metadata key has a bad value.
Result<SafetensorsLayout> ParseSafetensorsHeader(std::string_view header, std::uint64_t data_size);

// A whole safetensors file held in memory to a Checkpoint. Errors as the two functions above.
Result<Checkpoint> DecodeSafetensors(std::string_view file);

// ---- Export (pure) ----

// The 8-byte length and the JSON header (padded with spaces to a multiple of 8) for
// `checkpoint`; the tensors' bytes follow it in checkpoint order. InvalidArgument if the
// checkpoint fails ValidateCheckpoint, a tensor is called "__metadata__", or a name or metadata
// string is not valid UTF-8 (a JSON header cannot hold it).
Result<std::string> EncodeSafetensorsHeader(const Checkpoint& checkpoint);

// Where export writes its bytes, in order; a non-ok Status stops the export and is returned.
using ByteSink = std::function<Status(std::string_view bytes)>;

struct ExportProgress {
  std::size_t tensors_done = 0;
  std::size_t tensors_total = 0;
  std::uint64_t bytes_done = 0;  // of tensor data
  std::uint64_t bytes_total = 0;
};
// Called after the header and after each piece of at most 64 MiB of tensor data.
using ExportProgressFn = std::function<void(const ExportProgress&)>;

// Writes `checkpoint` as safetensors into `sink`: the header, then each tensor's bytes (large
// tensors in pieces). Errors: those of EncodeSafetensorsHeader, or the first the sink returns.
Status ExportSafetensors(const Checkpoint& checkpoint, const ByteSink& sink,
                         const ExportProgressFn& progress = {});

// The whole file in memory (small checkpoints, tests).
Result<std::string> EncodeSafetensors(const Checkpoint& checkpoint);

// ---- Files: the only functions here that touch the filesystem ----

// Writes `checkpoint` to `path` atomically: into a fresh temp file beside it
// (".<file name>.tmp-<pid>-<n>"), fsynced, renamed over `path`, the folder fsynced; so `path`
// is either absent, its old content, or the complete new file — never half a file (a crash
// can leave the temp file). Returns the file's size. Unavailable (naming the path and errno)
// when the filesystem fails; the temp file is removed then.
Result<std::uint64_t> WriteSafetensorsFile(const Checkpoint& checkpoint, const std::string& path,
                                           const ExportProgressFn& progress = {});

// Reads the safetensors file at `path`: its size, the header (validated as above), then each
// tensor's bytes. NotFound if there is no such file; InvalidArgument (the message starts with
// the path) for a malformed file or one that is not a regular file; Unavailable when reading
// fails.
Result<Checkpoint> ReadSafetensorsFile(const std::string& path);

}  // namespace gpool::ckpt
