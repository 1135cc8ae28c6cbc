/* The Varlink wire protocol (https://varlink.org), without I/O: NUL-framed message
 * buffers, request and reply parsing, reply and error encoding, parameter checks, and
 * the interface descriptions the control socket serves. Pure: bytes in, bytes out. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define VARLINK_MAX_MESSAGE (64u * 1024u)         /* bytes of one request, without its NUL */
#define VARLINK_MAX_REPLY   (16u * 1024u * 1024u) /* bytes of one reply a client accepts */
#define VARLINK_MAX_DEPTH   32u                   /* nesting of arrays and objects in a request */
#define VARLINK_MAX_METHOD  255u                  /* bytes of a qualified method name */

#define VARLINK_INTERFACE_SERVICE   "org.varlink.service"
#define VARLINK_INTERFACE_LOCKWATCH "io.lockwatch"

#define VARLINK_ERROR_INTERFACE_NOT_FOUND  "org.varlink.service.InterfaceNotFound"
#define VARLINK_ERROR_METHOD_NOT_FOUND     "org.varlink.service.MethodNotFound"
#define VARLINK_ERROR_INVALID_PARAMETER    "org.varlink.service.InvalidParameter"
#define VARLINK_ERROR_EXPECTED_MORE        "org.varlink.service.ExpectedMore"
#define VARLINK_ERROR_NO_SUCH_MODEL        "io.lockwatch.NoSuchModel"
#define VARLINK_ERROR_NO_SUCH_SOURCE       "io.lockwatch.NoSuchSource"
#define VARLINK_ERROR_PERMISSION_DENIED    "io.lockwatch.PermissionDenied"
#define VARLINK_ERROR_RELOAD_FAILED        "io.lockwatch.ReloadFailed"
#define VARLINK_ERROR_POLL_FAILED          "io.lockwatch.PollFailed"
#define VARLINK_ERROR_NO_HISTORY           "io.lockwatch.NoHistory"
#define VARLINK_ERROR_PROTOCOL             "io.lockwatch.ProtocolError"
#define VARLINK_ERROR_REPLY_TOO_LARGE      "io.lockwatch.ReplyTooLarge"
#define VARLINK_ERROR_TOO_MANY_CONNECTIONS "io.lockwatch.TooManyConnections"

/* How every message is dumped: compact, keys in insertion order. Parts of a reply encoded
 * separately (see VARLINK_REPLY_OPEN) use the same flags. */
#define VARLINK_DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15))
/* A reply assembled in parts is this text, its parameters object encoded with
 * VARLINK_DUMP_FLAGS, then varlink_reply_close(): the bytes varlink_reply_encode() makes. */
#define VARLINK_REPLY_OPEN "{\"parameters\":"

typedef enum VarlinkFlags {
        VARLINK_ONEWAY = 1 << 0,  /* no reply wanted */
        VARLINK_MORE = 1 << 1,    /* the caller accepts several replies ("continues") */
        VARLINK_UPGRADE = 1 << 2, /* the connection leaves the protocol after the reply */
} VarlinkFlags;

/* Bytes received and not yet consumed, cut into messages at each NUL. */
typedef struct VarlinkBuffer {
        char *data;
        size_t start; /* first unconsumed byte */
        size_t len;   /* end of the received bytes */
        size_t cap;
        size_t scanned; /* bytes after start known to hold no NUL */
        size_t max;     /* longest message accepted, without its NUL */
} VarlinkBuffer;

/* One parsed request; parameters is always an object (empty when absent). */
typedef struct VarlinkRequest {
        char *method;     /* "io.lockwatch.GetStatus" */
        char *interface;  /* "io.lockwatch" */
        const char *name; /* "GetStatus", points into method */
        json_t *parameters;
        unsigned flags; /* VarlinkFlags */
} VarlinkRequest;

/* One parsed reply (for clients). */
typedef struct VarlinkReply {
        char *error;        /* qualified error name, or NULL for a result */
        json_t *parameters; /* always an object */
        bool continues;
} VarlinkReply;

/* Set up an empty buffer accepting messages of at most max bytes (0: VARLINK_MAX_MESSAGE). */
void varlink_buffer_init(VarlinkBuffer *b, size_t max);
/* Free what the buffer holds and reset it (max is kept). */
void varlink_buffer_clear(VarlinkBuffer *b);
/* Append n received bytes; -EMSGSIZE if the unconsumed bytes would pass max plus one read
 * of max, which only a message longer than max can cause. */
int varlink_buffer_append(VarlinkBuffer *b, const void *data, size_t n);
/* True if a whole message (one ending in its NUL) waits to be cut. */
bool varlink_buffer_complete(const VarlinkBuffer *b);
/* Cut the next message: 1 and ret_msg/ret_len (NUL-terminated, valid until the next append
 * or clear), 0 if none is complete, -EMSGSIZE if the pending message is longer than max. */
int varlink_buffer_next(VarlinkBuffer *b, const char **ret_msg, size_t *ret_len);
/* Bytes received and not yet cut into messages. */
size_t varlink_buffer_pending(const VarlinkBuffer *b);

/* Parse one request. -EBADMSG if it is not a JSON object within VARLINK_MAX_DEPTH,
 * -EINVAL if a field has the wrong type or the method name is malformed; ret_reason (may be
 * NULL) then names the problem in a static string. */
int varlink_request_parse(const char *msg, size_t len, VarlinkRequest *ret,
                          const char **ret_reason);
/* Free what a request holds and reset it. */
void varlink_request_clear(VarlinkRequest *r);
/* Parse one reply (clients); -EBADMSG if it is not a reply object. */
int varlink_reply_parse(const char *msg, size_t len, VarlinkReply *ret);
/* Free what a reply holds and reset it. */
void varlink_reply_clear(VarlinkReply *r);

/* Encode a request with flags; parameters (borrowed, NULL = {}) and the NUL terminator
 * included in ret_len. */
int varlink_request_encode(const char *method, const json_t *parameters, unsigned flags, char **ret,
                           size_t *ret_len);
/* Encode a reply {"parameters": ..., "continues": true?}, NUL included in ret_len. */
int varlink_reply_encode(const json_t *parameters, bool continues, char **ret, size_t *ret_len);
/* The bytes that end a reply begun with VARLINK_REPLY_OPEN after its parameters, NUL
 * included in ret_len: "continues" when continues. */
const char *varlink_reply_close(bool continues, size_t *ret_len);
/* Encode an error reply {"error": name, "parameters": ...}, NUL included in ret_len. */
int varlink_error_encode(const char *error, const json_t *parameters, char **ret, size_t *ret_len);

/* Check that params holds only the names in allowed (NULL-terminated); -EINVAL and the
 * first unknown name in ret_bad otherwise. */
int varlink_params_only(const json_t *params, const char *const *allowed, const char **ret_bad);
/* Get a string parameter: 0 and *ret (NULL when absent or null and not required), -EINVAL
 * when required and absent, or of another type. */
int varlink_param_string(const json_t *params, const char *name, bool required, const char **ret);
/* Get an integer parameter as for varlink_param_string; absent leaves *ret unchanged and
 * returns 0 (1 when present). */
int varlink_param_int(const json_t *params, const char *name, long long *ret);
/* Get a boolean parameter as for varlink_param_int. */
int varlink_param_bool(const json_t *params, const char *name, bool *ret);

/* The interface description text of iface ("io.lockwatch", "org.varlink.service"), or NULL. */
const char *varlink_interface_description(const char *iface);
