/* signals.c: one thread takes SIGINT, SIGTERM and SIGHUP for the whole process (signals.h). */
#include "cli/signals.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/file.h"

static pthread_mutex_t commit_lock = PTHREAD_MUTEX_INITIALIZER;
static int committed; /* under commit_lock: the run's result is in place */
static sigset_t taken;
static const char *command_name = "";
static sem_t started; /* posted once take_signals is past its start-up */

static void *take_signals(void *arg)
{
    (void)arg;
    sem_post(&started);
    for (;;) {
        int sig = 0;
        if (sigwait(&taken, &sig) != 0)
            continue;
        pthread_mutex_lock(&commit_lock);
        if (committed) {
            pthread_mutex_unlock(&commit_lock);
            continue;
        }
        /* the commit section cannot start now: what is being written is removed, and the
         * process ends holding the lock */
        fr_temps_discard_all();
        char line[256];
        int n = snprintf(line, sizeof line, "facerec %s: interrupted (%s): stopped; files "
                         "being written were removed\n", command_name,
                         sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "SIGHUP");
        if (n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0)
            n = 0;
        _exit(FR_EXIT_INTERRUPTED);
    }
    return NULL;
}

void fr_cli_signals_start(const char *command)
{
    command_name = command;
    sigemptyset(&taken);
    sigaddset(&taken, SIGINT);
    sigaddset(&taken, SIGTERM);
    struct sigaction old;
    if (sigaction(SIGHUP, NULL, &old) == 0 && old.sa_handler != SIG_IGN)
        sigaddset(&taken, SIGHUP);
    /* before any other thread exists: every thread started later inherits the mask */
    pthread_sigmask(SIG_BLOCK, &taken, NULL);
    /* an ignored signal never reaches sigwait: SIGINT and SIGTERM are taken even where the
     * parent ignored them (a shell's background job), SIGHUP only where it was not (nohup);
     * blocked first, so none can take its default action in between */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    pthread_t thread;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int have_sem = sem_init(&started, 0, 0) == 0;
    if (pthread_create(&thread, &attr, take_signals, NULL) != 0) {
        /* no thread: the signals keep their default action (the process ends, temporary
         * files of a run may stay until the next run in that folder removes them) */
        pthread_sigmask(SIG_UNBLOCK, &taken, NULL);
    } else if (have_sem) {
        /* Returns only once the thread is waiting in sigwait, holding no lock: a command
         * that forks before starting other threads (convert --from keras-h5 runs libhdf5 in
         * a child) must not fork while the new thread is still starting. Under
         * AddressSanitizer that start-up takes the allocator's lock, which the child then
         * inherited held and waited on forever (the CI's timed-out test_irv1_keras: 16 of
         * 60 converts hung). */
        while (sem_wait(&started) != 0 && errno == EINTR) {
        }
    }
    pthread_attr_destroy(&attr);
}

void fr_cli_commit_begin(void)
{
    pthread_mutex_lock(&commit_lock);
}

void fr_cli_commit_end(int done)
{
    if (done)
        committed = 1;
    pthread_mutex_unlock(&commit_lock);
}
