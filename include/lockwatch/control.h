/* The control socket: a Varlink server (org.varlink.service and io.lockwatch) on the
 * event loop. Socket activation or a socket it binds itself; bounded messages, clients,
 * clients per uid and per-client output; large replies are made in parts between other
 * work; nothing ever blocks the loop. Protocol and methods: docs/control.md. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "lockwatch/poller.h"
#include "lockwatch/sink.h"
#include "lockwatch/util.h"

#define CONTROL_MAX_CLIENTS  256u /* more are sent TooManyConnections and closed at once */
#define CONTROL_RESERVED     16u  /* of those, the slots only root and the daemon's uid get */
#define CONTROL_MAX_PER_UID  64u  /* connections of one other uid */
#define CONTROL_MAX_OUTPUT   (4u * 1024u * 1024u) /* one reply; a subscriber's queued events */
#define CONTROL_MAX_HISTORY  2000u                /* events in one GetHistory reply */
#define CONTROL_CHUNK_ROWS   500u                 /* models or events in one streamed part */
#define CONTROL_IDLE_TIMEOUT (30u * USEC_PER_SEC) /* without a request or a written byte */
#define CONTROL_IDLE_ENV     "LOCKWATCH_CONTROL_IDLE_TIMEOUT" /* overrides it (tests) */
#define CONTROL_HISTORY_PAGE CONTROL_CHUNK_ROWS /* events in one streamed GetHistory reply */

typedef struct ControlServer ControlServer;

/* Reload configuration and tables as SIGHUP does; < 0 when the old ones keep running. */
/* Reload the configuration; on failure *ret_error (may stay NULL) gets the reason. */
typedef int (*control_reload_fn)(void *userdata, char **ret_error);

typedef struct ControlOptions {
        const char *socket_path;  /* used when no socket is passed in by systemd */
        control_reload_fn reload; /* Reload(); NULL refuses it */
        void *userdata;           /* for reload */
        size_t max_clients;       /* 0: CONTROL_MAX_CLIENTS */
        size_t max_output;        /* 0: CONTROL_MAX_OUTPUT */
        size_t max_message;       /* 0: VARLINK_MAX_MESSAGE */
        size_t max_per_uid;       /* 0: CONTROL_MAX_PER_UID */
        uint64_t idle_timeout;    /* usec; 0: $LOCKWATCH_CONTROL_IDLE_TIMEOUT, else the default */
        const Sinks *sinks;       /* alert sinks whose health GetStatus shows; may be NULL */
} ControlOptions;

/* Listen (sd_listen_fds() first, else bind o->socket_path) and serve poller's state on event. */
int control_new(sd_event *event, Poller *poller, const ControlOptions *o, ControlServer **ret);
/* Close every connection and the socket (unlinking a socket it bound); NULL is fine. */
void control_free(ControlServer *s);
/* Connections open now. */
size_t control_clients(const ControlServer *s);
