#!/usr/bin/env python3
"""The operator view of the Raft buckets on real etcd and tessd processes: `tess bucket list`,
`tess bucket show N` and the bucket counts of `tess status`, merged from every host's
GET /api/v1/local/buckets (docs/design/2026-11-25-raft-buckets.md 6.3).

usage: bucket_view_test.py TESS TESSD [unittest names...]

Reuses cluster_test.py's LocalCluster: each test starts its own local cluster (ports 26400 to
26799), stops every process it started by PID, and removes the directory.
"""
import os
import shutil
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True  # No __pycache__ in the source tree.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster_test  # noqa: E402
from cluster_test import LocalCluster, kill9, wait_until  # noqa: E402

BASE_PORT = 26400


class BucketViewTest(unittest.TestCase):
    def test_bucket_view(self):
        cluster = LocalCluster(BASE_PORT, hosts=5, data=3, parity=2)
        try:
            # Every bucket elects a leader, with its five desired replicas as voters.
            def settled():
                buckets = cluster.json("bucket", "list")["buckets"]
                done = all(b["leader"] != 0 and b["quorum"]
                           and sorted(r["host"] for r in b["replicas"]) == sorted(b["desired"])
                           and all(r["state"] == "voter" for r in b["replicas"])
                           for b in buckets)
                return done and buckets
            buckets, seconds = wait_until(settled, 60, "every bucket led, every replica a voter")
            print(f"{len(buckets)} buckets led after {seconds:.1f} s", file=sys.stderr)
            for bucket in buckets:
                for key in ("id", "desired", "preferred_leader", "desired_epoch", "leader", "term",
                            "commit", "durable", "quorum", "replicas"):
                    self.assertIn(key, bucket)
                self.assertGreater(bucket["term"], 0)
                self.assertIn(bucket["leader"], bucket["desired"])
                for replica in bucket["replicas"]:
                    self.assertEqual(sorted(replica), ["applied", "host", "lag", "state", "voter"])
                    self.assertIsNotNone(replica["lag"])
                    self.assertIsNotNone(replica["applied"])

            status = cluster.json("status")
            counts = status["buckets"]
            self.assertEqual(counts["without_quorum"], 0)
            self.assertEqual(counts["under_replicated"], 0)
            # A leadership transfer may be under way as status asks: at most one leader each.
            self.assertGreaterEqual(counts["leaders_max"], 1)
            self.assertGreater(counts["leaders_mean"], 0)
            self.assertLessEqual(counts["leaders_mean"], len(buckets) / 5)
            self.assertGreaterEqual(counts["leaders_max"], counts["leaders_mean"])
            self.assertEqual(status["health"], "ok", status["reasons"])

            one = cluster.json("bucket", "show", "3")
            self.assertEqual(one["id"], 3)
            self.assertEqual(one["desired"], buckets[3]["desired"])
            _, out, _ = cluster.tess("bucket", "list")
            header = out.splitlines()[0].split()
            self.assertEqual(header, ["ID", "LEADER", "PREFERRED", "TERM", "COMMIT", "DURABLE",
                                      "REPLICAS"])
            self.assertIn(f"{len(buckets)} buckets, 0 without quorum", out)
            _, out, _ = cluster.tess("bucket", "show", "3")
            self.assertIn("quorum      yes: 5 of 5 voters up", out)
            _, out, _ = cluster.tess("status")
            self.assertIn("0 without quorum, 0 under-replicated; leaders per host max", out)
            code, _, err = cluster.tess("bucket", "show", str(len(buckets)), check=False)
            self.assertEqual(code, 3, err)
            self.assertIn(f"no bucket {len(buckets)}", err)
            code, _, _ = cluster.tess("bucket", "show", "x", check=False)
            self.assertEqual(code, 2)

            # One host killed: its replicas are down, every bucket keeps its quorum.
            by_name = {h["name"]: h["id"] for h in status["hosts"]}
            # Never host 0 (the tests' API) nor the management leader.
            victims = [p for p in cluster.state["hosts"][1:]
                       if by_name[p["name"]] != status["leader"]]
            first = victims[0]
            kill9(first["pid"])
            first_id = by_name[first["name"]]

            def first_down():
                s = cluster.json("status")
                b = cluster.json("bucket", "list")["buckets"]
                ok = (s["buckets"]["under_replicated"] == len(b)
                      and s["buckets"]["without_quorum"] == 0
                      and all(bucket["leader"] not in (0, first_id) for bucket in b))
                return ok and (s, b)
            (status, buckets), seconds = wait_until(first_down, 60, "one host down, quorums kept")
            print(f"one host down seen after {seconds:.1f} s", file=sys.stderr)
            for bucket in buckets:
                down = [r for r in bucket["replicas"] if r["host"] == first_id]
                self.assertEqual([(r["state"], r["lag"], r["applied"]) for r in down],
                                 [("down", None, None)])
                self.assertTrue(bucket["quorum"])
            self.assertEqual(status["health"], "degraded")
            self.assertLessEqual(status["buckets"]["leaders_mean"], len(buckets) / 4)

            # Two more killed: 3 of 5 voters down, no bucket has a quorum.
            for victim in victims[1:3]:
                kill9(victim["pid"])

            def majority_down():
                s = cluster.json("status")
                return s["buckets"]["without_quorum"] == len(buckets) and s
            status, _ = wait_until(majority_down, 60, "three hosts down, no quorum")
            self.assertEqual(status["health"], "error")
            reasons = status["reasons"]
            self.assertTrue(any("without quorum" in r for r in reasons), reasons)
            _, out, _ = cluster.tess("bucket", "list")
            self.assertIn("NO QUORUM", out)
            self.assertIn(f"{len(buckets)} buckets, {len(buckets)} without quorum", out)
        finally:
            cluster.close()


if __name__ == "__main__":
    cluster_test.TESS = os.path.abspath(sys.argv[1])
    cluster_test.TESSD = os.path.abspath(sys.argv[2])
    # tess caches the REST endpoints it learns; keep the tests' caches out of $HOME.
    cache_home = tempfile.mkdtemp(prefix="tess-bucket-view-test-cache-")
    os.environ["XDG_CACHE_HOME"] = cache_home
    try:
        program = unittest.main(argv=[sys.argv[0], *sys.argv[3:]], verbosity=2, exit=False)
    finally:
        shutil.rmtree(cache_home, ignore_errors=True)
    sys.exit(0 if program.result.wasSuccessful() else 1)
