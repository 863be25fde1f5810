// A whole cluster of tessd processes (control plane and drive role) with clients writing and
// reading chunks over the simulated network (tess-sim --workload cluster).
//
// Five hosts in five failure domains, each a tessd on its own drifting clock: a ControlPlane on
// its handle of one FakeConfigStore, and one drive (a FakeBlockDevice with its RocksDB index on
// a FaultInjectionFs) served by a DriveService over an RpcServer on its SimNetwork node. Three
// clients on a node of their own write chunks (durable or not) to random drives through
// DriveClient, read them back and delete some, every call within a 2 s deadline. Meanwhile the
// workload kills processes (kill -9: the page cache survives), cuts power to hosts (unflushed
// blocks torn, the index's unsynced tail lost), restarts them, partitions the network (both
// ways, one way, client from host, host from host), stalls links, and fails etcd for a host.
//
// Invariants, after every step: no read ever returned bytes other than those written (the
// clients check each one); every map write was made under its writer's election key. After every
// restart of a drive: every chunk acknowledged as durable is there and reads back intact, every
// other chunk is intact or absent, and no acknowledged removal came back. At the end, healed: the
// control planes agree on one leader and the map shows every host up with its current process,
// and every durable chunk not removed reads back intact through the network.
#pragma once

#include <memory>

#include "sim/simulation.h"

namespace tessera::sim {

std::unique_ptr<Workload> make_cluster_workload(Simulation& simulation);

}  // namespace tessera::sim
