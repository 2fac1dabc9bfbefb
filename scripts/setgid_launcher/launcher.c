/*
 * The setgid postdrop launcher for postdrop and postqueue. Node cannot be
 * made setgid itself, so this small program is: it throws away the
 * caller's environment, sets a fixed PATH, and execs node on one fixed
 * script with the configuration directory fixed at build time (given
 * first, so that a user's -c cannot replace it). Built by `postfix
 * set-permissions` (installSetgidPrograms) with NODE_PATH, SCRIPT_PATH
 * and CONFIG_DIR defined on the gcc command line.
 */

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

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

int main(int argc, char **argv)
{
    char  **args;
    char   *env[] = {"PATH=/usr/bin:/bin", "LANG=C", 0};
    int     i;

    if (argc < 1 || (args = calloc(argc + FIXED_ARGS + 1, sizeof(*args))) == 0)
	return EX_OSERR;

    args[0] = NODE_PATH;
    args[1] = SCRIPT_PATH;
    args[2] = "-c";
    args[3] = CONFIG_DIR;
    for (i = 1; i < argc; i++)
	args[FIXED_ARGS + i - 1] = argv[i];

    /* The real gid stays the user's: only the effective gid is postdrop. */
    execve(NODE_PATH, args, env);
    perror("setgid launcher: execve " NODE_PATH);
    return EX_OSERR;
}
