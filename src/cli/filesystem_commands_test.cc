#include "cli/filesystem_commands.h"

#include <gtest/gtest.h>

namespace tessera::cli {
namespace {

using nlohmann::json;

TEST(FilesystemCommands, NamesCannotAddToThePath) {
  EXPECT_EQ(filesystem_path("my-fs_1.v2"), "/api/v1/filesystems/my-fs_1.v2");
  EXPECT_EQ(filesystem_path("a?force=true"), "/api/v1/filesystems/a%3Fforce%3Dtrue");
  EXPECT_EQ(filesystem_path("../x/y"), "/api/v1/filesystems/..%2Fx%2Fy");
  EXPECT_EQ(filesystem_path("a b\xff"), "/api/v1/filesystems/a%20b%FF");
}

TEST(FilesystemCommands, TheListTable) {
  json body = json::parse(R"({
    "filesystems": [
      {"id": 3, "name": "alpha", "capacity_bytes": 3221225472, "used_bytes": null,
       "files": null, "state": "active"},
      {"id": 7, "name": "a-much-longer-name", "capacity_bytes": 1048576, "used_bytes": 4096,
       "files": 2, "state": "active"},
      {"id": 1, "name": "alpha", "capacity_bytes": 1048576, "used_bytes": null, "files": null,
       "state": "deleting"}],
    "capacity": {"usable_bytes": 4294967296, "provisioned_bytes": 3222274048,
                 "unprovisioned_bytes": 1072693248}})");
  EXPECT_EQ(filesystems_table(body),
            "NAME                    ID    CAPACITY        USED       FILES  STATE\n"
            "alpha                    3     3.0 GiB           -           -  active\n"
            "a-much-longer-name       7     1.0 MiB     4.0 KiB           2  active\n"
            "alpha                    1     1.0 MiB           -           -  deleting\n"
            "3 filesystems; 3.0 GiB provisioned of 4.0 GiB usable, 1023.0 MiB left\n"
            "deleting: deleted, their data to be purged in the background (the purge comes with "
            "the data path); a deleting filesystem keeps its used bytes provisioned until then\n");
  // An answer of another shape prints what it can.
  EXPECT_EQ(filesystems_table(json::parse(R"({"filesystems": [{"id": "x"}], "capacity": {}})")),
            "NAME      ID    CAPACITY        USED       FILES  STATE\n"
            "?          ?           ?           ?           ?  ?\n"
            "1 filesystem; ? provisioned of ? usable, ? left\n");
  EXPECT_EQ(filesystems_table(json("nonsense")),
            "NAME      ID    CAPACITY        USED       FILES  STATE\n"
            "0 filesystems; ? provisioned of ? usable, ? left\n");
}

}  // namespace
}  // namespace tessera::cli
