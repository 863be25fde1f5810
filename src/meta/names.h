// Name and size limits of the namespace (docs/design/2026-12-05-namespace.md 4), checked by the
// bucket on every operation so that every frontend gets the same answers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tessera::meta {

inline constexpr size_t kMaxNameBytes = 255;
inline constexpr size_t kMaxSymlinkBytes = 4095;
inline constexpr size_t kMaxXattrNameBytes = 255;
inline constexpr size_t kMaxXattrValueBytes = 65536;
inline constexpr size_t kMaxXattrBytesPerInode = 65536;
inline constexpr uint32_t kMaxLinks = 65000;
inline constexpr uint32_t kMaxReaddirEntries = 1024;

// 0 if `name` can name a directory entry; otherwise ENAMETOOLONG (over 255 bytes) or EINVAL
// (empty, `.`, `..`, or containing `/` or NUL). `why` says which.
int check_name(std::string_view name, std::string& why);

}  // namespace tessera::meta
