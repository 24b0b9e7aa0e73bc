// SHA-256 of a byte string, as 64 lowercase hex digits. Pure (OpenSSL's EVP digest, no I/O);
// thread-safe. Used for API tokens (only their hashes are stored) and checkpoint chunk names.
#pragma once

#include <string>
#include <string_view>

namespace gpool::core {

std::string Sha256Hex(std::string_view bytes);

}  // namespace gpool::core
