// Placement: the drives of every stripe, as a pure function of the cluster map and the stripe key.
//
// A stripe of width W = K+M takes one drive in each of W distinct failure domains. Failure domain f
// gets the score -ln(u(s, f)) / w_f for stripe key s, where u is uniform in (0, 1) from a 64-bit
// hash and w_f the capacity of f's eligible drives; the W lowest scores win (weighted rendezvous
// hashing). Within a winning domain, the drive with the lowest -ln(u(s, d)) / w_d wins. So:
//   - each drive receives columns in proportion to its capacity;
//   - a map change moves only the columns whose winning set changed (adding capacity X to N moves
//     about X / (N + X) of the columns, all of them onto the new capacity);
//   - stripes are placed independently, so the stripes of any one failure domain have their other
//     columns spread over all the others, and a rebuild reads from all of them.
// docs/architecture.md, section 8.1, gives the argument; the simulator measures it.
//
// Immutable after create(); thread-safe. choose() costs about one hash and one comparison per
// failure domain plus a logarithm for the few that could still win.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "base/strong_id.h"
#include "base/units.h"

namespace tessera {

enum class DriveState : uint8_t { kActive, kFailed, kPhasingOut, kRemoved };

struct DriveInfo {
  DriveId id;
  HostId host;
  FailureDomainId failure_domain;
  uint64_t capacity_bytes = 0;
  // Active drives with free space take new columns; the others are only looked up.
  DriveState state = DriveState::kActive;
  bool has_space = true;
};

struct ColumnMove {
  int column;
  DriveId from;
  DriveId to;
};

class Placement {
 public:
  // Errors: kInvalidArgument if width < 1 or drive ids repeat; kFailedPrecondition if fewer than
  // `width` failure domains have an active drive with space ("5+2 needs 7 failure domains ...").
  static Result<Placement> create(std::span<const DriveInfo> drives, int width);

  int width() const { return width_; }
  // Failure domains with at least one eligible drive.
  size_t eligible_domain_count() const { return domains_.size(); }

  // The W drives of stripe `stripe_key`, best first, in W distinct failure domains.
  // REQUIRES: out.size() == width().
  void choose(uint64_t stripe_key, std::span<DriveId> out) const;
  std::vector<DriveId> choose(uint64_t stripe_key) const;

  // Whether the stripe's choice includes the eligible failure domain with index `domain_index`
  // (see domain_index()); far cheaper than choose() for the many stripes that do not.
  bool chooses_domain(uint64_t stripe_key, size_t domain_index) const;
  // The index of an eligible failure domain, or -1.
  int domain_index(FailureDomainId domain) const;
  // The failure domain of any drive given to create(), eligible or not.
  Result<FailureDomainId> domain_of(DriveId drive) const;

  // The drive that should hold `column` of a stripe whose columns are on `columns` when that
  // column's drive is lost: the best-scoring drive in a failure domain that none of the other
  // columns uses. kFailedPrecondition if no such domain exists.
  Result<DriveId> replacement(uint64_t stripe_key, std::span<const DriveId> columns,
                              int column) const;

  // The moves that turn `columns` (the stripe's current drives, column by column) into this map's
  // choice while moving as few columns as possible: a column stays if its drive is still chosen.
  std::vector<ColumnMove> plan_moves(uint64_t stripe_key, std::span<const DriveId> columns) const;

 private:
  struct Domain {
    FailureDomainId id;
    uint64_t salt;
    double weight;
    uint32_t first_drive;
    uint32_t drive_count;
  };
  struct Drive {
    DriveId id;
    uint64_t salt;
    double weight;
  };
  // Consecutive domains of equal weight share one threshold computation.
  struct WeightClass {
    uint32_t begin;
    uint32_t end;
    double weight;
  };
  struct Ranked {
    double score;
    uint32_t domain;
  };

  Placement() = default;
  // The `count` best domains for the stripe, best first, skipping those in `excluded`.
  void rank_domains(uint64_t stripe_hash, std::span<Ranked> best,
                    std::span<const uint32_t> excluded) const;
  DriveId best_drive(uint64_t stripe_hash, const Domain& domain) const;

  int width_ = 0;
  std::vector<Domain> domains_;  // Eligible domains, sorted by weight.
  std::vector<Drive> drives_;    // Eligible drives, grouped by domain.
  std::vector<WeightClass> classes_;
  std::unordered_map<DriveId, FailureDomainId> domain_of_drive_;  // Every drive given.
  std::unordered_map<FailureDomainId, uint32_t> domain_index_;    // Eligible domains only.
};

// Usable capacity: raw x (FD - H) / FD x K / (K + M), less `overhead_fraction` for superblocks,
// chunk headers and metadata. Zero if the hot spare takes every failure domain.
uint64_t usable_capacity_bytes(uint64_t raw_bytes, size_t failure_domains, size_t hot_spare,
                               int data_columns, int parity_columns,
                               double overhead_fraction = 0.02);

// Stripes affected by failed drives, grouped by how many columns each lost, most first, so the
// rebuilder restores the most endangered stripes first. Stripes that lost more than `parity`
// columns cannot be rebuilt; their group says so.
struct StripeColumns {
  uint64_t stripe_key;
  std::vector<DriveId> drives;  // Column by column.
};
struct RebuildGroup {
  int lost_columns;
  bool recoverable;
  std::vector<size_t> stripes;  // Indexes into the input.
};
std::vector<RebuildGroup> rebuild_order(std::span<const StripeColumns> stripes,
                                        std::span<const DriveId> failed_drives, int parity);

}  // namespace tessera
