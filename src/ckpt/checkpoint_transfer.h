// Checkpoint transfer: moves one checkpoint between two stores — `gpool ckpt push` and `pull`
// — sending only the chunks the destination lacks.
//
// Transfer(source, name, destination) does, in this order:
//   1. reads the manifest at the source ("latest" resolves to the checkpoint it names);
//   2. asks the destination which of its distinct chunks it lacks, options.batch_size hashes
//      per question;
//   3. copies each missing chunk file as stored (compressed: no re-encoding), up to
//      options.parallel at once; the destination decodes and hashes every chunk before it
//      writes it, durably (CheckpointRemote::PutChunkFile), and refuses a damaged one;
//   4. publishes the manifest at the destination, which checks every chunk is there, and
//      points its `latest` at it as options.set_latest says.
// So a transfer cut at any point (a lost connection, a killed process, a refused chunk) leaves
// the destination's checkpoints and `latest` as they were, plus some complete chunks; running
// it again sends only the chunks still missing (resume). A manifest of the same name at the
// destination is replaced, as a second save of that name would.
//
// Errors: NotFound only when the source has no such checkpoint (or no `latest`); InvalidArgument
// for bad options or a bad name. A failure while moving chunks names the checkpoint, tensor,
// chunk index and hash with the store's own message (which names the path or URL and HTTP
// status); its code is the store's (Unavailable: retry) except that a chunk the source lost
// mid-way is Internal. The destination's errors on publish are returned as they are (Conflict
// when a chunk vanished there, e.g. a concurrent gc).
//
// Thread safety: Transfer calls the remotes from up to options.parallel threads at once and the
// progress callback from one thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "ckpt/checkpoint_remote.h"
#include "ckpt/checkpoint_store.h"
#include "core/status.h"

namespace gpool::ckpt {

struct TransferReport {
  std::string name;                  // the checkpoint moved ("latest" resolved)
  std::uint64_t chunks_total = 0;    // distinct chunks the manifest references
  std::uint64_t chunks_sent = 0;     // chunk files copied to the destination
  std::uint64_t bytes_sent = 0;      // their bytes, compressed as stored
  std::uint64_t chunks_skipped = 0;  // already at the destination (sent + skipped = total)
  bool made_latest = false;          // the destination's `latest` now names it
  bool operator==(const TransferReport&) const = default;
};

enum class SetLatest {
  kYes,     // point the destination's `latest` at the checkpoint (push's default)
  kNo,      // leave it
  kIfNone,  // only if the destination has no `latest` yet (pull's default)
};

struct TransferOptions {
  SetLatest set_latest = SetLatest::kYes;
  std::size_t batch_size = 1000;  // hashes per question; 1..kMaxHashesPerQuery
  int parallel = 1;               // chunk copies in flight; 1..16
};

// Called after each chunk copied and after each batch's answer, with the counts so far.
using TransferProgress = std::function<void(const TransferReport&)>;

Result<TransferReport> Transfer(CheckpointRemote& source, std::string_view name,
                                CheckpointRemote& destination, const TransferOptions& options,
                                const TransferProgress& progress = {});

// Transfer from a local store to `remote`, and back.
Result<TransferReport> Push(CheckpointStore& local, std::string_view name, CheckpointRemote& remote,
                            const TransferOptions& options, const TransferProgress& progress = {});
Result<TransferReport> Pull(CheckpointRemote& remote, std::string_view name, CheckpointStore& local,
                            const TransferOptions& options, const TransferProgress& progress = {});

}  // namespace gpool::ckpt
