/*
 * etherd: the Ether broker. Configuration comes from flags, an optional
 * config file and ETHER_* variables (broker/config.h; `etherd --help`).
 * SIGINT or SIGTERM stops it gracefully (leaderships are moved away first);
 * the exit status is 0 after a clean stop, 1 when it could not start or join
 * its cluster. SIGHUP reloads the TLS certificate, key and CA files for new
 * connections; when they cannot be loaded the current ones stay (one ERROR line).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#include "broker/broker.h"
#include "broker/config.h"
#include "common/error.h"
#include "common/log.h"

extern char **environ;

struct daemon {
    uv_loop_t loop;
    uv_signal_t sigint;
    uv_signal_t sigterm;
    uv_signal_t sighup;
    struct broker *broker;
    struct ether_logger logger;
    int exit_status;
};

static void on_stopped(void *context)
{
    struct daemon *daemon = context;
    daemon->broker = NULL;
    uv_close((uv_handle_t *)&daemon->sigint, NULL);
    uv_close((uv_handle_t *)&daemon->sigterm, NULL);
    uv_close((uv_handle_t *)&daemon->sighup, NULL);
}

static void on_fatal(void *context)
{
    struct daemon *daemon = context;
    daemon->exit_status = 1;
    if (daemon->broker != NULL) {
        broker_shutdown(daemon->broker, on_stopped, daemon);
    }
}

static void on_signal(uv_signal_t *handle, int signal_number)
{
    struct daemon *daemon = handle->data;
    ether_log_info(&daemon->logger, "received %s", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
    if (daemon->broker != NULL) {
        broker_shutdown(daemon->broker, on_stopped, daemon);
    }
}

static void on_sighup(uv_signal_t *handle, int signal_number)
{
    (void)signal_number;
    struct daemon *daemon = handle->data;
    if (daemon->broker == NULL) {
        return;
    }
    char errbuf[512];
    if (broker_reload_tls(daemon->broker, errbuf, sizeof errbuf) != ETHER_OK) {
        ether_log_error(
            &daemon->logger,
            "received SIGHUP: cannot reload the TLS files: %s; keeping the current ones", errbuf);
        return;
    }
    ether_log_info(&daemon->logger,
                   "received SIGHUP: TLS files reloaded; new connections use them");
}

int main(int argc, char **argv)
{
    if (broker_config_wants_help(argc, argv)) {
        broker_config_print_help(stdout, "etherd");
        return 0;
    }
    struct broker_config config;
    char errbuf[512];
    int rc = broker_config_load(&config, argc, argv, environ, errbuf, sizeof errbuf);
    if (rc != ETHER_OK) {
        fprintf(stderr, "etherd: %s\n", errbuf);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN); /* until the reload handler is installed, once started */

    struct daemon daemon = {0};
    char context[32];
    snprintf(context, sizeof context, "broker=%u", config.broker_id);
    ether_logger_init_stream(&daemon.logger, (enum ether_log_level)config.log_level, stderr,
                             context);
    uv_loop_init(&daemon.loop);
    rc = broker_start(&daemon.loop, &config, &daemon.logger, &daemon.broker, errbuf, sizeof errbuf);
    if (rc != ETHER_OK) {
        ether_log_error(&daemon.logger, "cannot start: %s", errbuf);
        uv_run(&daemon.loop, UV_RUN_DEFAULT); /* let partially opened handles close */
        uv_loop_close(&daemon.loop);
        broker_config_free(&config);
        return 1;
    }
    broker_set_on_fatal(daemon.broker, on_fatal, &daemon);
    uv_signal_init(&daemon.loop, &daemon.sigint);
    uv_signal_init(&daemon.loop, &daemon.sigterm);
    uv_signal_init(&daemon.loop, &daemon.sighup);
    daemon.sigint.data = &daemon;
    daemon.sigterm.data = &daemon;
    daemon.sighup.data = &daemon;
    uv_signal_start(&daemon.sigint, on_signal, SIGINT);
    uv_signal_start(&daemon.sigterm, on_signal, SIGTERM);
    uv_signal_start(&daemon.sighup, on_sighup, SIGHUP);

    uv_run(&daemon.loop, UV_RUN_DEFAULT);
    int close_rc = uv_loop_close(&daemon.loop);
    if (close_rc != 0) {
        ether_log_warn(&daemon.logger, "event loop closed with handles open: %s",
                       uv_strerror(close_rc));
    }
    broker_config_free(&config);
    return daemon.exit_status;
}
