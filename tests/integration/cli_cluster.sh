#!/usr/bin/env bash
# The real `ether` CLI against a real three-broker etherd cluster on loopback:
# every subcommand with its outputs and exit statuses, the errors (unknown
# topic, unreachable and silent brokers, bad flags), and a lossless pipeline of
# CLI_PIPELINE_RECORDS (default 1,000,000) records of 1 KiB through
# `ether produce` and `ether consume`. Prints "ok - ..." or "not ok - ..." per
# sub-check, then "cli-cluster: N passed, M failed"; exits 1 on any failure.
#
# usage: cli_cluster.sh [BUILD_DIR]   (default $BUILD, else build/release)
# env:   CLI_PIPELINE_RECORDS (0 skips the pipeline), CLI_CLUSTER_KEEP=1 keeps the data.
set -u
cd "$(dirname "$0")/../.."

build="${1:-${BUILD:-build/release}}"
ether="$build/ether"
etherd="$build/etherd"
check_py="tests/integration/cli_cluster_check.py"
pipeline_records="${CLI_PIPELINE_RECORDS:-1000000}"
command_timeout_s=60 # no single CLI call of the functional checks may take longer
for program in "$ether" "$etherd"; do
	[ -x "$program" ] || { echo "cli-cluster: $program is not built (run make)" >&2; exit 2; }
done

work=$(mktemp -d /tmp/ether-cli-cluster-XXXXXX)
broker_pids=()
silent_pid=""
passed=0
failed=0

print_logs() {
	for id in 1 2 3; do
		echo "--- broker $id log (last 40 lines) ---"
		tail -n 40 "$work/broker-$id.log" 2>/dev/null
	done
}

cleanup() {
	local pid
	for pid in "${broker_pids[@]}" $silent_pid; do
		[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	done
	if [ "$failed" -gt 0 ]; then
		print_logs
	fi
	if [ "${CLI_CLUSTER_KEEP:-0}" = 1 ]; then
		echo "cli-cluster: data kept in $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ms() { date +%s%3N; }

# ---- sub-checks: begin NAME; run/expect_...; end ----------------------------------------
# `run STATUS COMMAND...` runs with a timeout, stdout in $work/out, stderr in $work/err,
# the duration in $elapsed_ms; every expect_ adds to the problems of the current sub-check.
check_name=""
problems=""
elapsed_ms=0
begin() { check_name="$1"; problems=""; }
problem() { problems+="    $1"$'\n'; }
run() {
	local expected="$1"
	shift
	local start
	start=$(now_ms)
	timeout -k 5 "$command_timeout_s" "$@" >"$work/out" 2>"$work/err"
	local status=$?
	elapsed_ms=$(($(now_ms) - start))
	if [ "$status" -ne "$expected" ]; then
		local words="$*"
		problem "\"ether ${words#"$ether "}\" exited $status, expected $expected; stderr: $(head -c 300 "$work/err")"
		return 1
	fi
}
run_stdin() { # FILE STATUS COMMAND...
	local input="$1"
	shift
	run "$@" <"$input"
}
expect_contains() { # FILE TEXT
	grep -qF -- "$2" "$1" || problem "$(basename "$1") lacks \"$2\""
}
expect_lacks() { # FILE TEXT
	! grep -qF -- "$2" "$1" || problem "$(basename "$1") holds \"$2\""
}
expect_line() { # FILE LINE: the file holds exactly this line
	grep -qxF -- "$2" "$1" || problem "$(basename "$1") lacks the line \"$2\""
}
expect_lines() { # FILE COUNT
	local lines
	lines=$(wc -l <"$1")
	[ "$lines" -eq "$2" ] || problem "$(basename "$1") has $lines lines, expected $2"
}
expect_empty() { [ ! -s "$1" ] || problem "$(basename "$1") is not empty"; }
expect_py() { # SUBCOMMAND ARGS...: a check of cli_cluster_check.py
	local said
	said=$(python3 "$check_py" "$@" 2>&1) || problem "$said"
}
expect_faster_than() { # MS
	[ "$elapsed_ms" -lt "$1" ] || problem "took $elapsed_ms ms, expected under $1 ms"
}
expect_one_sentence() { # stderr is one line "ether: ..." holding TEXT
	expect_lines "$work/err" 1
	expect_contains "$work/err" "ether: "
	expect_contains "$work/err" "$1"
}
end() {
	if [ -z "$problems" ]; then
		echo "ok - $check_name"
		passed=$((passed + 1))
	else
		echo "not ok - $check_name"
		printf '%s' "$problems"
		for stream in out err; do
			[ -s "$work/$stream" ] && head -c 2000 "$work/$stream" | sed "s/^/    $stream| /"
		done
		failed=$((failed + 1))
	fi
}
# Polls COMMAND (a shell function) every 200 ms until it succeeds or SECONDS pass.
wait_until() { # SECONDS COMMAND...
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.2
	done
}

# ---- the cluster -----------------------------------------------------------------------
port_free() { python3 -c 'import socket,sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null; }
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Client ports base..base+2, HTTP ports base+100..base+102: below the ephemeral range
# (32768 and up) so no outgoing connection takes them, and away from the C harness's
# 20000..31999 so both can run at once.
base_port=""
for attempt in $(seq 0 200); do
	candidate=$((12000 + (($$ + attempt * 7919) % 700) * 10))
	if port_free "$candidate" && port_free $((candidate + 1)) && port_free $((candidate + 2)) &&
		port_free $((candidate + 100)) && port_free $((candidate + 101)) &&
		port_free $((candidate + 102)); then
		base_port=$candidate
		break
	fi
done
[ -n "$base_port" ] || { echo "cli-cluster: no free ports" >&2; exit 1; }
seeds="1@127.0.0.1:$base_port,2@127.0.0.1:$((base_port + 1)),3@127.0.0.1:$((base_port + 2))"
export ETHER_BROKERS="127.0.0.1:$base_port,127.0.0.1:$((base_port + 1)),127.0.0.1:$((base_port + 2))"

begin "three brokers start and listen on 127.0.0.1:$base_port-$((base_port + 2))"
for id in 1 2 3; do
	mkdir -p "$work/broker-$id"
	"$etherd" --broker-id "$id" --data-dir "$work/broker-$id" \
		--client-port $((base_port + id - 1)) --http-port $((base_port + 99 + id)) \
		--seeds "$seeds" --tick-ms 20 --election-ticks 10 --heartbeat-ticks 2 \
		--retention-check-ms 500 2>"$work/broker-$id.log" &
	broker_pids[id]=$!
done
for id in 1 2 3; do
	wait_until 10 listening $((base_port + id - 1)) || problem "broker $id does not listen after 10 s"
done
end
[ "$failed" -eq 0 ] || { echo "cli-cluster: $passed passed, $failed failed"; exit 1; }

# ---- cluster and brokers ---------------------------------------------------------------
begin "cluster health --exit-when-healthy returns once the cluster is healthy"
# Health counts registered brokers: the third can register a moment after the first two.
three_registered() { "$ether" cluster status --format json 2>/dev/null | grep -q '{"id":3,'; }
wait_until 15 three_registered || problem "broker 3 is not registered after 15 s"
run 0 "$ether" cluster health --exit-when-healthy --timeout 2000
expect_contains "$work/out" "Healthy: yes (3 brokers, controller "
end

begin "cluster health exits 0 and says healthy (text and json)"
# The controller creates __consumer_offsets once the brokers registered, which can be just after
# the cluster first looked healthy: wait until its partitions have leaders too.
offsets_led() { "$ether" topic describe __consumer_offsets --format json 2>/dev/null |
	python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["partitions"] and all(p["leader"] for p in d["partitions"]) else 1)' 2>/dev/null; }
wait_until 15 offsets_led || problem "__consumer_offsets has no leader for every partition in 15 s"
run 0 "$ether" cluster health
expect_contains "$work/out" "Healthy: yes (3 brokers"
run 0 "$ether" cluster health --format json &&
	expect_py json "$work/out" 'd["healthy"] is True and d["brokers"] == 3 and d["brokers_down"] == [] and d["controller_id"] in (1, 2, 3) and d["partitions_without_leader"] == []'
end

begin "cluster status shows the cluster, its controller and three brokers"
run 0 "$ether" cluster status
expect_contains "$work/out" "Cluster     "
grep -qE '^Controller  broker [123]$' "$work/out" || problem "no 'Controller  broker N' line"
expect_contains "$work/out" "Topics      0 (0 partitions, 0 without a leader)"
for id in 1 2 3; do
	grep -qE "^$id +127\.0\.0\.1 +$((base_port + id - 1)) " "$work/out" || problem "no row for broker $id"
done
run 0 "$ether" cluster status --format json &&
	expect_py json "$work/out" 'd["controller_id"] in (1, 2, 3) and len(d["brokers"]) == 3 and d["topics"] == 0'
end

begin "broker list prints a table and valid JSON of the three brokers, one controller"
run 0 "$ether" broker list
expect_lines "$work/out" 4
expect_contains "$work/out" "ID     HOST                     PORT   RACK         CONTROLLER"
[ "$(grep -c ' yes$' "$work/out")" -eq 1 ] || problem "not exactly one controller row"
run 0 "$ether" broker list --format json &&
	python3 -c 'import json,sys; json.load(sys.stdin)' <"$work/out" || problem "broker list json does not parse"
expect_py json "$work/out" "sorted(b['id'] for b in d) == [1, 2, 3] and sorted(b['port'] for b in d) == [$base_port, $((base_port + 1)), $((base_port + 2))] and sum(b['controller'] for b in d) == 1 and all(b['host'] == '127.0.0.1' for b in d)"
end

begin "version prints the library version"
run 0 "$ether" version && expect_line "$work/out" "ether 0.1.0"
end

# ---- topics ----------------------------------------------------------------------------
topic=orders
begin "topic create $topic -p 6 -r 3 -c retention.ms=3600000"
run 0 "$ether" topic create "$topic" -p 6 -r 3 -c retention.ms=3600000 &&
	expect_line "$work/out" "Created topic $topic (6 partitions, replication factor 3)"
end

begin "topic create of an existing topic fails with one sentence"
run 1 "$ether" topic create "$topic" -p 6 -r 3 && expect_one_sentence "topic $topic already exists"
expect_empty "$work/out"
end

begin "topic create with more replicas than brokers fails with one sentence"
run 1 "$ether" topic create too-many -p 1 -r 5 && expect_one_sentence "replication factor 5"
end

begin "topic list shows the topic, its partitions and replicas (text and json)"
run 0 "$ether" topic list
grep -qE "^$topic +6 +3$" "$work/out" || problem "no row '$topic 6 3'"
expect_lacks "$work/out" "too-many"
run 0 "$ether" topic list --format json &&
	expect_py json "$work/out" "d == [{'name': '$topic', 'partitions': 6, 'replicas': 3}]"
end

describe_healthy() { # TOPIC PARTITIONS: describe shows every partition led and fully in sync
	"$ether" topic describe "$1" >"$work/describe" 2>&1 &&
		python3 "$check_py" describe "$work/describe" "$2" 3 all-in-sync >/dev/null
}
begin "topic describe shows 6 partitions with leaders, replicas, in-sync replicas and HW"
wait_until 15 describe_healthy "$topic" 6 || problem "partitions not all led with 3 in-sync replicas in 15 s"
run 0 "$ether" topic describe "$topic"
expect_line "$work/out" "Topic $topic: 6 partitions"
expect_line "$work/out" "  retention.ms = 3600000"
expect_contains "$work/out" "PARTITION  LEADER  REPLICAS         IN-SYNC          HIGH-WATERMARK  LOG-START"
expect_py describe "$work/out" 6 3
run 0 "$ether" topic describe "$topic" --format json &&
	expect_py json "$work/out" "d['name'] == '$topic' and d['configs'] == {'retention.ms': '3600000'} and [p['partition'] for p in d['partitions']] == list(range(6)) and all(p['leader'] in p['replicas'] and len(set(p['replicas'])) == 3 and p['leader'] in p['in_sync_replicas'] and p['high_watermark'] == 0 for p in d['partitions'])"
end

begin "topic alter-config --set and --delete change what describe shows"
run 0 "$ether" topic alter-config "$topic" --set retention.ms=7200000 --set cleanup.policy=delete &&
	expect_line "$work/out" "Updated the settings of topic $topic (2 set, 0 removed)"
run 0 "$ether" topic describe "$topic"
expect_line "$work/out" "  retention.ms = 7200000"
expect_line "$work/out" "  cleanup.policy = delete"
run 0 "$ether" topic alter-config "$topic" --set retention.ms=5400000 --delete cleanup.policy &&
	expect_line "$work/out" "Updated the settings of topic $topic (1 set, 1 removed)"
run 0 "$ether" topic describe "$topic" --format json &&
	expect_py json "$work/out" "d['configs'] == {'retention.ms': '5400000'}"
end

begin "topic alter-config of an unknown topic fails with one sentence"
run 1 "$ether" topic alter-config nope --set retention.ms=1 && expect_one_sentence "nope"
end

# ---- produce and consume ---------------------------------------------------------------
# $work/expected gets "PARTITION|KEY|VALUE" per record produced, in order.
: >"$work/expected"
partition_of() { python3 "$check_py" partition "$1" 6; }
start_ms=$(now_ms)

begin "produce with --key writes lines in order to the key's partition (acks all, text)"
printf 'one\ntwo\nthree\n' >"$work/in"
p1=$(partition_of user-1)
run_stdin "$work/in" 0 "$ether" produce "$topic" --key user-1
expect_lines "$work/out" 3
for offset in 0 1 2; do expect_line "$work/out" "Produced to partition $p1 at offset $offset"; done
sed "s/^/$p1|user-1|/" "$work/in" >>"$work/expected"
end

begin "produce --acks 1 --format json prints one object per line with partition and offset"
printf 'four\nfive\nsix\nseven\n' >"$work/in"
p2=$(partition_of user-2)
base2=$(grep -c "^$p2|" "$work/expected")
run_stdin "$work/in" 0 "$ether" produce "$topic" --key user-2 --acks 1 --format json
expect_lines "$work/out" 4
expect_py json-lines "$work/out" "[(r['line'], r['partition'], r['offset']) for r in d] == [(i + 1, $p2, $base2 + i) for i in range(4)]"
sed "s/^/$p2|user-2|/" "$work/in" >>"$work/expected"
end

begin "produce --acks 0 reports the partition without an offset"
printf 'eight\nnine\n' >"$work/in"
p3=$(partition_of user-3)
run_stdin "$work/in" 0 "$ether" produce "$topic" --key user-3 --acks 0
expect_lines "$work/out" 2
[ "$(grep -cxF "Produced to partition $p3 (offset unknown with acks=0)" "$work/out")" -eq 2 ] ||
	problem "expected 2 lines 'Produced to partition $p3 (offset unknown with acks=0)'"
sed "s/^/$p3|user-3|/" "$work/in" >>"$work/expected"
end

begin "produce --partition 4 without a key writes there"
printf 'ten\neleven\n' >"$work/in"
base4=$(grep -c "^4|" "$work/expected")
run_stdin "$work/in" 0 "$ether" produce "$topic" --partition 4
expect_line "$work/out" "Produced to partition 4 at offset $base4"
expect_line "$work/out" "Produced to partition 4 at offset $((base4 + 1))"
sed "s/^/4||/" "$work/in" >>"$work/expected"
end

begin "produce of an empty line and of a line with JSON-hostile bytes"
printf '\nquote " back\\slash\ttab\n' >"$work/in"
p5=$(partition_of weird)
run_stdin "$work/in" 0 "$ether" produce "$topic" --key weird
expect_lines "$work/out" 2
sed "s/^/$p5|weird|/" "$work/in" >>"$work/expected"
end

consumed_everything() { # acks=0 records arrive in their own time
	"$ether" consume "$topic" --from-beginning --format '%p|%o|%k|%v\n' >"$work/consumed" 2>"$work/err" &&
		python3 "$check_py" records "$work/expected" "$work/consumed" >"$work/records-diff"
}
begin "consume --from-beginning (template %p|%o|%k|%v) returns exactly what was produced, in order per partition, and exits at the end"
wait_until 10 consumed_everything || { problem "$(cat "$work/records-diff")"; cp "$work/consumed" "$work/out"; }
end

begin "consume --partition P --offset 1 starts there and stops at the end"
run 0 "$ether" consume "$topic" --partition "$p2" --offset 1 --format '%o %v\n'
printf '1 five\n2 six\n3 seven\n' | diff - "$work/out" >/dev/null ||
	problem "expected offsets 1..3 of partition $p2 (five six seven)"
end

begin "consume --offset start, --offset end and a partition's default (the end)"
run 0 "$ether" consume "$topic" --partition "$p1" --offset start &&
	sed -n "s/^$p1|[^|]*|//p" "$work/expected" | diff -q - "$work/out" >/dev/null ||
	problem "--offset start did not print the values of partition $p1 in order"
run 0 "$ether" consume "$topic" --partition "$p1" --offset end && expect_empty "$work/out"
run 0 "$ether" consume "$topic" && expect_empty "$work/out"
expect_faster_than 5000
end

begin "consume --format json: one object per record with topic, partition, offset, timestamp, key, value"
run 0 "$ether" consume "$topic" --from-beginning --format json
expect_lines "$work/out" "$(wc -l <"$work/expected")"
expect_py json-lines "$work/out" "all(r['topic'] == '$topic' and 0 <= r['partition'] < 6 and r['offset'] >= 0 and $start_ms - 5000 <= r['timestamp_ms'] <= $(now_ms) + 5000 for r in d) and sorted((r['partition'], r['key'], r['value']) for r in d if r['key'] == 'weird') == [($p5, 'weird', ''), ($p5, 'weird', 'quote \" back\\\\slash\\ttab')] and [r['key'] for r in d if r['partition'] == 4 and r['value'] in ('ten', 'eleven')] == [None, None]"
cp "$work/out" "$work/consumed.json"
end

begin "consume templates %t and %T match the JSON's timestamp and topic"
run 0 "$ether" consume "$topic" --partition "$p1" --from-beginning --format '%T %p %o %t %k %%\n'
expected_text=$(python3 -c 'import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["partition"] == int(sys.argv[2]):
        print(r["topic"], r["partition"], r["offset"], r["timestamp_ms"], r["key"] or "", "%")' "$work/consumed.json" "$p1")
[ "$expected_text" = "$(cat "$work/out")" ] || problem "template output differs from the JSON's fields"
end

begin "consume --follow prints records produced after it started, until stopped"
timeout -k 5 30 "$ether" consume "$topic" --partition 4 --follow --format '%o %v\n' >"$work/follow" 2>"$work/err" &
follow_pid=$!
sleep 1
echo followed | "$ether" produce "$topic" --partition 4 >/dev/null 2>>"$work/err" || problem "produce failed"
wait_until 10 grep -q " followed$" "$work/follow" || problem "the followed record did not arrive in 10 s"
kill -0 "$follow_pid" 2>/dev/null || problem "consume --follow exited by itself"
kill -TERM "$follow_pid" 2>/dev/null
wait "$follow_pid" 2>/dev/null
cp "$work/follow" "$work/out"
end

begin "consume --offset N without --partition skips partitions that end before N (5 runs)"
run 0 "$ether" topic create offsets -p 3 -r 3
wait_until 15 describe_healthy offsets 3 || problem "topic offsets is not led in 15 s"
seq 200000 >"$work/in"
run_stdin "$work/in" 0 "$ether" produce offsets --partition 0 --format json
echo lonely >"$work/in"
run_stdin "$work/in" 0 "$ether" produce offsets --partition 1
seq 3 200000 | awk '{ print 0, $1 - 1, $1 }' >"$work/offsets-expected"
for attempt in 1 2 3 4 5; do
	run 0 "$ether" consume offsets --offset 2 --format '%p %o %v\n' &&
		{ diff -q "$work/offsets-expected" "$work/out" >/dev/null ||
			problem "run $attempt: expected offsets 2..199999 of partition 0 and nothing else"; }
done
run 0 "$ether" consume offsets --offset 2 --partition 1 && expect_empty "$work/out"
end

# ---- leadership ------------------------------------------------------------------------
begin "partition transfer-leader $topic/0 --to another replica moves leadership"
"$ether" topic describe "$topic" >"$work/describe" 2>&1
old_leader=$(python3 "$check_py" leader "$work/describe" 0)
new_leader=$((old_leader % 3 + 1))
leader_is() { "$ether" topic describe "$topic" >"$work/describe" 2>&1 &&
	[ "$(python3 "$check_py" leader "$work/describe" 0)" = "$1" ]; }
run 0 "$ether" partition transfer-leader "$topic/0" --to "$new_leader" &&
	expect_line "$work/out" "Leadership of $topic/0 moved to broker $new_leader"
wait_until 10 leader_is "$new_leader" || problem "describe shows leader $(python3 "$check_py" leader "$work/describe" 0), not $new_leader, after 10 s"
printf 'after-transfer\n' >"$work/in"
base0=$(grep -c "^0|" "$work/expected")
run_stdin "$work/in" 0 "$ether" produce "$topic" --partition 0 &&
	expect_line "$work/out" "Produced to partition 0 at offset $base0"
run 0 "$ether" consume "$topic" --partition 0 --offset "$base0" && expect_line "$work/out" "after-transfer"
end

begin "partition transfer-leader to an unknown broker or partition fails with one sentence"
run 1 "$ether" partition transfer-leader "$topic/0" --to 9 && expect_one_sentence "broker 9"
run 1 "$ether" partition transfer-leader "$topic/17" --to 2 && expect_one_sentence "17"
end

# ---- errors ----------------------------------------------------------------------------
begin "unknown topic: describe, consume and produce fail fast with a clear sentence"
run 1 "$ether" topic describe nope && expect_one_sentence "ether: topic nope does not exist"
run 1 "$ether" consume nope --from-beginning && expect_one_sentence "ether: topic nope does not exist"
expect_empty "$work/out"
run 1 "$ether" consume nope --partition 0 && expect_one_sentence "nope does not exist"
echo x >"$work/in"
run_stdin "$work/in" 1 "$ether" produce nope &&
	expect_contains "$work/err" "ether: 1 of 1 records were not produced; the first failure: topic nope does not exist"
expect_faster_than 5000
end

begin "unknown partition: consume and produce fail with a clear sentence"
run 1 "$ether" consume "$topic" --partition 17 && expect_one_sentence "partition 17 of topic $topic does not exist"
run_stdin "$work/in" 1 "$ether" produce "$topic" --partition 17 &&
	expect_contains "$work/err" "partition 17 of topic $topic does not exist"
end

unreachable_commands=(
	"1 topic list"
	"1 cluster status"
	"1 broker list"
	"1 topic describe $topic"
	"1 topic create x -p 1 -r 1"
	"1 topic delete $topic"
	"1 topic alter-config $topic --set a=b"
	"1 partition transfer-leader $topic/0 --to 1"
	"1 consume $topic --from-beginning"
	"1 produce $topic"
	"1 bench produce $topic -n 10"
	"1 bench consume $topic -n 10"
	"3 cluster health"
)
begin "unreachable brokers (--brokers 127.0.0.1:1 --timeout 1000): every command fails after the timeout, not a hang"
for entry in "${unreachable_commands[@]}"; do
	read -r status words <<<"$entry"
	# shellcheck disable=SC2086 # the words are the command's arguments
	if run_stdin "$work/in" "$status" "$ether" --brokers 127.0.0.1:1 --timeout 1000 $words; then
		[ "$elapsed_ms" -ge 900 ] && [ "$elapsed_ms" -lt 4000 ] ||
			problem "\"$words\" took $elapsed_ms ms, expected 1 to 4 s"
		grep -q "connection refused" "$work/out" "$work/err" ||
			problem "\"$words\" does not say the connection was refused: $(head -c 300 "$work/err")"
	fi
done
end

begin "a silent broker (accepts, never answers) gives a clear error after --timeout"
silent_port=$((base_port + 50))
python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64)
held = []
while True:
    held.append(s.accept()[0])' "$silent_port" &
silent_pid=$!
wait_until 5 listening "$silent_port" || problem "the silent listener did not start"
run 1 "$ether" --brokers "127.0.0.1:$silent_port" --timeout 1000 topic list &&
	expect_one_sentence "no answer within 1000 ms"
[ "$elapsed_ms" -lt 4000 ] || problem "took $elapsed_ms ms"
run_stdin "$work/in" 1 "$ether" --brokers "127.0.0.1:$silent_port" --timeout 1000 produce "$topic" &&
	expect_contains "$work/err" "within 1000 ms"
[ "$elapsed_ms" -lt 4000 ] || problem "produce took $elapsed_ms ms"
kill "$silent_pid" 2>/dev/null
wait "$silent_pid" 2>/dev/null
silent_pid=""
end

# STATUS-less: every one exits 2 with one "ether: ..." sentence and prints nothing on stdout.
usage_errors=(
	"unknown flag --bogus; see --help|topic list --bogus"
	"--partitions expects a whole number from 1 to 100000, not \"zero\"|topic create x -p zero"
	"--acks expects 0, 1 or all, not \"2\"|produce $topic --acks 2"
	"unknown template escape \"%q\"|consume $topic --format %q"
	"--format expects text or json, not \"yaml\"|topic list --format yaml"
	"expected TOPIC/PARTITION (like orders/3), not \"$topic\"|partition transfer-leader $topic --to 2"
	"\"ether partition transfer-leader\" needs --to BROKER|partition transfer-leader $topic/0"
	"unknown command \"frobnicate\"; see \"ether --help\"|frobnicate"
	"\"ether topic\" needs a subcommand; see \"ether topic --help\"|topic"
	"\"ether topic describe\" needs NAME|topic describe"
	"--timeout needs a value (MS)|topic list --timeout"
	"\"ether consume\" does not take --to; see --help|consume $topic --to 3"
	"\"ether topic alter-config\" needs --set KEY=VALUE or --delete KEY|topic alter-config $topic"
	"unexpected argument \"extra\"|topic list extra"
	"--offset expects an offset, start, end or @TIMESTAMP_MS, not \"soon\"|consume $topic --offset soon"
)
begin "invalid flags and arguments exit 2 with one usage sentence and no output"
for entry in "${usage_errors[@]}"; do
	sentence="${entry%%|*}"
	words="${entry#*|}"
	# shellcheck disable=SC2086
	run 2 "$ether" $words && { expect_one_sentence "$sentence"; expect_empty "$work/out"; }
done
run 0 "$ether" topic create --help && expect_contains "$work/out" "Usage: ether topic create NAME [flags]"
end

# ---- bench -----------------------------------------------------------------------------
begin "bench produce -n 10000 prints throughput and latency"
run 0 "$ether" bench produce "$topic" -n 10000 -s 200
expect_contains "$work/out" "produced 10000 records in "
grep -qE '^latency ms: p50 [0-9.]+  p99 [0-9.]+  p99\.9 [0-9.]+  max [0-9.]+$' "$work/out" || problem "no latency line"
expect_line "$work/out" "errors: 0"
end

begin "bench produce -d 2 --format json parses, with records, throughput and latency"
run 0 "$ether" bench produce "$topic" -d 2 --acks 1 --format json &&
	expect_py json "$work/out" "d['records'] > 0 and d['errors'] == 0 and d['records_per_second'] > 0 and d['mb_per_second'] > 0 and set(d['latency_ms']) == {'p50', 'p99', 'p99.9', 'max'} and 1.5 < d['seconds'] < 10"
end

begin "bench consume -n 10000 prints throughput and latency"
run 0 "$ether" bench consume "$topic" -n 10000
expect_contains "$work/out" "consumed 10000 records in "
expect_contains "$work/out" "latency ms: p50 "
expect_line "$work/out" "errors: 0"
end

begin "bench consume -d 2 --format json parses"
run 0 "$ether" bench consume "$topic" -d 2 --format json &&
	expect_py json "$work/out" "d['records'] > 10000 and d['errors'] == 0 and d['bytes'] > 0 and 1.5 < d['seconds'] < 10"
end

# ---- consumer groups -------------------------------------------------------------------
group=cli-group
group_has_members() {
	"$ether" group describe "$group" --format json >"$work/group-describe" 2>/dev/null &&
		python3 -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))["members"] else 1)' "$work/group-describe"
}
begin "consume --group --count 100 prints 100 records, commits them and leaves the group"
run 0 "$ether" consume "$topic" --group "$group" --from-beginning --count 100 --format '%p %o\n'
expect_lines "$work/out" 100
cp "$work/out" "$work/group-first"
run 0 "$ether" group describe "$group" --format json &&
	expect_py json "$work/out" "d['group'] == '$group' and d['state'] == 'empty' and d['members'] == [] and d['protocol'] == 'eager' and sum(max(o['committed'], 0) for o in d['offsets']) == 100 and [o['partition'] for o in d['offsets']] == list(range(6)) and all(o['end'] >= o['committed'] and o['lag'] == o['end'] - o['committed'] for o in d['offsets'] if o['committed'] >= 0)"
end

begin "a second consume --group continues where the group stopped: no record twice"
run 0 "$ether" consume "$topic" --group "$group" --count 50 --format '%p %o\n'
expect_lines "$work/out" 50
[ -z "$(sort "$work/group-first" "$work/out" | uniq -d)" ] || problem "records read by both consumers of the group"
end

begin "group list and group describe show the group (text and json)"
run 0 "$ether" group list
grep -qE "^$group +empty +0 +[123]$" "$work/out" || problem "no row '$group empty 0 COORDINATOR'"
run 0 "$ether" group list --format json &&
	expect_py json "$work/out" "[g['group'] for g in d if g['group'] == '$group'] == ['$group'] and all(g['coordinator'] in (1, 2, 3) for g in d)"
run 0 "$ether" group describe "$group"
expect_contains "$work/out" "Group $group: empty, generation "
expect_contains "$work/out" "TOPIC                    PARTITION  COMMITTED    END          LAG"
expect_contains "$work/out" "(no members)"
end

begin "group reset-offsets and group delete are refused while the group has a member"
"$ether" consume "$topic" --group "$group" --format '%p %o\n' >"$work/member-out" 2>"$work/member-err" &
member_pid=$!
wait_until 30 group_has_members || problem "the member does not show in group describe within 30 s"
expect_py json "$work/group-describe" "d['assignor'] == 'range' and len(d['members']) == 1 and d['members'][0]['client_id'] == 'ether-cli' and d['members'][0]['topics'] == ['$topic']"
run 1 "$ether" group reset-offsets "$group" --topic "$topic" --to-earliest &&
	expect_one_sentence "consumer group $group has active members: stop its consumers before resetting its offsets"
run 1 "$ether" group delete "$group" && expect_one_sentence "consumer group $group still has members"
kill -TERM "$member_pid"
wait "$member_pid"
member_status=$?
[ "$member_status" -eq 0 ] || problem "the member exited $member_status after SIGTERM, expected 0: $(head -c 300 "$work/member-err")"
wait_until 15 eval '! group_has_members' || problem "the member is still in the group 15 s after it left"
end

begin "group reset-offsets --to-earliest, --to-offset, --to-latest and --to-datetime move every partition"
run 0 "$ether" group reset-offsets "$group" --topic "$topic" --to-earliest --format json &&
	expect_py json "$work/out" "d['group'] == '$group' and d['topic'] == '$topic' and [o['partition'] for o in d['offsets']] == list(range(6)) and all(o['offset'] == 0 for o in d['offsets'])"
run 0 "$ether" group reset-offsets "$group" --topic "$topic" --to-offset 3
expect_contains "$work/out" "Reset the committed offsets of group $group for topic $topic:"
run 0 "$ether" group describe "$group" --format json &&
	expect_py json "$work/out" "all(o['committed'] == min(3, o['end']) for o in d['offsets'])"
run 0 "$ether" group reset-offsets "$group" --topic "$topic" --to-latest
run 0 "$ether" group describe "$group" --format json &&
	expect_py json "$work/out" "all(o['lag'] == 0 and o['committed'] == o['end'] for o in d['offsets'])"
run 0 "$ether" group reset-offsets "$group" --topic "$topic" --to-datetime 2000-01-01T00:00:00Z --format json &&
	expect_py json "$work/out" "all(o['offset'] == 0 for o in d['offsets'])"
run 2 "$ether" group reset-offsets "$group" --to-earliest && expect_one_sentence "needs --topic TOPIC"
run 1 "$ether" group reset-offsets "$group" --topic no-such-topic --to-earliest &&
	expect_one_sentence "topic no-such-topic does not exist"
end

begin "group delete removes the group; describe and delete then fail with one sentence"
run 0 "$ether" group delete "$group" && expect_line "$work/out" "Deleted consumer group $group"
run 1 "$ether" group describe "$group" && expect_one_sentence "consumer group $group does not exist"
run 1 "$ether" group delete "$group" && expect_one_sentence "consumer group $group does not exist"
run 0 "$ether" group list && ! grep -q "^$group " "$work/out" || problem "group list still shows $group"
end

# ---- topic delete ----------------------------------------------------------------------
begin "topic delete, then describe, consume and delete fail with one sentence"
run 0 "$ether" topic delete "$topic" && expect_line "$work/out" "Deleted topic $topic"
run 1 "$ether" topic describe "$topic" && expect_one_sentence "ether: topic $topic does not exist"
expect_empty "$work/out"
run 1 "$ether" consume "$topic" --from-beginning && expect_one_sentence "topic $topic does not exist"
run 1 "$ether" topic delete "$topic" && expect_one_sentence "topic $topic does not exist"
run 0 "$ether" topic list && ! grep -q "^$topic " "$work/out" || problem "topic list still shows $topic"
end

begin "a topic created again under the deleted name starts empty"
run 0 "$ether" topic create "$topic" -p 3 -r 3
wait_until 15 describe_healthy "$topic" 3 || problem "the new topic's partitions are not all led in 15 s"
run 0 "$ether" consume "$topic" --from-beginning && expect_empty "$work/out"
run 0 "$ether" bench consume "$topic" -d 1 && expect_contains "$work/out" "consumed 0 records in "
run 0 "$ether" topic describe "$topic" --format json &&
	expect_py json "$work/out" "len(d['partitions']) == 3 and all(p['high_watermark'] == 0 for p in d['partitions']) and d['configs'] == {}"
end

# ---- the lossless pipeline -------------------------------------------------------------
if [ "$pipeline_records" -gt 0 ]; then
	pipeline_topic=pipeline
	megabytes=$((pipeline_records * 1024 / 1000000))
	begin "pipeline: $pipeline_records records of 1 KiB through produce --acks all --format json and back through consume, lossless and in order"
	run 0 "$ether" topic create "$pipeline_topic" -p 6 -r 3
	wait_until 15 describe_healthy "$pipeline_topic" 6 || problem "the pipeline topic is not led in 15 s"
	produce_start=$(now_ms)
	# Lossless, not fast: on a loaded machine the brokers' 200 ms election timeout (their test
	# settings) can move leaders for longer than the CLI's default 10 s delivery timeout.
	python3 "$check_py" pipeline-generate "$pipeline_records" "$work/input.sha256" |
		timeout -k 5 1800 "$ether" produce "$pipeline_topic" --acks all --format json --timeout 60000 \
			>"$work/produced.json" 2>"$work/produce.err"
	statuses=("${PIPESTATUS[@]}")
	produce_ms=$(($(now_ms) - produce_start))
	[ "${statuses[*]}" = "0 0" ] || problem "generate | produce exited ${statuses[*]}: $(head -c 500 "$work/produce.err")"
	consume_start=$(now_ms)
	timeout -k 5 1800 "$ether" consume "$pipeline_topic" --from-beginning --format '%p %o %v\n' \
		>"$work/consumed.txt" 2>"$work/consume.err" ||
		problem "consume exited $?: $(head -c 500 "$work/consume.err")"
	consume_ms=$(($(now_ms) - consume_start))
	verify_start=$(now_ms)
	said=$(python3 "$check_py" pipeline-verify "$pipeline_records" "$work/produced.json" \
		"$work/consumed.txt" "$work/input.sha256" 2>&1) || problem "$said"
	verify_ms=$(($(now_ms) - verify_start))
	rate() { awk -v mb="$megabytes" -v ms="$1" 'BEGIN { printf "%.1f", (ms > 0 ? mb * 1000 / ms : 0) }'; }
	echo "# pipeline: $pipeline_records records, $megabytes MB: produce $((produce_ms / 1000)).$((produce_ms % 1000 / 100)) s ($(rate "$produce_ms") MB/s), consume $((consume_ms / 1000)).$((consume_ms % 1000 / 100)) s ($(rate "$consume_ms") MB/s), verify $((verify_ms / 1000)) s"
	echo "# pipeline: $said"
	: >"$work/out"
	: >"$work/err"
	end
	rm -f "$work/produced.json" "$work/consumed.txt"
fi

# ---- an unhealthy cluster, then a clean shutdown ----------------------------------------
stop_broker() { # ID: SIGTERM, must exit 0 within 30 s
	local pid="${broker_pids[$1]}"
	kill -TERM "$pid" 2>/dev/null
	if ! wait_until 30 eval "! kill -0 $pid 2>/dev/null"; then
		problem "broker $1 did not exit within 30 s of SIGTERM"
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid"
	local status=$?
	[ "$status" -eq 0 ] || problem "broker $1 exited $status after SIGTERM"
	broker_pids[$1]=""
}

begin "with broker 3 stopped, cluster health exits 3 and names it (text and json)"
stop_broker 3
run 3 "$ether" cluster health --timeout 3000 &&
	expect_contains "$work/out" "broker 3 (127.0.0.1:$((base_port + 2))) does not answer"
expect_contains "$work/out" "Healthy: no"
run 3 "$ether" cluster health --timeout 3000 --format json &&
	expect_py json "$work/out" "d['healthy'] is False and d['brokers_down'] == [3]"
end

begin "the brokers exit 0 on SIGTERM"
stop_broker 1
stop_broker 2
: >"$work/out"
: >"$work/err"
end

echo "cli-cluster: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
