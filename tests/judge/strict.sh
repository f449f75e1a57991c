#!/bin/sh
# cc-judge serve --sandbox-strict: with a writable cgroup (root here) it
# starts and says its sandboxes get a cgroup each; without one (uid 65534,
# which may create no group) it refuses to start with exit status 1,
# naming the setting, instead of falling back to rlimits; without the
# setting the same user starts on the fallback. `cc-judge selfcheck` says
# the same from inside a real box, with its exit status.
#   strict.sh CC_JUDGE
set -u
judge=$1
tmp=$(mktemp -d /tmp/cc-strict.XXXXXX)
chmod 755 "$tmp"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
nport=$(port)
nats-server -a 127.0.0.1 -p "$nport" -js -sd "$tmp/js" >"$tmp/nats.log" 2>&1 &
npid=$!
trap 'kill $npid 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
i=0
until bash -c "exec 3<>/dev/tcp/127.0.0.1/$nport" 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 150 ] || { echo "nats-server did not start"; exit 1; }
    sleep 0.2
done
bad=0
# run NAME USER ARGS...: the judge for at most 8 s; its output in $tmp/NAME.log
run() {
    name=$1 user=$2; shift 2
    mkdir -p "$tmp/$name" && chmod 777 "$tmp/$name"
    timeout 8 setpriv --reuid "$user" --regid "$user" --clear-groups \
        "$judge" serve --nats-url "nats://127.0.0.1:$nport" --metrics-port "$(port)" \
        --judge-cache "$tmp/$name" --concurrency 1 "$@" >"$tmp/$name.log" 2>&1
}
run strict-nobody 65534 --sandbox-strict
rc=$?
if [ $rc -eq 1 ] && grep -q "sandbox-strict: no writable cgroup" "$tmp/strict-nobody.log"; then
    echo "strict without a cgroup: refused (exit 1, the setting named)"
else
    echo "strict without a cgroup: exit $rc"; cat "$tmp/strict-nobody.log"; bad=1
fi
run fallback-nobody 65534
rc=$?
if [ $rc -eq 124 ] && grep -q "no writable cgroup" "$tmp/fallback-nobody.log"; then
    echo "not strict without a cgroup: runs on the rlimit fallback"
else
    echo "not strict without a cgroup: exit $rc"; cat "$tmp/fallback-nobody.log"; bad=1
fi
run strict-root 0 --sandbox-strict
rc=$?
if [ $rc -eq 124 ] && grep -q "a cgroup per sandbox" "$tmp/strict-root.log"; then
    echo "strict with a cgroup: runs"
else
    echo "strict with a cgroup: exit $rc"; cat "$tmp/strict-root.log"; bad=1
fi
out=$("$judge" selfcheck)
rc=$?
if [ $rc -eq 0 ] && echo "$out" | grep -q "^cgroup per sandbox: yes" &&
    echo "$out" | grep -q "^network: none" && echo "$out" | grep -q "^/dev: read-only"; then
    echo "selfcheck with a cgroup: passes"
else
    echo "selfcheck with a cgroup: exit $rc"; echo "$out"; bad=1
fi
out=$(setpriv --reuid 65534 --regid 65534 --clear-groups "$judge" selfcheck --sandbox-strict)
rc=$?
if [ $rc -eq 1 ] && echo "$out" | grep -q "^cgroup per sandbox: no" && echo "$out" | grep -q "^strict: refused"; then
    echo "selfcheck --sandbox-strict without a cgroup: fails, naming it"
else
    echo "selfcheck --sandbox-strict without a cgroup: exit $rc"; echo "$out"; bad=1
fi
exit $bad
