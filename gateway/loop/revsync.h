/* revsync: the revocation store kept in step with the other instances
 * through the [cluster] Redis (SPEC: "every instance applies a revocation
 * made at any instance within 1 s; a starting instance loads the current
 * set before it is ready").
 *
 * In Redis (database of the redis URL):
 *   gw:revocations          hash: id -> the entry as JSON (revoke_entry_json)
 *   gw:revocations:expiry   sorted set: id by expiry (Unix seconds)
 *   gw:revocations:deleted  sorted set: ids deleted, kept until their expiry
 *   channel gw:revocations  {"op":"add","entry":{...}} | {"op":"del","id":"..."}
 * Entries carry their id (random, unique across instances), so applying
 * one twice, or one's own message, changes nothing.
 *
 * Every time both main-thread connections come up (the first time and
 * after every outage) the instance loads the hash and the deleted set,
 * applies both, and then publishes what it holds that Redis lacks: the
 * revocations made here while Redis was away (or all of them, after Redis
 * lost its data) and the deletions made here meanwhile. Until the first
 * load the gateway is not ready; after it, an outage changes nothing but
 * the delay (instances apply what they have and keep accepting new
 * revocations locally). Everything runs on the main loop; revsync_added()
 * and revsync_removed() may be called from any thread. */
#ifndef GW_REVSYNC_H
#define GW_REVSYNC_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "revoke.h"

/* With [cluster] only (otherwise nothing happens and revsync_ready() is 1).
 * on_loaded runs on the main loop after the first load. */
int revsync_start(uv_loop_t *loop, gw_revoke_t *store, int64_t retain_s, void (*on_loaded)(void));
void revsync_stop(void);

/* 1 once the first load is done (or without [cluster]); otherwise 0 with
 * the reason in why. Any thread. */
int revsync_ready(char *why, size_t cap);

/* A revocation was stored or deleted here: tell the others. */
void revsync_added(const gw_revocation_t *e);
void revsync_removed(const char *id);

#endif
