#include "lockwatch/secret.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "lockwatch/util.h"

void secret_free(char *s)
{
        if (!s)
                return;
        explicit_bzero(s, strlen(s));
        free(s);
}

void secret_freep(char **s)
{
        secret_free(*s);
        *s = NULL;
}

int secret_path(const char *spec, char **ret, char **ret_error)
{
        const char *name = startswith(spec, "credential:");

        if (!name) {
                *ret = xstrdup(spec);
                return 0;
        }
        const char *dir = getenv("CREDENTIALS_DIRECTORY");
        if (!dir || !*dir) {
                *ret_error = xasprintf("credential '%s': $CREDENTIALS_DIRECTORY is not set (the "
                                       "unit needs LoadCredential=%s:/path/to/file; by hand, set "
                                       "CREDENTIALS_DIRECTORY=DIR holding a file %s, or name a "
                                       "file path instead)",
                                       name, name, name);
                return -ENOENT;
        }
        *ret = xasprintf("%s/%s", dir, name);
        return 0;
}

int secret_read(const char *spec, unsigned flags, char **ret, char **ret_error)
{
        _cleanup_free_ char *path = NULL;
        char *text = NULL;
        size_t len = 0;
        int r;

        r = secret_path(spec, &path, ret_error);
        if (r < 0)
                return r;
        r = util_read_file(path, SECRET_MAX_BYTES, &text, &len);
        if (r < 0) {
                *ret_error = xasprintf("cannot read %s: %s", path,
                                       r == -EFBIG ? "larger than 4096 bytes" : strerror(-r));
                return r;
        }
        while (len > 0 && strchr(" \t\r\n", text[len - 1]))
                text[--len] = '\0';
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)text[i];
                if ((flags & SECRET_MULTILINE) && (c == '\n' || c == '\r' || c == '\t'))
                        continue;
                if (c < 0x20 || c == 0x7f || c == '\0') {
                        secret_free(text);
                        *ret_error = xasprintf("%s: control characters in a secret", path);
                        return -EINVAL;
                }
        }
        if (len == 0 || strlen(text) != len) {
                secret_free(text);
                *ret_error = xasprintf(len == 0 ? "%s is empty" : "%s: a NUL byte in a secret",
                                       path);
                return -EINVAL;
        }
        *ret = text;
        return 0;
}

int secret_check(const char *spec, unsigned flags, char **ret_error)
{
        _cleanup_(secret_freep) char *s = NULL;
        return secret_read(spec, flags, &s, ret_error);
}

void secret_aws_clear(SecretAws *a)
{
        secret_free(a->access_key_id);
        secret_free(a->secret_access_key);
        secret_free(a->session_token);
        *a = (SecretAws){0};
}

static char *secret_trim(char *s)
{
        while (*s == ' ' || *s == '\t')
                s++;
        size_t n = strlen(s);
        while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
                s[--n] = '\0';
        return s;
}

int secret_parse_aws(const char *text, SecretAws *ret, char **ret_error)
{
        _cleanup_(secret_freep) char *copy = xstrdup(text);
        SecretAws a = {0};
        bool keyed = false;
        char *save = NULL;

        /* A single word is a bearer key (a Bedrock API key), not a file of keys. */
        if (!strchr(text, '=') && !strpbrk(text, " \t\r\n")) {
                return 0;
        }
        for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *l = secret_trim(line), *eq, **dst = NULL;
                if (!*l || *l == '#' || *l == ';' || *l == '[')
                        continue;
                eq = strchr(l, '=');
                if (!eq) {
                        secret_aws_clear(&a);
                        *ret_error = xstrdup("not an AWS credentials file (lines of "
                                             "aws_access_key_id = ..., aws_secret_access_key = "
                                             "..., optionally aws_session_token = ...) nor a "
                                             "single API key");
                        return -EINVAL;
                }
                *eq = '\0';
                char *k = secret_trim(l), *v = secret_trim(eq + 1);
                if (streq(k, "aws_access_key_id"))
                        dst = &a.access_key_id;
                else if (streq(k, "aws_secret_access_key"))
                        dst = &a.secret_access_key;
                else if (streq(k, "aws_session_token"))
                        dst = &a.session_token;
                else
                        continue; /* region = ..., output = ...: not ours to judge */
                keyed = true;
                if (!*v || strchr(v, ':')) {
                        secret_aws_clear(&a);
                        *ret_error = xasprintf("AWS credentials: %s is %s", k,
                                               *v ? "not a key (holds ':')" : "empty");
                        return -EINVAL;
                }
                secret_free(*dst);
                *dst = xstrdup(v);
        }
        if (!keyed || !a.access_key_id || !a.secret_access_key) {
                secret_aws_clear(&a);
                *ret_error = xstrdup("AWS credentials need both aws_access_key_id and "
                                     "aws_secret_access_key");
                return -EINVAL;
        }
        *ret = a;
        return 1;
}
