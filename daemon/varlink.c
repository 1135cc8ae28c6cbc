/* The Varlink wire protocol without I/O; see include/lockwatch/varlink.h and docs/control.md. */
#include <ctype.h>

#include "lockwatch/util.h"
#include "lockwatch/varlink.h"

/* Kept as one literal so GetInterfaceDescription, docs/control.md and the tests read the
 * same text; every reply the server builds follows these declarations. */
static const char varlink_lockwatch_idl[] =
    "# lockwatch: where AI models can be called, and alerts when one narrows\n"
    "# to a single cloud. Times are realtime microseconds since the epoch.\n"
    "interface io.lockwatch\n"
    "\n"
    "# One configured source and what its polls did.\n"
    "type Source (\n"
    "  name: string,\n"
    "  enabled: bool,\n"
    "  status: string,\n"
    "  last_result: ?string,\n"
    "  last_error: ?string,\n"
    "  last_attempt: ?int,\n"
    "  last_ok: ?int,\n"
    "  consecutive_failures: int,\n"
    "  polls: int,\n"
    "  rows: ?int,\n"
    "  # rows of the last parse that map to no provider column\n"
    "  unlisted: ?int,\n"
    "  # its listing decides the provider columns it speaks for\n"
    "  authoritative: bool,\n"
    "  # cells where a provider's own listing overrules it\n"
    "  lagging: int\n"
    ")\n"
    "\n"
    "# One alert sink (an Alertmanager or a webhook) and how its deliveries go.\n"
    "type Sink (\n"
    "  name: string,\n"
    "  # alertmanager or webhook\n"
    "  kind: string,\n"
    "  url: string,\n"
    "  # idle (nothing sent yet), ok, failing, misconfigured\n"
    "  state: string,\n"
    "  last_error: ?string,\n"
    "  last_attempt: ?int,\n"
    "  last_success: ?int,\n"
    "  consecutive_failures: int,\n"
    "  sent: int,\n"
    "  failures: int,\n"
    "  # webhook: documents waiting, and given up\n"
    "  queued: int,\n"
    "  dropped: int,\n"
    "  # alertmanager: alerts in the last delivery\n"
    "  alerts: int\n"
    ")\n"
    "\n"
    "# The daemon at a glance: the fields of its STATUS= line, whether the state\n"
    "# file is being saved (since when not, why, how many announcements wait for\n"
    "# it), and every source.\n"
    "type Status (\n"
    "  version: string,\n"
    "  start_time: int,\n"
    "  models: int,\n"
    "  single_cloud: int,\n"
    "  sources_degraded: int,\n"
    "  alerts_firing: int,\n"
    "  alerts_pending: int,\n"
    "  status: string,\n"
    "  state_saved: bool,\n"
    "  state_unsaved_since: ?int,\n"
    "  state_error: ?string,\n"
    "  held_announcements: int,\n"
    "  sources: []Source,\n"
    "  sinks: []Sink\n"
    ")\n"
    "\n"
    "# What one source says about one cell.\n"
    "type Evidence (\n"
    "  source: string,\n"
    "  # decides (the column's authority), agrees, overruled or unconfirmed\n"
    "  # (the authority does not list it), counts (no authority for the column)\n"
    "  standing: string,\n"
    "  # the provider API the source reads (null: a plain URL), and the\n"
    "  # regions it asks that API about (null: not per region)\n"
    "  api: ?string,\n"
    "  asked_regions: ?[]string,\n"
    "  said: string,\n"
    "  raw_id: string,\n"
    "  regions: []string,\n"
    "  price_in: ?float,\n"
    "  price_out: ?float,\n"
    "  lifecycle: string,\n"
    "  eol: ?string,\n"
    "  first_seen: ?int,\n"
    "  last_seen: ?int,\n"
    "  changed: ?int,\n"
    "  missing: int\n"
    ")\n"
    "\n"
    "# One provider's cell of a model, merged over its evidence.\n"
    "type Cell (\n"
    "  provider: string,\n"
    "  kind: string,\n"
    "  state: string,\n"
    "  lifecycle: string,\n"
    "  regions: []string,\n"
    "  price_in: ?float,\n"
    "  price_out: ?float,\n"
    "  eol: ?string,\n"
    "  first_seen: ?int,\n"
    "  last_seen: ?int,\n"
    "  # authoritative sources that decide this column\n"
    "  authorities: []string,\n"
    "  evidence: []Evidence\n"
    ")\n"
    "\n"
    "# One model row with every cell some source spoke about.\n"
    "type Model (\n"
    "  id: string,\n"
    "  vendor: string,\n"
    "  mapped: bool,\n"
    "  clouds_available: int,\n"
    "  # the id asked for, when it was not this canonical id (an upstream id,\n"
    "  # an alias, another case)\n"
    "  asked: ?string,\n"
    "  cells: []Cell\n"
    ")\n"
    "\n"
    "# One alert of a rule for a key (a model or a source).\n"
    "type Alert (\n"
    "  rule: string,\n"
    "  key: string,\n"
    "  state: string,\n"
    "  pending_since: ?int,\n"
    "  fired_at: ?int,\n"
    "  last_notified: ?int,\n"
    "  resolved_at: ?int,\n"
    "  summary: ?string,\n"
    "  clouds: ?string\n"
    ")\n"
    "\n"
    "# One announced transition: an alert, a source, a cell, an unmapped id;\n"
    "# quiet: a cell the matrix changed without an announcement (GetHistory).\n"
    "type Event (\n"
    "  time: int,\n"
    "  kind: string,\n"
    "  rule: ?string,\n"
    "  model: ?string,\n"
    "  provider: ?string,\n"
    "  source: ?string,\n"
    "  state: ?string,\n"
    "  previous_state: ?string,\n"
    "  message: ?string,\n"
    "  quiet: ?bool\n"
    ")\n"
    "\n"
    "# The daemon's status and every source.\n"
    "method GetStatus() -> (status: Status)\n"
    "\n"
    "# The matrix as the lockwatch.matrix/1 document, filtered by globs on the\n"
    "# model id, the vendor and the provider id, by the number of clouds a model\n"
    "# is on (single_cloud: one, which another cloud dropped), by a provider it\n"
    "# is or is not available on; with text, the grid instead, fitted to width\n"
    "# columns. shown: how many models passed the filters.\n"
    "# With \"more\", in parts: the first reply holds schema, providers and the\n"
    "# first models (or the grid's head and first lines), each later one more\n"
    "# models (lines), in order; every reply has shown. changed: the matrix\n"
    "# changed while the parts were made (in the last reply only).\n"
    "method GetMatrix(\n"
    "  model: ?string,\n"
    "  vendor: ?string,\n"
    "  provider: ?string,\n"
    "  clouds: ?int,\n"
    "  single_cloud: ?bool,\n"
    "  on: ?string,\n"
    "  not_on: ?string,\n"
    "  text: ?bool,\n"
    "  ascii: ?bool,\n"
    "  wide: ?bool,\n"
    "  width: ?int\n"
    ") -> (matrix: ?object, text: ?string, shown: int, changed: ?bool)\n"
    "\n"
    "# Alerts in one state (pending, firing, resolved), or every one that is not\n"
    "# inactive.\n"
    "method ListAlerts(state: ?string) -> (alerts: []Alert)\n"
    "\n"
    "# Every cell of one model with the evidence of each source.\n"
    "method Explain(model: string) -> (model: Model)\n"
    "\n"
    "# Recorded transitions, oldest first: from since to until (times, both\n"
    "# included), of models matching a glob, the last limit of them; quiet adds\n"
    "# the cells the matrix changed without an announcement (a first parse).\n"
    "# One reply holds the newest 2000 at most; with \"more\", every match is\n"
    "# sent, 500 to a reply, each but the last with \"continues\".\n"
    "method GetHistory(\n"
    "  since: ?int,\n"
    "  until: ?int,\n"
    "  model: ?string,\n"
    "  limit: ?int,\n"
    "  quiet: ?bool\n"
    ") -> (events: []Event)\n"
    "\n"
    "# The matrix as it was at a time, rebuilt from the history: every cell as\n"
    "# its last recorded transition up to then left it, in today's columns.\n"
    "# Filters and text as for GetMatrix. from: the oldest time the history\n"
    "# still holds (null: none); nothing is known before it.\n"
    "# With \"more\", in parts as GetMatrix sends them; every reply has at,\n"
    "# from and shown.\n"
    "method GetMatrixAt(\n"
    "  at: int,\n"
    "  model: ?string,\n"
    "  text: ?bool,\n"
    "  ascii: ?bool,\n"
    "  wide: ?bool,\n"
    "  width: ?int\n"
    ") -> (at: int, from: ?int, matrix: ?object, text: ?string, shown: int)\n"
    "\n"
    "# Every transition from now on, one reply each; needs \"more\".\n"
    "method Subscribe() -> (event: Event)\n"
    "\n"
    "# Poll one source, or every enabled one, now (root or the daemon's user).\n"
    "# With accept, the source's body is fetched afresh and applied even if the\n"
    "# guard finds it suspect: the operator has checked the page.\n"
    "method Poll(source: ?string, accept: ?bool) -> ()\n"
    "\n"
    "# Reload the configuration and tables (root or the daemon's user).\n"
    "method Reload() -> ()\n"
    "\n"
    "# suggestions: the nearest model ids, or the candidates of an ambiguous id.\n"
    "error NoSuchModel (model: string, suggestions: ?[]string)\n"
    "error NoSuchSource (source: string)\n"
    "error PermissionDenied ()\n"
    "error ReloadFailed (message: string)\n"
    "# A poll could not be started.\n"
    "error PollFailed (message: string)\n"
    "# The daemon keeps no history (it runs without a state directory).\n"
    "error NoHistory ()\n"
    "# The message was not a Varlink call; the connection is closed after this.\n"
    "error ProtocolError (reason: string)\n"
    "# The reply would pass limit bytes; more: the method streams it when\n"
    "# called with \"more\".\n"
    "error ReplyTooLarge (limit: int, more: bool)\n"
    "# Sent instead of any reply to a connection over a cap (limit connections\n"
    "# in all, or per_user from one uid), which is then closed.\n"
    "error TooManyConnections (limit: int, per_user: bool)\n";

static const char varlink_service_idl[] =
    "# The Varlink service interface, provided by every Varlink service.\n"
    "interface org.varlink.service\n"
    "\n"
    "method GetInfo() -> (\n"
    "  vendor: string,\n"
    "  product: string,\n"
    "  version: string,\n"
    "  url: string,\n"
    "  interfaces: []string\n"
    ")\n"
    "\n"
    "method GetInterfaceDescription(interface: string) -> (description: string)\n"
    "\n"
    "error InterfaceNotFound (interface: string)\n"
    "error MethodNotFound (method: string)\n"
    "error MethodNotImplemented (method: string)\n"
    "error InvalidParameter (parameter: string)\n"
    "error PermissionDenied ()\n"
    "error ExpectedMore ()\n";

const char *varlink_interface_description(const char *iface)
{
        if (!iface)
                return NULL;
        if (streq(iface, VARLINK_INTERFACE_LOCKWATCH))
                return varlink_lockwatch_idl;
        if (streq(iface, VARLINK_INTERFACE_SERVICE))
                return varlink_service_idl;
        return NULL;
}

void varlink_buffer_init(VarlinkBuffer *b, size_t max)
{
        *b = (VarlinkBuffer){.max = max ? max : VARLINK_MAX_MESSAGE};
}

void varlink_buffer_clear(VarlinkBuffer *b)
{
        size_t max = b->max;

        free(b->data);
        varlink_buffer_init(b, max);
}

size_t varlink_buffer_pending(const VarlinkBuffer *b)
{
        return b->len - b->start;
}

int varlink_buffer_append(VarlinkBuffer *b, const void *data, size_t n)
{
        size_t pending = b->len - b->start;

        /* After every read the caller cuts all complete messages, so what stays pending is one
         * partial message; anything beyond max plus one read means it is too long. */
        if (n > 2 * b->max || pending > 2 * b->max - n)
                return -EMSGSIZE;
        if (b->start > 0) {
                memmove(b->data, b->data + b->start, pending);
                b->len = pending;
                b->start = 0;
        }
        /* One spare byte so a message can be handed out NUL-terminated in place. */
        util_grow((void **)&b->data, &b->cap, b->len + n + 1, 1);
        memcpy(b->data + b->len, data, n);
        b->len += n;
        return 0;
}

bool varlink_buffer_complete(const VarlinkBuffer *b)
{
        size_t pending = b->len - b->start;

        return pending > b->scanned && memchr(b->data + b->start + b->scanned, 0,
                                              pending - b->scanned) != NULL;
}

int varlink_buffer_next(VarlinkBuffer *b, const char **ret_msg, size_t *ret_len)
{
        size_t pending = b->len - b->start;
        const char *p;

        if (pending == 0)
                return 0;
        p = memchr(b->data + b->start + b->scanned, 0, pending - b->scanned);
        if (!p) {
                b->scanned = pending;
                return pending > b->max ? -EMSGSIZE : 0;
        }
        size_t len = (size_t)(p - (b->data + b->start));
        if (len > b->max)
                return -EMSGSIZE;
        *ret_msg = b->data + b->start;
        *ret_len = len;
        b->start += len + 1;
        b->scanned = 0;
        if (b->start == b->len)
                b->start = b->len = 0;
        return 1;
}

/* jansson's own limit is far deeper than a request ever needs; check before parsing. */
static bool varlink_depth_ok(const char *msg, size_t len)
{
        unsigned depth = 0;
        bool in_string = false, escaped = false;

        for (size_t i = 0; i < len; i++) {
                char c = msg[i];
                if (in_string) {
                        if (escaped)
                                escaped = false;
                        else if (c == '\\')
                                escaped = true;
                        else if (c == '"')
                                in_string = false;
                        continue;
                }
                if (c == '"')
                        in_string = true;
                else if (c == '[' || c == '{') {
                        if (++depth > VARLINK_MAX_DEPTH)
                                return false;
                } else if ((c == ']' || c == '}') && depth > 0)
                        depth--;
        }
        return true;
}

static json_t *varlink_load(const char *msg, size_t len)
{
        json_error_t err;

        if (!varlink_depth_ok(msg, len))
                return NULL;
        return json_loadb(msg, len, JSON_REJECT_DUPLICATES, &err);
}

/* interface: reverse-domain labels of letters, digits and inner dashes; method: a capital,
 * then letters and digits (the Varlink naming rules). */
static bool varlink_method_valid(const char *m, size_t *ret_dot)
{
        const char *dot = strrchr(m, '.');
        size_t n = strlen(m);

        if (n == 0 || n > VARLINK_MAX_METHOD || !dot || dot == m)
                return false;
        if (!isupper((unsigned char)dot[1]))
                return false;
        for (const char *p = dot + 1; *p; p++)
                if (!isalnum((unsigned char)*p))
                        return false;
        if (!isalpha((unsigned char)m[0]))
                return false;
        for (const char *p = m; p < dot; p++) {
                unsigned char c = (unsigned char)*p;
                if (c == '.') {
                        if (p[1] == '.' || p[-1] == '-' || p[1] == '-')
                                return false;
                } else if (!isalnum(c) && c != '-')
                        return false;
        }
        if (dot[-1] == '-')
                return false;
        *ret_dot = (size_t)(dot - m);
        return true;
}

static int varlink_flag(const json_t *o, const char *key, unsigned bit, unsigned *flags)
{
        const json_t *v = json_object_get(o, key);

        if (!v || json_is_null(v))
                return 0;
        if (!json_is_boolean(v))
                return -EINVAL;
        if (json_is_true(v))
                *flags |= bit;
        return 0;
}

int varlink_request_parse(const char *msg, size_t len, VarlinkRequest *ret, const char **ret_reason)
{
        const char *reason = NULL;
        json_t *root = varlink_load(msg, len);
        const json_t *m, *params;
        unsigned flags = 0;
        size_t dot;
        int r = -EINVAL;

        if (!root || !json_is_object(root)) {
                json_decref(root);
                if (ret_reason)
                        *ret_reason = "not a JSON object";
                return -EBADMSG;
        }
        m = json_object_get(root, "method");
        params = json_object_get(root, "parameters");
        if (!m)
                reason = "no method";
        else if (!json_is_string(m))
                reason = "method is not a string";
        else if (!varlink_method_valid(json_string_value(m), &dot))
                reason = "malformed method name";
        else if (params && !json_is_object(params) && !json_is_null(params))
                reason = "parameters is not an object";
        else if (varlink_flag(root, "oneway", VARLINK_ONEWAY, &flags) < 0)
                reason = "oneway is not a boolean";
        else if (varlink_flag(root, "more", VARLINK_MORE, &flags) < 0)
                reason = "more is not a boolean";
        else if (varlink_flag(root, "upgrade", VARLINK_UPGRADE, &flags) < 0)
                reason = "upgrade is not a boolean";
        else
                r = 0;
        if (r < 0) {
                json_decref(root);
                if (ret_reason)
                        *ret_reason = reason;
                return r;
        }

        const char *method = json_string_value(m);
        *ret = (VarlinkRequest){
            .method = xstrdup(method),
            .interface = xstrndup(method, dot),
            .parameters = json_is_object(params) ? json_incref((json_t *)params) : json_object(),
            .flags = flags,
        };
        ret->name = ret->method + dot + 1;
        json_decref(root);
        if (!ret->parameters)
                util_oom();
        return 0;
}

void varlink_request_clear(VarlinkRequest *r)
{
        free(r->method);
        free(r->interface);
        json_decref(r->parameters);
        *r = (VarlinkRequest){0};
}

int varlink_reply_parse(const char *msg, size_t len, VarlinkReply *ret)
{
        json_t *root = varlink_load(msg, len);
        const json_t *err, *params, *cont;

        if (!root || !json_is_object(root)) {
                json_decref(root);
                return -EBADMSG;
        }
        err = json_object_get(root, "error");
        params = json_object_get(root, "parameters");
        cont = json_object_get(root, "continues");
        if ((err && !json_is_string(err)) || (params && !json_is_object(params)) ||
            (cont && !json_is_boolean(cont))) {
                json_decref(root);
                return -EBADMSG;
        }
        *ret = (VarlinkReply){
            .error = err ? xstrdup(json_string_value(err)) : NULL,
            .parameters = params ? json_incref((json_t *)params) : json_object(),
            .continues = cont && json_is_true(cont),
        };
        json_decref(root);
        if (!ret->parameters)
                util_oom();
        return 0;
}

void varlink_reply_clear(VarlinkReply *r)
{
        free(r->error);
        json_decref(r->parameters);
        *r = (VarlinkReply){0};
}

/* Compact, in insertion order, with the terminating NUL counted: what goes on the wire. */
static int varlink_dump(json_t *o, char **ret, size_t *ret_len)
{
        char *s = json_dumps(o, VARLINK_DUMP_FLAGS);

        json_decref(o);
        if (!s)
                return -ENOMEM;
        *ret_len = strlen(s) + 1;
        *ret = s;
        return 0;
}

static json_t *varlink_params(const json_t *parameters)
{
        json_t *p = parameters ? json_incref((json_t *)parameters) : json_object();

        if (!p)
                util_oom();
        return p;
}

int varlink_request_encode(const char *method, const json_t *parameters, unsigned flags, char **ret,
                           size_t *ret_len)
{
        json_t *o = json_object();

        if (!o)
                util_oom();
        if (json_object_set_new(o, "method", json_string(method)) < 0 ||
            json_object_set_new(o, "parameters", varlink_params(parameters)) < 0) {
                json_decref(o);
                return -EINVAL;
        }
        if (flags & VARLINK_ONEWAY)
                json_object_set_new(o, "oneway", json_true());
        if (flags & VARLINK_MORE)
                json_object_set_new(o, "more", json_true());
        if (flags & VARLINK_UPGRADE)
                json_object_set_new(o, "upgrade", json_true());
        return varlink_dump(o, ret, ret_len);
}

int varlink_reply_encode(const json_t *parameters, bool continues, char **ret, size_t *ret_len)
{
        json_t *o = json_object();

        if (!o)
                util_oom();
        json_object_set_new(o, "parameters", varlink_params(parameters));
        if (continues)
                json_object_set_new(o, "continues", json_true());
        return varlink_dump(o, ret, ret_len);
}

const char *varlink_reply_close(bool continues, size_t *ret_len)
{
        static const char more[] = ",\"continues\":true}", last[] = "}";

        /* sizeof counts the NUL that ends every message. */
        *ret_len = continues ? sizeof(more) : sizeof(last);
        return continues ? more : last;
}

int varlink_error_encode(const char *error, const json_t *parameters, char **ret, size_t *ret_len)
{
        json_t *o = json_object();

        if (!o)
                util_oom();
        if (json_object_set_new(o, "error", json_string(error)) < 0) {
                json_decref(o);
                return -EINVAL;
        }
        json_object_set_new(o, "parameters", varlink_params(parameters));
        return varlink_dump(o, ret, ret_len);
}

int varlink_params_only(const json_t *params, const char *const *allowed, const char **ret_bad)
{
        const char *key;
        json_t *v;

        json_object_foreach((json_t *)params, key, v)
        {
                bool ok = false;
                for (size_t i = 0; allowed && allowed[i]; i++)
                        if (streq(key, allowed[i]))
                                ok = true;
                if (!ok) {
                        *ret_bad = key;
                        return -EINVAL;
                }
        }
        return 0;
}

int varlink_param_string(const json_t *params, const char *name, bool required, const char **ret)
{
        const json_t *v = json_object_get(params, name);

        if (!v || json_is_null(v)) {
                if (required)
                        return -EINVAL;
                *ret = NULL;
                return 0;
        }
        if (!json_is_string(v))
                return -EINVAL;
        *ret = json_string_value(v);
        return 0;
}

int varlink_param_int(const json_t *params, const char *name, long long *ret)
{
        const json_t *v = json_object_get(params, name);

        if (!v || json_is_null(v))
                return 0;
        if (!json_is_integer(v))
                return -EINVAL;
        *ret = (long long)json_integer_value(v);
        return 1;
}

int varlink_param_bool(const json_t *params, const char *name, bool *ret)
{
        const json_t *v = json_object_get(params, name);

        if (!v || json_is_null(v))
                return 0;
        if (!json_is_boolean(v))
                return -EINVAL;
        *ret = json_is_true(v);
        return 1;
}
