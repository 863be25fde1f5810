#include "meta/names.h"

#include <fmt/format.h>

#include <cerrno>

namespace tessera::meta {

int check_name(std::string_view name, std::string& why) {
  if (name.size() > kMaxNameBytes) {
    why = fmt::format("a name of {} bytes exceeds {}", name.size(), kMaxNameBytes);
    return ENAMETOOLONG;
  }
  if (name.empty() || name == "." || name == "..") {
    why = fmt::format("'{}' cannot name an entry", name);
    return EINVAL;
  }
  if (name.find('/') != std::string_view::npos || name.find('\0') != std::string_view::npos) {
    why = "a name cannot contain '/' or NUL";
    return EINVAL;
  }
  return 0;
}

}  // namespace tessera::meta
