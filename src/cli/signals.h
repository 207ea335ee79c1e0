/*
 * signals.h: what SIGINT, SIGTERM and SIGHUP do to a facerec command: the same for every
 * command, from any moment, within a moment.
 *
 * main() blocks the three signals before any thread exists, so every thread inherits the
 * mask and none of them ever runs a handler: one thread waits for them with sigwait. (A
 * handler running on a thread inside oneDNN's JIT GEMM corrupts the heap: that was the
 * "double free" after Ctrl-C; docs/outputs.md.) On a signal that thread removes every
 * temporary file of the process (core/file.h), says so on stderr and ends the process with
 * exit code 130: no output appears half-written, and the identity database is not touched,
 * because its transactions run inside a commit section (below). SIGINT and SIGTERM are taken
 * even when the parent ignored them (a script's background job); a SIGHUP that was ignored
 * when facerec started (nohup) stays ignored.
 *
 * A command's final commit (renaming its outputs into place, an enrolment's transaction)
 * runs between fr_cli_commit_begin and fr_cli_commit_end: a signal arriving meanwhile waits
 * for it; afterwards the work is done and the command finishes as if the signal had come a
 * moment too late. So exit code 130 always means "nothing of this run was committed" (files
 * the command writes one by one as it goes, detect's drawings, stay: each is complete).
 */
#ifndef FR_CLI_SIGNALS_H
#define FR_CLI_SIGNALS_H

/* Blocks the signals in the calling thread (call before any other thread starts) and starts
 * the thread that takes them for COMMAND (its name, for the message). */
void fr_cli_signals_start(const char *command);

/* The commit section: begin waits while an interrupt is being carried out (which then ends
 * the process); end with done = 1 makes later signals harmless (the run's result is in
 * place), done = 0 leaves them as before (a commit that failed). */
void fr_cli_commit_begin(void);
void fr_cli_commit_end(int done);

#endif
