#!/usr/bin/env bash
# The chaos test in containers, end to end: build the image (and its base image,
# offline, when missing) and ether-chaos, start a three-broker compose cluster of
# its own, run ether-chaos against it (workload + seeded nemesis + checker), check
# that every broker then stops on SIGTERM with status 0, and remove the cluster
# and its volumes -- also when something failed or the run is interrupted.
#
# usage: tests/integration/chaos/run.sh [options] [-- ether-chaos options]
#   --duration S           seconds of faults (default 1800; --short: 90)
#   --seed N               the nemesis's seed (default $CHAOS_SEED, else random)
#   --short                the ~2.5-minute version registered in tests/checks.txt
#   --project NAME         compose project and container prefix
#                          (default etherchaos; --short: etherchaoscheck)
#   --net A.B.C            the cluster's /24 (default 172.28.91; --short: 172.28.92)
#   --skip-without-docker  when `docker info` fails, print SKIPPED and exit 0,
#                          unless CI=true (then it is a failure)
#
# Exit status: 0 pass (or skipped), 1 a check failed, 2 the harness failed.
# Logs: build/chaos/<project>/{chaos.log,history.txt,brokers.log}.
set -uo pipefail
cd "$(dirname "$0")/../../.."

duration=""
seed="${CHAOS_SEED:-}"
short=0
project=""
net=""
skip_without_docker=0
chaos_options=()
while [ $# -gt 0 ]; do
	case "$1" in
	--duration) duration="$2"; shift 2 ;;
	--seed) seed="$2"; shift 2 ;;
	--short) short=1; shift ;;
	--project) project="$2"; shift 2 ;;
	--net) net="$2"; shift 2 ;;
	--skip-without-docker) skip_without_docker=1; shift ;;
	--) shift; chaos_options=("$@"); break ;;
	*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
if [ "$short" = 1 ]; then
	duration="${duration:-90}"
	project="${project:-etherchaoscheck}"
	net="${net:-172.28.92}"
	chaos_options=(--fault-max-ms 6000 --quiet-max-ms 3000 "${chaos_options[@]}")
fi
duration="${duration:-1800}"
project="${project:-etherchaos}"
net="${net:-172.28.91}"
if [ -z "$seed" ]; then
	seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
fi

say() { echo "chaos-run: $*"; }

if ! docker info >/dev/null 2>&1; then
	if [ "$skip_without_docker" = 1 ] && [ "${CI:-}" != true ]; then
		say "SKIPPED: no Docker engine is reachable (docker info failed); with CI=true this fails"
		exit 0
	fi
	say "no Docker engine is reachable (docker info failed)"
	exit 2
fi
if docker compose version >/dev/null 2>&1; then
	compose_command=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
	compose_command=(docker-compose)
else
	say "neither 'docker compose' nor 'docker-compose' is installed"
	exit 2
fi

# Two runs of one project (two `make test` at once) would share containers and a subnet:
# the second waits for the first.
exec 9>"/tmp/ether-chaos-$project.lock"
if ! flock -w 900 9; then
	say "another run of $project holds /tmp/ether-chaos-$project.lock; gave up after 900 s"
	exit 2
fi

start=$SECONDS
say "building the image and ether-chaos"
make --no-print-directory docker-build || exit 2
make --no-print-directory FLAVOUR=release build/release/tests/integration/chaos/ether-chaos || exit 2
say "image and program ready after $((SECONDS - start)) s"

# The image keeps its promises: small, not root, a data volume, SIGTERM, /health.
image=ether:latest
size=$(docker image inspect -f '{{.Size}}' "$image")
user=$(docker image inspect -f '{{.Config.User}}' "$image")
volumes=$(docker image inspect -f '{{json .Config.Volumes}}' "$image")
stop_signal=$(docker image inspect -f '{{.Config.StopSignal}}' "$image")
health=$(docker image inspect -f '{{json .Config.Healthcheck.Test}}' "$image")
say "$image: $((size / 1000000)) MB, user $user, volumes $volumes, stop signal $stop_signal, healthcheck $health"
image_ok=1
[ "$size" -lt 100000000 ] || { say "FAIL: $image is $size bytes, over 100 MB"; image_ok=0; }
case "$user" in root* | 0* | "") say "FAIL: $image runs as root"; image_ok=0 ;; esac
case "$volumes" in *'"/var/lib/ether"'*) ;; *) say "FAIL: $image has no /var/lib/ether volume"; image_ok=0 ;; esac
[ "$stop_signal" = SIGTERM ] || { say "FAIL: $image stop signal is '$stop_signal'"; image_ok=0; }
case "$health" in *healthcheck*) ;; *) say "FAIL: $image health check is $health"; image_ok=0 ;; esac
[ "$image_ok" = 1 ] || exit 1

# A cluster of its own: project, container names and subnet differ from `make docker-up`'s;
# no restart policy, so only the nemesis brings a killed broker back.
export COMPOSE_PROJECT_NAME="$project" ETHER_NAME="$project" ETHER_NET="$net" ETHER_RESTART=no
export BASE_IMAGE="${DOCKER_BASE_IMAGE:-debian:bookworm-slim}"
compose() { "${compose_command[@]}" -p "$project" -f docker/compose.yml --project-directory docker "$@"; }
logs="build/chaos/$project"
mkdir -p "$logs"

cleanup() {
	for id in 1 2 3; do
		docker unpause "$project-$id" >/dev/null 2>&1 || true
	done
	compose logs --no-color >"$logs/brokers.log" 2>&1 || true
	compose down --volumes --remove-orphans -t 30 >/dev/null 2>&1 || true
	say "cluster $project removed (volumes too); broker logs in $logs/brokers.log"
}
trap cleanup EXIT
trap 'exit 2' INT TERM

compose down --volumes --remove-orphans >/dev/null 2>&1 || true # an earlier run's leftovers
compose up -d --no-build ether-1 ether-2 ether-3 || exit 2
say "waiting for $project-1..3 to be healthy"
for _ in $(seq 1 90); do
	states=$(docker inspect -f '{{.State.Health.Status}}' "$project-1" "$project-2" "$project-3" | sort -u)
	[ "$states" = healthy ] && break
	sleep 1
done
if [ "$states" != healthy ]; then
	docker inspect -f '{{.Name}} {{.State.Health.Status}}' "$project-1" "$project-2" "$project-3"
	say "the brokers did not become healthy in 90 s"
	exit 2
fi
say "cluster up after $((SECONDS - start)) s; seed $seed, $duration s of faults"

build/release/tests/integration/chaos/ether-chaos --net "$net" --containers "$project" \
	--network "${project}_ether" --seed "$seed" --duration "$duration" \
	--history "$logs/history.txt" "${chaos_options[@]}" 2>&1 | tee "$logs/chaos.log"
status=${PIPESTATUS[0]}

if [ "$status" -gt 128 ]; then
	say "FAIL: ether-chaos died of signal $((status - 128))"
fi

# SIGTERM honoured: every broker stops by itself, with status 0, within the grace period.
# (ether-chaos leaves every broker running; one that is not was left down or crashed.)
running=()
for id in 1 2 3; do
	state=$(docker inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$project-$id")
	case "$state" in
	running*) running+=("$id") ;;
	*)
		say "FAIL: broker $id is not running before the stop ($state)"
		[ "$status" = 0 ] && status=1
		;;
	esac
done
compose stop -t 30 >/dev/null 2>&1
for id in "${running[@]}"; do
	code=$(docker inspect -f '{{.State.ExitCode}}' "$project-$id")
	if [ "$code" != 0 ]; then
		say "FAIL: broker $id exited with status $code on SIGTERM"
		[ "$status" = 0 ] && status=1
	fi
done
if [ "$status" = 0 ]; then
	say "PASS in $((SECONDS - start)) s (seed $seed)"
else
	say "FAIL (status $status) in $((SECONDS - start)) s; seed $seed:"
	say "  tests/integration/chaos/run.sh --seed $seed --duration $duration$([ "$short" = 1 ] && echo ' --short')"
fi
exit "$status"
