package example.lok;

import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;

import com.google.protobuf.Timestamp;
import lok.v1.Events.DealWon;
import lok.v1.Events.Event;
import lok.v1.Events.LeadCreated;
import lok.v1.Events.LeadQualified;
import lok.v1.Events.Money;
import lok.v1.Events.OfferSent;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Publishes Lok events straight to Kafka with kafka-clients.
 *
 * <pre>
 * java -jar target/lok-publisher.jar --brokers 127.0.0.1:19092 --topic lok.events --count 40 --source java-demo
 * </pre>
 *
 * <p>Builds COUNT events for a few deals, each going lead_created -> lead_qualified -> offer_sent
 * -> deal_won (event n, from 1, is "&lt;source&gt;-&lt;n&gt;"), sends them keyed by client_id,
 * waits until Kafka has acknowledged every one and prints a summary. docs/PUBLISHING.md explains
 * every setting.
 */
public final class Publish {
  private static final String[] CLIENTS = {"acme", "globex", "initech", "umbrella", "hooli"};
  private static final String[] SALESPEOPLE = {"alice", "bob", "carol"};
  private static final String[] REGIONS = {"north", "south"};
  private static final String[] PRODUCTS = {"lok-basic", "lok-pro"};
  private static final LeadCreated.Channel[] CHANNELS = {
    LeadCreated.Channel.INBOUND_WEB, LeadCreated.Channel.REFERRAL, LeadCreated.Channel.OUTBOUND
  };
  private static final Instant FIRST_LEAD = Instant.parse("2024-01-01T09:00:00Z");

  /** Event {@code number} (from 1): deal (number-1)/4, stage (number-1)%4. */
  static Event buildEvent(String source, int number) {
    int deal = (number - 1) / 4;
    int stage = (number - 1) % 4;
    // A deal starts each day and moves one stage a week.
    Instant occurredAt = FIRST_LEAD.plus(deal + 7L * stage, ChronoUnit.DAYS);
    Event.Builder event =
        Event.newBuilder()
            .setEventId(source + "-" + number)
            .setSource(source)
            .setClientId(CLIENTS[deal % CLIENTS.length])
            .setDealId(source + "-deal-" + (deal + 1))
            .setOccurredAt(Timestamp.newBuilder().setSeconds(occurredAt.getEpochSecond()));
    Money amount = Money.newBuilder().setMinor(100_000 + 10_000L * (deal % 10)).setCurrency("USD").build();
    switch (stage) {
      case 0 -> event.setLeadCreated(
          LeadCreated.newBuilder()
              .setSalesperson(SALESPEOPLE[deal % SALESPEOPLE.length])
              .setRegion(REGIONS[deal % REGIONS.length])
              .setProduct(PRODUCTS[deal % PRODUCTS.length])
              .setChannel(CHANNELS[deal % CHANNELS.length]));
      case 1 -> event.setLeadQualified(LeadQualified.getDefaultInstance());
      case 2 -> event.setOfferSent(OfferSent.newBuilder().setAmount(amount).setDiscountBp(500));
      default -> event.setDealWon(DealWon.newBuilder().setAmount(amount));
    }
    return event.build();
  }

  public static void main(String[] args) throws InterruptedException {
    Map<String, String> options = parseOptions(args);
    String topic = options.get("topic");
    String source = options.get("source");
    int count = Integer.parseInt(options.get("count"));

    Map<String, Object> config = new HashMap<>();
    config.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, options.get("brokers"));
    // No duplicates or reordering from the client's own retries (the default since 3.0; said
    // out loud because lokd relies on it).
    config.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    config.put(ProducerConfig.ACKS_CONFIG, "all");
    config.put(ProducerConfig.LINGER_MS_CONFIG, 5);
    // No partitioner.class: the built-in one sends a keyed record to murmur2(key) % partitions,
    // the partition lokd expects.
    config.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
    config.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);

    Map<Integer, Integer> byPartition = new TreeMap<>();
    try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(config)) {
      List<Future<RecordMetadata>> deliveries = new ArrayList<>(count);
      for (int number = 1; number <= count; number++) {
        Event event = buildEvent(source, number);
        deliveries.add(
            producer.send(new ProducerRecord<>(topic, event.getClientId(), event.toByteArray())));
      }
      producer.flush();
      for (Future<RecordMetadata> delivery : deliveries) {
        byPartition.merge(delivery.get().partition(), 1, Integer::sum);
      }
    } catch (ExecutionException failure) {
      System.err.println("publish: delivery failed: " + failure.getCause());
      System.exit(1);
    }

    StringBuilder summary = new StringBuilder();
    byPartition.forEach((partition, records) -> summary.append(' ').append(partition).append(':').append(records));
    System.out.printf(
        "published %d events from source %s to %s (partition:records%s)%n",
        count, source, topic, summary);
  }

  /** Reads --brokers, --topic, --count and --source; exits with usage when one is missing. */
  private static Map<String, String> parseOptions(String[] args) {
    Map<String, String> options = new HashMap<>();
    for (int index = 0; index + 1 < args.length; index += 2) {
      options.put(args[index].replaceFirst("^--?", ""), args[index + 1]);
    }
    for (String required : List.of("brokers", "topic", "count", "source")) {
      if (!options.containsKey(required)) {
        System.err.println(
            "usage: publish --brokers HOST:PORT --topic TOPIC --count N --source SOURCE");
        System.exit(2);
      }
    }
    return options;
  }
}
