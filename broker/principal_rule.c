/*
 * principal_rule.c: the CN-to-principal rules of principal_rule.h on libc's <regex.h>.
 *
 * Whole-CN matching is checked on the match itself (it must span [0, strlen(CN))) rather
 * than by wrapping the user's regex in "^(" ... ")$": a wrapped regex could be re-read
 * differently (an unmatched ')' is an ordinary character in glibc's EREs) and would shift
 * the group numbers. POSIX regexec reports the leftmost-longest match, so a match that
 * covers the whole CN is found whenever one exists.
 */
#include "broker/principal_rule.h"

#include <regex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "common/mem.h"
#include "common/panic.h"

enum {
    GROUPS_COUNT_MAX = 9, /* \1..\9 */
    REGEX_ERROR_BYTES = 128,
};

struct principal_rule {
    bool identity; /* the empty rule: the CN as is */
    bool lower_case;
    regex_t regex;       /* compiled unless identity */
    char *replacement;   /* checked: every '\' is followed by a group the regex has */
    size_t groups_count; /* the regex's, for the invariant */
};

__attribute__((format(printf, 3, 4))) static int refuse(char *errbuf, size_t errbuf_size,
                                                        const char *format, ...)
{
    if (errbuf != NULL && errbuf_size > 0) {
        va_list args;
        va_start(args, format);
        vsnprintf(errbuf, errbuf_size, format, args);
        va_end(args);
    }
    return ETHER_ERR_INVALID_ARGUMENT;
}

/*
 * Copies the regex part of `text` into `regex` (which has room for all of text),
 * turning "\/" into "/", up to the first unescaped '/'. Returns the index of that '/',
 * or -1 when there is none.
 */
static long split_regex(const char *text, char *regex)
{
    size_t used = 0;
    for (size_t i = 0; text[i] != '\0'; i++) {
        if (text[i] == '/') {
            regex[used] = '\0';
            return (long)i;
        }
        if (text[i] == '\\' && text[i + 1] == '/') {
            regex[used++] = '/';
            i++;
        } else if (text[i] == '\\' && text[i + 1] != '\0') {
            regex[used++] = text[i];
            regex[used++] = text[++i];
        } else {
            regex[used++] = text[i];
        }
    }
    return -1;
}

int principal_rule_parse(const char *text, struct principal_rule **rule_out, char *errbuf,
                         size_t errbuf_size)
{
    ETHER_ASSERT(rule_out != NULL);
    if (text == NULL || text[0] == '\0') {
        struct principal_rule *rule = ether_calloc(1, sizeof *rule);
        rule->identity = true;
        *rule_out = rule;
        return ETHER_OK;
    }
    size_t text_bytes = strnlen(text, PRINCIPAL_RULE_TEXT_BYTES_MAX + 1);
    if (text_bytes > PRINCIPAL_RULE_TEXT_BYTES_MAX) {
        return refuse(errbuf, errbuf_size, "the rule is longer than %d bytes",
                      PRINCIPAL_RULE_TEXT_BYTES_MAX);
    }

    char *regex_text = ether_malloc(text_bytes + 1);
    int rc;
    long slash = split_regex(text, regex_text);
    if (slash < 0) {
        rc = refuse(errbuf, errbuf_size,
                    "the rule is not <regex>/<replacement>/ (no '/' after the regex)");
        goto err_after_regex_text;
    }
    if (regex_text[0] == '\0') {
        rc = refuse(errbuf, errbuf_size, "the rule's regex is empty");
        goto err_after_regex_text;
    }
    const char *replacement = text + slash + 1;
    const char *end = strchr(replacement, '/');
    if (end == NULL) {
        rc = refuse(errbuf, errbuf_size,
                    "the rule is not <regex>/<replacement>/ (no '/' after the replacement)");
        goto err_after_regex_text;
    }
    size_t replacement_bytes = (size_t)(end - replacement);
    if (replacement_bytes == 0) {
        rc = refuse(errbuf, errbuf_size,
                    "the rule's replacement is empty (every matching name would give none)");
        goto err_after_regex_text;
    }
    bool lower_case = false;
    if (strcmp(end + 1, "L") == 0) {
        lower_case = true;
    } else if (end[1] != '\0') {
        rc = refuse(errbuf, errbuf_size,
                    "the rule has '%.32s' after its last '/'; only L (lower-case) may follow",
                    end + 1);
        goto err_after_regex_text;
    }

    struct principal_rule *rule = ether_calloc(1, sizeof *rule);
    int regex_rc = regcomp(&rule->regex, regex_text, REG_EXTENDED);
    if (regex_rc != 0) {
        char reason[REGEX_ERROR_BYTES];
        regerror(regex_rc, &rule->regex, reason, sizeof reason);
        rc = refuse(errbuf, errbuf_size, "the rule's regex does not compile: %s", reason);
        goto err_after_rule;
    }
    rule->groups_count = rule->regex.re_nsub;
    for (size_t i = 0; i < replacement_bytes; i++) {
        if (replacement[i] != '\\') {
            continue;
        }
        char next = i + 1 < replacement_bytes ? replacement[i + 1] : '\0';
        if (next < '0' || next > '9') {
            rc = refuse(errbuf, errbuf_size,
                        "the rule's replacement has a '\\' not followed by a group digit 0-9");
            goto err_after_regcomp;
        }
        size_t group = (size_t)(next - '0');
        if (group > rule->groups_count) {
            rc = refuse(errbuf, errbuf_size,
                        "the rule's replacement refers to group %zu, but the regex has %zu", group,
                        rule->groups_count);
            goto err_after_regcomp;
        }
        i++;
    }
    rule->replacement = ether_malloc(replacement_bytes + 1);
    memcpy(rule->replacement, replacement, replacement_bytes);
    rule->replacement[replacement_bytes] = '\0';
    rule->lower_case = lower_case;
    ether_free(regex_text);
    *rule_out = rule;
    return ETHER_OK;

err_after_regcomp:
    regfree(&rule->regex);
err_after_rule:
    ether_free(rule);
err_after_regex_text:
    ether_free(regex_text);
    return rc;
}

/* Appends `bytes` to out[*used], keeping room for the NUL; false when it does not fit. */
static bool append(char *out, size_t out_size, size_t *used, const char *bytes, size_t length)
{
    if (length >= out_size - *used) {
        return false;
    }
    memcpy(out + *used, bytes, length);
    *used += length;
    return true;
}

int principal_rule_apply(const struct principal_rule *rule, const char *common_name, char *out,
                         size_t out_size)
{
    ETHER_ASSERT(rule != NULL);
    ETHER_ASSERT(common_name != NULL);
    ETHER_ASSERT(out != NULL);
    ETHER_ASSERT(out_size > 0);
    out[0] = '\0';
    size_t name_bytes = strlen(common_name);
    regmatch_t matches[GROUPS_COUNT_MAX + 1];
    bool matched = !rule->identity &&
                   regexec(&rule->regex, common_name, GROUPS_COUNT_MAX + 1, matches, 0) == 0 &&
                   matches[0].rm_so == 0 && (size_t)matches[0].rm_eo == name_bytes;

    size_t used = 0;
    bool fits = true;
    if (!matched) {
        fits = append(out, out_size, &used, common_name, name_bytes);
    } else {
        const char *replacement = rule->replacement;
        for (size_t i = 0; fits && replacement[i] != '\0'; i++) {
            if (replacement[i] != '\\') {
                fits = append(out, out_size, &used, replacement + i, 1);
                continue;
            }
            size_t group = (size_t)(replacement[++i] - '0');
            ETHER_ASSERT(group <= rule->groups_count);
            regmatch_t match = matches[group];
            if (match.rm_so >= 0 && match.rm_eo >= match.rm_so) {
                fits = append(out, out_size, &used, common_name + match.rm_so,
                              (size_t)(match.rm_eo - match.rm_so));
            }
        }
        for (size_t i = 0; rule->lower_case && i < used; i++) {
            if (out[i] >= 'A' && out[i] <= 'Z') {
                out[i] = (char)(out[i] - 'A' + 'a');
            }
        }
    }
    if (!fits) {
        out[0] = '\0';
        return ETHER_ERR_TOO_LARGE;
    }
    ETHER_ASSERT(used < out_size);
    out[used] = '\0';
    return used == 0 ? ETHER_ERR_INVALID_ARGUMENT : ETHER_OK;
}

void principal_rule_free(struct principal_rule *rule)
{
    if (rule == NULL) {
        return;
    }
    if (!rule->identity) {
        regfree(&rule->regex);
    }
    ether_free(rule->replacement);
    ether_free(rule);
}
