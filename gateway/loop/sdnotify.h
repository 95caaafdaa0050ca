/* sdnotify: the systemd service notification and socket activation
 * protocols, without libsystemd.
 *
 * Notification (sd_notify(3), "NOTIFY_SOCKET"): one AF_UNIX datagram of
 * newline-separated KEY=VALUE lines to the socket named by $NOTIFY_SOCKET,
 * an absolute path or, with a leading '@', an abstract name. Without
 * $NOTIFY_SOCKET (not started by systemd, or not Type=notify) every call is
 * a no-op returning 0. The gateway's sequence for Type=notify:
 *   listeners bound and every issuer has a key set  -> sd_notify_ready()
 *   SIGHUP received                                 -> sd_notify_reloading()
 *   reload finished (applied or refused)            -> sd_notify_ready()
 *   SIGTERM / SIGINT, drain starts                  -> sd_notify_stopping()
 * and sd_notify_status() for free-form progress ("waiting for JWKS of
 * login"). Thread-safe (no state besides the environment, which is only
 * read); safe to call from a libuv callback, not from a signal handler.
 *
 * Socket activation (sd_listen_fds(3), "LISTEN_FDS"): systemd passes the
 * sockets of gateway.socket as fds 3, 4, ... with LISTEN_PID and LISTEN_FDS
 * (and LISTEN_FDNAMES) in the environment. sd_listen_fds_get() takes them
 * and removes the variables (so children never see them); the server then
 * uses each passed fd for the configured listen address it is bound to
 * (sd_listen_fd_find()) instead of binding its own, and closes, with a
 * warning, a passed fd that no configured address wants. */
#ifndef GW_SDNOTIFY_H
#define GW_SDNOTIFY_H

#include <sys/socket.h>

/* Sends state (e.g. "READY=1" or "READY=1\nSTATUS=serving"). Returns 1 when
 * sent, 0 when $NOTIFY_SOCKET is unset or empty, -errno on failure (-EINVAL
 * for a NOTIFY_SOCKET that is neither an absolute path nor '@name', or too
 * long for sun_path; the socket or sendto error otherwise). */
int sd_notify_send(const char *state);

/* The same with a printf-style message (at most 4095 bytes: -EMSGSIZE). */
int sd_notify_sendf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "READY=1", "RELOADING=1\nMONOTONIC_USEC=<CLOCK_MONOTONIC in us>" (what
 * Type=notify-reload of systemd >= 253 requires; Type=notify accepts it
 * too), "STOPPING=1"; each followed by "\nSTATUS=<status>" when status is
 * not NULL. Newlines in status are sent as spaces (one datagram = one
 * state). */
int sd_notify_ready(const char *status);
int sd_notify_reloading(const char *status);
int sd_notify_stopping(const char *status);
int sd_notify_status(const char *status);

#define SD_LISTEN_FDS_START 3

/* The sockets passed by systemd. When LISTEN_PID is this process and
 * LISTEN_FDS = n > 0, sets FD_CLOEXEC on fds 3 .. 3+n-1, stores the first
 * min(n, max) of them in fds, and returns n (more than max: the caller
 * should close the rest, fds max+3 .. n+2). Returns 0 when nothing was
 * passed to this process, -EINVAL when LISTEN_PID or LISTEN_FDS is not a
 * number, -errno when an fd is not open. Always unsets LISTEN_PID,
 * LISTEN_FDS and LISTEN_FDNAMES. Call it once, early (before any other
 * thread runs, as it changes the environment). */
int sd_listen_fds_get(int *fds, int max);

/* 1 when fd is a listening SOCK_STREAM socket bound to exactly addr
 * (family, address and port; for AF_INET6 also the scope id; for AF_UNIX
 * the path or abstract name), 0 when not, -errno when fd is not a socket. */
int sd_listen_fd_matches(int fd, const struct sockaddr *addr, socklen_t addrlen);

/* The index in fds[0..n) of the first fd that sd_listen_fd_matches(), or
 * -1 when none does. */
int sd_listen_fd_find(const int *fds, int n, const struct sockaddr *addr, socklen_t addrlen);

#endif
