#!/usr/bin/env python3
"""Control-plane tests with real etcd and tessd processes.

usage: cluster_test.py TESS TESSD [unittest names...]

Each test starts its own local cluster (`tess local up` in a temporary directory, with its own
ports), stops every process it started by PID, and removes the directory.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

TESS = TESSD = None
LEASE_TTL_S = 5


def run(*args, check=True, timeout=120, env=None):
    """Runs tess with args (and `env` added to the environment); returns (exit code, stdout,
    stderr)."""
    done = subprocess.run([TESS, *args], capture_output=True, text=True, timeout=timeout,
                          env=None if env is None else {**os.environ, **env})
    if check and done.returncode != 0:
        raise AssertionError(f"tess {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.returncode, done.stdout, done.stderr


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def kill9(pid):
    os.kill(pid, signal.SIGKILL)
    deadline = time.time() + 10
    while alive(pid) and time.time() < deadline:
        time.sleep(0.02)


class LocalCluster:
    # 128 buckets, not tess local's 1024: these tests are about behaviour, and 5,000 replicas of a
    # debug (ASan) build on two cores leave too little CPU for timely elections and detection.
    def __init__(self, base_port, hosts, data, parity, etcd=1, create=True, hot_spare=None,
                 replacement_delay_s=None, buckets=128):
        self.dir = tempfile.mkdtemp(prefix="tess-cluster-test-")
        self.base_port = base_port
        self.extra_pids = []
        args = ["local", "up", "--dir", self.dir, "--base-port", str(base_port), "--hosts", str(hosts),
                "--data", str(data), "--parity", str(parity), "--etcd", str(etcd), "--drive-mib", "256",
                "--lease-ttl-s", str(LEASE_TTL_S), "--tessd", TESSD]
        if create:
            args += ["--buckets", str(buckets)]
        else:
            args.append("--no-create")
        if hot_spare is not None:
            args += ["--hot-spare", str(hot_spare)]
        if replacement_delay_s is not None:
            args += ["--replica-replacement-delay-s", str(replacement_delay_s)]
        try:
            run(*args, timeout=180)
        except Exception:
            self.close()
            raise
        with open(os.path.join(self.dir, "state.json")) as f:
            self.state = json.load(f)

    def api(self, host_index=0):
        return self.state["hosts"][host_index]["http"]

    def tess(self, *args, host_index=0, check=True, timeout=120):
        return run(*args, "--api", self.api(host_index), check=check, timeout=timeout)

    def json(self, *args, host_index=0):
        _, out, _ = self.tess(*args, "--json", host_index=host_index)
        return json.loads(out)

    def restart(self, process):
        """Starts a recorded process again with its recorded command line; returns its PID."""
        with open(os.path.join(self.dir, f"{process['name']}.restart.log"), "ab") as log:
            child = subprocess.Popen(process["argv"], stdout=log, stderr=log,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        self.extra_pids.append(child)
        return child.pid

    def close(self):
        subprocess.run([TESS, "local", "down", "--dir", self.dir], capture_output=True, timeout=120)
        for child in self.extra_pids:
            if child.poll() is None:
                child.terminate()
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def http_get(address, path, timeout_s=5):
    """GET http://address/path; returns (HTTP status, body) or (None, error text)."""
    try:
        with urllib.request.urlopen(f"http://{address}{path}", timeout=timeout_s) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as failure:
        return failure.code, failure.read().decode()
    except (OSError, ValueError) as failure:
        return None, str(failure)


class ApiLoad:
    """Threads that send GET requests to one REST API without pause until stopped."""

    def __init__(self, address, paths, threads=6):
        self.stopping = threading.Event()
        self.answered = 0
        self.threads = [threading.Thread(target=self._run, args=(address, paths[i % len(paths)]))
                        for i in range(threads)]
        for thread in self.threads:
            thread.start()

    def _run(self, address, path):
        while not self.stopping.is_set():
            status, _ = http_get(address, path, timeout_s=2)
            if status == 200:
                self.answered += 1

    def stop(self):
        self.stopping.set()
        for thread in self.threads:
            thread.join()


def log_contains(path, text):
    """True if the file at path exists and contains text."""
    try:
        with open(path, errors="replace") as log:
            return text in log.read()
    except FileNotFoundError:
        return False


def wait_until(condition, timeout_s, what):
    """Polls condition() until it returns a true value; returns (value, seconds taken)."""
    start = time.time()
    last = None
    while time.time() - start < timeout_s:
        try:
            last = condition()
        except (AssertionError, json.JSONDecodeError, subprocess.TimeoutExpired):
            last = None
        if last:
            return last, time.time() - start
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout_s} s")


class ClusterTest(unittest.TestCase):
    def test_creation_rules(self):
        cluster = LocalCluster(20000, hosts=5, data=3, parity=2, create=False)
        try:
            # A host's view fills in at its first rounds: wait until it lists every host.
            status, _ = wait_until(lambda: (s := cluster.json("status")) and len(s["hosts"]) == 5 and s,
                                   30, "every host registered")
            self.assertEqual(status["health"], "error")
            refused = [
                (["--data", "3", "--parity", "3"], "parity must be 2 or 4"),
                (["--data", "2", "--parity", "2"], "data must be 3 to 16"),
                (["--data", "17", "--parity", "2"], "data must be 3 to 16"),
                (["--data", "4", "--parity", "2"], "needs 6 failure domains; 5 are registered"),
                (["--data", "3", "--parity", "2", "--buckets", "1000"], "power of two"),
                (["--data", "3", "--parity", "2", "--buckets", "64"], "at least 16 per compute process: 80"),
                (["--data", "3", "--parity", "2", "--hot-spare", "1"], "hot spare of 1 leaves 4"),
                (["--data", "3", "--parity", "2", "--replica-replacement-delay-s", "0"],
                 "replica-replacement-delay-s must be 1 to 86400"),
            ]
            for args, message in refused:
                code, _, err = cluster.tess("cluster", "create", *args, check=False)
                self.assertEqual(code, 2, f"{args}: {err}")
                self.assertIn(message, err, args)
            # Any host answers; the change is redirected to the management leader.
            cluster.tess("cluster", "create", "--data", "3", "--parity", "2", "--buckets", "128",
                         host_index=4)
            status, _ = wait_until(lambda: (s := cluster.json("status")) and s["health"] == "ok" and s,
                                   30, "healthy after creation")
            self.assertEqual(status["protection"], {"data": 3, "parity": 2})
            self.assertEqual(status["hot_spare"], 0)  # 5 domains, 3+2: nothing left to spare.
            # The live counts (from every host's replicas) settle once each bucket has elected.
            status, _ = wait_until(
                lambda: (s := cluster.json("status")) and s["buckets"].get("without_quorum") == 0
                and s["buckets"]["under_replicated"] == 0 and s, 60, "every bucket serving")
            buckets = status["buckets"]
            self.assertEqual({k: buckets[k] for k in ("total", "replicas", "failure_domains",
                                                      "desired_majority_down")},
                             {"total": 128, "replicas": 5, "failure_domains": 5,
                              "desired_majority_down": 0})
            # 128 buckets over 5 hosts: 25.6 leaders each, so the busiest leads 26 or 27 once the
            # leaders' transfers to the preferred ones (a few per round) are done.
            status, seconds = wait_until(
                lambda: (s := cluster.json("status")) and s["buckets"]["leaders_max"] <= 27 and s,
                30, "leadership balanced")
            print(f"leadership balanced {seconds:.1f} s after every bucket served", file=sys.stderr)
            self.assertEqual(status["replica_replacement_delay_s"], 30)
            for bucket in cluster.json("bucket", "list")["buckets"]:
                self.assertEqual(len(set(bucket["desired"])), 5)
                self.assertIn(bucket["preferred_leader"], bucket["desired"])
                for key in ("desired", "desired_epoch", "id", "preferred_leader", "leader", "term",
                            "commit", "durable", "quorum", "replicas"):
                    self.assertIn(key, bucket)
                self.assertEqual(sorted(r["host"] for r in bucket["replicas"]),
                                 sorted(bucket["desired"]))
            for host in status["hosts"]:
                self.assertEqual(sorted(host), ["address", "failure_domain", "http_port", "id", "name", "state"])
                self.assertEqual(host["state"], "up")
            self.assertEqual(len(status["drives"]), 5)
            for drive in status["drives"]:
                for key in ("id", "host", "capacity_bytes", "state"):
                    self.assertIn(key, drive)
            for drive in cluster.json("drive", "list")["drives"]:
                self.assertGreater(drive["used_bytes"] + drive["free_bytes"], 0)
                self.assertEqual(drive["used_bytes"] + drive["free_bytes"], drive["capacity_bytes"])
            raw = sum(d["capacity_bytes"] for d in status["drives"])
            self.assertEqual(status["capacity"]["raw_bytes"], raw)
            self.assertEqual(status["capacity"]["usable_bytes"], int(raw * 5 / 5 * 3 / 5 * 0.98))
            self.assertIsNotNone(status["leader"])
            code, _, err = cluster.tess("cluster", "create", "--data", "4", "--parity", "2", check=False)
            self.assertEqual(code, 4)
            self.assertIn("protection cannot change", err)
            code, out, _ = cluster.tess("status", host_index=2)
            self.assertIn("3+2", out)
            self.assertIn("buckets tolerate 2 failures", out)
            _, out, _ = cluster.tess("bucket", "list")
            self.assertIn("PREFERRED", out.splitlines()[0])
        finally:
            cluster.close()

    def test_failure_detection_failover_rejoin(self):
        cluster = LocalCluster(21000, hosts=6, data=3, parity=2)
        try:
            status = cluster.json("status")
            self.assertEqual(status["health"], "ok")
            leader_id = status["leader"]
            hosts = {h["name"]: h["id"] for h in status["hosts"]}
            victim = next(p for p in cluster.state["hosts"] if hosts[p["name"]] != leader_id)
            victim_id = hosts[victim["name"]]
            observer = next(i for i, p in enumerate(cluster.state["hosts"])
                            if hosts[p["name"]] not in (leader_id, victim_id))
            before = {b["id"]: b for b in cluster.json("bucket", "list")["buckets"]}
            led = [b for b in before.values() if b["preferred_leader"] == victim_id]
            self.assertGreater(len(led), 0)

            kill9(victim["pid"])
            def victim_down():
                s = cluster.json("status", host_index=observer)
                return [h for h in s["hosts"] if h["id"] == victim_id][0]["state"] == "down" and s
            status, seconds = wait_until(victim_down, LEASE_TTL_S + 10, "kill -9 detected")
            print(f"kill -9 of host {victim_id} detected after {seconds:.1f} s", file=sys.stderr)
            self.assertLessEqual(seconds, LEASE_TTL_S + 5)
            # Down for less than the replacement delay (30 s): every replica stays where it is;
            # the preferred leaderships move at once to other desired replicas.
            after = {b["id"]: b for b in cluster.json("bucket", "list", host_index=observer)["buckets"]}
            for bucket_id, bucket in before.items():
                moved = after[bucket_id]
                self.assertEqual(moved["desired"], bucket["desired"], "a replica moved")
                self.assertEqual(moved["desired_epoch"], bucket["desired_epoch"])
                self.assertNotEqual(moved["preferred_leader"], victim_id)
                self.assertIn(moved["preferred_leader"], bucket["desired"])
            self.assertEqual(status["buckets"]["desired_majority_down"], 0)
            self.assertGreater(status["buckets"]["under_replicated"], 0)
            self.assertEqual(status["health"], "degraded")

            cluster.restart(victim)
            def victim_back():
                s = cluster.json("status", host_index=observer)
                return s["hosts_up"] == 6 and s["health"] == "ok" and s
            _, seconds = wait_until(victim_back, 60, "restarted host rejoined")
            print(f"restarted host rejoined after {seconds:.1f} s", file=sys.stderr)

            leader = next(p for p in cluster.state["hosts"] if hosts[p["name"]] == leader_id)
            kill9(leader["pid"])
            def new_leader():
                s = cluster.json("status", host_index=observer)
                return s["leader"] not in (None, leader_id) and s
            status, seconds = wait_until(new_leader, LEASE_TTL_S + 10, "management leader failover")
            print(f"management leader failover after {seconds:.1f} s", file=sys.stderr)
            self.assertLessEqual(seconds, LEASE_TTL_S + 5)
            def old_leader_down():
                s = cluster.json("status", host_index=observer)
                buckets = cluster.json("bucket", "list", host_index=observer)["buckets"]
                return (s["hosts_up"] == 5 and s["buckets"]["desired_majority_down"] == 0
                        and all(b["preferred_leader"] != leader_id for b in buckets))
            wait_until(old_leader_down, LEASE_TTL_S + 10,
                       "old leader marked down, its preferred leaderships moved")
        finally:
            cluster.close()

    def test_restart_within_lease_ttl(self):
        """A host killed and restarted before its lease ends is seen as restarted, not kept silently."""
        cluster = LocalCluster(23000, hosts=5, data=3, parity=2)
        try:
            status = cluster.json("status")
            leader_id, epoch = status["leader"], status["epoch"]
            hosts = {h["name"]: h["id"] for h in status["hosts"]}
            victim = next(p for p in cluster.state["hosts"] if hosts[p["name"]] != leader_id)
            leader = next(p for p in cluster.state["hosts"] if hosts[p["name"]] == leader_id)
            # Whichever host leads when the restart is seen logs it: under load the management
            # leadership may move during the test, so every host's log is searched.
            logs = [p["argv"][p["argv"].index("--log-file") + 1] for p in cluster.state["hosts"]]
            observer = next(i for i, p in enumerate(cluster.state["hosts"])
                            if p["name"] not in (victim["name"], leader["name"]))

            kill9(victim["pid"])
            cluster.restart(victim)

            message = f"host {hosts[victim['name']]} ({victim['name']}) restarted"
            observed = {}
            def restart_recorded():
                observed["logged"] = any(log_contains(path, message) for path in logs)
                s = cluster.json("status", host_index=observer)
                observed.update(epoch=s["epoch"], hosts_up=s["hosts_up"], leader=s["leader"])
                return observed["logged"] and s["epoch"] > epoch and s["hosts_up"] == 5 and s
            try:
                status, seconds = wait_until(restart_recorded, LEASE_TTL_S + 10,
                                             "restart recorded")
            except AssertionError as failure:
                raise AssertionError(f"{failure}; last seen {observed}, epoch before {epoch}, "
                                     f"leader before {leader_id}") from None
            print(f"restart of host {hosts[victim['name']]} recorded after {seconds:.1f} s",
                  file=sys.stderr)
            # Its bucket replicas reopen and catch up (non-voters until then): healthy after that.
            wait_until(lambda: cluster.json("status")["health"] == "ok", 60, "healthy again")
        finally:
            cluster.close()

    def test_raft9(self):
        cluster = LocalCluster(22000, hosts=5, data=3, parity=2, etcd=9)
        try:
            members = cluster.state["etcd"]
            for member in members[:4]:
                kill9(member["pid"])
            # etcd elects a new leader if its leader was among the four, and a new etcd leader
            # extends every lease by its election timeout: wait for a committed change first, so
            # the detection time below is Tessera's, not etcd's own failover.
            _, seconds = wait_until(
                lambda: cluster.tess("cluster", "hot-spare", "0", check=False)[0] == 0, 30,
                "a change committed with 4 etcd members down")
            print(f"changes commit with 4 of 9 etcd members down after {seconds:.1f} s",
                  file=sys.stderr)
            # With 5 of 9 members the cluster works fully: detection, map changes, CLI.
            victim = cluster.state["hosts"][4]
            kill9(victim["pid"])
            _, seconds = wait_until(lambda: cluster.json("status")["hosts_up"] == 4, LEASE_TTL_S + 15,
                                    "failure detected with 4 etcd members down")
            print(f"detected with 4 of 9 etcd members down after {seconds:.1f} s", file=sys.stderr)
            self.assertLessEqual(seconds, LEASE_TTL_S + 5)
            cluster.tess("cluster", "hot-spare", "0")
            self.assertEqual(cluster.json("status")["buckets"]["desired_majority_down"], 0)

            kill9(members[4]["pid"])
            code, _, err = cluster.tess("cluster", "hot-spare", "0", check=False, timeout=120)
            self.assertEqual(code, 5, err)
            self.assertIn("quorum", err)
            print(f"with 5 of 9 down: {err.strip()}", file=sys.stderr)

            for member in members[:5]:
                cluster.restart(member)
            _, seconds = wait_until(lambda: cluster.tess("cluster", "hot-spare", "0", check=False)[0] == 0,
                                    90, "changes work again after the members return")
            print(f"changes work again {seconds:.1f} s after the members returned", file=sys.stderr)
            cluster.restart(victim)
            wait_until(lambda: cluster.json("status")["health"] == "ok", 60, "healthy again")
        finally:
            cluster.close()

    def test_permanent_failure_replaces_replicas(self):
        # Down longer than the replacement delay: the host's replicas go to the sixth domain and
        # nothing else moves.
        delay_s = 3
        cluster = LocalCluster(26000, hosts=6, data=3, parity=2, replacement_delay_s=delay_s)
        try:
            status = cluster.json("status")
            self.assertEqual(status["replica_replacement_delay_s"], delay_s)
            leader_id = status["leader"]
            hosts = {h["name"]: h["id"] for h in status["hosts"]}
            victim = next(p for p in cluster.state["hosts"] if hosts[p["name"]] != leader_id)
            victim_id = hosts[victim["name"]]
            before = {b["id"]: b for b in cluster.json("bucket", "list")["buckets"]}
            self.assertTrue(any(victim_id in b["desired"] for b in before.values()))

            kill9(victim["pid"])
            def replaced():
                buckets = cluster.json("bucket", "list")["buckets"]
                return all(victim_id not in b["desired"] for b in buckets) and buckets
            buckets, seconds = wait_until(replaced, LEASE_TTL_S + delay_s + 20, "replicas replaced")
            print(f"replicas of host {victim_id} replaced {seconds:.1f} s after kill -9 "
                  f"(lease TTL {LEASE_TTL_S} s + delay {delay_s} s)", file=sys.stderr)
            self.assertGreaterEqual(seconds, delay_s)
            for bucket in buckets:
                self.assertEqual(len(set(bucket["desired"])), 5)
                self.assertIn(bucket["preferred_leader"], bucket["desired"])
                old = before[bucket["id"]]
                if victim_id not in old["desired"]:
                    self.assertEqual(bucket["desired"], old["desired"], "a bucket moved without cause")
                else:
                    self.assertTrue(set(old["desired"]) - {victim_id} <= set(bucket["desired"]))
            # The new replicas catch up from their buckets' leaders (reconciliation).
            status, _ = wait_until(
                lambda: (s := cluster.json("status")) and s["buckets"]["under_replicated"] == 0
                and s, 90, "the new replicas caught up")
            self.assertEqual(status["buckets"]["without_quorum"], 0)
            self.assertEqual(status["health"], "degraded")  # A host is still down.
        finally:
            cluster.close()

    def test_sigterm_under_api_load(self):
        # A tessd stopping while its REST API handlers wait on its event loop (issue 9) must not
        # deadlock: every host, stopped by SIGTERM while API requests pour in, ends promptly.
        cluster = LocalCluster(23000, hosts=3, data=3, parity=2, create=False)
        try:
            for host in cluster.state["hosts"]:
                load = ApiLoad(host["http"], ["/api/v1/local/drives", "/api/v1/status"])
                try:
                    wait_until(lambda: load.answered >= 20, 30, "API answering under load")
                    os.kill(host["pid"], signal.SIGTERM)
                    start = time.time()
                    while alive(host["pid"]) and time.time() - start < 30:
                        time.sleep(0.05)
                    stopped = not alive(host["pid"])
                finally:
                    load.stop()
                self.assertTrue(stopped, f"{host['name']} (pid {host['pid']}) still running 30 s "
                                         "after SIGTERM under API load")
                print(f"{host['name']} stopped {time.time() - start:.1f} s after SIGTERM under load",
                      file=sys.stderr)
        finally:
            cluster.close()

    def test_drive_add(self):
        cluster = LocalCluster(24000, hosts=3, data=3, parity=2, create=False)
        try:
            # Naming the host whose API receives the request: added there directly.
            added = os.path.join(cluster.dir, "host1", "drive1")
            with open(added, "wb") as f:
                f.truncate(256 << 20)
            code, out, err = cluster.tess("drive", "add", "host1", added, host_index=1, check=False,
                                          timeout=60)
            self.assertEqual(code, 0, err)
            self.assertIn("added", out)
            wait_until(lambda: added in [d["path"] for d in cluster.json("drive", "list")["drives"]],
                       10, "the added drive registered")
            # A drive another tessd serves: its chunk index is locked by that process.
            held = os.path.join(cluster.dir, "host0", "drive0")
            code, _, err = cluster.tess("drive", "add", "host1", held, host_index=2, check=False,
                                        timeout=60)
            self.assertEqual(code, 4, err)
            self.assertIn(f"drive {held}: chunk index {held}.index is in use by another process "
                          "(its LOCK is held)", err)
            print(f"adding a held drive: {err.strip()}", file=sys.stderr)
        finally:
            cluster.close()

    def test_api_failover(self):
        # tess reaches the cluster while the host it was pointed at is down (issue 9).
        cluster = LocalCluster(25000, hosts=3, data=3, parity=2, create=False)
        caches = tempfile.mkdtemp(prefix="tess-api-cache-")
        try:
            host0, host1, host2 = (cluster.api(i) for i in range(3))
            learning = {"XDG_CACHE_HOME": os.path.join(caches, "learning")}

            def every_host_sees_three():
                return all(len(json.loads(run("status", "--api", api, "--json", env=learning)[1])
                               ["hosts"]) == 3 for api in (host0, host1, host2))
            # Each host's view fills in at its first rounds; until then a status lists fewer.
            wait_until(every_host_sees_three, 30, "every host's view holds 3 hosts")
            run("status", "--api", host0, "--json", env=learning)  # Learns every host's API.
            kill9(cluster.state["hosts"][0]["pid"])
            code, out, err = run("status", "--api", host0, "--json", check=False, env=learning)
            self.assertEqual(code, 0, err)
            self.assertEqual(len(json.loads(out)["hosts"]), 3)
            for i, env in enumerate([{}, {"TESS_API": f"{host0},{host2}"}]):
                fresh = {"XDG_CACHE_HOME": os.path.join(caches, f"fresh{i}"), **env}
                args = ["status"] if env else ["status", "--api", f"{host0},{host1}"]
                code, _, err = run(*args, check=False, env=fresh)
                self.assertEqual(code, 0, f"{args} {env}: {err}")
            nothing = {"XDG_CACHE_HOME": os.path.join(caches, "nothing")}
            code, _, err = run("status", "--api", f"{host0},127.0.0.1:1", check=False, env=nothing)
            self.assertEqual(code, 5, err)
            self.assertIn("tried 2 endpoints", err)
            print(f"all endpoints down: {err.strip()}", file=sys.stderr)
        finally:
            cluster.close()
            shutil.rmtree(caches, ignore_errors=True)

    def test_filesystems(self):
        # Filesystems through `tess fs` (docs/design/2026-12-05-filesystems.md): records in etcd,
        # changes redirected to the management leader, capacity provisioned from what is usable.
        cluster = LocalCluster(23500, hosts=5, data=3, parity=2)
        mib = 1 << 20
        try:
            listed, _ = wait_until(lambda: (f := cluster.json("fs", "list")) and
                                   f["capacity"]["usable_bytes"] and f, 30, "the map in the view")
            self.assertEqual(listed["filesystems"], [])
            usable = listed["capacity"]["usable_bytes"]
            self.assertEqual(usable, cluster.json("status")["capacity"]["usable_bytes"])

            # Any host takes a change (the others redirect it to the leader).
            for i in range(5):
                code, out, err = cluster.tess("fs", "create", "alpha", "--capacity", "100MiB",
                                              host_index=i, check=False)
                self.assertEqual(code, 0 if i == 0 else 4, err)
                if i == 0:
                    self.assertIn("filesystem alpha created: id 1, capacity 100.0 MiB (104857600 bytes)",
                                  out)
                    self.assertNotIn("first use", out, "the create makes the root directory")
                else:
                    self.assertIn("a filesystem named 'alpha' exists already (id 1)", err)
            beta = cluster.json("fs", "create", "beta", host_index=3)
            self.assertEqual(beta["id"], 2)
            self.assertEqual(beta["capacity_bytes"], usable - 100 * mib, "what was left")
            self.assertEqual((beta["used_bytes"], beta["files"]), (0, 0), "a new filesystem is empty")

            refused = [
                (["create", "gamma", "--capacity", "1M"], 6,
                 "a capacity of 1048576 bytes (1.0 MiB) exceeds the 0 bytes left unprovisioned: "
                 f"filesystems provision {usable} bytes"),
                (["create", "gamma"], 6, "nothing is left to provision"),
                (["create", "a b"], 2, "filesystem name 'a b' has ' ' at position 2"),
                (["create", "_x"], 2, "must start with a letter or a digit"),
                (["create", "x" * 65], 2, "is 65 characters long; the most is 64"),
                (["create", "a?force=true"], 2, "has '?' at position 2"),
                (["delete", "a?force=true"], 2, "has '%' at position 2"),
                (["create", "gamma", "--capacity", "10X"], 2, "'10X' is not a size ('X' is not a unit)"),
                (["create", "gamma", "--capacity", "0.5"], 2, "not a whole number of bytes"),
                (["create", "gamma", "--capacity", "1000"], 2, "a filesystem's capacity is at least 1048576"),
                (["update", "alpha", "--capacity", "1T"], 6,
                 f"a capacity of 1099511627776 bytes (1.0 TiB) for 'alpha' exceeds the {100 * mib} "
                 "bytes (100.0 MiB) it may have"),
                (["update", "nope", "--capacity", "1G"], 3, "no filesystem named 'nope'"),
                (["delete", "nope", "--force"], 3, "no filesystem named 'nope'"),
            ]
            for args, expected, message in refused:
                code, _, err = cluster.tess("fs", *args, host_index=1, check=False)
                self.assertEqual(code, expected, f"{args}: {err}")
                self.assertIn(message, err, args)
            print(f"over capacity: {cluster.tess('fs', 'create', 'g', '--capacity', '1T', check=False)[2].strip()}",
                  file=sys.stderr)

            # Online changes: shrink beta, grow alpha into what that freed.
            _, out, _ = cluster.tess("fs", "update", "beta", "--capacity", "200MiB")
            self.assertIn("filesystem beta: capacity 200.0 MiB (209715200 bytes)", out)
            cluster.tess("fs", "update", "alpha", "--capacity", "300M", host_index=2)
            listed = cluster.json("fs", "list", host_index=4)
            self.assertEqual([(f["name"], f["id"], f["capacity_bytes"], f["state"])
                              for f in listed["filesystems"]],
                             [("alpha", 1, 300 * mib, "active"), ("beta", 2, 200 * mib, "active")])
            self.assertEqual(listed["capacity"]["provisioned_bytes"], 500 * mib)
            self.assertEqual(listed["capacity"]["unprovisioned_bytes"], usable - 500 * mib)
            _, table, _ = cluster.tess("fs", "list")
            lines = table.splitlines()
            self.assertEqual(lines[0].split(), ["NAME", "ID", "CAPACITY", "USED", "FILES", "STATE"])
            # Usage comes from every bucket's counters (docs/design/2026-12-06-filesystem-usage.md):
            # known, and nothing, until a client writes.
            self.assertEqual(lines[1].split(), ["alpha", "1", "300.0", "MiB", "0", "B", "0", "active"])
            self.assertIn("2 filesystems; 500.0 MiB provisioned of", lines[3])

            # Delete: an empty filesystem needs no --force; the name is free at once, with a new id.
            _, out, _ = cluster.tess("fs", "delete", "alpha", host_index=3)
            self.assertIn("filesystem alpha (id 1) is being deleted", out)
            code, _, err = cluster.tess("fs", "create", "alpha", "--capacity", "1GiB", check=False)
            self.assertEqual(code, 6, err)  # 1 GiB does not fit: the limit holds after a delete.
            again = cluster.json("fs", "create", "alpha")
            self.assertEqual(again["id"], 3)
            self.assertEqual(again["capacity_bytes"], usable - 200 * mib, "alpha's 300 MiB freed")
            listed = cluster.json("fs", "list", host_index=1)
            self.assertEqual([(f["name"], f["id"], f["state"]) for f in listed["filesystems"]],
                             [("alpha", 3, "active"), ("beta", 2, "active"), ("alpha", 1, "deleting")])
            _, table, _ = cluster.tess("fs", "list")
            self.assertRegex(table, r"\nalpha +1 +300\.0 MiB +0 B +0 +deleting\n")
            self.assertIn("deleting: deleted, their data to be purged in the background", table)
            code, _, err = cluster.tess("fs", "update", "alpha", "--capacity", "1G", check=False)
            self.assertEqual(code, 6, err)  # The new alpha: growing beyond what is left.
            print(table, file=sys.stderr)
        finally:
            cluster.close()


if __name__ == "__main__":
    TESS, TESSD = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    # tess caches the REST endpoints it learns; keep the tests' caches out of $HOME.
    cache_home = tempfile.mkdtemp(prefix="tess-cluster-test-cache-")
    os.environ["XDG_CACHE_HOME"] = cache_home
    try:
        program = unittest.main(argv=[sys.argv[0], *sys.argv[3:]], verbosity=2, exit=False)
    finally:
        shutil.rmtree(cache_home, ignore_errors=True)
    sys.exit(0 if program.result.wasSuccessful() else 1)
