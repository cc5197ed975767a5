/* Unit tests for broker/principal_rule: parsing tls-principal-rule and mapping CNs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "broker/principal_rule.h"
#include "common/error.h"

enum { ERRBUF_BYTES = 160, PRINCIPAL_BYTES = 256 };

static struct principal_rule *parse_ok(const char *text)
{
    struct principal_rule *rule = NULL;
    char errbuf[ERRBUF_BYTES] = "";
    int rc = principal_rule_parse(text, &rule, errbuf, sizeof errbuf);
    if (rc != ETHER_OK) {
        fail_msg("'%s' refused: %s", text, errbuf);
    }
    assert_non_null(rule);
    return rule;
}

static void assert_maps(const struct principal_rule *rule, const char *common_name,
                        const char *principal)
{
    char out[PRINCIPAL_BYTES];
    int rc = principal_rule_apply(rule, common_name, out, sizeof out);
    if (rc != ETHER_OK) {
        fail_msg("'%s': %s", common_name, ether_error_name(rc));
    }
    assert_string_equal(out, principal);
}

static void assert_refused(const char *text, const char *reason)
{
    struct principal_rule *rule = NULL;
    char errbuf[ERRBUF_BYTES] = "";
    int rc = principal_rule_parse(text, &rule, errbuf, sizeof errbuf);
    if (rc != ETHER_ERR_INVALID_ARGUMENT || strstr(errbuf, reason) == NULL) {
        fail_msg("'%s': %s '%s' (expected '%s')", text, ether_error_name(rc), errbuf, reason);
    }
    assert_null(rule);
}

static void test_empty_rule_maps_the_common_name_to_itself(void **state)
{
    (void)state;
    const char *texts[] = {"", NULL};
    for (size_t i = 0; i < 2; i++) {
        struct principal_rule *rule = parse_ok(texts[i]);
        assert_maps(rule, "alice", "alice");
        assert_maps(rule, "Alice.Clients.Example.COM", "Alice.Clients.Example.COM");
        assert_maps(rule, "a/b\\c", "a/b\\c");
        principal_rule_free(rule);
    }
}

static void test_rule_with_a_group_extracts_the_user(void **state)
{
    (void)state;
    struct principal_rule *rule = parse_ok("(.*)\\.clients\\.example\\.com/\\1/");
    assert_maps(rule, "alice.clients.example.com", "alice");
    assert_maps(rule, "Bob.clients.example.com", "Bob");
    assert_maps(rule, "a.b.clients.example.com", "a.b");
    principal_rule_free(rule);
}

static void test_anchors_are_implied_and_harmless(void **state)
{
    (void)state;
    const char *texts[] = {"(.*)\\.clients\\.example\\.com/\\1/",
                           "^(.*)\\.clients\\.example\\.com$/\\1/"};
    for (size_t i = 0; i < 2; i++) {
        struct principal_rule *rule = parse_ok(texts[i]);
        assert_maps(rule, "alice.clients.example.com", "alice");
        /* Not a whole-name match: passed through unchanged. */
        assert_maps(rule, "alice.clients.example.com.evil.org",
                    "alice.clients.example.com.evil.org");
        assert_maps(rule, "x", "x");
        principal_rule_free(rule);
    }
    /* A regex that matches only a part of the name does not apply. */
    struct principal_rule *rule = parse_ok("ali/someone/");
    assert_maps(rule, "ali", "someone");
    assert_maps(rule, "alice", "alice");
    assert_maps(rule, "bali", "bali");
    principal_rule_free(rule);
    /* Alternation binds inside the implied anchors. */
    rule = parse_ok("a|b/x/");
    assert_maps(rule, "a", "x");
    assert_maps(rule, "b", "x");
    assert_maps(rule, "ab", "ab");
    principal_rule_free(rule);
}

static void test_l_flag_lower_cases_the_result_but_not_a_passthrough(void **state)
{
    (void)state;
    struct principal_rule *rule = parse_ok("CN-(.*)/User-\\1/L");
    assert_maps(rule, "CN-ALICE", "user-alice");
    assert_maps(rule, "CN-Ünïcode", "user-Ünïcode"); /* only ASCII letters change */
    assert_maps(rule, "OTHER-Name", "OTHER-Name");
    principal_rule_free(rule);
}

static void test_replacement_uses_groups_and_the_whole_name(void **state)
{
    (void)state;
    struct principal_rule *rule = parse_ok("([a-z]+)@([a-z]+)(-x)?/\\2:\\1\\3 (\\0)/");
    assert_maps(rule, "alice@sales", "sales:alice (alice@sales)");
    assert_maps(rule, "alice@sales-x", "sales:alice-x (alice@sales-x)");
    principal_rule_free(rule);

    /* Ten groups: \1..\9 reach the first nine. */
    rule = parse_ok("(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)/\\9\\8\\1/");
    assert_maps(rule, "abcdefghij", "iha");
    principal_rule_free(rule);
}

static void test_escaped_slash_in_the_regex_matches_a_slash(void **state)
{
    (void)state;
    struct principal_rule *rule = parse_ok("team\\/(.*)/\\1/");
    assert_maps(rule, "team/alice", "alice");
    assert_maps(rule, "team-alice", "team-alice");
    principal_rule_free(rule);
    rule = parse_ok("a[\\/]b/slash/");
    assert_maps(rule, "a/b", "slash");
    principal_rule_free(rule);
    /* Other backslashes reach regcomp as written: "\\." is a literal dot. */
    rule = parse_ok("a\\.b/dot/");
    assert_maps(rule, "a.b", "dot");
    assert_maps(rule, "axb", "axb");
    principal_rule_free(rule);
}

static void test_bad_rules_are_refused_with_a_sentence(void **state)
{
    (void)state;
    assert_refused("alice", "no '/' after the regex");
    assert_refused("alice/bob", "no '/' after the replacement");
    assert_refused("alice\\/bob/", "no '/' after the replacement");
    assert_refused("alice\\", "no '/' after the regex");
    assert_refused("/bob/", "regex is empty");
    assert_refused("alice//", "replacement is empty");
    assert_refused("alice/bob/x", "only L");
    assert_refused("alice/bob/l", "only L");
    assert_refused("alice/bob/LL", "only L");
    assert_refused("alice/bob//", "only L");
    assert_refused("(alice/bob/", "does not compile");
    assert_refused("[a-/bob/", "does not compile");
    assert_refused("a{2,1}/bob/", "does not compile");
    assert_refused("(.*)/\\x/", "not followed by a group digit");
    assert_refused("(.*)/a\\/", "not followed by a group digit");
    assert_refused("(.*)/\\\\/", "not followed by a group digit");
    assert_refused("(.*)/\\2/", "refers to group 2, but the regex has 1");
    assert_refused("alice/\\1/", "refers to group 1, but the regex has 0");

    static char long_rule[PRINCIPAL_RULE_TEXT_BYTES_MAX + 8];
    memset(long_rule, 'a', sizeof long_rule - 1);
    long_rule[PRINCIPAL_RULE_TEXT_BYTES_MAX - 2] = '/';
    long_rule[PRINCIPAL_RULE_TEXT_BYTES_MAX - 1] = 'b';
    long_rule[PRINCIPAL_RULE_TEXT_BYTES_MAX] = '/';
    long_rule[PRINCIPAL_RULE_TEXT_BYTES_MAX + 1] = '\0';
    assert_refused(long_rule, "longer than 1024 bytes");
    long_rule[PRINCIPAL_RULE_TEXT_BYTES_MAX - 3] = '/';
    long_rule[PRINCIPAL_RULE_TEXT_BYTES_MAX - 2] = 'b';
    long_rule[PRINCIPAL_RULE_TEXT_BYTES_MAX - 1] = '/';
    long_rule[PRINCIPAL_RULE_TEXT_BYTES_MAX] = '\0';
    struct principal_rule *rule = parse_ok(long_rule);
    principal_rule_free(rule);

    /* No error buffer is fine too. */
    rule = NULL;
    assert_int_equal(principal_rule_parse("(", &rule, NULL, 0), ETHER_ERR_INVALID_ARGUMENT);
    assert_null(rule);
    principal_rule_free(NULL);
}

static void test_result_too_large_or_empty_is_refused(void **state)
{
    (void)state;
    struct principal_rule *rule = parse_ok("(.*)/\\1\\1/");
    char out[8];
    assert_int_equal(principal_rule_apply(rule, "abc", out, sizeof out), ETHER_OK);
    assert_string_equal(out, "abcabc");
    assert_int_equal(principal_rule_apply(rule, "abcd", out, sizeof out), ETHER_ERR_TOO_LARGE);
    assert_string_equal(out, "");
    /* Exactly out_size - 1 characters fit; out_size do not (the NUL needs its byte). */
    char wide[15];
    assert_int_equal(principal_rule_apply(rule, "abcdefg", wide, sizeof wide), ETHER_OK);
    assert_string_equal(wide, "abcdefgabcdefg");
    assert_int_equal(principal_rule_apply(rule, "abcdefg", wide, sizeof wide - 1),
                     ETHER_ERR_TOO_LARGE);
    /* A match whose replacement comes out empty. */
    assert_int_equal(principal_rule_apply(rule, "", out, sizeof out), ETHER_ERR_INVALID_ARGUMENT);
    assert_string_equal(out, "");
    principal_rule_free(rule);

    rule = parse_ok("x(.*)/\\1/");
    assert_int_equal(principal_rule_apply(rule, "x", out, sizeof out), ETHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(principal_rule_apply(rule, "abcdefgh", out, sizeof out),
                     ETHER_ERR_TOO_LARGE); /* passthrough: 8 characters and a NUL */
    principal_rule_free(rule);

    rule = parse_ok("");
    assert_int_equal(principal_rule_apply(rule, "", out, sizeof out), ETHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(principal_rule_apply(rule, "abcdefgh", out, sizeof out), ETHER_ERR_TOO_LARGE);
    assert_int_equal(principal_rule_apply(rule, "abcdefg", out, sizeof out), ETHER_OK);
    principal_rule_free(rule);
}

static void test_optional_group_that_did_not_match_is_empty(void **state)
{
    (void)state;
    struct principal_rule *rule = parse_ok("([a-z]+)(-admin)?/\\1\\2/");
    assert_maps(rule, "alice", "alice");
    assert_maps(rule, "alice-admin", "alice-admin");
    principal_rule_free(rule);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_rule_maps_the_common_name_to_itself),
        cmocka_unit_test(test_rule_with_a_group_extracts_the_user),
        cmocka_unit_test(test_anchors_are_implied_and_harmless),
        cmocka_unit_test(test_l_flag_lower_cases_the_result_but_not_a_passthrough),
        cmocka_unit_test(test_replacement_uses_groups_and_the_whole_name),
        cmocka_unit_test(test_escaped_slash_in_the_regex_matches_a_slash),
        cmocka_unit_test(test_bad_rules_are_refused_with_a_sentence),
        cmocka_unit_test(test_result_too_large_or_empty_is_refused),
        cmocka_unit_test(test_optional_group_that_did_not_match_is_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
