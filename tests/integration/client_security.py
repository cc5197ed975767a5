#!/usr/bin/env python3
"""Users, SCRAM logins and ACLs through the `ether` CLI against real etherd brokers.

A three-broker TLS cluster on loopback whose brokers run with --tls-client-auth
requested (a client certificate or a SCRAM-SHA-256 login), --authorization true and
--super-users alice; certificates from scripts/make-test-certs (alice, carol). Checks,
each printed as "ok - ..." or "not ok - ...":

  1. alice (certificate, super user) creates user bob, lists him, and grants bob READ
     on the topic and on the group "billing"; `ether acl list` shows both bindings.
  2. bob (SCRAM login, no certificate) consumes every record alice produced, with
     `ether consume --group billing`, and `ether group describe` shows lag 0; `ether group
     list` shows him his group but not alice's other one.
  3. bob is refused, with a clear sentence and a non-zero exit: producing to the topic
     (with acks=1 and acks=all), reading another topic, listing users, creating a topic;
     `ether topic list` shows him only his topic.
  4. A wrong password and an unknown user fail at once with the same sentence; so does
     a client with neither certificate nor login.
  5. carol (certificate, no ACL) sees no topic and may not read; once alice grants her
     READ on the prefix "secure-" she reads; a DENY on the topic takes that away again;
     with DESCRIBE on the cluster she lists every group.
  6. Deleting bob's topic ACL takes his access away.

usage: client_security.py [BUILD_DIR]   (default $BUILD, else build/release)
"""
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import client_tls  # noqa: E402  (the cluster and CLI helpers of the TLS checks)

from client_tls import ETHER, ETHERD, TOPIC, Cluster, ether, now, report, tls_flags  # noqa: E402

RECORDS = 1000
OTHER_TOPIC = "payroll"
GROUP = "billing"
BOB_PASSWORD = "horse-battery-staple-9"
REFUSAL_S = 8  # a refusal must come well before the CLI's 15 s timeout
ACL_WAIT_S = 20  # an ACL reaches every broker through the controller's log


def bob_flags(cluster, password_file):
    return ["--tls-ca", cluster.cert("ca.crt"), "--user", "bob", "--password-file",
            password_file]


def check_refused(cluster, name, flags, args, expected_words, stdin=None):
    """A command that must fail fast, saying something that contains every expected word."""
    started = now()
    result = ether(cluster, flags + ["--timeout", "15000"], *args, check=False, timeout=60,
                   stdin=stdin)
    elapsed = now() - started
    message = result.stderr.strip()
    print("# %s: exit %d after %.2f s: %s" % (name, result.returncode, elapsed, message))
    ok = (result.returncode != 0 and all(w in message for w in expected_words)
          and elapsed < REFUSAL_S)
    report(ok, name, "exit %d after %.2f s: %s" % (result.returncode, elapsed, message))
    return message


def until(predicate, seconds=ACL_WAIT_S):
    """Polls `predicate` until it holds (True) or the time is up (False)."""
    deadline = now() + seconds
    while True:
        if predicate():
            return True
        if now() > deadline:
            return False
        time.sleep(0.3)


def reads(cluster, flags, topic, count):
    result = ether(cluster, flags + ["--timeout", "5000"], "consume", topic, "--from-beginning",
                   "--count", str(count), check=False, timeout=60)
    return result.returncode == 0 and len(result.stdout.splitlines()) == count


def run_checks(work, certs):
    cluster = Cluster(work, certs, tls=True,
                      extra_arguments=["--tls-client-auth", "requested", "--authorization",
                                       "true", "--super-users", "alice"])
    alice = tls_flags(cluster)
    carol = tls_flags(cluster, identity="carol")
    password_file = os.path.join(work, "bob.password")
    with open(password_file, "w") as f:
        f.write(BOB_PASSWORD + "\n")
    wrong_file = os.path.join(work, "wrong.password")
    with open(wrong_file, "w") as f:
        f.write("Horse-battery-staple-9\n")
    bob = bob_flags(cluster, password_file)
    try:
        client_tls.start_cluster(cluster, alice)
        ether(cluster, alice, "topic", "create", OTHER_TOPIC, "-p", "1", "-r", "3")
        records = ["order-%04d" % i for i in range(RECORDS)]
        ether(cluster, alice, "produce", TOPIC, "--acks", "all", stdin="\n".join(records) + "\n")
        ether(cluster, alice, "produce", OTHER_TOPIC, "--acks", "all", stdin="salary\n")

        # 1. administration as alice
        ether(cluster, alice, "user", "create", "bob", "--password-file", password_file)
        users = ether(cluster, alice, "user", "list", "--format", "json").stdout
        report('"bob"' in users and "SCRAM-SHA-256" in users and "4096" in users,
               "alice creates user bob (SCRAM-SHA-256, 4096 iterations)", users.strip())
        ether(cluster, alice, "acl", "create", "--principal", "bob", "--allow", "--operation",
              "read", "--topic", TOPIC)
        ether(cluster, alice, "acl", "create", "--principal", "bob", "--allow", "--operation",
              "read", "--group", GROUP)
        listed = ether(cluster, alice, "acl", "list", "--principal", "bob").stdout
        report(listed.count("bob") == 2 and TOPIC in listed and GROUP in listed,
               "ether acl list shows bob's two bindings", listed.strip())

        # 2. bob consumes through his group
        consumed = ether(cluster, bob, "consume", TOPIC, "--group", GROUP, "--from-beginning",
                         "--count", str(RECORDS), "--timeout", "30000", timeout=120)
        lines = consumed.stdout.splitlines()
        report(sorted(lines) == records,
               "bob (SCRAM login) consumes all %d records with --group %s" % (RECORDS, GROUP),
               "%d lines, %d distinct" % (len(lines), len(set(lines))))
        described = ether(cluster, alice, "group", "describe", GROUP, "--format", "json").stdout
        report('"lag": 0' in described or '"lag":0' in described,
               "the group's commits cover what bob read", described.strip()[:300])

        # groups are listed as far as one may describe them
        ether(cluster, alice, "consume", OTHER_TOPIC, "--group", "payroll-readers",
              "--from-beginning", "--count", "1", "--timeout", "30000", timeout=120)
        alice_groups = ether(cluster, alice, "group", "list").stdout
        bob_groups = ether(cluster, bob, "group", "list").stdout
        report(GROUP in alice_groups and "payroll-readers" in alice_groups
               and GROUP in bob_groups and "payroll-readers" not in bob_groups,
               "ether group list shows bob only the group he may describe",
               "alice: %r; bob: %r" % (alice_groups, bob_groups))

        # 3. what a read-only principal may not do
        check_refused(cluster, "bob may not produce (acks=all: no idempotent producer for him)",
                      bob, ["produce", TOPIC, "--acks", "all"],
                      ["not authorized to write to any topic"], stdin="x\n")
        check_refused(cluster, "bob may not produce (acks=1)", bob,
                      ["produce", TOPIC, "--acks", "1"], ["not authorized"], stdin="x\n")
        check_refused(cluster, "bob may not read another topic", bob,
                      ["consume", OTHER_TOPIC, "--from-beginning", "--count", "1"],
                      ["not authorized", OTHER_TOPIC])
        check_refused(cluster, "bob may not list users", bob, ["user", "list"],
                      ["not authorized"])
        check_refused(cluster, "bob may not create a topic", bob,
                      ["topic", "create", "bobs-topic", "-p", "1", "-r", "1"],
                      ["not authorized"])
        topics = ether(cluster, bob, "topic", "list").stdout
        report(TOPIC in topics and OTHER_TOPIC not in topics,
               "ether topic list shows bob only the topic he may read", topics.strip())

        # 4. failed logins
        wrong = check_refused(cluster, "a wrong password is refused at once",
                              bob_flags(cluster, wrong_file), ["topic", "list"],
                              ["wrong user name or password"])
        unknown = check_refused(cluster, "an unknown user is refused at once",
                                ["--tls-ca", cluster.cert("ca.crt"), "--user", "mallory",
                                 "--password-file", wrong_file], ["topic", "list"],
                                ["wrong user name or password"])
        report(wrong.replace("bob", "USER") == unknown.replace("mallory", "USER"),
               "a wrong password and an unknown user get the same answer",
               "%r vs %r" % (wrong, unknown))
        check_refused(cluster, "a client with neither certificate nor login is refused",
                      ["--tls-ca", cluster.cert("ca.crt")], ["topic", "list"],
                      ["client certificate or a SCRAM-SHA-256 login"])

        # 5. a certificate principal and its ACLs
        topics = ether(cluster, carol, "topic", "list").stdout
        report(TOPIC not in topics and OTHER_TOPIC not in topics,
               "carol (certificate, no ACL) sees no topic", topics.strip())
        check_refused(cluster, "carol may not read", carol,
                      ["consume", TOPIC, "--from-beginning", "--count", "1"],
                      ["not authorized", TOPIC])
        ether(cluster, alice, "acl", "create", "--principal", "carol", "--allow", "--operation",
              "read", "--topic", "secure-", "--prefixed")
        report(until(lambda: reads(cluster, carol, TOPIC, RECORDS)),
               "carol reads once she may read topics prefixed secure-")
        ether(cluster, alice, "acl", "create", "--principal", "carol", "--deny", "--operation",
              "read", "--topic", TOPIC)
        report(until(lambda: not reads(cluster, carol, TOPIC, 1)),
               "a DENY on the topic wins over carol's prefixed ALLOW")

        # DESCRIBE on the cluster lists every group
        ether(cluster, alice, "acl", "create", "--principal", "carol", "--allow", "--operation",
              "describe", "--cluster")
        report(until(lambda: all(g in ether(cluster, carol, "group", "list").stdout
                                 for g in (GROUP, "payroll-readers"))),
               "with DESCRIBE on the cluster carol's ether group list shows every group")

        # 6. taking bob's access away
        ether(cluster, alice, "acl", "delete", "--principal", "bob", "--allow", "--operation",
              "read", "--topic", TOPIC)
        report(until(lambda: not reads(cluster, bob, TOPIC, 1)),
               "deleting bob's ACL takes his access away")
    except Exception as error:  # report, then show the logs
        report(False, "the checks ran to the end", repr(error))
    finally:
        unclean = cluster.stop_all()
        report(unclean == 0, "every broker stopped cleanly on SIGTERM", "%d did not" % unclean)
        if client_tls.failures:
            cluster.logs()


def main():
    for program in (ETHER, ETHERD):
        if not os.access(program, os.X_OK):
            print("client-security: %s is not built (run make)" % program, file=sys.stderr)
            return 2
    work = tempfile.mkdtemp(prefix="ether-client-security-")
    try:
        certs = client_tls.make_certs(work, clients=["carol"])
        run_checks(work, certs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    failures = client_tls.failures
    print("client-security: %s" % ("all checks passed" if not failures
                                   else "%d failed: %s" % (len(failures), "; ".join(failures))))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
