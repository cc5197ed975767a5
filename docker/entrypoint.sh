#!/bin/sh
# Entrypoint of the Ether image.
#   etherd [flags]   the broker (default); exec'd, so it is PID 1 and gets SIGTERM
#   ether ...        the CLI
#   healthcheck      the container's HEALTHCHECK: GET /health on the HTTP port (see
#                    docker/Dockerfile); exits 0 only on "200", prints the broker's answer
#   anything else    run as given (e.g. bash)
set -eu

port="${ETHER_CLIENT_PORT:-9092}"

case "${1:-etherd}" in
etherd)
	[ $# -gt 0 ] && shift
	if [ -z "${ETHER_ADVERTISED_HOST:-}" ]; then
		# The first address of this container; brokers reach peers by IP only.
		ETHER_ADVERTISED_HOST="$(hostname -i | awk '{ print $1 }')"
		export ETHER_ADVERTISED_HOST
	fi
	if [ -z "${ETHER_SEEDS:-}" ]; then
		ETHER_SEEDS="${ETHER_BROKER_ID:-1}@${ETHER_ADVERTISED_HOST}:${port}"
		export ETHER_SEEDS
	fi
	exec /usr/local/bin/etherd "$@"
	;;
healthcheck)
	# etherd answers GET /health with 200 "ok" once it has joined the cluster and its
	# controller state is caught up, else 503 and why. The image has no HTTP client, so
	# bash's /dev/tcp speaks HTTP/1.0; `timeout` bounds a broker that accepts and stalls.
	exec timeout 4 bash -c '
		exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		printf "GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n" >&3
		IFS=" " read -r _ status _ <&3 || exit 1
		body=$(sed "1,/^\r\{0,1\}$/d" <&3)
		echo "${status:-no answer}: ${body}"
		[ "$status" = 200 ]' healthcheck "${ETHER_HTTP_PORT:-9644}"
	;;
*)
	exec "$@"
	;;
esac
