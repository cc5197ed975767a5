#!/bin/sh
# Entrypoint of the Ether image.
#   etherd [flags]   the broker (default); exec'd, so it is PID 1 and gets SIGTERM
#   ether ...        the CLI
#   healthcheck      the container's HEALTHCHECK (see docker/Dockerfile)
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
	# TEMPORARY until etherd serves GET /health: the local broker answers a request.
	exec /usr/local/bin/ether --brokers "127.0.0.1:${port}" --timeout 3000 broker list >/dev/null
	;;
*)
	exec "$@"
	;;
esac
