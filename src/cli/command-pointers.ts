/**
 * Peers' verbs cake does not take as aliases (their meaning differs) → the hint naming cake's
 * verb. An unknown command gets this pointer instead of a "did you mean" to an unrelated verb.
 */
export const COMMAND_POINTERS: Readonly<Record<string, string>> = {
  install: 'to create an environment, use `cake pull SOURCE` (see `cake distros`); to add packages, `cake exec NAME apt-get install PKG`',
  run: 'use `cake exec NAME CMD [ARG...]` to run a command, or `cake enter NAME` for a shell',
  sh: 'use `cake enter NAME` for a shell, or `cake exec NAME CMD`',
  bash: 'use `cake enter NAME` for a shell, or `cake exec NAME CMD`',
  attach: 'use `cake enter NAME` for a shell in an environment',
  create: 'use `cake pull SOURCE --name NAME` (or `cake cook RECIPE.yaml`)',
  backup: 'use `cake export NAME FILE.tar.zst` (and `cake import FILE --name NAME` to restore)',
  restore: 'use `cake import FILE --name NAME` (from a `cake export` tarball)',
  save: 'use `cake export NAME FILE.tar.zst`, or `cake push NAME docker://REGISTRY/REPO:TAG`',
  load: 'use `cake import FILE --name NAME`',
  reset: 'use `cake pull SOURCE --name NAME --force` to replace an environment with a fresh copy',
  'clear-cache': 'use `cake gc`',
  clean: 'use `cake gc`',
  delete: 'use `cake rm NAME...`',
  rmi: 'use `cake rm NAME...`',
  mv: 'use `cake rename OLD NEW`',
  copy: 'use `cake clone OLD NEW` to copy an environment',
  logout: 'leave a shell started by `cake enter` with `exit` (or Ctrl-D)',
  exit: 'leave a shell started by `cake enter` with `exit` (or Ctrl-D)',
  stop: 'cake runs no daemons: a command stops when it exits; Ctrl-C stops it',
  build: 'use `cake cook RECIPE.yaml` to build an environment (`cake bake NAME` makes a disk image)',
  search: 'use `cake distros` for the known distributions',
  version: 'use `cake --version`',
};
