#!/usr/bin/env python3
"""Publishes Lok events straight to Kafka with confluent-kafka.

    python publish.py --brokers 127.0.0.1:19092 --topic lok.events --count 40 --source py-demo

Builds COUNT events for a few deals, each going lead_created -> lead_qualified
-> offer_sent -> deal_won (event n, from 1, is "<source>-<n>"), sends them keyed
by client_id, waits until Kafka has acknowledged every one and prints a summary.
lok/v1/events_pb2.py is generated from proto/ by build.sh; docs/PUBLISHING.md
explains every setting.
"""

import argparse
import collections
import sys

from confluent_kafka import KafkaException, Producer

from lok.v1 import events_pb2

CLIENTS = ["acme", "globex", "initech", "umbrella", "hooli"]
SALESPEOPLE = ["alice", "bob", "carol"]
REGIONS = ["north", "south"]
PRODUCTS = ["lok-basic", "lok-pro"]
CHANNELS = [
    events_pb2.LeadCreated.INBOUND_WEB,
    events_pb2.LeadCreated.REFERRAL,
    events_pb2.LeadCreated.OUTBOUND,
]
FIRST_LEAD_SECONDS = 1704099600  # 2024-01-01T09:00:00Z
DAY_SECONDS = 86400


def build_event(source: str, number: int) -> events_pb2.Event:
    """Event `number` (from 1): deal (number-1)//4, stage (number-1)%4."""
    deal, stage = divmod(number - 1, 4)
    event = events_pb2.Event(
        event_id=f"{source}-{number}",
        source=source,
        client_id=CLIENTS[deal % len(CLIENTS)],
        deal_id=f"{source}-deal-{deal + 1}",
    )
    # A deal starts each day and moves one stage a week.
    event.occurred_at.FromSeconds(FIRST_LEAD_SECONDS + deal * DAY_SECONDS + stage * 7 * DAY_SECONDS)
    amount = events_pb2.Money(minor=100_000 + 10_000 * (deal % 10), currency="USD")  # cents
    if stage == 0:
        event.lead_created.salesperson = SALESPEOPLE[deal % len(SALESPEOPLE)]
        event.lead_created.region = REGIONS[deal % len(REGIONS)]
        event.lead_created.product = PRODUCTS[deal % len(PRODUCTS)]
        event.lead_created.channel = CHANNELS[deal % len(CHANNELS)]
    elif stage == 1:
        event.lead_qualified.SetInParent()  # an empty payload still selects the oneof
    elif stage == 2:
        event.offer_sent.amount.CopyFrom(amount)
        event.offer_sent.discount_bp = 500
    else:
        event.deal_won.amount.CopyFrom(amount)
    return event


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brokers", required=True, help="bootstrap servers HOST:PORT[,...]")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--count", type=int, required=True, help="events to publish")
    parser.add_argument("--source", required=True, help="this publisher's name; with event_id the dedupe key")
    args = parser.parse_args()

    producer = Producer({
        "bootstrap.servers": args.brokers,
        # No duplicates or reordering from the client's own retries; implies acks=all.
        "enable.idempotence": True,
        "acks": "all",
        # librdkafka's default (consistent_random, CRC32) puts keys on other
        # partitions than Java; murmur2_random is Java's murmur2 for keyed records.
        "partitioner": "murmur2_random",
        "linger.ms": 5,
    })

    delivered = collections.Counter()  # partition -> records
    failures = []

    def on_delivery(error, message):
        if error is not None:
            failures.append(f"{message.key().decode()}: {error}")
        else:
            delivered[message.partition()] += 1

    for number in range(1, args.count + 1):
        event = build_event(args.source, number)
        while True:
            try:
                producer.produce(args.topic, key=event.client_id.encode(),
                                 value=event.SerializeToString(), on_delivery=on_delivery)
                break
            except BufferError:  # the local queue is full: serve deliveries, then retry
                producer.poll(1)
        producer.poll(0)

    remaining = producer.flush(60)
    if remaining or failures:
        for failure in failures[:10]:
            print(f"publish: delivery failed: {failure}", file=sys.stderr)
        print(f"publish: {len(failures)} failed, {remaining} undelivered", file=sys.stderr)
        return 1
    by_partition = " ".join(f"{p}:{n}" for p, n in sorted(delivered.items()))
    print(f"published {sum(delivered.values())} events from source {args.source} "
          f"to {args.topic} (partition:records {by_partition})")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KafkaException as error:
        print(f"publish: {error}", file=sys.stderr)
        sys.exit(1)
