// Memory for large buffers that are about to be overwritten whole: the tensors a load fills, and
// the per-thread chunk buffers of the store's loops.
//
// A fresh buffer's pages are faulted in by one madvise(MADV_POPULATE_WRITE) call (Linux 5.14+)
// instead of one trap per 4 KiB page as the first write reaches it: on the 2-core VM of
// docs/benchmarks.md §7, filling 1 GiB of fresh memory took 0.33-0.44 s so against 0.55-0.65 s,
// and those faults were the largest CPU cost of a checkpoint load. Older kernels refuse the call
// and the pages fault in as before. No value or size changes. (std::string::resize still writes
// zeros over the whole buffer before the caller's bytes: C++20 has no way to size a string
// without initialising it; resize_and_overwrite is C++23.)
//
// Transparent huge pages are not requested: on that VM (which hands freed memory back to its
// host) huge pages filled 1 GiB in 0.16 s when the memory had just been freed, but in 1.2-2.6 s
// when the host had taken it back — the common case for a job started to resume a checkpoint.
// Where THP is "always", the kernel uses them anyway.
#pragma once

#include <cstddef>
#include <string>

namespace gpool::ckpt {

// Makes `bytes` `size` bytes long for the caller to overwrite; what it held before is not kept
// (no copy). If that takes a new allocation, the old one is freed first, the new one is at
// least twice the old capacity (a buffer reused for growing sizes is not reallocated for each),
// and its pages are faulted in at once. Thread-safe for distinct strings.
void ResizeForOverwrite(std::string& bytes, std::size_t size);

}  // namespace gpool::ckpt
