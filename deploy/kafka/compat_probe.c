/* Compatibility probe for deploy/kafka: drives the system librdkafka (Debian 12:
 * 2.0.2) through a broad set of client APIs, against the broker kafka.sh started:
 * admin CreateTopics/DescribeConfigs/ListConsumerGroups/DeleteTopics, metadata,
 * idempotent acks=all lz4 produce, transactions (commit + abort), a consumer
 * group with read_committed and commit_sync, committed(), offsets_for_times.
 * Built and run by compat-check.sh. Prints PASS/FAIL lines. */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static const char *B; static int pass, fail;
#define CHECK(name, cond) do { if (cond) { printf("PASS %s\n", name); pass++; } else { printf("FAIL %s\n", name); fail++; } } while (0)
static rd_kafka_conf_t *conf(void) {
  char e[512]; rd_kafka_conf_t *c = rd_kafka_conf_new();
  rd_kafka_conf_set(c, "bootstrap.servers", B, e, sizeof e);
  return c;
}
static void set(rd_kafka_conf_t *c, const char *k, const char *v) {
  char e[512]; if (rd_kafka_conf_set(c, k, v, e, sizeof e) != RD_KAFKA_CONF_OK) { fprintf(stderr, "%s\n", e); exit(2); }
}
static rd_kafka_event_t *wait_ev(rd_kafka_queue_t *q) { return rd_kafka_queue_poll(q, 20000); }
static int dr_fail;
static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *o) {
  /* Messages of an aborted transaction are purged: expected. */
  if (m->err && m->err != RD_KAFKA_RESP_ERR__PURGE_QUEUE) { fprintf(stderr, "  delivery: %s\n", rd_kafka_err2str(m->err)); dr_fail++; }
}
int main(int argc, char **argv) {
  B = argc > 1 ? argv[1] : "127.0.0.1:19092";
  char topic[64], group[96], txid[96], e[512];
  snprintf(topic, sizeof topic, "lok-probe-%ld", (long)time(NULL));
  snprintf(group, sizeof group, "%s-g", topic); snprintf(txid, sizeof txid, "%s-tx", topic);
  printf("librdkafka %s\n", rd_kafka_version_str());

  /* Admin: CreateTopics with 4 partitions */
  rd_kafka_t *adm = rd_kafka_new(RD_KAFKA_PRODUCER, conf(), e, sizeof e);
  rd_kafka_queue_t *q = rd_kafka_queue_new(adm);
  rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, 4, 1, e, sizeof e);
  rd_kafka_CreateTopics(adm, &nt, 1, NULL, q);
  rd_kafka_event_t *ev = wait_ev(q);
  const rd_kafka_CreateTopics_result_t *ctr = ev ? rd_kafka_event_CreateTopics_result(ev) : NULL;
  size_t n = 0; const rd_kafka_topic_result_t **tr = ctr ? rd_kafka_CreateTopics_result_topics(ctr, &n) : NULL;
  int ok = ev && !rd_kafka_event_error(ev) && n == 1 && !rd_kafka_topic_result_error(tr[0]);
  if (!ok) fprintf(stderr, "  CreateTopics: %s / %s\n", ev ? rd_kafka_event_error_string(ev) : "timeout", n ? rd_kafka_topic_result_error_string(tr[0]) : "");
  CHECK("admin CreateTopics (4 partitions)", ok); if (ev) rd_kafka_event_destroy(ev);

  /* Admin: DescribeConfigs on the topic */
  rd_kafka_ConfigResource_t *cr = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
  rd_kafka_DescribeConfigs(adm, &cr, 1, NULL, q);
  ev = wait_ev(q);
  ok = ev && !rd_kafka_event_error(ev);
  if (!ok) fprintf(stderr, "  DescribeConfigs: %s\n", ev ? rd_kafka_event_error_string(ev) : "timeout");
  CHECK("admin DescribeConfigs", ok); if (ev) rd_kafka_event_destroy(ev); rd_kafka_ConfigResource_destroy(cr);

  /* Metadata: partition count */
  const struct rd_kafka_metadata *md; rd_kafka_topic_t *rkt = rd_kafka_topic_new(adm, topic, NULL);
  ok = rd_kafka_metadata(adm, 0, rkt, &md, 10000) == 0 && md->topic_cnt == 1 && md->topics[0].partition_cnt == 4;
  CHECK("metadata shows 4 partitions", ok); if (ok) rd_kafka_metadata_destroy(md); rd_kafka_topic_destroy(rkt);

  /* Idempotent producer, acks=all, lz4 */
  rd_kafka_conf_t *pc = conf(); set(pc, "enable.idempotence", "true"); set(pc, "acks", "all");
  set(pc, "compression.codec", "lz4"); rd_kafka_conf_set_dr_msg_cb(pc, dr_cb);
  rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, pc, e, sizeof e);
  dr_fail = 0;
  for (int i = 0; i < 100; i++) {
    char k[16], v[32]; snprintf(k, sizeof k, "key-%d", i % 10); snprintf(v, sizeof v, "idem-%d", i);
    rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(k, strlen(k)), RD_KAFKA_V_VALUE(v, strlen(v)),
                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
  }
  ok = rd_kafka_flush(p, 30000) == 0 && dr_fail == 0 && rd_kafka_fatal_error(p, e, sizeof e) == 0;
  CHECK("idempotent producer acks=all lz4: 100 msgs delivered", ok); rd_kafka_destroy(p);

  /* Transactional producer: commit 10, abort 5 */
  pc = conf(); set(pc, "transactional.id", txid); rd_kafka_conf_set_dr_msg_cb(pc, dr_cb);
  p = rd_kafka_new(RD_KAFKA_PRODUCER, pc, e, sizeof e);
  rd_kafka_error_t *err = rd_kafka_init_transactions(p, 30000);
  if (err) fprintf(stderr, "  init_transactions: %s\n", rd_kafka_error_string(err));
  ok = !err;
  if (ok) {
    err = rd_kafka_begin_transaction(p);
    for (int i = 0; i < 10 && !err; i++) { char v[32]; snprintf(v, sizeof v, "tx-commit-%d", i);
      rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY("tx", 2), RD_KAFKA_V_VALUE(v, strlen(v)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END); }
    if (!err) err = rd_kafka_commit_transaction(p, 30000);
    if (!err) err = rd_kafka_begin_transaction(p);
    for (int i = 0; i < 5 && !err; i++) { char v[32]; snprintf(v, sizeof v, "tx-abort-%d", i);
      rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY("tx", 2), RD_KAFKA_V_VALUE(v, strlen(v)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END); }
    if (!err) err = rd_kafka_abort_transaction(p, 30000);
    if (err) { fprintf(stderr, "  txn: %s\n", rd_kafka_error_string(err)); ok = 0; }
  }
  CHECK("transactional producer commit + abort", ok); rd_kafka_destroy(p);

  /* Consumer group, read_committed, manual commit_sync */
  rd_kafka_conf_t *cc = conf(); set(cc, "group.id", group); set(cc, "auto.offset.reset", "earliest");
  set(cc, "enable.auto.commit", "false"); set(cc, "isolation.level", "read_committed"); set(cc, "enable.partition.eof", "true");
  rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, cc, e, sizeof e); rd_kafka_poll_set_consumer(c);
  rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(sub, topic, RD_KAFKA_PARTITION_UA); rd_kafka_subscribe(c, sub);
  int got = 0, eofs = 0, aborted_seen = 0, errs = 0; time_t until = time(NULL) + 40;
  while (eofs < 4 && time(NULL) < until) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 500); if (!m) continue;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) eofs++;
    else if (m->err) { fprintf(stderr, "  consume: %s\n", rd_kafka_message_errstr(m)); errs++; }
    else { got++; if (m->len >= 8 && !memcmp(m->payload, "tx-abort", 8)) aborted_seen++; }
    rd_kafka_message_destroy(m);
  }
  printf("  consumed %d (expect 110), aborted seen %d\n", got, aborted_seen);
  CHECK("group consumer read_committed sees 110, no aborted", got == 110 && aborted_seen == 0 && errs == 0);
  rd_kafka_resp_err_t cerr = rd_kafka_commit(c, NULL, 0);
  if (cerr) fprintf(stderr, "  commit: %s\n", rd_kafka_err2str(cerr));
  CHECK("commit_sync", cerr == 0);
  rd_kafka_topic_partition_list_t *cm = rd_kafka_topic_partition_list_new(4);
  for (int i = 0; i < 4; i++) rd_kafka_topic_partition_list_add(cm, topic, i);
  cerr = rd_kafka_committed(c, cm, 10000); int64_t sum = 0;
  for (int i = 0; i < cm->cnt; i++) if (cm->elems[i].offset > 0) sum += cm->elems[i].offset;
  printf("  committed offsets sum %lld\n", (long long)sum);
  CHECK("committed() fetch (OffsetFetch)", cerr == 0 && sum >= 110);
  rd_kafka_topic_partition_list_destroy(cm);
  /* offsets_for_times */
  rd_kafka_topic_partition_list_t *ot = rd_kafka_topic_partition_list_new(4);
  for (int i = 0; i < 4; i++) rd_kafka_topic_partition_list_add(ot, topic, i)->offset = 0;
  cerr = rd_kafka_offsets_for_times(c, ot, 10000);
  CHECK("offsets_for_times (ListOffsets)", cerr == 0);
  rd_kafka_topic_partition_list_destroy(ot);
  int64_t lo, hi; cerr = rd_kafka_query_watermark_offsets(c, topic, 0, &lo, &hi, 10000);
  CHECK("query_watermark_offsets", cerr == 0);
  rd_kafka_consumer_close(c); rd_kafka_destroy(c); rd_kafka_topic_partition_list_destroy(sub);

  /* Admin: ListConsumerGroups / DeleteTopics */
  rd_kafka_ListConsumerGroups(adm, NULL, q); ev = wait_ev(q);
  ok = ev && !rd_kafka_event_error(ev);
  if (!ok) fprintf(stderr, "  ListConsumerGroups: %s\n", ev ? rd_kafka_event_error_string(ev) : "timeout");
  CHECK("admin ListConsumerGroups", ok); if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(topic);
  rd_kafka_DeleteTopics(adm, &dt, 1, NULL, q); ev = wait_ev(q);
  ok = ev && !rd_kafka_event_error(ev);
  CHECK("admin DeleteTopics", ok); if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_queue_destroy(q); rd_kafka_destroy(adm);
  printf("RESULT: %d passed, %d failed\n", pass, fail);
  return fail != 0;
}
