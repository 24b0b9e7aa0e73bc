#include "ckpt/buffer_memory.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdint>

namespace gpool::ckpt {

void ResizeForOverwrite(std::string& bytes, std::size_t size) {
  if (bytes.capacity() < size) {
    const std::size_t old_capacity = bytes.capacity();
    std::string().swap(bytes);  // freed, not copied
    bytes.reserve(std::max(size, 2 * old_capacity));
    // The whole pages inside [data, data + size); a hint: on failure they fault in as written.
    constexpr std::uintptr_t kPage = 4096;
    const auto begin = reinterpret_cast<std::uintptr_t>(bytes.data());
    const std::uintptr_t first = (begin + kPage - 1) & ~(kPage - 1);
    const std::uintptr_t last = (begin + size) & ~(kPage - 1);
#ifdef MADV_POPULATE_WRITE  // glibc >= 2.35 names it; else the pages fault in as written
    if (last > first) {
      (void)::madvise(reinterpret_cast<void*>(first), last - first, MADV_POPULATE_WRITE);
    }
#else
    (void)first;
    (void)last;
#endif
  }
  bytes.resize(size);
}

}  // namespace gpool::ckpt
