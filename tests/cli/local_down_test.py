#!/usr/bin/env python3
"""`tess local down` signals only the processes it started.

usage: local_down_test.py TESS

A state file records two processes this test starts (by PID, stopped by PID at the end): one whose
command line matches the record, one whose PID now runs another command line (as after PID reuse).
`down` must stop the first and leave the second alone, saying so.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

TESS = None
SLEEP = shutil.which("sleep")


class LocalDownTest(unittest.TestCase):
    def test_down_skips_a_reused_pid(self):
        directory = tempfile.mkdtemp(prefix="tess-local-down-test-")
        ours = subprocess.Popen([SLEEP, "300"])
        other = subprocess.Popen([SLEEP, "301"])
        try:
            state = {
                "dir": directory,
                "etcd": [],
                "hosts": [
                    {"name": "host0", "pid": ours.pid, "argv": [SLEEP, "300"]},
                    # The recorded tessd is gone; its PID now runs `sleep 301`.
                    {"name": "host1", "pid": other.pid,
                     "argv": ["/nonexistent/tessd", "--etcd", "127.0.0.1:1", "--name", "host1"]},
                ],
            }
            with open(os.path.join(directory, "state.json"), "w") as f:
                json.dump(state, f)
            done = subprocess.run([TESS, "local", "down", "--dir", directory], capture_output=True,
                                  text=True, timeout=60)
            print(done.stdout, file=sys.stderr)
            self.assertEqual(done.returncode, 0, done.stderr)
            ours.wait(timeout=15)  # Stopped by down (SIGTERM).
            self.assertIsNone(other.poll(), "down signalled a PID that belongs to another program")
            self.assertRegex(done.stdout, rf"host0 +{ours.pid} +stopped")
            self.assertRegex(done.stdout,
                             rf"host1 +{other.pid} +skipped: the PID now belongs to another program")
        finally:
            for child in (ours, other):
                if child.poll() is None:
                    child.kill()
                    child.wait()
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    TESS = os.path.abspath(sys.argv[1])
    unittest.main(argv=[sys.argv[0], *sys.argv[2:]], verbosity=2)
