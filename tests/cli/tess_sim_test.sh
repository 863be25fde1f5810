#!/usr/bin/env bash
# The `tess sim placement` command as a user runs it: JSON keys and values, human output, errors
# and exit codes. Usage: tess_sim_test.sh PATH_TO_TESS
set -euo pipefail
tess=$1
fail() { echo "FAIL: $*" >&2; exit 1; }

json=$("$tess" sim placement --backends 100 --stripes 100000 --json)
python3 - "$json" <<'PY' || fail "JSON report"
import json, sys
r = json.loads(sys.argv[1])
for key in ("moved_fraction", "ideal_moved_fraction", "rebuild_participation", "fill_max_over_mean"):
    assert key in r, key
assert r["backends"] == 100 and r["stripes"] == 100000 and r["added_backends"] == 10
assert abs(r["ideal_moved_fraction"] - 10 / 110) < 1e-9
assert r["moved_fraction"] <= 1.1 * r["ideal_moved_fraction"], r
assert r["rebuild_participation"] >= 0.99, r
assert r["fill_max_over_mean"] <= 1.1, r
PY

human=$("$tess" sim placement --backends 20 --stripes 20000 --data 4 --parity 2)
grep -q "Placement of 20000 stripes (4+2) on 20 backends" <<<"$human" || fail "human header"
grep -q "of columns move" <<<"$human" || fail "human movement line"

set +e
err=$("$tess" sim placement --backends 5 2>&1); code=$?
set -e
[ "$code" -eq 2 ] || fail "too few failure domains should exit 2, got $code"
grep -q "needs at least 7 failure domains" <<<"$err" || fail "error text: $err"

set +e
err=$("$tess" sim placement --backends 100 --failed-domains 1,1,2 2>&1); code=$?
set -e
[ "$code" -eq 2 ] || fail "a repeated failed domain should exit 2, got $code"
grep -q "named twice" <<<"$err" || fail "error text: $err"

set +e
"$tess" sim placement --no-such-flag >/dev/null 2>&1; code=$?
set -e
[ "$code" -eq 2 ] || fail "an unknown flag should exit 2, got $code"
"$tess" sim placement --help | grep -q -- "--sweep" || fail "--help lists --sweep"
echo "tess sim placement: all checks passed"
