/* server: starts the worker threads and tells them to drain or stop. */
#ifndef GW_SERVER_H
#define GW_SERVER_H

#include <stdatomic.h>
#include <uv.h>

#include "config.h"
#include "server-t.h"

unsigned server_cpu_count(void);
/* Creates a listening socket; returns the fd or a negative errno. */
int server_bind(const gw_listen_t *l, int reuseport);
/* Clamps max_connections to what the descriptor limit allows, logging it
 * when it does; at start (by server_start) and after each reload. */
void server_fit_max_connections(const gw_config_t *cfg, unsigned nworkers);
/* Raises the soft descriptor limit to the hard one, binds everything and
 * starts the workers: 0, or 2 (runtime failure). */
int server_start(server_t *s);
void server_abort(server_t *s);
void server_command(server_t *s, int cmd);
void server_notify(void *server);
void server_join(server_t *s);

#endif
