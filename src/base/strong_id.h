// Strong id types: an InodeId cannot be passed where a DriveId is expected, and neither converts
// silently to an integer. Each id is a tag plus a representation; value() gives the integer for
// encoding on the wire or on disk.
#pragma once

#include <fmt/format.h>

#include <compare>
#include <cstdint>
#include <functional>

namespace tessera {

template <typename Tag, typename Rep = uint64_t>
class StrongId {
 public:
  using rep_type = Rep;
  constexpr StrongId() = default;
  constexpr explicit StrongId(Rep value) : value_(value) {}
  constexpr Rep value() const { return value_; }
  constexpr auto operator<=>(const StrongId&) const = default;

 private:
  Rep value_ = 0;
};

using HostId = StrongId<struct HostIdTag, uint32_t>;
using DriveId = StrongId<struct DriveIdTag, uint32_t>;
using FailureDomainId = StrongId<struct FailureDomainIdTag, uint32_t>;
using BucketId = StrongId<struct BucketIdTag, uint32_t>;
using InodeId = StrongId<struct InodeIdTag, uint64_t>;
using StripeId = StrongId<struct StripeIdTag, uint64_t>;
using FilesystemId = StrongId<struct FilesystemIdTag, uint32_t>;
// The cluster map's version: strictly increasing, never reused.
using MapEpoch = StrongId<struct MapEpochTag, uint64_t>;
// A bucket leader's term: a follower rejects requests carrying a lower term.
using Term = StrongId<struct TermTag, uint64_t>;

}  // namespace tessera

template <typename Tag, typename Rep>
struct std::hash<tessera::StrongId<Tag, Rep>> {
  size_t operator()(const tessera::StrongId<Tag, Rep>& id) const noexcept {
    return std::hash<Rep>()(id.value());
  }
};

template <typename Tag, typename Rep>
struct fmt::formatter<tessera::StrongId<Tag, Rep>> : fmt::formatter<Rep> {
  auto format(const tessera::StrongId<Tag, Rep>& id, fmt::format_context& ctx) const {
    return fmt::formatter<Rep>::format(id.value(), ctx);
  }
};
