#!/usr/bin/env python3
"""Buckets under faults, with real processes (docs/design/2026-11-25-raft-buckets.md 9).

usage: bucket_fault_test.py TESS TESSD TESS_KV_LOAD [unittest names...]

BucketFaultTest starts an 8-host 5+2 cluster (`tess local up` in a temporary directory, its own
ports), runs tess-kv-load against it for about a minute and meanwhile: kill -9 of two hosts at
random moments and their restart, SIGSTOP of a bucket leader for 2 s (longer than the election
timeout, 600 ms to 1.2 s), a bucket leader's RPC port cut off, and kill -9 of a leader and its
restart; never more than M = 2 hosts affected at once. tess-kv-load must find no lost write and
no stale read, and no thread may go longer than MAX_UNAVAILABLE_MS without a successful operation.
Every process is stopped by PID (`tess local down`, then the restarted ones), the directory is
removed. The random moments come from a seed printed at the start (TESS_FAULT_SEED replays it).

Network: as root, the whole test runs in a network namespace of its own (`unshare --net`, the
kernel feature `ip netns` uses; it vanishes with the test's processes, nothing to remove). Its
loopback carries only this test's traffic, so the partition can be made there with tc: an HTB
class that passes 1 byte per second, fed by u32 filters on the leader's RPC port (iptables and
nft are not installed on the machines this was written on, and tc's drop action module is not
loaded; a class that never sends is the drop that works). Without a namespace of its own the test
skips the partition (saying so) rather than touch the machine's loopback.

KvLoadArgumentsTest checks tess-kv-load's argument handling and failure modes against a fake REST
API; it needs no cluster.
"""
import http.server
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

sys.dont_write_bytecode = True  # No __pycache__ in the source tree.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cluster"))
from cluster_test import alive  # noqa: E402  (one definition of "still running, not a zombie")

TESS = TESSD = KV_LOAD = None
BASE_PORT = 27000  # The cluster tests use 20000-26799; the bucket bench 28000 and 29000.
HOSTS, DATA, PARITY = 8, 5, 2
BUCKETS = 128  # The fewest an 8-host cluster allows (16 per process).
LOAD_SECONDS = 60
LOAD_THREADS = 6
# Why 5 s: the design's aim is that no bucket stops serving for more than 2 s while at most M
# replicas are down. A client thread sees more than the bucket's own outage: a stopped or cut-off
# leader costs it one attempt timeout (1 s) before it tries another replica, and a leader that
# cannot hear its followers keeps them from electing until CheckQuorum steps it down (up to one
# more election timeout, 1.2 s). The debug build (ASan) on a 2-core machine running 8 tessd, etcd
# and the load roughly doubles each step's time. 2 s + 1 s + 1.2 s, rounded up: 5 s.
MAX_UNAVAILABLE_MS = int(os.environ.get("TESS_FAULT_MAX_UNAVAILABLE_MS", "5000"))
NETNS_MARK = "TESS_BUCKET_FAULT_NETNS"


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def command_line(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode() for a in f.read().split(b"\0")[:-1]]
    except OSError:
        return []


def http_get(address, path, timeout_s=5):
    """GET http://address/path; returns the JSON body of a 200, else None."""
    try:
        with urllib.request.urlopen(f"http://{address}{path}", timeout=timeout_s) as reply:
            return json.loads(reply.read().decode()) if reply.status == 200 else None
    except (OSError, ValueError, urllib.error.HTTPError):
        return None


class Cluster:
    """A local cluster started by `tess local up`; every process it or we started is stopped by
    PID in close()."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="tess-bucket-fault-")
        self.restarted = []  # Popen of every process we started again.
        self.stopped = set()  # PIDs we sent SIGSTOP and not yet SIGCONT.
        self.partitioned = False
        args = [TESS, "local", "up", "--dir", self.dir, "--base-port", str(BASE_PORT), "--hosts",
                str(HOSTS), "--data", str(DATA), "--parity", str(PARITY), "--buckets", str(BUCKETS),
                "--drive-mib", "256", "--lease-ttl-s", "5",
                # Hosts come back within seconds: no replica is to move meanwhile.
                "--replica-replacement-delay-s", "3600", "--tessd", TESSD]
        try:
            done = subprocess.run(args, capture_output=True, text=True, timeout=240)
            if done.returncode != 0:
                raise AssertionError(f"tess local up exited {done.returncode}:\n{done.stdout}\n"
                                     f"{done.stderr}")
            with open(os.path.join(self.dir, "state.json")) as f:
                self.state = json.load(f)
            self.pids = {h["name"]: h["pid"] for h in self.state["hosts"]}
            hosts = http_get(self.state["hosts"][0]["http"], "/api/v1/hosts")["hosts"]
            self.name_of = {h["id"]: h["name"] for h in hosts}
            self.process = {h["name"]: h for h in self.state["hosts"]}
        except BaseException:
            self.close()
            raise

    def apis(self):
        return [h["http"] for h in self.state["hosts"]]

    def live_api(self):
        for host in self.state["hosts"]:
            if alive(self.pids[host["name"]]) and self.pids[host["name"]] not in self.stopped:
                return host["http"]
        return self.apis()[0]

    def kill9(self, name):
        pid = self.pids[name]
        # Signal only the process we started, still running the command line recorded.
        if not alive(pid) or command_line(pid) != self.process[name]["argv"]:
            raise AssertionError(f"{name} (PID {pid}) is not the process we started")
        os.kill(pid, signal.SIGKILL)
        deadline = time.time() + 10
        while alive(pid) and time.time() < deadline:
            time.sleep(0.02)

    def restart(self, name):
        with open(os.path.join(self.dir, f"{name}.restart.log"), "ab") as out:
            child = subprocess.Popen(self.process[name]["argv"], stdout=out, stderr=out,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        self.restarted.append(child)
        self.pids[name] = child.pid

    def leader_of(self, bucket):
        """The host name leading `bucket`: the REST API's live "leader", else the replicas'
        own answer (tess-kv-load --leaders), else the map's preferred leader."""
        listing = http_get(self.live_api(), "/api/v1/buckets")
        entry = listing["buckets"][bucket] if listing else None
        if entry and entry.get("leader"):
            return self.name_of[entry["leader"]], "REST leader"
        leaders = probe_leaders(self.apis(), bucket=bucket)
        if leaders and leaders.get(str(bucket)):
            return self.name_of[leaders[str(bucket)]], "asked of the replicas"
        if entry:
            return self.name_of[entry["preferred_leader"]], "preferred leader"
        raise AssertionError(f"no leader known for bucket {bucket}")

    def close(self):
        for pid in list(self.stopped):
            os.kill(pid, signal.SIGCONT)
        self.stopped.clear()
        if self.partitioned:
            heal_partition()
        subprocess.run([TESS, "local", "down", "--dir", self.dir], capture_output=True, timeout=180)
        for child in self.restarted:
            if child.poll() is None:
                child.terminate()
                try:
                    child.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def probe_leaders(apis, bucket=None, timeout_s=120):
    """{"<bucket>": host id or None} from tess-kv-load --leaders, or None if it failed."""
    args = [KV_LOAD, "--leaders"] + [a for api in apis for a in ("--api", api)]
    if bucket is not None:
        args += ["--bucket", str(bucket)]
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        return None
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])["leaders"]
    except (ValueError, IndexError, KeyError):
        return None


def in_own_netns():
    return os.environ.get(NETNS_MARK) == "1"


def tc(*args):
    return subprocess.run(["tc", *args], capture_output=True, text=True, timeout=10)


def partition_port(port):
    """Holds every packet to or from `port` on this namespace's loopback. Returns an error text,
    or None once done."""
    if not in_own_netns():
        return "the test does not run in a network namespace of its own"
    if shutil.which("tc") is None:
        return "tc is not installed"
    steps = [
        ["qdisc", "add", "dev", "lo", "root", "handle", "1:", "htb", "default", "10"],
        ["class", "add", "dev", "lo", "parent", "1:", "classid", "1:10", "htb", "rate", "100gbit"],
        ["class", "add", "dev", "lo", "parent", "1:", "classid", "1:20", "htb", "rate", "8bit",
         "ceil", "8bit", "burst", "1", "cburst", "1"],
        ["qdisc", "add", "dev", "lo", "parent", "1:20", "handle", "20:", "pfifo", "limit", "1"],
        ["filter", "add", "dev", "lo", "parent", "1:", "protocol", "ip", "prio", "1", "u32",
         "match", "ip", "dport", str(port), "0xffff", "flowid", "1:20"],
        ["filter", "add", "dev", "lo", "parent", "1:", "protocol", "ip", "prio", "1", "u32",
         "match", "ip", "sport", str(port), "0xffff", "flowid", "1:20"],
    ]
    for step in steps:
        done = tc(*step)
        if done.returncode != 0:
            heal_partition()
            return f"tc {' '.join(step)}: {done.stderr.strip()}"
    return None


def heal_partition():
    tc("qdisc", "del", "dev", "lo", "root")


class Faults(threading.Thread):
    """Injects the faults on a schedule while the load runs; records what it did."""

    def __init__(self, cluster, rng, start):
        super().__init__()
        self.cluster, self.rng, self.start_time = cluster, rng, start
        self.events = []
        self.failure = None
        self.stop_event = threading.Event()

    def at(self, seconds):
        """Sleeps until `seconds` after the load started; False if told to stop."""
        delay = self.start_time + seconds - time.time()
        return not self.stop_event.wait(max(0.0, delay))

    def note(self, text):
        self.events.append(f"t={time.time() - self.start_time:5.1f}s {text}")
        log(text)

    def run(self):
        try:
            self.inject()
        except BaseException as failure:  # Reported by the test, which then cleans up.
            self.failure = failure

    def inject(self):
        c, rng = self.cluster, self.rng
        names = sorted(c.pids)
        # 1. kill -9 of two hosts at random moments, both restarted later.
        first, second = rng.sample(names, 2)
        if not self.at(4 + rng.uniform(0, 3)):
            return
        c.kill9(first)
        self.note(f"kill -9 {first}")
        if not self.at(9 + rng.uniform(0, 3)):
            return
        c.kill9(second)
        self.note(f"kill -9 {second}")
        if not self.at(15 + rng.uniform(0, 2)):
            return
        c.restart(first)
        c.restart(second)
        self.note(f"restarted {first} and {second}")
        # 2. SIGSTOP a bucket leader for 2 s (over the longest election timeout, 1.2 s).
        if not self.at(25):
            return
        bucket = rng.randrange(BUCKETS)
        leader, how = c.leader_of(bucket)
        pid = c.pids[leader]
        os.kill(pid, signal.SIGSTOP)
        c.stopped.add(pid)
        self.note(f"SIGSTOP {leader} (leads bucket {bucket}: {how})")
        time.sleep(2.0)
        os.kill(pid, signal.SIGCONT)
        c.stopped.discard(pid)
        self.note(f"SIGCONT {leader}")
        # 3. A leader's RPC port cut off from everyone for 3 s.
        if not self.at(34):
            return
        bucket = rng.randrange(BUCKETS)
        leader, how = c.leader_of(bucket)
        port = int(c.process[leader]["rpc"].rsplit(":", 1)[1])
        why_not = partition_port(port)
        if why_not:
            self.note(f"partition skipped: {why_not}")
        else:
            c.partitioned = True
            self.note(f"partitioned {leader} (leads bucket {bucket}: {how}; RPC port {port})")
            time.sleep(3.0)
            heal_partition()
            c.partitioned = False
            self.note(f"healed the partition of {leader}")
        # 4. kill -9 of a leader, restarted 4 s later.
        if not self.at(43):
            return
        bucket = rng.randrange(BUCKETS)
        leader, how = c.leader_of(bucket)
        c.kill9(leader)
        self.note(f"kill -9 {leader} (leads bucket {bucket}: {how})")
        if not self.at(time.time() - self.start_time + 4):
            return
        c.restart(leader)
        self.note(f"restarted {leader}")


def wait_for_leaders(cluster, timeout_s):
    """Until every bucket has a leader (REST "leader" fields, else asked of the replicas)."""
    start = time.time()
    missing = None
    while time.time() - start < timeout_s:
        listing = http_get(cluster.live_api(), "/api/v1/buckets")
        if listing and all(b.get("leader") for b in listing["buckets"]):
            return time.time() - start
        leaders = probe_leaders(cluster.apis(), timeout_s=max(10, timeout_s - (time.time() - start)))
        if leaders is not None:
            missing = [b for b, h in leaders.items() if not h]
            if not missing:
                return time.time() - start
        time.sleep(1)
    what = ("tess-kv-load --leaders failed" if missing is None else
            f"{len(missing)} of {BUCKETS}, e.g. {', '.join(missing[:5])}")
    raise AssertionError(f"buckets without a leader after {timeout_s} s: {what} "
                         "(does tessd serve the buckets yet?)")


class BucketFaultTest(unittest.TestCase):
    def test_no_lost_write_no_stale_read_under_faults(self):
        seed = int(os.environ.get("TESS_FAULT_SEED", str(random.randrange(1, 2**31))))
        log(f"seed {seed} (TESS_FAULT_SEED={seed} replays the fault moments)")
        if not in_own_netns():
            log("not in a network namespace of its own: the partition will be skipped")
        rng = random.Random(seed)
        cluster = Cluster()
        load = faults = None
        try:
            seconds = wait_for_leaders(cluster, 120)
            log(f"every bucket has a leader ({seconds:.1f} s after up)")
            args = [KV_LOAD, "--threads", str(LOAD_THREADS), "--duration-s", str(LOAD_SECONDS),
                    "--keys-per-thread", "32", "--op-timeout-ms", "10000", "--final-timeout-s",
                    "60", "--seed", str(seed), "--json"]
            for api in cluster.apis():
                args += ["--api", api]
            load_log = open(os.path.join(cluster.dir, "kv-load.log"), "w+")
            load = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=load_log, text=True)
            faults = Faults(cluster, rng, time.time())
            faults.start()
            # Load, then the read-back (at most op timeout + final timeout), then some slack.
            try:
                out, _ = load.communicate(timeout=LOAD_SECONDS + 10 + 60 + 60)
            except subprocess.TimeoutExpired:
                load.kill()
                load.wait()
                self.fail("tess-kv-load did not finish in time")
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
            self.assertEqual(figures["lost_writes"], 0, "lost writes")
            self.assertEqual(figures["stale_reads"], 0, "stale reads")
            self.assertEqual(figures["unreadable_keys"], 0, "keys that did not read back")
            self.assertGreater(figures["acked_writes"], 0)
            self.assertEqual(load.returncode, 0, summary)
            self.assertLess(figures["max_unavailable_ms"], MAX_UNAVAILABLE_MS,
                            f"a client thread went {figures['max_unavailable_ms']} ms without a "
                            f"successful operation (bound {MAX_UNAVAILABLE_MS} ms)")
        finally:
            if faults is not None and faults.is_alive():
                faults.stop_event.set()
                faults.join()
            if load is not None and load.poll() is None:
                load.kill()
                load.wait()
            cluster.close()


class FakeApi(http.server.BaseHTTPRequestHandler):
    """Answers /api/v1/buckets and /api/v1/hosts with what the test sets on the server."""

    def do_GET(self):
        status, body = self.server.answers.get(self.path, (404, "{}"))
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class KvLoadArgumentsTest(unittest.TestCase):
    def setUp(self):
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeApi)
        self.server.answers = {}
        self.thread = threading.Thread(target=self.server.serve_forever)
        self.thread.start()
        self.api = f"127.0.0.1:{self.server.server_address[1]}"

    def tearDown(self):
        self.server.shutdown()
        self.thread.join()
        self.server.server_close()

    def kv_load(self, *args, timeout=60):
        done = subprocess.run([KV_LOAD, *args], capture_output=True, text=True, timeout=timeout)
        return done.returncode, done.stdout, done.stderr

    def test_bad_arguments_exit_2(self):
        for args, message in [([], "--api"),
                              (["--api", "nocolon"], "nocolon"),
                              (["--api", "127.0.0.1:1", "--threads", "0"], "--threads"),
                              (["--api", "127.0.0.1:1", "--read-percent", "101"], "--read-percent"),
                              (["--api", " , "], "at least one")]:
            code, _, err = self.kv_load(*args)
            self.assertEqual(code, 2, f"{args}: {err}")
            self.assertIn(message, err, args)

    def test_an_unreadable_bucket_table_exits_2_saying_why(self):
        dead = f"127.0.0.1:{closed_port()}"
        code, _, err = self.kv_load("--api", dead)
        self.assertEqual(code, 2, err)
        self.assertIn("no REST API answered", err)
        self.assertIn(dead, err)
        self.server.answers["/api/v1/buckets"] = (
            412, '{"error": {"code": "failed_precondition", '
                 '"message": "the cluster has not been created"}}')
        code, _, err = self.kv_load("--api", dead, "--api", self.api)
        self.assertEqual(code, 2, err)
        self.assertIn("the cluster has not been created", err)
        self.server.answers["/api/v1/buckets"] = (200, '{"buckets": [{"id": 0, "desired": "x"}]}')
        self.server.answers["/api/v1/hosts"] = (200, '{"hosts": []}')
        code, _, err = self.kv_load("--api", self.api)
        self.assertEqual(code, 2, err)
        self.assertIn('"desired" is not an array', err)

    def test_a_cluster_that_never_answers_fails_the_check(self):
        # Valid tables, but no replica listens: nothing is acknowledged, so nothing is verified.
        port = closed_port()
        self.server.answers["/api/v1/buckets"] = (
            200, '{"epoch": 1, "buckets": [{"id": 0, "desired": [1], "preferred_leader": 1}, '
                 '{"id": 1, "desired": [1], "preferred_leader": 1}]}')
        self.server.answers["/api/v1/hosts"] = (
            200, f'{{"hosts": [{{"id": 1, "address": "127.0.0.1:{port}"}}]}}')
        code, out, err = self.kv_load("--api", self.api, "--threads", "2", "--duration-s", "1",
                                      "--keys-per-thread", "2", "--op-timeout-ms", "200",
                                      "--final-timeout-s", "1", "--json", "--seed", "7")
        self.assertEqual(code, 1, err)
        figures = json.loads(out.strip().splitlines()[-1])
        self.assertEqual(figures["acked_writes"], 0)
        self.assertGreater(figures["unknown_writes"], 0)
        self.assertEqual(figures["unreadable_keys"], 4)
        self.assertEqual(figures["buckets"], 2)
        self.assertEqual(figures["seed"], 7)
        self.assertFalse(figures["passed"])
        self.assertIn("FAIL: no write was acknowledged", err)
        code, out, err = self.kv_load("--api", self.api, "--leaders", timeout=90)
        self.assertEqual(code, 0, err)
        self.assertEqual(json.loads(out)["leaders"], {"0": None, "1": None})


def main():
    global TESS, TESSD, KV_LOAD
    TESS, TESSD, KV_LOAD = (os.path.abspath(p) for p in sys.argv[1:4])
    names = sys.argv[4:]
    wants_faults = not names or any("BucketFaultTest" in n for n in names)
    if wants_faults and not in_own_netns() and os.geteuid() == 0 and shutil.which("unshare"):
        # Again, in a network namespace of its own (see the module's comment); its loopback must
        # be brought up. If that is not permitted here, run in this one.
        probe = subprocess.run(["unshare", "--net", "true"], capture_output=True, timeout=10)
        if probe.returncode == 0:
            script = ("ip link set lo up && exec \"$0\" \"$@\"")
            os.execvpe("unshare", ["unshare", "--net", "sh", "-c", script, sys.executable,
                                   os.path.abspath(__file__), *sys.argv[1:]],
                       {**os.environ, NETNS_MARK: "1"})
        log(f"unshare --net is not permitted here ({probe.stderr.decode().strip()})")
    unittest.main(argv=[sys.argv[0], *names], verbosity=2)


if __name__ == "__main__":
    main()
