/*
 * test_client_fake_tls.h: the fake cluster of test_client_fake_cluster.h over TLS, the
 * certificates its brokers present and the clients that trust them. Header-only, for
 * cmocka programs: include it after <cmocka.h> in exactly one file of a program, instead
 * of test_client_fake_cluster.h (which it includes).
 *
 * Certificates: fake_certs_new runs scripts/make-test-certs into a new temporary
 * directory, once per run (cmocka's group setup): ca, broker-1..N (SANs localhost and
 * 127.0.0.1), alice (a client), other-ca and other-alice (an unrelated CA, for refusals);
 * fake_certs_free removes the directory. A certificate is named by its file's stem
 * ("alice" is alice.crt with alice.key).
 *
 * Helpers called by a test fail it (fail_msg) when the setup is unusable; the two
 * certificate calls, made by group setups, return NULL or -1 instead.
 */
#ifndef TEST_CLIENT_FAKE_TLS_H
#define TEST_CLIENT_FAKE_TLS_H

#include <unistd.h>

#include "test_client_fake_cluster.h"

#include "client/ether.h"
#include "common/tls.h"
#include "tests/unit/test_repository_root.h"

enum {
    FAKE_CERTS_PATH_BYTES_MAX = 512,
    FAKE_TLS_ERRSTR_BYTES = 512,
};

struct fake_certs {
    char dir[FAKE_CERTS_PATH_BYTES_MAX];
};

/* Certificates for `broker_count` brokers in a new temporary directory; NULL (with a line
 * on stderr) when they cannot be made. Free with fake_certs_free. */
__attribute__((unused)) static struct fake_certs *fake_certs_new(uint32_t broker_count)
{
    struct fake_certs *certs = calloc(1, sizeof *certs);
    if (certs == NULL) {
        return NULL;
    }
    snprintf(certs->dir, sizeof certs->dir, "%s/ether-client-test-certs-XXXXXX",
             getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(certs->dir) == NULL) {
        perror("fake certificates: mkdtemp");
        free(certs);
        return NULL;
    }
    char root[FAKE_CERTS_PATH_BYTES_MAX];
    test_repository_root(root, sizeof root);
    char command[4 * FAKE_CERTS_PATH_BYTES_MAX];
    snprintf(command, sizeof command, "'%s/scripts/make-test-certs' '%s' %u", root, certs->dir,
             broker_count);
    if (system(command) != 0) {
        fprintf(stderr, "fake certificates: '%s' failed\n", command);
        snprintf(command, sizeof command, "rm -rf '%s'", certs->dir);
        if (system(command) != 0) {
            fprintf(stderr, "fake certificates: '%s' failed\n", command);
        }
        free(certs);
        return NULL;
    }
    return certs;
}

/* Removes the certificates' directory: 0, or -1 when that failed. */
__attribute__((unused)) static int fake_certs_free(struct fake_certs *certs)
{
    if (certs == NULL) {
        return 0;
    }
    char command[FAKE_CERTS_PATH_BYTES_MAX + 16];
    snprintf(command, sizeof command, "rm -rf '%s'", certs->dir);
    int status = system(command);
    free(certs);
    return status == 0 ? 0 : -1;
}

/* "<dir>/<name>" into `path`. */
static const char *fake_cert_path(const struct fake_certs *certs, const char *name, char *path,
                                  size_t path_size)
{
    int length = snprintf(path, path_size, "%s/%s", certs->dir, name);
    assert_true(length > 0 && (size_t)length < path_size);
    return path;
}

static void fake_tls_config_set(struct ether_config *config, const char *name, const char *value)
{
    char errstr[FAKE_TLS_ERRSTR_BYTES];
    if (ether_config_set(config, name, value, errstr, sizeof errstr) != ETHER_OK) {
        fail_msg("ether_config_set %s: %s", name, errstr);
    }
}

/* Sets `setting` to certs' file "<stem><suffix>" ("" when stem is NULL). */
static void fake_tls_config_set_file(struct ether_config *config, const char *setting,
                                     const struct fake_certs *certs, const char *stem,
                                     const char *suffix)
{
    char name[64];
    char path[FAKE_CERTS_PATH_BYTES_MAX + 64];
    if (stem == NULL) {
        fake_tls_config_set(config, setting, "");
        return;
    }
    snprintf(name, sizeof name, "%s%s", stem, suffix);
    fake_tls_config_set(config, setting, fake_cert_path(certs, name, path, sizeof path));
}

/*
 * A client config for `brokers` that trusts certs' CA `ca` (NULL: in clear) and presents
 * certificate `identity` (NULL: none): quick retries (10 to 100 ms), seed 1, no SCRAM
 * login, and nothing from the environment (ETHER_TLS_*, ETHER_SASL_*). The caller owns it.
 */
__attribute__((unused)) static struct ether_config *fake_tls_config(const struct fake_certs *certs,
                                                                    const char *brokers,
                                                                    const char *ca,
                                                                    const char *identity)
{
    struct ether_config *config = ether_config_new();
    assert_non_null(config);
    fake_tls_config_set(config, "brokers", brokers);
    fake_tls_config_set(config, "retry_backoff_ms", "10");
    fake_tls_config_set(config, "retry_backoff_max_ms", "100");
    fake_tls_config_set(config, "seed", "1");
    fake_tls_config_set(config, "sasl_username", "");
    fake_tls_config_set(config, "sasl_password", "");
    fake_tls_config_set_file(config, "tls_ca_file", certs, ca, ".crt");
    fake_tls_config_set_file(config, "tls_certificate_file", certs, identity, ".crt");
    fake_tls_config_set_file(config, "tls_private_key_file", certs, identity, ".key");
    return config;
}

/* A client made from `config`, which it frees. */
__attribute__((unused)) static struct ether_client *
fake_tls_client_from(struct ether_config *config)
{
    char errstr[FAKE_TLS_ERRSTR_BYTES];
    struct ether_client *client = ether_client_new(config, errstr, sizeof errstr);
    ether_config_free(config);
    if (client == NULL) {
        fail_msg("ether_client_new: %s", errstr);
    }
    return client;
}

/* A client made from fake_tls_config's config. */
__attribute__((unused)) static struct ether_client *fake_tls_client(const struct fake_certs *certs,
                                                                    const char *brokers,
                                                                    const char *ca,
                                                                    const char *identity)
{
    return fake_tls_client_from(fake_tls_config(certs, brokers, ca, identity));
}

/*
 * fake_cluster_start with TLS on every broker: broker N presents certs' `certificate`
 * ("broker-N" when NULL) and, with `require_client_certificate`, refuses clients without
 * one signed by the CA (mTLS, as etherd does by default).
 */
__attribute__((unused)) static void fake_tls_cluster_start(struct fake_cluster *cluster,
                                                           uint32_t broker_count,
                                                           const struct fake_certs *certs,
                                                           const char *certificate,
                                                           bool require_client_certificate)
{
    assert_true(broker_count <= FAKE_BROKERS_MAX);
    struct ether_tls_config *tls_configs[FAKE_BROKERS_MAX] = {NULL};
    for (uint32_t b = 0; b < broker_count; b++) {
        char name[64];
        if (certificate != NULL) {
            snprintf(name, sizeof name, "%s", certificate);
        } else {
            snprintf(name, sizeof name, "broker-%u", b + 1);
        }
        char ca_file[FAKE_CERTS_PATH_BYTES_MAX + 64];
        char certificate_file[FAKE_CERTS_PATH_BYTES_MAX + 64];
        char private_key_file[FAKE_CERTS_PATH_BYTES_MAX + 64];
        char file_name[80];
        snprintf(file_name, sizeof file_name, "%s.crt", name);
        fake_cert_path(certs, file_name, certificate_file, sizeof certificate_file);
        snprintf(file_name, sizeof file_name, "%s.key", name);
        fake_cert_path(certs, file_name, private_key_file, sizeof private_key_file);
        struct ether_tls_config_options tls = {
            .role = ETHER_TLS_ROLE_SERVER,
            .ca_file = fake_cert_path(certs, "ca.crt", ca_file, sizeof ca_file),
            .certificate_file = certificate_file,
            .private_key_file = private_key_file,
            .require_client_certificate = require_client_certificate,
        };
        char errbuf[256];
        if (ether_tls_config_new(&tls, &tls_configs[b], errbuf, sizeof errbuf) != ETHER_OK) {
            fail_msg("fake TLS cluster: %s", errbuf);
        }
    }
    if (fake_cluster_start_with_tls(cluster, broker_count, NULL, tls_configs) != 0) {
        fail_msg("fake TLS cluster: cannot start its brokers");
    }
}

/* "<host>:p1,<host>:p2,..." of every broker (fake_cluster_brokers says 127.0.0.1). */
__attribute__((unused)) static void fake_cluster_brokers_at(const struct fake_cluster *cluster,
                                                            const char *host, char *out,
                                                            size_t out_bytes)
{
    size_t used = 0;
    out[0] = '\0';
    for (uint32_t b = 0; b < cluster->broker_count; b++) {
        used += (size_t)snprintf(out + used, out_bytes - used, "%s%s:%u", b > 0 ? "," : "", host,
                                 cluster->brokers[b].port);
    }
}

#endif
