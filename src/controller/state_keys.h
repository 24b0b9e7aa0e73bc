// The store's key layout for the pool's state (the records themselves are described in api.h).
// One place, so the API, the reconciler and later the agents' watches agree on it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace gpool::controller {

inline constexpr std::string_view kAdminKey = "/gpool/meta/admin";
inline constexpr std::string_view kTokensPrefix = "/gpool/tokens/";
inline constexpr std::string_view kTenantsPrefix = "/gpool/tenants/";
inline constexpr std::string_view kWorkloadsPrefix = "/gpool/workloads/";
inline constexpr std::string_view kNodesPrefix = "/gpool/nodes/";
inline constexpr std::string_view kCounterKey = "/gpool/meta/next_workload_id";

inline std::string TokenKey(std::string_view sha) {
  return std::string(kTokensPrefix) + std::string(sha);
}
inline std::string TenantKey(std::string_view name) {
  return std::string(kTenantsPrefix) + std::string(name);
}
inline std::string NodeKey(std::string_view name) {
  return std::string(kNodesPrefix) + std::string(name);
}
// Zero-padded to 20 digits so that key order is id order.
inline std::string WorkloadKey(std::int64_t id) {
  const std::string digits = std::to_string(id);
  return std::string(kWorkloadsPrefix) + std::string(20 - digits.size(), '0') + digits;
}

}  // namespace gpool::controller
