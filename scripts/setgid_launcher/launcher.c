/*
 * The setgid postdrop launcher for postdrop and postqueue (node cannot
 * be setgid), built by `postfix set-permissions` with NODE_PATH,
 * SCRIPT_PATH and CONFIG_DIR fixed on the gcc command line: it drops the
 * caller's environment and execs node on the script, or on
 * sendmail_loader.js beside it (the same program from its bundle), with
 * the fixed -c first, so that a user's -c cannot replace it.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

#define FIXED_ARGS 6
#define EX_OSERR 71
#define LOADER "sendmail_loader.js"

/* dir/X.js -> dir/sendmail_loader.js and X, or 0 when either is not. */
static char *loader_path(char **name)
{
    const char *slash = strrchr(SCRIPT_PATH, '/');
    size_t  dir_len = slash ? (size_t) (slash - SCRIPT_PATH) + 1 : 0;
    size_t  name_len = strlen(SCRIPT_PATH + dir_len);
    char   *loader;

    if (name_len < 4 || strcmp(SCRIPT_PATH + name_len + dir_len - 3, ".js"))
	return 0;
    if ((loader = malloc(dir_len + sizeof(LOADER))) == 0
	|| (*name = strndup(SCRIPT_PATH + dir_len, name_len - 3)) == 0)
	return 0;
    memcpy(loader, SCRIPT_PATH, dir_len);
    strcpy(loader + dir_len, LOADER);
    return access(loader, R_OK) == 0 ? loader : 0;
}

int main(int argc, char **argv)
{
    char   *env[] = {"PATH=/usr/bin:/bin", "LANG=C", 0};
    char  **args;
    char   *loader;
    char   *name = 0;
    int     n = 0;
    int     i;

    if (argc < 1 || (args = calloc(argc + FIXED_ARGS + 1, sizeof(*args))) == 0)
	return EX_OSERR;

    args[n++] = NODE_PATH;
    if ((loader = loader_path(&name)) != 0) {
	args[n++] = loader;
	args[n++] = name;
	args[n++] = name;
    } else {
	args[n++] = SCRIPT_PATH;
    }
    args[n++] = "-c";
    args[n++] = CONFIG_DIR;
    for (i = 1; i < argc; i++)
	args[n++] = argv[i];

    /* The real gid stays the user's: only the effective gid is postdrop. */
    execve(NODE_PATH, args, env);
    perror("setgid launcher: execve " NODE_PATH);
    return EX_OSERR;
}
