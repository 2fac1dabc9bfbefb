// The last call of the submission commands' entry files (sendmail,
// postdrop, postqueue): runs the command once every import has loaded.
// Start-up cost is kept down elsewhere: mail_date builds its Intl
// formatter on first use, and the bundles of scripts/build_commands.js.

export function startCommand(main: () => void): void {
  main();
}
