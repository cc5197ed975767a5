/*
 * principal_rule.h: maps the common name (CN) of a verified client certificate to the
 * principal name that ACLs are written for. It is the broker option tls-principal-rule, a
 * simplified form of Kafka's ssl.principal.mapping.rules.
 *
 * Rule text:
 *
 *   ""                        the principal is the CN as is
 *   <regex>/<replacement>/    when the regex matches the whole CN, the principal is the
 *   <regex>/<replacement>/L   replacement (with L, lower-cased: ASCII letters only);
 *                             when it does not match, the CN unchanged (L not applied)
 *
 *   <regex>        a POSIX extended regular expression (regcomp, REG_EXTENDED). It must
 *                  match the whole CN: ^ and $ are implied, writing them is harmless.
 *                  A '/' in it, inside brackets too, is written "\/"; any other
 *                  backslash reaches regcomp as written.
 *   <replacement>  literal text in which \0 is the whole CN and \1..\9 are the regex's
 *                  groups (empty when a group took no part in the match). It must not
 *                  be empty; a backslash followed by anything but a digit, a group the
 *                  regex does not have, and a '/' are refused, so a replacement cannot
 *                  produce '/' or '\' (except copied from the CN by a group).
 *
 * Example: "(.*)\.clients\.example\.com/\1/L" maps "Alice.clients.example.com" to
 * "alice" and leaves "broker-2" as "broker-2".
 *
 * Owns: a parsed rule owns its compiled regex and its replacement text. It is immutable
 * after parsing (regexec is thread-safe), so threads may share it.
 *
 * Invariants: a parsed rule's replacement only refers to groups its regex has; apply
 * never writes past out_size and always leaves `out` NUL-terminated ("" on failure).
 */
#ifndef ETHER_BROKER_PRINCIPAL_RULE_H
#define ETHER_BROKER_PRINCIPAL_RULE_H

#include <stddef.h>

enum {
    PRINCIPAL_RULE_TEXT_BYTES_MAX = 1024, /* longer rule texts are refused */
};

struct principal_rule;

/*
 * Parses `text` (NULL is taken as ""). On success returns ETHER_OK and the caller owns
 * *rule_out (free with principal_rule_free). On failure returns ETHER_ERR_INVALID_ARGUMENT
 * with a sentence in errbuf (bad syntax, a regex that does not compile, a text over
 * PRINCIPAL_RULE_TEXT_BYTES_MAX) and leaves *rule_out untouched.
 */
int principal_rule_parse(const char *text, struct principal_rule **rule_out, char *errbuf,
                         size_t errbuf_size);

/*
 * Writes the principal of `common_name` into `out` (NUL-terminated). Returns ETHER_OK;
 * ETHER_ERR_TOO_LARGE when it does not fit in out_size bytes with its NUL;
 * ETHER_ERR_INVALID_ARGUMENT when it is empty.
 */
int principal_rule_apply(const struct principal_rule *rule, const char *common_name, char *out,
                         size_t out_size);

/* Frees `rule` (NULL is a no-op). */
void principal_rule_free(struct principal_rule *rule);

#endif
