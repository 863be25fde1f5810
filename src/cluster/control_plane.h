// ControlPlane: one tessd's part in the cluster's control plane, on etcd.
//
// join() finds (or creates) the cluster's uuid and this host's id; start() takes an etcd lease
// (TTL default 5 s, refreshed every TTL/3), registers the host under it, and runs a thread that
// keeps the lease, polls the cluster map, and campaigns for management leadership (an etcd key
// created under the lease: whoever holds it leads until its lease ends). The management leader
// marks hosts down when their registration (lease) disappears and up when it returns, keeps the
// drives and the bucket table (bucket_assignment.h) current, and writes every change as one
// compare-and-swap transaction with the epoch bumped (docs/architecture.md 2, 3.1).
//
// Thread-safe. Blocking: its calls wait for etcd. Not on any event loop.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cluster/cluster_map.h"
#include "cluster/etcd_client.h"

namespace tessera {

struct ControlPlaneOptions {
  std::vector<std::string> etcd_endpoints;
  std::string cluster_name = "default";
  std::string host_name;  // Unique in the cluster; a restarted host keeps its id by it.
  std::string address;    // Where others reach this host.
  uint16_t rpc_port = 0;
  uint16_t http_port = 0;
  std::string failure_domain;  // Empty: the host's own.
  int64_t lease_ttl_seconds = 5;
  std::chrono::milliseconds poll_interval{250};
};

// What this host currently knows; replaced whole on every poll.
struct ClusterView {
  std::optional<ClusterMap> map;
  std::vector<proto::HostRegistration> registrations;
  uint32_t leader_host_id = 0;  // 0: no management leader known.
  Status etcd_status;           // The last etcd failure, or OK.
};

class ControlPlane {
 public:
  static Result<std::unique_ptr<ControlPlane>> join(ControlPlaneOptions options);
  ~ControlPlane();
  ControlPlane(const ControlPlane&) = delete;
  ControlPlane& operator=(const ControlPlane&) = delete;

  const std::string& cluster_uuid() const { return uuid_; }
  uint32_t host_id() const { return host_id_; }
  const ControlPlaneOptions& options() const { return options_; }
  const EtcdClient& etcd() const { return etcd_; }
  const ClusterKeys& keys() const { return keys_; }

  // A new cluster-wide drive id.
  Result<uint32_t> allocate_drive_id();
  // The drives this host serves; published with the registration.
  void set_drives(std::vector<proto::DriveInfo> drives);

  // Grants the lease, registers, starts the thread. kUnavailable if etcd cannot serve.
  Status start();
  // Revokes the lease (deregisters at once) and joins the thread.
  void stop();

  std::shared_ptr<const ClusterView> view() const;
  bool is_leader() const;
  // The newest map epoch this host holds (0 before the cluster exists); see map_epoch.h.
  MapEpoch map_epoch() const;

  // Management-leader operations. kFailedPrecondition if this host is not the leader (the REST
  // API redirects first) or the cluster state forbids it; kInvalidArgument for broken rules.
  Status create_cluster(CreationRequest request);
  Status set_hot_spare(uint32_t hot_spare);

 private:
  ControlPlane(ControlPlaneOptions options, std::string uuid, uint32_t host_id);
  void run();
  Status tick();
  Status keep_lease();
  Status campaign(uint32_t* leader);
  Result<std::optional<ClusterMap>> current_map(const ClusterView& held) const;
  Result<bool> lead(const ClusterMap& map,
                    const std::vector<proto::HostRegistration>& registrations);
  proto::HostRegistration registration() const;
  void publish(std::shared_ptr<const ClusterView> view);

  ControlPlaneOptions options_;
  EtcdClient etcd_;
  ClusterKeys keys_;
  std::string uuid_;
  uint32_t host_id_;
  uint64_t started_unix_ms_;

  mutable std::mutex mutex_;  // Guards everything below.
  std::condition_variable wake_;
  std::vector<proto::DriveInfo> drives_;
  bool registration_dirty_ = true;
  bool stopping_ = false;
  int64_t lease_ = 0;
  std::chrono::steady_clock::time_point next_keepalive_;
  std::shared_ptr<const ClusterView> view_ = std::make_shared<ClusterView>();

  std::mutex leader_mutex_;       // Serializes map changes made by this host; guards the next line.
  std::string unchanged_inputs_;  // Map revision + registrations of the last round without change.
  std::thread thread_;
};

}  // namespace tessera
