// Small text helpers shared by the trace readers: reading a whole file, and quoting a value for an
// error message. Pure apart from the file read.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace gpool::sim {

// The file's bytes. NotFound when it does not exist, Unavailable for any other failure; the
// message names the path and the system's reason.
Result<std::string> ReadWholeFile(const std::string& path);

// "value" in double quotes, cut to 60 characters with "..." (for error messages).
std::string Quoted(std::string_view value);

}  // namespace gpool::sim
