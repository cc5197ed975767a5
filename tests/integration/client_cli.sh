#!/usr/bin/env bash
# End-to-end test of the `ether` CLI against the fake cluster
# (tests/integration/client_fake_broker.c): every subcommand once, outputs
# and exit statuses checked. Usage: client_cli.sh BUILD_DIR
set -u
build="${1:?usage: client_cli.sh BUILD_DIR}"
ether="$build/ether"
fake="$build/tests/integration/client_fake_broker"
work=$(mktemp -d)
fake_pid=""
cleanup() {
	[ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null && wait "$fake_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
failures=0
check() { # NAME EXPECTED_STATUS COMMAND... ; stdout in $work/out, stderr in $work/err
	local name="$1" expected="$2"
	shift 2
	"$@" >"$work/out" 2>"$work/err"
	local status=$?
	if [ "$status" -ne "$expected" ]; then
		echo "FAIL $name: exit $status, expected $expected"; sed 's/^/  | /' "$work/out" "$work/err"
		failures=$((failures + 1))
		return 1
	fi
	echo "ok   $name"
}
contains() { # NAME FILE TEXT
	if ! grep -qF -- "$3" "$2"; then
		echo "FAIL $1: $2 lacks \"$3\""; sed 's/^/  | /' "$2"
		failures=$((failures + 1))
	fi
}

start_fake() {
	rm -f "$work/brokers"
	"$fake" "$work/brokers" "$@" &
	fake_pid=$!
	for _ in $(seq 100); do [ -s "$work/brokers" ] && break; sleep 0.05; done
	export ETHER_BROKERS=$(cat "$work/brokers")
}
start_fake

check "help" 0 "$ether" --help && contains help "$work/out" "topic create"
check "group help" 0 "$ether" topic --help && contains "group help" "$work/out" "alter-config"
check "bad flag" 2 "$ether" topic list --bogus && contains "bad flag" "$work/err" "ether: unknown flag --bogus"
check "version" 0 "$ether" version
check "cluster status" 0 "$ether" cluster status && contains "cluster status" "$work/out" "fake-cluster"
check "broker list json" 0 "$ether" broker list --format json && contains "broker list json" "$work/out" '"controller":true'
check "topic create" 0 "$ether" topic create orders -p 3 -r 3 -c retention.ms=60000
check "topic create again" 1 "$ether" topic create orders -p 3 -r 3 && contains "topic create again" "$work/err" "already exists"
check "topic list" 0 "$ether" topic list && contains "topic list" "$work/out" "orders"
check "topic describe" 0 "$ether" topic describe orders && contains "topic describe" "$work/out" "retention.ms = 60000"
printf 'one\ntwo\nthree\n' >"$work/lines"
check "produce" 0 "$ether" produce orders --key user-1 <"$work/lines" && contains produce "$work/out" "Produced to partition"
[ "$(grep -c '^Produced to partition' "$work/out")" -eq 3 ] || { echo "FAIL produce: 3 lines expected"; failures=$((failures + 1)); }
check "produce json acks 0" 0 "$ether" produce orders --acks 0 --format json <"$work/lines" && contains "produce json acks 0" "$work/out" '"line":3'
check "consume to the end" 0 "$ether" consume orders --from-beginning --format '%k=%v\n'
contains "consume to the end" "$work/out" "user-1=one"
contains "consume to the end" "$work/out" "user-1=three"
[ "$(wc -l <"$work/out")" -eq 6 ] || { echo "FAIL consume: 6 records expected"; failures=$((failures + 1)); }
check "consume json" 0 "$ether" consume orders --offset start --format json && contains "consume json" "$work/out" '"value":"two"'
check "consume from the end exits at once" 0 timeout 10 "$ether" consume orders
check "unknown topic" 1 "$ether" topic describe nope && contains "unknown topic" "$work/err" "ether: topic nope does not exist"
check "alter config" 0 "$ether" topic alter-config orders --set cleanup.policy=delete --delete retention.ms
check "describe json" 0 "$ether" topic describe orders --format json && contains "describe json" "$work/out" '"cleanup.policy":"delete"'
check "transfer leader" 0 "$ether" partition transfer-leader orders/0 --to 3
check "health" 0 "$ether" cluster health && contains health "$work/out" "Healthy: yes"
check "bench produce" 0 "$ether" bench produce orders --count 2000 --record-size 64 --format json && contains "bench produce" "$work/out" '"records":2000'
contains "bench produce" "$work/out" '"idempotence":"on"'
check "bench produce idempotence off" 0 "$ether" bench produce orders --count 500 --record-size 16 --idempotence off --format json && contains "bench produce idempotence off" "$work/out" '"idempotence":"off"'
check "bench produce bad idempotence" 2 "$ether" bench produce orders --idempotence maybe && contains "bench produce bad idempotence" "$work/err" "--idempotence expects on or off"
check "describe producers" 0 "$ether" topic describe-producers orders/0 && contains "describe producers" "$work/out" "LAST-SEQUENCE"
check "describe producers json" 0 "$ether" topic describe-producers orders/0 --format json && contains "describe producers json" "$work/out" '"last_sequence":'
check "describe producers bad partition" 2 "$ether" topic describe-producers orders && contains "describe producers bad partition" "$work/err" "expected TOPIC/PARTITION"
check "bench consume" 0 "$ether" bench consume orders --count 100 && contains "bench consume" "$work/out" "consumed"
# Consumer groups: 3 records in each partition of events.
check "group topic" 0 "$ether" topic create events -p 3 -r 3
for p in 0 1 2; do
	printf 'e%s-a\ne%s-b\ne%s-c\n' "$p" "$p" "$p" | "$ether" produce events --partition "$p" >/dev/null || { echo "FAIL produce events/$p"; failures=$((failures + 1)); }
done
check "group help" 0 "$ether" group --help && contains "group help" "$work/out" "group reset-offsets"
check "group consume first" 0 timeout 20 "$ether" consume events --group g1 --from-beginning --count 4 --format '%p %o %v\n'
[ "$(wc -l <"$work/out")" -eq 4 ] || { echo "FAIL group consume first: 4 records expected"; failures=$((failures + 1)); }
cp "$work/out" "$work/group-first"
check "group describe json" 0 "$ether" group describe g1 --format json && contains "group describe json" "$work/out" '"state":"empty"'
committed=$(grep -o '"committed":[0-9-]*' "$work/out" | cut -d: -f2 | awk '$1 > 0 { s += $1 } END { print s + 0 }')
[ "$committed" -eq 4 ] || { echo "FAIL group describe json: committed offsets add up to $committed, not 4"; failures=$((failures + 1)); }
contains "group describe json" "$work/out" '"end":3'
check "group consume rest" 0 timeout 20 "$ether" consume events --group g1 --count 5 --format '%p %o %v\n'
cat "$work/group-first" "$work/out" | sort -u >"$work/group-all"
[ "$(wc -l <"$work/group-all")" -eq 9 ] || { echo "FAIL group consume rest: the two members together read $(wc -l <"$work/group-all") distinct records, not 9"; failures=$((failures + 1)); }
check "group list" 0 "$ether" group list && contains "group list" "$work/out" "g1"
check "group describe" 0 "$ether" group describe g1 && contains "group describe" "$work/out" "COMMITTED"
contains "group describe" "$work/out" "(no members)"
"$ether" consume events --group g1 --format '%p %o %v\n' >"$work/member-out" 2>"$work/member-err" &
member_pid=$!
for _ in $(seq 100); do "$ether" group describe g1 2>/dev/null | grep -q "ether-cli" && break; sleep 0.1; done
check "group describe member" 0 "$ether" group describe g1 && contains "group describe member" "$work/out" "1 member"
check "group reset refused" 1 "$ether" group reset-offsets g1 --topic events --to-earliest && contains "group reset refused" "$work/err" "has active members"
check "group delete refused" 1 "$ether" group delete g1 && contains "group delete refused" "$work/err" "still has members"
kill -TERM "$member_pid"
wait "$member_pid"
member_status=$?
[ "$member_status" -eq 0 ] || { echo "FAIL group member: exit $member_status after SIGTERM, expected 0"; sed 's/^/  | /' "$work/member-err"; failures=$((failures + 1)); }
check "group left" 0 "$ether" group describe g1 && contains "group left" "$work/out" "(no members)"
check "group reset" 0 "$ether" group reset-offsets g1 --topic events --to-earliest --format json && contains "group reset" "$work/out" '"offset":0'
check "group reset datetime" 0 "$ether" group reset-offsets g1 --topic events --to-datetime 2000-01-01T00:00:00Z
check "group consume after reset" 0 timeout 20 "$ether" consume events --group g1 --count 9 --format '%v\n'
[ "$(sort -u "$work/out" | wc -l)" -eq 9 ] || { echo "FAIL group consume after reset: 9 distinct records expected"; failures=$((failures + 1)); }
check "group reset usage" 2 "$ether" group reset-offsets g1 --to-latest && contains "group reset usage" "$work/err" "needs --topic TOPIC"
check "group bad config" 2 "$ether" consume events --group g1 --config no_such_setting=1 && contains "group bad config" "$work/err" "unknown configuration property"
check "group contradicting config" 2 "$ether" consume events --group g1 --config heartbeat_interval_ms=20000 && contains "group contradicting config" "$work/err" "must be less than session_timeout_ms"
check "group delete" 0 "$ether" group delete g1
check "group gone" 1 "$ether" group describe g1 && contains "group gone" "$work/err" "consumer group g1 does not exist"
check "topic delete" 0 "$ether" topic delete orders
check "unreachable" 1 "$ether" --brokers 127.0.0.1:1 --timeout 500 topic list && contains unreachable "$work/err" "connection refused"

kill "$fake_pid"; wait "$fake_pid" 2>/dev/null
start_fake --phantom-broker
check "unhealthy" 3 "$ether" cluster health --timeout 1000 && contains unhealthy "$work/out" "broker 9"
check "unhealthy json" 3 "$ether" cluster health --timeout 1000 --format json && contains "unhealthy json" "$work/out" '"brokers_down":[9]'

echo "client_cli: $failures failures"
[ "$failures" -eq 0 ]
