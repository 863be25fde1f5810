#!/usr/bin/env python3
"""The namespace under faults, with real processes (issue 11, "real processes").

usage: meta_fault_test.py TESS TESSD TESS_KV_LOAD TESS_META_LOAD [unittest names...]

MetaFaultTest starts an 8-host 5+2 cluster (`tess local up`, its own ports), creates a
filesystem, checks it with `tess fsck` while it is still empty, then runs tess-meta-load against
it for 50 s while the bucket fault test's schedule plays (tests/bucket/bucket_fault_test.py: kill
-9 of two hosts and their restart, SIGSTOP of a bucket leader, a leader's RPC port cut off, kill
-9 of a leader and its restart; never more than M = 2 hosts affected at once). tess-meta-load must
lose no acknowledged operation and see no phantom; then `tess fsck` must find the filesystem
clean. Every process is stopped by PID and the directory removed, as in the bucket fault test
(whose Cluster and Faults this reuses). The random moments come from a seed printed at the start
(TESS_FAULT_SEED replays it). As root, the test runs in a network namespace of its own, for the
partition (see bucket_fault_test.py).
"""
import json
import os
import random
import shutil
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True  # No __pycache__ in the source tree.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bucket"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cluster"))
import bucket_fault_test as faults_module  # noqa: E402

TESS = META_LOAD = None
LOAD_SECONDS = 50
LOAD_THREADS = 4
FS_NAME = "meta-load"
log = faults_module.log


def tess(*args, timeout=300):
    return subprocess.run([TESS, *args], capture_output=True, text=True, timeout=timeout)


class MetaFaultTest(unittest.TestCase):
    def test_no_acknowledged_operation_lost_and_fsck_clean(self):
        seed = int(os.environ.get("TESS_FAULT_SEED", str(random.randrange(1, 2**31))))
        log(f"seed {seed} (TESS_FAULT_SEED={seed} replays the fault moments)")
        rng = random.Random(seed)
        cluster = faults_module.Cluster()
        load = faults = None
        try:
            seconds = faults_module.wait_for_leaders(cluster, 120)
            log(f"every bucket has a leader ({seconds:.1f} s after up)")
            api = ",".join(cluster.apis())
            created = tess("fs", "create", FS_NAME, "--api", api, "--json")
            self.assertEqual(created.returncode, 0, created.stderr)
            fs_id = json.loads(created.stdout)["id"]
            self.assertEqual(json.loads(created.stdout)["root"], "made", created.stdout)

            missing = tess("fsck", "no-such-fs", "--api", api)
            self.assertEqual(missing.returncode, 3, missing.stderr)
            empty = tess("fsck", FS_NAME, "--api", api)
            self.assertEqual(empty.returncode, 0, empty.stdout + empty.stderr)
            # The create made the root: one directory, nothing else.
            self.assertIn("1 directories, 0 other inodes, 0 entries; 1 inodes in its buckets",
                          empty.stdout)

            args = [META_LOAD, "--fs-id", str(fs_id), "--threads", str(LOAD_THREADS),
                    "--duration-s", str(LOAD_SECONDS), "--op-timeout-ms", "10000",
                    "--final-timeout-s", "60", "--seed", str(seed), "--json", "--api", api]
            load_log = open(os.path.join(cluster.dir, "meta-load.log"), "w+")
            load = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=load_log, text=True)
            faults = faults_module.Faults(cluster, rng, time.time())
            faults.start()
            try:
                out, _ = load.communicate(timeout=LOAD_SECONDS + 10 + 60 * LOAD_THREADS + 60)
            except subprocess.TimeoutExpired:
                load.kill()
                load.wait()
                self.fail("tess-meta-load did not finish in time")
            faults.stop_event.set()
            faults.join()
            load_log.seek(0)
            summary = load_log.read()
            load_log.close()
            print(summary, file=sys.stderr)
            print("faults:\n  " + "\n  ".join(faults.events), file=sys.stderr)
            if faults.failure:
                raise faults.failure
            figures = json.loads(out.strip().splitlines()[-1])
            print(json.dumps(figures), file=sys.stderr)
            self.assertEqual(figures["lost"], 0, "acknowledged operations lost")
            self.assertEqual(figures["phantoms"], 0, "acknowledged removals undone")
            self.assertEqual(figures["wrong_answers"], 0, "unexpected refusals")
            self.assertGreater(figures["acked"], 0)
            self.assertEqual(load.returncode, 0, summary)

            start = time.time()
            checked = tess("fsck", FS_NAME, "--api", api, "--json", timeout=600)
            log(f"tess fsck: exit {checked.returncode} in {time.time() - start:.1f} s")
            print(checked.stderr, file=sys.stderr)
            report = json.loads(checked.stdout)
            print(json.dumps({k: v for k, v in report.items() if k != "findings"}),
                  file=sys.stderr)
            self.assertEqual(checked.returncode, 0, checked.stdout)
            self.assertTrue(report["clean"])
            self.assertGreater(report["entries"], LOAD_THREADS * 4)
            self.assertEqual(report["inodes_listed"], report["directories"] + report["files"])

            # The usage counters, kept in the inodes' own write batches through every kill, count
            # every inode but the root (docs/design/2026-12-06-filesystem-usage.md).
            listed = tess("fs", "list", "--api", api, "--json")
            self.assertEqual(listed.returncode, 0, listed.stderr)
            usage = next(f for f in json.loads(listed.stdout)["filesystems"] if f["id"] == fs_id)
            log(f"tess fs list: {usage['files']} files, {usage['used_bytes']} bytes")
            self.assertEqual(usage["files"], report["inodes_listed"] - 1)
            refused = tess("fs", "delete", FS_NAME, "--api", api)
            self.assertEqual(refused.returncode, 4, refused.stderr)
            self.assertIn(f"holds {usage['files']} files", refused.stderr)
        finally:
            if faults is not None and faults.is_alive():
                faults.stop_event.set()
                faults.join()
            if load is not None and load.poll() is None:
                load.kill()
                load.wait()
            cluster.close()


def main():
    global TESS, META_LOAD
    tess_path, tessd, kv_load, META_LOAD = (os.path.abspath(p) for p in sys.argv[1:5])
    TESS = tess_path
    faults_module.TESS, faults_module.TESSD, faults_module.KV_LOAD = tess_path, tessd, kv_load
    faults_module.BASE_PORT = 27500  # The bucket fault test's is 27000; the bench's 28000.
    names = sys.argv[5:]
    mark = faults_module.NETNS_MARK
    if os.environ.get(mark) != "1" and os.geteuid() == 0 and shutil.which("unshare"):
        probe = subprocess.run(["unshare", "--net", "true"], capture_output=True, timeout=10)
        if probe.returncode == 0:
            script = "ip link set lo up && exec \"$0\" \"$@\""
            os.execvpe("unshare", ["unshare", "--net", "sh", "-c", script, sys.executable,
                                   os.path.abspath(__file__), *sys.argv[1:]],
                       {**os.environ, mark: "1"})
        log(f"unshare --net is not permitted here ({probe.stderr.decode().strip()})")
    unittest.main(argv=[sys.argv[0], *names], verbosity=2)


if __name__ == "__main__":
    main()
