#!/usr/bin/env python3
"""Checks for tests/integration/cli_cluster.sh: what the `ether` CLI printed
against what it should have printed. Each subcommand exits 0 when the check
holds, else prints one line saying what differs and exits 1.

  partition KEY COUNT                 the partition of KEY among COUNT (crc32c mod COUNT)
  json FILE EXPRESSION                FILE is one JSON document d; EXPRESSION holds
  json-lines FILE EXPRESSION          every line of FILE is JSON; EXPRESSION holds of the list d
  describe FILE PARTITIONS REPLICAS [all-in-sync]
                                      `topic describe` text: every partition has a leader
                                      among its replicas, REPLICAS distinct replicas and an
                                      in-sync set that holds the leader (with all-in-sync:
                                      every replica)
  leader FILE PARTITION               prints the leader of PARTITION in `topic describe` text
  records EXPECTED CONSUMED           CONSUMED ("P|O|KEY|VALUE" lines from consume) holds,
                                      per partition and in order from offset 0, exactly the
                                      "P|KEY|VALUE" lines of EXPECTED
  pipeline-generate COUNT SHA_FILE    writes COUNT records of 1024 printable bytes (a 10-digit
                                      sequence number, a space, deterministic filler) to stdout,
                                      one a line, and their sha256 to SHA_FILE
  pipeline-verify COUNT PRODUCED CONSUMED INPUT_SHA_FILE
                                      PRODUCED: `produce --format json` output, one success per
                                      line; CONSUMED: `consume --format '%p %o %v\\n'` output.
                                      Every record comes back once, unchanged, at the partition
                                      and offset its delivery report named, offsets contiguous
                                      and sequence numbers increasing per partition, and the
                                      records sorted by sequence number hash to INPUT_SHA.
"""
import hashlib
import json
import random
import re
import sys

RECORD_BYTES = 1024
FILLER_POOL_BYTES = 1 << 20


def fail(message):
    print(message)
    sys.exit(1)


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def check_expression(documents, expression, source):
    try:
        holds = eval(expression, {"d": documents, "len": len, "sorted": sorted, "all": all,
                                  "any": any, "set": set, "isinstance": isinstance})
    except Exception as error:  # a missing key or a wrong type is a failed check
        fail(f"{source}: {expression} raised {error!r}")
    if not holds:
        fail(f"{source}: {expression} does not hold")


def load_json(path):
    with open(path) as file:
        text = file.read()
    try:
        return json.loads(text)
    except ValueError as error:
        fail(f"{path} is not JSON ({error}): {text[:200]!r}")


def load_json_lines(path):
    documents = []
    with open(path) as file:
        for number, line in enumerate(file, 1):
            try:
                documents.append(json.loads(line))
            except ValueError as error:
                fail(f"{path}:{number} is not JSON ({error}): {line[:200]!r}")
    return documents


ROW = re.compile(r"^(\d+)\s+(\d+|none)\s+(\S+)\s+(\S+)\s+(\d+)\s+(\d+)\s*$")


def describe_rows(path):
    rows = {}
    with open(path) as file:
        for line in file:
            match = ROW.match(line)
            if match:
                partition, leader, replicas, in_sync, high_watermark, log_start = match.groups()
                rows[int(partition)] = (
                    0 if leader == "none" else int(leader),
                    [int(r) for r in replicas.split(",")] if replicas != "-" else [],
                    [int(r) for r in in_sync.split(",")] if in_sync != "-" else [],
                    int(high_watermark),
                    int(log_start),
                )
    return rows


def command_describe(path, partitions, replicas, mode=""):
    rows = describe_rows(path)
    if sorted(rows) != list(range(int(partitions))):
        fail(f"{path}: partitions {sorted(rows)}, expected 0..{int(partitions) - 1}")
    for partition, (leader, replica_ids, in_sync, high_watermark, log_start) in rows.items():
        if len(set(replica_ids)) != int(replicas) or not set(replica_ids) <= {1, 2, 3}:
            fail(f"{path}: partition {partition} has replicas {replica_ids}")
        if leader not in replica_ids:
            fail(f"{path}: partition {partition} has leader {leader}, not one of {replica_ids}")
        if leader not in in_sync or not set(in_sync) <= set(replica_ids):
            fail(f"{path}: partition {partition}: in-sync {in_sync}, leader {leader}, "
                 f"replicas {replica_ids}")
        if mode == "all-in-sync" and sorted(in_sync) != sorted(replica_ids):
            fail(f"{path}: partition {partition}: in-sync {in_sync}, replicas {replica_ids}")
        if log_start > high_watermark:
            fail(f"{path}: partition {partition}: log start {log_start} > HW {high_watermark}")


def command_leader(path, partition):
    rows = describe_rows(path)
    print(rows[int(partition)][0] if int(partition) in rows else 0)


def command_records(expected_path, consumed_path):
    expected = {}
    with open(expected_path, "rb") as file:
        for line in file:
            partition, key, value = line.rstrip(b"\n").split(b"|", 2)
            expected.setdefault(int(partition), []).append((key, value))
    consumed = {}
    with open(consumed_path, "rb") as file:
        for number, line in enumerate(file, 1):
            fields = line.rstrip(b"\n").split(b"|", 3)
            if len(fields) != 4:
                fail(f"{consumed_path}:{number}: not P|O|KEY|VALUE: {line!r}")
            partition, offset = int(fields[0]), int(fields[1])
            records = consumed.setdefault(partition, [])
            if offset != len(records):
                fail(f"partition {partition}: offset {offset} where {len(records)} was next")
            records.append((fields[2], fields[3]))
    if consumed != expected:
        for partition in sorted(set(expected) | set(consumed)):
            if expected.get(partition) != consumed.get(partition):
                fail(f"partition {partition}: expected {expected.get(partition)}, "
                     f"consumed {consumed.get(partition)}")


def filler_pool():
    generator = random.Random(20240917)
    alphabet = bytes(range(0x21, 0x7F))  # printable, no space
    return bytes(generator.choices(alphabet, k=FILLER_POOL_BYTES))


def record(pool, sequence):
    start = (sequence * 7919) % (FILLER_POOL_BYTES - RECORD_BYTES)
    return b"%010d " % sequence + pool[start:start + RECORD_BYTES - 11]


def command_pipeline_generate(count, sha_path):
    pool = filler_pool()
    digest = hashlib.sha256()
    out = sys.stdout.buffer
    chunk = []
    for sequence in range(int(count)):
        chunk.append(record(pool, sequence))
        if len(chunk) == 1024:
            data = b"\n".join(chunk) + b"\n"
            digest.update(data)
            out.write(data)
            chunk = []
    if chunk:
        data = b"\n".join(chunk) + b"\n"
        digest.update(data)
        out.write(data)
    out.flush()
    with open(sha_path, "w") as file:
        file.write(digest.hexdigest() + "\n")


def command_pipeline_verify(count, produced_path, consumed_path, input_sha_path):
    count = int(count)
    produced_partition = [-1] * count
    produced_offset = [-1] * count
    with open(produced_path, "rb") as file:
        for number, line in enumerate(file, 1):
            try:
                report = json.loads(line)
                line_number, partition, offset = report["line"], report["partition"], report["offset"]
            except (ValueError, KeyError):
                fail(f"{produced_path}:{number}: not a success report: {line[:300]!r}")
            if not 1 <= line_number <= count or produced_partition[line_number - 1] != -1:
                fail(f"{produced_path}:{number}: line {line_number} reported twice or unknown")
            if partition < 0 or offset < 0:
                fail(f"{produced_path}:{number}: partition or offset missing: {line!r}")
            produced_partition[line_number - 1] = partition
            produced_offset[line_number - 1] = offset
    missing = produced_partition.count(-1)
    if missing:
        fail(f"{missing} of {count} records have no delivery report")

    pool = filler_pool()
    output = bytearray(count * (RECORD_BYTES + 1))
    seen = bytearray(count)
    next_offset = {}
    last_sequence = {}
    with open(consumed_path, "rb") as file:
        for number, line in enumerate(file, 1):
            fields = line.rstrip(b"\n").split(b" ", 2)
            if len(fields) != 3 or len(fields[2]) != RECORD_BYTES:
                fail(f"{consumed_path}:{number}: not 'P O VALUE' with a {RECORD_BYTES}-byte "
                     f"value: {line[:80]!r}...")
            partition, offset, value = int(fields[0]), int(fields[1]), fields[2]
            sequence = int(value[:10])
            if not 0 <= sequence < count:
                fail(f"{consumed_path}:{number}: sequence number {sequence} out of range")
            if value != record(pool, sequence):
                fail(f"{consumed_path}:{number}: record {sequence} came back changed")
            if seen[sequence]:
                fail(f"{consumed_path}:{number}: record {sequence} consumed twice")
            seen[sequence] = 1
            if offset != next_offset.get(partition, 0):
                fail(f"partition {partition}: offset {offset} where {next_offset.get(partition, 0)} "
                     f"was next")
            next_offset[partition] = offset + 1
            if sequence <= last_sequence.get(partition, -1):
                fail(f"partition {partition}: record {sequence} after record "
                     f"{last_sequence[partition]}: produce order not kept")
            last_sequence[partition] = sequence
            if (produced_partition[sequence], produced_offset[sequence]) != (partition, offset):
                fail(f"record {sequence} consumed at {partition}/{offset}, reported at "
                     f"{produced_partition[sequence]}/{produced_offset[sequence]}")
            start = sequence * (RECORD_BYTES + 1)
            output[start:start + RECORD_BYTES] = value
            output[start + RECORD_BYTES] = 0x0A
    lost = count - sum(seen)
    if lost:
        fail(f"{lost} of {count} records were not consumed (first: {seen.index(0)})")
    output_sha = hashlib.sha256(output).hexdigest()
    with open(input_sha_path) as file:
        input_sha = file.read().strip()
    if output_sha != input_sha:
        fail(f"sha256 of the consumed records {output_sha} differs from the input's {input_sha}")
    print(f"{count} records, sha256 {output_sha}, partitions "
          + " ".join(f"{p}:{n}" for p, n in sorted(next_offset.items())))


def main(argv):
    commands = {
        "partition": lambda key, count: print(crc32c(key.encode()) % int(count)),
        "json": lambda path, expression: check_expression(load_json(path), expression, path),
        "json-lines": lambda path, expression: check_expression(load_json_lines(path),
                                                                expression, path),
        "describe": command_describe,
        "leader": command_leader,
        "records": command_records,
        "pipeline-generate": command_pipeline_generate,
        "pipeline-verify": command_pipeline_verify,
    }
    if len(argv) < 2 or argv[1] not in commands:
        print(__doc__, file=sys.stderr)
        return 2
    commands[argv[1]](*argv[2:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
