/*
 * client_fake_broker: the fake cluster of tests/unit/test_client_fake_cluster.h
 * as a process, so that the `ether` CLI can be tested end to end without the
 * real broker (tests/integration/client_cli.sh).
 *
 * Usage: client_fake_broker BROKERS_FILE [--phantom-broker] [--leaderless TOPIC/P]
 * Starts three fake brokers on free loopback ports, writes their list
 * ("127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3") to BROKERS_FILE once they
 * listen, and serves until SIGTERM or SIGINT. --phantom-broker adds a
 * broker 9 to the metadata that nobody serves (an unhealthy cluster).
 */
#include "../unit/test_client_fake_cluster.h"

#include <signal.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: client_fake_broker BROKERS_FILE [--phantom-broker]\n");
        return 2;
    }
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);

    static struct fake_cluster cluster;
    if (fake_cluster_start(&cluster, 3, NULL) != 0) {
        return 1;
    }
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--phantom-broker") == 0) {
            pthread_mutex_lock(&cluster.mutex);
            cluster.phantom_broker_port = 1;
            pthread_mutex_unlock(&cluster.mutex);
        }
    }
    char brokers[256];
    fake_cluster_brokers(&cluster, 3, brokers, sizeof brokers);
    char temporary[4096];
    snprintf(temporary, sizeof temporary, "%s.tmp", argv[1]);
    FILE *file = fopen(temporary, "w");
    if (file == NULL || fprintf(file, "%s\n", brokers) < 0 || fclose(file) != 0 ||
        rename(temporary, argv[1]) != 0) {
        perror("client_fake_broker: cannot write the brokers file");
        fake_cluster_stop(&cluster);
        return 1;
    }
    int received = 0;
    sigwait(&signals, &received);
    fake_cluster_stop(&cluster);
    return 0;
}
