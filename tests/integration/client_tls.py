#!/usr/bin/env python3
"""TLS between the `ether` CLI and real etherd brokers.

A three-broker cluster on loopback with TLS on its client ports and between the
brokers (mTLS: clients must present a certificate), certificates from
scripts/make-test-certs. Checks, each printed as "ok - ..." or "not ok - ...":

  1. With alice's certificate: topic create, 10,000 records produced and consumed
     back identical.
  2. `ether consume --group` over TLS reads them all and commits (lag 0).
  3. Refused, each with a clear sentence on stderr and a non-zero exit status, well
     before the timeout: a client without a certificate (the message mentions the
     certificate; `consume --group` too), a client trusting another CA, a client with
     a certificate from another CA, a CA file that does not exist (named).
  4. A client in clear (no --tls-ca) against the TLS ports fails within its
     --timeout with a hint at TLS, instead of hanging.

With --bench it measures instead (prints, asserts nothing; `make bench-tls`): a
plaintext cluster, then a TLS cluster, on this machine one after the other, each
running `ether bench produce T --record-size 1024 --acks all --duration 5`; prints
both MB/s and their ratio (with --rounds=N, N alternating rounds and the medians).

usage: client_tls.py [BUILD_DIR] [--bench [--rounds=N]]   (default $BUILD, else build/release)
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ARGS = [a for a in sys.argv[1:] if not a.startswith("--")]
BENCH = "--bench" in sys.argv[1:]
ROUNDS = max([int(a.split("=", 1)[1]) for a in sys.argv[1:] if a.startswith("--rounds=")] + [1])
BUILD = ARGS[0] if ARGS else os.environ.get("BUILD", "build/release")
ROOT = os.path.normpath(os.path.dirname(os.path.abspath(__file__)) + "/../..")
ETHER = os.path.join(ROOT, BUILD, "ether")
ETHERD = os.path.join(ROOT, BUILD, "etherd")
TOPIC = "secure-orders"
PARTITIONS = 3
RECORDS = 10000
REFUSAL_TIMEOUT_MS = 15000  # a refusal must come well before this
CLEAR_TIMEOUT_MS = 3000

failures = []


def report(ok, name, detail=""):
    print(("ok - " if ok else "not ok - ") + name + (": " + detail if detail and not ok else ""))
    sys.stdout.flush()
    if not ok:
        failures.append(name)


def now():
    return time.monotonic()


def free_ports(count):
    """Ports that were free a moment ago (the kernel's choice, so rarely taken again at once)."""
    sockets = []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


# ---- the cluster ---------------------------------------------------------------------------


class Cluster:
    def __init__(self, work, certs, tls, fast_elections=True, extra_arguments=()):
        self.work = work
        self.extra_arguments = list(extra_arguments)  # more etherd options, for every broker
        self.certs = certs
        self.tls = tls
        self.fast_elections = fast_elections  # else etherd's defaults, as `make run` has them
        ports = free_ports(6)
        self.ports = {i: ports[i - 1] for i in (1, 2, 3)}
        self.http_ports = {i: ports[i + 2] for i in (1, 2, 3)}
        self.procs = {}
        self.seeds = ",".join("%d@127.0.0.1:%d" % (i, p) for i, p in self.ports.items())
        self.brokers = ",".join("127.0.0.1:%d" % p for p in self.ports.values())

    def start(self, broker_id):
        arguments = [ETHERD, "--broker-id", str(broker_id),
                     "--data-dir", os.path.join(self.work, "broker-%d" % broker_id),
                     "--client-port", str(self.ports[broker_id]),
                     "--http-port", str(self.http_ports[broker_id]),
                     "--seeds", self.seeds]
        if self.fast_elections:
            arguments += ["--tick-ms", "20", "--election-ticks", "10", "--heartbeat-ticks", "2",
                          "--offsets-topic-partitions", "4",
                          "--group-initial-rebalance-delay-ms", "300"]
        if self.tls:
            arguments += ["--tls-ca-file", self.cert("ca.crt"),
                          "--tls-certificate-file", self.cert("broker-%d.crt" % broker_id),
                          "--tls-private-key-file", self.cert("broker-%d.key" % broker_id)]
        arguments += self.extra_arguments
        log = open(os.path.join(self.work, "broker-%d.log" % broker_id), "a")
        # No ETHER_* from the caller's environment: the options above say everything.
        environment = {k: v for k, v in os.environ.items() if not k.startswith("ETHER_")}
        self.procs[broker_id] = subprocess.Popen(arguments, stdout=log, stderr=log,
                                                 env=environment)

    def cert(self, name):
        return os.path.join(self.certs, name)

    def stop_all(self):
        unclean = 0
        for broker_id, proc in list(self.procs.items()):
            proc.send_signal(signal.SIGTERM)
            try:
                if proc.wait(timeout=60) != 0:
                    unclean += 1
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                unclean += 1
            del self.procs[broker_id]
        return unclean

    def logs(self):
        for broker_id in (1, 2, 3):
            path = os.path.join(self.work, "broker-%d.log" % broker_id)
            if os.path.exists(path):
                print("--- broker %d log (last 30 lines) ---" % broker_id)
                with open(path) as f:
                    print("".join(f.readlines()[-30:]), end="")


def tls_flags(cluster, ca="ca", identity="alice"):
    """The CLI's TLS flags: trust certs' `ca`.crt, present `identity` (None: no certificate)."""
    flags = ["--tls-ca", cluster.cert(ca + ".crt")]
    if identity is not None:
        flags += ["--tls-cert", cluster.cert(identity + ".crt"),
                  "--tls-key", cluster.cert(identity + ".key")]
    return flags


def ether(cluster, flags, *args, timeout=120, check=True, stdin=None):
    """Runs the CLI without ETHER_* from the environment (the flags say everything)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ETHER_")}
    result = subprocess.run([ETHER, "--brokers", cluster.brokers] + flags + list(args),
                            input=stdin, capture_output=True, text=True, timeout=timeout,
                            env=environment)
    if check and result.returncode != 0:
        raise RuntimeError("ether %s exited %d: %s" % (" ".join(args), result.returncode,
                                                       result.stderr.strip()))
    return result


def start_cluster(cluster, flags):
    """Starts the brokers and creates TOPIC once all three have registered."""
    for broker_id in (1, 2, 3):
        cluster.start(broker_id)
    ether(cluster, flags, "cluster", "health", "--exit-when-healthy", "--timeout", "60000",
          timeout=90)
    deadline = now() + 30
    while True:
        result = ether(cluster, flags, "topic", "create", TOPIC, "-p", str(PARTITIONS), "-r", "3",
                       check=now() > deadline)
        if result.returncode == 0:
            return
        time.sleep(0.3)


def make_certs(work, clients=()):
    """Test certificates in work/certs: the CA, broker-1..3, alice and each of `clients`."""
    certs = os.path.join(work, "certs")
    command = [os.path.join(ROOT, "scripts", "make-test-certs"), certs, "3"]
    for name in clients:
        command += ["--client", name]
    subprocess.run(command, check=True, capture_output=True)
    return certs


# ---- checks --------------------------------------------------------------------------------


def check_records_round_trip(cluster):
    flags = tls_flags(cluster)
    records = ["record-%05d" % i for i in range(RECORDS)]
    started = now()
    produced = ether(cluster, flags, "produce", TOPIC, "--acks", "all",
                     stdin="\n".join(records) + "\n")
    print("# produced %d records over TLS in %.2f s" % (RECORDS, now() - started))
    report(produced.returncode == 0, "10,000 records produced over TLS with alice's certificate")
    consumed = ether(cluster, flags, "consume", TOPIC, "--from-beginning",
                     "--count", str(RECORDS), "--timeout", "30000")
    lines = consumed.stdout.splitlines()
    report(sorted(lines) == records, "the 10,000 records consumed back over TLS are identical",
           "%d lines, %d distinct, first %r" % (len(lines), len(set(lines)), lines[:3]))


def check_group_consume(cluster):
    flags = tls_flags(cluster)
    consumed = ether(cluster, flags, "consume", TOPIC, "--group", "tls-readers",
                     "--from-beginning", "--count", str(RECORDS), "--timeout", "30000",
                     timeout=180)
    lines = consumed.stdout.splitlines()
    report(sorted(lines) == ["record-%05d" % i for i in range(RECORDS)],
           "ether consume --group over TLS reads every record once",
           "%d lines, %d distinct" % (len(lines), len(set(lines))))
    description = ether(cluster, flags, "group", "describe", "tls-readers", "--format", "json")
    committed = sum(int(c) for c in re.findall(r'"committed":\s*(-?\d+)', description.stdout))
    report(committed == RECORDS, "the group's commits over TLS cover the 10,000 records",
           description.stdout.strip()[:300])


def check_refused(cluster, name, flags, expected_words):
    """A command that must fail fast, saying something that contains every expected word."""
    started = now()
    result = ether(cluster, flags, "--timeout", str(REFUSAL_TIMEOUT_MS), "topic", "list",
                   check=False, timeout=60)
    elapsed = now() - started
    message = result.stderr.strip()
    print("# %s: exit %d after %.2f s: %s" % (name, result.returncode, elapsed, message))
    ok = (result.returncode != 0 and all(w in message for w in expected_words)
          and elapsed < REFUSAL_TIMEOUT_MS / 1000 / 2)
    report(ok, name + " is refused at once with a clear error",
           "exit %d after %.2f s: %s" % (result.returncode, elapsed, message))


def check_refusals(cluster):
    check_refused(cluster, "a client without a certificate", tls_flags(cluster, identity=None),
                  ["certificate"])
    check_refused(cluster, "a client trusting another CA",
                  tls_flags(cluster, ca="other-ca"), ["certificate verify failed"])
    check_refused(cluster, "a client whose certificate is from another CA",
                  tls_flags(cluster, identity="other-alice"), ["unknown ca"])
    started = now()
    result = ether(cluster, tls_flags(cluster, identity=None), "consume", TOPIC, "--group",
                   "no-certificate", "--count", "1", check=False, timeout=60)
    elapsed = now() - started
    print("# consume --group without a certificate: exit %d after %.2f s: %s"
          % (result.returncode, elapsed, result.stderr.strip()))
    report(result.returncode != 0 and "certificate" in result.stderr and elapsed < 10,
           "consume --group without a certificate stops at once with a clear error",
           "exit %d after %.2f s: %s" % (result.returncode, elapsed, result.stderr.strip()))
    missing = cluster.cert("missing-ca.crt")
    check_refused(cluster, "a CA file that does not exist", ["--tls-ca", missing],
                  [missing, "No such file"])


def check_clear_client(cluster):
    started = now()
    result = ether(cluster, [], "--timeout", str(CLEAR_TIMEOUT_MS), "topic", "list",
                   check=False, timeout=60)
    elapsed = now() - started
    message = result.stderr.strip()
    print("# a client in clear: exit %d after %.2f s: %s" % (result.returncode, elapsed, message))
    report(result.returncode != 0 and "tls_ca_file" in message
           and elapsed < CLEAR_TIMEOUT_MS / 1000 + 5,
           "a client in clear against the TLS ports fails within --timeout, hinting at TLS",
           "exit %d after %.2f s: %s" % (result.returncode, elapsed, message))


def run_checks(work, certs):
    cluster = Cluster(work, certs, tls=True)
    try:
        start_cluster(cluster, tls_flags(cluster))
        check_records_round_trip(cluster)
        check_group_consume(cluster)
        check_refusals(cluster)
        check_clear_client(cluster)
    except Exception as error:  # report, then show the logs
        report(False, "the checks ran to the end", repr(error))
    finally:
        unclean = cluster.stop_all()
        report(unclean == 0, "every broker stopped cleanly on SIGTERM",
               "%d did not" % unclean)
        if failures:
            cluster.logs()


# ---- bench ---------------------------------------------------------------------------------


def bench_one(work, certs, tls):
    """MB/s of `ether bench produce` against a fresh cluster, with TLS or in clear."""
    cluster_work = os.path.join(work, "tls" if tls else "clear")
    os.makedirs(cluster_work)
    cluster = Cluster(cluster_work, certs, tls, fast_elections=False)
    flags = tls_flags(cluster) if tls else []
    try:
        start_cluster(cluster, flags)
        result = ether(cluster, flags, "bench", "produce", TOPIC, "--record-size", "1024",
                       "--acks", "all", "--duration", "5", timeout=300)
        summary = [line for line in result.stdout.splitlines() + result.stderr.splitlines()
                   if line.startswith("produced ")]
        match = re.search(r"([0-9.]+) MB/s", summary[-1] if summary else "")
        if match is None:
            raise RuntimeError("no summary in the bench output: %r" % result.stdout[-500:])
        print("# %s: %s" % ("TLS     " if tls else "in clear", summary[-1]))
        return float(match.group(1))
    finally:
        cluster.stop_all()


def run_bench(work, certs):
    print("# ether bench produce %s --record-size 1024 --acks all --duration 5, one "
          "3-broker cluster at a time on this machine (%d CPUs), %d round(s)"
          % (TOPIC, os.cpu_count(), ROUNDS))
    clear, secure = [], []
    for round_number in range(ROUNDS):  # alternating, so that drifting load hits both
        clear.append(bench_one(os.path.join(work, "round-%d" % round_number), certs, tls=False))
        secure.append(bench_one(os.path.join(work, "round-%d" % round_number), certs, tls=True))
    median_clear = sorted(clear)[len(clear) // 2]
    median_secure = sorted(secure)[len(secure) // 2]
    if ROUNDS > 1:
        print("# in clear, each round: %s MB/s" % " ".join("%.2f" % v for v in clear))
        print("# over TLS, each round: %s MB/s" % " ".join("%.2f" % v for v in secure))
    print("produce throughput in clear: %.2f MB/s%s" % (median_clear,
                                                        " (median)" if ROUNDS > 1 else ""))
    print("produce throughput over TLS: %.2f MB/s%s" % (median_secure,
                                                        " (median)" if ROUNDS > 1 else ""))
    print("TLS / clear: %.2f" % (median_secure / median_clear if median_clear > 0
                                 else float("nan")))


def main():
    for program in (ETHER, ETHERD):
        if not os.access(program, os.X_OK):
            print("client-tls: %s is not built (run make)" % program, file=sys.stderr)
            return 2
    work = tempfile.mkdtemp(prefix="ether-client-tls-")
    try:
        certs = make_certs(work)
        if BENCH:
            run_bench(work, certs)
            return 0
        run_checks(work, certs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("client-tls: %s" % ("all checks passed" if not failures
                              else "%d failed: %s" % (len(failures), "; ".join(failures))))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
