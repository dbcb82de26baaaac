// Command publish publishes Lok events straight to Kafka with franz-go.
//
//	go generate && go build -o bin/publish .
//	bin/publish --brokers 127.0.0.1:19092 --topic lok.events --count 40 --source go-demo
//
// It builds COUNT events for a few deals, each going lead_created ->
// lead_qualified -> offer_sent -> deal_won (event n, from 1, is
// "<source>-<n>"), sends them keyed by client_id, waits until Kafka has
// acknowledged every one and prints a summary. docs/PUBLISHING.md explains
// every setting.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	lokv1 "example.com/lok-publisher/internal/lokv1"
)

var (
	clients     = []string{"acme", "globex", "initech", "umbrella", "hooli"}
	salespeople = []string{"alice", "bob", "carol"}
	regions     = []string{"north", "south"}
	products    = []string{"lok-basic", "lok-pro"}
	channels    = []lokv1.LeadCreated_Channel{
		lokv1.LeadCreated_INBOUND_WEB, lokv1.LeadCreated_REFERRAL, lokv1.LeadCreated_OUTBOUND,
	}
	firstLead = time.Date(2024, 1, 1, 9, 0, 0, 0, time.UTC)
)

// buildEvent returns event number (from 1): deal (number-1)/4, stage (number-1)%4.
func buildEvent(source string, number int) *lokv1.Event {
	deal, stage := (number-1)/4, (number-1)%4
	event := &lokv1.Event{
		EventId:  fmt.Sprintf("%s-%d", source, number),
		Source:   source,
		ClientId: clients[deal%len(clients)],
		DealId:   fmt.Sprintf("%s-deal-%d", source, deal+1),
		// A deal starts each day and moves one stage a week.
		OccurredAt: timestamppb.New(firstLead.AddDate(0, 0, deal+7*stage)),
	}
	amount := &lokv1.Money{Minor: 100_000 + 10_000*int64(deal%10), Currency: "USD"} // cents
	switch stage {
	case 0:
		event.Payload = &lokv1.Event_LeadCreated{LeadCreated: &lokv1.LeadCreated{
			Salesperson: salespeople[deal%len(salespeople)],
			Region:      regions[deal%len(regions)],
			Product:     products[deal%len(products)],
			Channel:     channels[deal%len(channels)],
		}}
	case 1:
		event.Payload = &lokv1.Event_LeadQualified{LeadQualified: &lokv1.LeadQualified{}}
	case 2:
		event.Payload = &lokv1.Event_OfferSent{OfferSent: &lokv1.OfferSent{Amount: amount, DiscountBp: 500}}
	default:
		event.Payload = &lokv1.Event_DealWon{DealWon: &lokv1.DealWon{Amount: amount}}
	}
	return event
}

func run() error {
	brokers := flag.String("brokers", "", "bootstrap servers HOST:PORT[,...] (required)")
	topic := flag.String("topic", "", "topic (required)")
	count := flag.Int("count", 0, "events to publish (required)")
	source := flag.String("source", "", "this publisher's name; with event_id the dedupe key (required)")
	flag.Parse()
	if *brokers == "" || *topic == "" || *count <= 0 || *source == "" {
		flag.Usage()
		return fmt.Errorf("--brokers, --topic, --count and --source are required")
	}

	client, err := kgo.NewClient(
		kgo.SeedBrokers(strings.Split(*brokers, ",")...),
		kgo.DefaultProduceTopic(*topic),
		// Idempotent writes are franz-go's default; they need acks from all in-sync replicas.
		kgo.RequiredAcks(kgo.AllISRAcks()),
		// nil = KafkaHasher(murmur2): Java's partition for a key. Not SaramaCompatHasher,
		// which takes the absolute value instead of masking the sign bit.
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
	)
	if err != nil {
		return err
	}
	defer client.Close()

	records := make([]*kgo.Record, 0, *count)
	for number := 1; number <= *count; number++ {
		event := buildEvent(*source, number)
		value, err := proto.Marshal(event)
		if err != nil {
			return err
		}
		records = append(records, &kgo.Record{Key: []byte(event.ClientId), Value: value})
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	results := client.ProduceSync(ctx, records...) // returns once every record is acknowledged or failed
	if err := results.FirstErr(); err != nil {
		return fmt.Errorf("delivery failed: %w", err)
	}

	byPartition := map[int32]int{}
	for _, result := range results {
		byPartition[result.Record.Partition]++
	}
	partitions := make([]int32, 0, len(byPartition))
	for partition := range byPartition {
		partitions = append(partitions, partition)
	}
	sort.Slice(partitions, func(i, j int) bool { return partitions[i] < partitions[j] })
	summary := make([]string, 0, len(partitions))
	for _, partition := range partitions {
		summary = append(summary, fmt.Sprintf("%d:%d", partition, byPartition[partition]))
	}
	fmt.Printf("published %d events from source %s to %s (partition:records %s)\n",
		len(results), *source, *topic, strings.Join(summary, " "))
	return nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "publish:", err)
		os.Exit(1)
	}
}
