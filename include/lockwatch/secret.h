/* Secrets named in the configuration (tokens, keys, passwords): read from a file or from
 * systemd's $CREDENTIALS_DIRECTORY when used, never kept in the config, the state or a log. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define SECRET_MAX_BYTES 4096u /* a token, key, password or AWS credentials file */

enum {
        SECRET_MULTILINE = 1u << 0, /* line ends allowed inside (an AWS credentials file) */
};

/* The file spec names: a path, or credential:NAME in $CREDENTIALS_DIRECTORY. On failure
 * *ret_error says what is wrong and how to fix it. */
int secret_path(const char *spec, char **ret, char **ret_error);
/* Read the secret spec names (trailing blanks and line ends dropped, control characters
 * refused); the caller frees it with secret_free(). */
int secret_read(const char *spec, unsigned flags, char **ret, char **ret_error);
/* Whether the secret spec names can be read, without keeping it: for --check-config. */
int secret_check(const char *spec, unsigned flags, char **ret_error);
/* Overwrite and free a secret; NULL is fine. */
void secret_free(char *s);
/* For _cleanup_. */
void secret_freep(char **s);

/* An AWS access key as a credentials file gives it. */
typedef struct SecretAws {
        char *access_key_id;
        char *secret_access_key;
        char *session_token; /* NULL if none */
} SecretAws;

/* Read "aws_access_key_id = ..." lines (an ~/.aws/credentials profile; a [section] line
 * is ignored) from text: 1 and *ret set when text is such a file, 0 when text is a single
 * token (a bearer key), -EINVAL with *ret_error when it is neither. */
int secret_parse_aws(const char *text, SecretAws *ret, char **ret_error);
/* Overwrite and free what an AWS key holds. */
void secret_aws_clear(SecretAws *a);
