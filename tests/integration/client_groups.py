#!/usr/bin/env python3
"""Consumer groups end to end: real etherd brokers and real `ether` processes.

A three-broker cluster on loopback; a producer writes records to a 6-partition
topic the whole time. Checks, each printed as "ok - ..." or "not ok - ...":

  1. Three `ether consume --group billing` processes share the partitions; one
     is killed with SIGKILL and within the session timeout the others consume
     its partitions. No record is skipped: every produced record is printed by
     some member at least once (the CLI commits only what it has printed, so a
     record can be printed twice, never zero times).
  2. A second group reads the whole topic independently: every record exactly
     once.
  3. The coordinator's broker of group billing is killed with SIGKILL while the
     group consumes: commits go on under the new leader of the group's
     __consumer_offsets partition, and no committed offset ever goes backward
     (sampled with `ether group describe --format json`).
  4. `ether group describe` shows the right lag (end offset - committed) while
     the producer runs ahead of a paused group.
  5. `ether group reset-offsets` is refused while the group has members, works
     once it is empty, and `ether group delete` removes it.

usage: client_groups.py [BUILD_DIR]   (default $BUILD, else build/release)
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

BUILD = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("BUILD", "build/release")
ROOT = os.path.dirname(os.path.abspath(__file__)) + "/../.."
ETHER = os.path.join(ROOT, BUILD, "ether")
ETHERD = os.path.join(ROOT, BUILD, "etherd")
TOPIC = "events"
PARTITIONS = 6
SESSION_TIMEOUT_MS = 3000
PRODUCE_RATE = 1500  # records per second
OFFSETS_PARTITIONS = 8

failures = []


def report(ok, name, detail=""):
    print(("ok - " if ok else "not ok - ") + name + (": " + detail if detail and not ok else ""))
    if not ok:
        failures.append(name)


def now():
    return time.monotonic()


# ---- the cluster --------------------------------------------------------------------------


class Cluster:
    def __init__(self, work):
        self.work = work
        base = 20000 + (os.getpid() * 7) % 9000
        self.ports = {i: base + i for i in (1, 2, 3)}
        self.http_ports = {i: base + 10 + i for i in (1, 2, 3)}
        self.procs = {}
        self.seeds = ",".join("%d@127.0.0.1:%d" % (i, p) for i, p in self.ports.items())
        self.brokers = ",".join("127.0.0.1:%d" % p for p in self.ports.values())

    def start(self, broker_id):
        log = open(os.path.join(self.work, "broker-%d.log" % broker_id), "a")
        self.procs[broker_id] = subprocess.Popen(
            [ETHERD, "--broker-id", str(broker_id),
             "--data-dir", os.path.join(self.work, "broker-%d" % broker_id),
             "--client-port", str(self.ports[broker_id]),
             "--http-port", str(self.http_ports[broker_id]),
             "--seeds", self.seeds, "--tick-ms", "20", "--election-ticks", "10",
             "--heartbeat-ticks", "2", "--retention-check-ms", "500",
             "--offsets-topic-partitions", str(OFFSETS_PARTITIONS),
             "--group-initial-rebalance-delay-ms", "500"],
            stdout=log, stderr=log)

    def kill(self, broker_id, sig=signal.SIGKILL):
        proc = self.procs.pop(broker_id)
        proc.send_signal(sig)
        return proc.wait()

    def stop_all(self):
        unclean = 0
        for broker_id in list(self.procs):
            if self.kill(broker_id, signal.SIGTERM) != 0:
                unclean += 1
        return unclean

    def logs(self):
        for broker_id in (1, 2, 3):
            path = os.path.join(self.work, "broker-%d.log" % broker_id)
            if os.path.exists(path):
                print("--- broker %d log (last 30 lines) ---" % broker_id)
                with open(path) as f:
                    print("".join(f.readlines()[-30:]), end="")


def ether(cluster, *args, timeout=60, check=True):
    result = subprocess.run([ETHER, "--brokers", cluster.brokers] + list(args),
                            capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError("ether %s exited %d: %s" % (" ".join(args), result.returncode,
                                                       result.stderr.strip()))
    return result


def create_topic(cluster):
    """Creates TOPIC once all three brokers have registered (health can come a little sooner)."""
    ether(cluster, "cluster", "health", "--exit-when-healthy", timeout=60)
    deadline = now() + 30
    while True:
        result = ether(cluster, "topic", "create", TOPIC, "-p", str(PARTITIONS), "-r", "3",
                       check=now() > deadline)
        if result.returncode == 0:
            return
        time.sleep(0.3)


def describe_group(cluster, group):
    """The group's description as JSON, or None when it cannot be had right now."""
    result = ether(cluster, "group", "describe", group, "--format", "json", check=False,
                   timeout=30)
    if result.returncode != 0:
        return None
    try:
        return json.loads(result.stdout)
    except ValueError:
        return None


def committed_offsets(description):
    """{partition: committed offset} from a group description."""
    offsets = {}
    for entry in description.get("offsets", []):
        if entry.get("topic") == TOPIC and entry.get("committed", -1) >= 0:
            offsets[entry["partition"]] = entry["committed"]
    return offsets


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def coordinator_of(cluster, group):
    """The broker leading the group's __consumer_offsets partition."""
    partition = crc32c(group.encode()) % OFFSETS_PARTITIONS
    result = ether(cluster, "topic", "describe", "__consumer_offsets", "--format", "json",
                   check=False)
    if result.returncode != 0:
        return 0  # not created yet
    for entry in json.loads(result.stdout)["partitions"]:
        if entry["partition"] == partition:
            return entry["leader"]
    return 0


# ---- producer and consumers ------------------------------------------------------------------


class Producer:
    """`ether produce` fed one numbered record per partition turn at PRODUCE_RATE."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.sent = 0
        self.stopping = False
        self.procs = []
        self.thread = threading.Thread(target=self.run)

    def run(self):
        procs = [subprocess.Popen([ETHER, "--brokers", self.cluster.brokers, "produce", TOPIC,
                                   "--partition", str(p), "--acks", "all"],
                                  stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
                 for p in range(PARTITIONS)]
        self.procs = procs
        started = now()
        while not self.stopping:
            due = int((now() - started) * PRODUCE_RATE)
            while self.sent < due:
                procs[self.sent % PARTITIONS].stdin.write("record-%d\n" % self.sent)
                self.sent += 1
            for proc in procs:
                proc.stdin.flush()
            time.sleep(0.02)
        for proc in procs:
            proc.stdin.close()
        self.statuses = [proc.wait(timeout=60) for proc in procs]

    def start(self):
        self.thread.start()

    def stop(self):
        self.stopping = True
        self.thread.join()
        return all(status == 0 for status in self.statuses)


class Consumer:
    """One `ether consume --group` process; every printed line is timestamped."""

    def __init__(self, cluster, group, name, extra=()):
        self.name = name
        self.lines = []  # (time, partition, offset, value)
        self.proc = subprocess.Popen(
            [ETHER, "--brokers", cluster.brokers, "consume", TOPIC, "--group", group,
             "--from-beginning", "--format", "%p %o %v\\n",
             "--config", "session_timeout_ms=%d" % SESSION_TIMEOUT_MS,
             "--config", "heartbeat_interval_ms=500",
             "--config", "auto_commit_interval_ms=500"] + list(extra),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.reader = threading.Thread(target=self.read)
        self.reader.start()

    def read(self):
        for line in self.proc.stdout:
            parts = line.split()
            if len(parts) == 3:
                self.lines.append((now(), int(parts[0]), int(parts[1]), parts[2]))

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        status = self.proc.wait(timeout=60)
        self.reader.join()
        return status

    def partitions_since(self, since):
        return {p for (t, p, _, _) in self.lines if t >= since}


def wait_until(predicate, timeout_s):
    deadline = now() + timeout_s
    while now() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


# ---- checks ----------------------------------------------------------------------------------


def main():
    for program in (ETHER, ETHERD):
        if not os.access(program, os.X_OK):
            print("client-groups: %s is not built (run make)" % program, file=sys.stderr)
            return 2
    work = tempfile.mkdtemp(prefix="ether-client-groups-")
    cluster = Cluster(work)
    consumers = []
    producer = None
    try:
        for broker_id in (1, 2, 3):
            cluster.start(broker_id)
        create_topic(cluster)
        wait_until(lambda: coordinator_of(cluster, "billing") != 0, 30)

        producer = Producer(cluster)
        producer.start()
        consumers = [Consumer(cluster, "billing", "c%d" % i) for i in range(3)]
        every_member_reads = wait_until(lambda: all(c.lines for c in consumers), 30)
        report(every_member_reads, "three members of one group all receive records")
        time.sleep(2)
        owned = [c.partitions_since(now() - 1.0) for c in consumers]
        disjoint = sum(len(o) for o in owned) == len(set().union(*owned))
        report(disjoint and len(set().union(*owned)) == PARTITIONS,
               "the members share the 6 partitions without overlap", repr(owned))

        # 1. kill -9 one member: its partitions move to the others within the session timeout.
        victim = consumers.pop(0)
        victim_partitions = owned[0]
        killed_at = now()
        victim.stop(signal.SIGKILL)
        taken_over = wait_until(
            lambda: victim_partitions <= set().union(
                *(c.partitions_since(killed_at) for c in consumers)), 30)
        moved_after = [min((t for (t, p, _, _) in c.lines if t >= killed_at and p == vp),
                           default=None) for vp in victim_partitions for c in consumers]
        moved_after = [t - killed_at for t in moved_after if t is not None]
        takeover_s = max(moved_after) if moved_after else float("inf")
        print("# partitions of the killed member consumed by the others %.2f s after the kill "
              "(session timeout %.1f s)" % (takeover_s, SESSION_TIMEOUT_MS / 1000))
        report(taken_over and takeover_s < SESSION_TIMEOUT_MS / 1000 + 5,
               "a member killed with SIGKILL: the others take its partitions over")

        # Cooperative sticky: a third member joins two; only the partitions it takes move.
        coop = [Consumer(cluster, "coop", "coop-%d" % i,
                         ["--group-protocol", "cooperative", "--group-assignor", "sticky"])
                for i in range(2)]
        wait_until(lambda: all(c.lines for c in coop), 30)
        time.sleep(2)
        before = [c.partitions_since(now() - 1.0) for c in coop]
        coop.append(Consumer(cluster, "coop", "coop-2",
                             ["--group-protocol", "cooperative", "--group-assignor", "sticky"]))
        joined = wait_until(lambda: len(coop[2].partitions_since(0)) == 2, 30)
        time.sleep(2)
        after = [c.partitions_since(now() - 1.0) for c in coop]
        kept = all(after[i] <= before[i] and len(after[i]) == 2 for i in range(2))
        report(joined and kept and not (after[2] & (after[0] | after[1])),
               "cooperative sticky: a joining member takes 2 partitions, the others keep the rest",
               "before %r after %r" % (before, after))
        for c in coop:
            c.stop()

        # 3. kill the coordinator while the group commits; committed offsets never go back.
        coordinator = coordinator_of(cluster, "billing")
        samples = []
        sampling = [True]

        def sample():
            while sampling[0]:
                description = describe_group(cluster, "billing")
                if description is not None:
                    samples.append((now(), committed_offsets(description)))
                time.sleep(0.3)

        sampler = threading.Thread(target=sample)
        sampler.start()
        time.sleep(2)
        killed_at = now()
        cluster.kill(coordinator)
        time.sleep(8)
        cluster.start(coordinator)
        time.sleep(3)
        sampling[0] = False
        sampler.join()
        backwards = []
        highest = {}
        for (t, offsets) in samples:
            for partition, offset in offsets.items():
                if offset < highest.get(partition, -1):
                    backwards.append((partition, highest[partition], offset))
                highest[partition] = max(highest.get(partition, -1), offset)
        before = [o for (t, o) in samples if t < killed_at]
        after = [o for (t, o) in samples if t > killed_at + 1]
        progressed = (before and after and
                      sum(after[-1].values()) > sum(before[-1].values()))
        report(not backwards, "no committed offset went backward across the coordinator's death",
               repr(backwards[:5]))
        report(bool(progressed), "commits continue after the coordinator's broker is killed",
               "%d samples before, %d after" % (len(before), len(after)))

        # Stop producing; the members drain the topic.
        report(producer.stop(), "the producer wrote every record")
        produced = producer.sent
        drained = wait_until(
            lambda: len({v for c in consumers + [victim] for (_, _, _, v) in c.lines}) >=
            produced, 60)
        for c in consumers:
            c.stop()
        seen = {v for c in consumers + [victim] for (_, _, _, v) in c.lines}
        missing = [i for i in range(produced) if "record-%d" % i not in seen]
        printed = sum(len(c.lines) for c in consumers + [victim])
        print("# group billing: %d records produced, %d printed (%d more than once), %d missing"
              % (produced, printed, printed - len(seen), len(missing)))
        report(drained and not missing, "no record skipped: every record processed at least once",
               "missing %s" % missing[:10])

        # 2. an independent group reads everything, exactly once.
        reader = Consumer(cluster, "archive", "archive")
        wait_until(lambda: len(reader.lines) >= produced, 60)
        reader.stop()
        values = [v for (_, _, _, v) in reader.lines]
        report(len(values) == produced and len(set(values)) == produced,
               "a second group reads the whole topic independently, every record once",
               "%d lines, %d distinct, %d produced" % (len(values), len(set(values)), produced))

        # 4. lag while the producer runs ahead of a paused group.
        paused = Consumer(cluster, "reports", "reports")
        wait_until(lambda: len(paused.lines) >= produced, 60)
        paused.stop()  # commits what it printed and leaves: the group is paused
        producer = Producer(cluster)
        producer.start()
        time.sleep(3)
        report(producer.stop(), "the second producer run wrote every record")
        topic = json.loads(ether(cluster, "topic", "describe", TOPIC, "--format",
                                 "json").stdout)
        ends = {p["partition"]: p["high_watermark"] for p in topic["partitions"]}
        description = describe_group(cluster, "reports")
        rows = {o["partition"]: o for o in description.get("offsets", [])
                if o.get("topic") == TOPIC} if description else {}
        lag_right = len(rows) == PARTITIONS and all(
            rows[p]["end"] == ends[p] and rows[p]["lag"] == ends[p] - rows[p]["committed"]
            for p in rows)
        total_lag = sum(r["lag"] for r in rows.values()) if rows else -1
        print("# group reports: lag %d after %d more records" % (total_lag, producer.sent))
        report(lag_right and total_lag == producer.sent,
               "group describe shows end offset and lag per partition", repr(rows)[:300])

        # 5. reset-offsets needs an empty group; delete removes it.
        member = Consumer(cluster, "reports", "reports-2")
        wait_until(lambda: member.lines, 20)  # a member with its assignment
        refused = ether(cluster, "group", "reset-offsets", "reports", "--topic", TOPIC,
                        "--to-earliest", check=False)
        report(refused.returncode != 0 and "member" in (refused.stderr + refused.stdout).lower(),
               "reset-offsets is refused while the group has members", refused.stderr.strip())
        report(member.stop() == 0, "a group member stopped with SIGTERM exits 0")
        left = wait_until(lambda: describe_group(cluster, "reports") is not None and
                          not describe_group(cluster, "reports").get("members"), 10)
        report(left, "a member stopped with SIGTERM leaves its group")
        ether(cluster, "group", "reset-offsets", "reports", "--topic", TOPIC, "--to-earliest")
        description = describe_group(cluster, "reports")
        reset = description is not None and all(
            o["committed"] == 0 for o in description.get("offsets", []) if o["topic"] == TOPIC)
        report(reset, "reset-offsets --to-earliest moves every committed offset to 0")
        listed = ether(cluster, "group", "list").stdout
        report("billing" in listed and "archive" in listed and "reports" in listed,
               "group list shows the groups", listed.strip())
        ether(cluster, "group", "delete", "archive")
        report("archive" not in ether(cluster, "group", "list").stdout,
               "group delete removes the group")
    except Exception as error:  # a failed step: report it and clean up
        report(False, "the test ran to the end", repr(error))
    finally:
        if producer is not None and not producer.stopping:
            producer.stopping = True
        for c in consumers:
            if c.proc.poll() is None:
                c.proc.kill()
        unclean = cluster.stop_all()
        report(unclean == 0, "every broker exits 0 on SIGTERM")
        if failures:
            cluster.logs()
        subprocess.run(["rm", "-rf", work])
    print("client-groups: %d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
