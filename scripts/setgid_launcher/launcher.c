/*
 * The setgid postdrop launcher for postdrop and postqueue. Node cannot be
 * made setgid itself, so this small program is: it throws away the
 * caller's environment, sets a fixed PATH, and runs node on one fixed
 * script with the configuration directory fixed at build time (given
 * first, so that a user's -c cannot replace it). Built by `postfix
 * set-permissions` (installSetgidPrograms) with NODE_PATH, SCRIPT_PATH
 * and CONFIG_DIR defined on the gcc command line. When the startup
 * snapshot that `npm run build` makes sits beside the script (X.js ->
 * X.blob), node starts from it; node refuses a snapshot of another
 * version with status 14 before it reads input, and then the script runs.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/types.h>
#include <sys/wait.h>

#ifndef NODE_PATH
#error "NODE_PATH must be defined"
#endif
#ifndef SCRIPT_PATH
#error "SCRIPT_PATH must be defined"
#endif
#ifndef CONFIG_DIR
#error "CONFIG_DIR must be defined"
#endif

#define FIXED_ARGS 4
#define EX_OSERR 71
#define SNAPSHOT_REFUSED 14

static char *env[] = {"PATH=/usr/bin:/bin", "LANG=C", 0};

/* SCRIPT_PATH with .js replaced by .blob, or 0 when there is none. */
static char *snapshot_path(void)
{
    size_t  len = strlen(SCRIPT_PATH);
    char   *blob;

    if (len < 3 || strcmp(SCRIPT_PATH + len - 3, ".js") != 0)
	return 0;
    if ((blob = malloc(len + 3)) == 0)
	return 0;
    memcpy(blob, SCRIPT_PATH, len - 3);
    strcpy(blob + len - 3, ".blob");
    if (access(blob, R_OK) != 0) {
	free(blob);
	return 0;
    }
    return blob;
}

/* The program name that the snapshot's main finds in argv[1]. */
static char *program_name(void)
{
    char   *slash = strrchr(SCRIPT_PATH, '/');
    char   *name = strdup(slash ? slash + 1 : SCRIPT_PATH);

    if (name && strlen(name) > 3)
	name[strlen(name) - 3] = 0;
    return name;
}

/*
 * Run node from the snapshot and return only when node refused it;
 * otherwise exit with node's status. The caller's stdin is untouched
 * when node refuses, so the script can still read the message.
 */
static void try_snapshot(int argc, char **argv)
{
    char   *blob = snapshot_path();
    char  **args;
    pid_t   pid;
    int     status;
    int     i;

    if (blob == 0 || (args = calloc(argc + FIXED_ARGS + 3, sizeof(*args))) == 0)
	return;
    args[0] = NODE_PATH;
    args[1] = "--snapshot-blob";
    args[2] = blob;
    args[3] = program_name();
    args[4] = "-c";
    args[5] = CONFIG_DIR;
    for (i = 1; i < argc; i++)
	args[FIXED_ARGS + 1 + i] = argv[i];
    if ((pid = fork()) < 0)
	return;
    if (pid == 0) {
	execve(NODE_PATH, args, env);
	_exit(SNAPSHOT_REFUSED);
    }
    while (waitpid(pid, &status, 0) < 0)
	if (errno != EINTR)
	    exit(EX_OSERR);
    if (WIFEXITED(status) && WEXITSTATUS(status) == SNAPSHOT_REFUSED)
	return;
    exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

int main(int argc, char **argv)
{
    char  **args;
    int     i;

    if (argc < 1 || (args = calloc(argc + FIXED_ARGS + 1, sizeof(*args))) == 0)
	return EX_OSERR;

    /* The real gid stays the user's: only the effective gid is postdrop. */
    try_snapshot(argc, argv);
    args[0] = NODE_PATH;
    args[1] = SCRIPT_PATH;
    args[2] = "-c";
    args[3] = CONFIG_DIR;
    for (i = 1; i < argc; i++)
	args[FIXED_ARGS + i - 1] = argv[i];
    execve(NODE_PATH, args, env);
    perror("setgid launcher: execve " NODE_PATH);
    return EX_OSERR;
}
