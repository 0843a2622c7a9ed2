/**
 * Ownership while maintainer scripts run during a bootstrap: the guest's own fakeroot
 * (faked-sysv + libfakeroot-sysv, from the same archive) runs *inside* the env, whatever the engine
 * and architecture (a foreign one runs under qemu-user, where a host-side faked could not serve
 * it), and its save file tells cake what dpkg and the scripts chown'ed, chmod'ed and mknod'ed.
 * Only uid 0 exists in a rootless user namespace (a chown to 42 fails with EINVAL), and a fakeroot
 * around the engine itself would deadlock under ptrace, hence this arrangement. The save file's
 * format and its application to the table live in src/archive/faked-*.ts (the engine's ownership
 * recorder uses them too).
 */
import { CakeError } from '../model/errors.js';

// The save-file format and its application to the table are shared with the engine's recorder.
export { decodeDev, inodeKey, parseFakedSave, type FakedEntry } from '../archive/faked-save.js';
export { applyFakedOwnership, snapshotInodes, type ApplyOptions, type ApplyStats } from '../archive/faked-apply.js';

/**
 * The guest script that runs "$@" under libfakeroot against a faked that loads the save file (when
 * it exists) and writes it back when told to stop; it waits for faked to exit so the file is
 * complete when the script returns. `prefix` is the guest dir holding the extracted fakeroot and
 * libfakeroot packages, `lib` the guest path of libfakeroot-sysv.so, `save` the save file's guest
 * path. faked's pid is kept in `<save>.pid` while it runs (see stopFaked). The paths are cake's own
 * (no quoting needed: checked). `before`: guest paths of objects preloaded before libfakeroot (the
 * owner shim, run/owner-shim.ts). Pure.
 */
export function fakerootWrapper(prefix: string, lib: string, save: string, before: readonly string[] = []): string {
  for (const p of [prefix, lib, save, ...before]) {
    if (!/^\/[A-Za-z0-9._/+-]+$/.test(p)) throw new CakeError('internal', `unsafe fakeroot path ${JSON.stringify(p)}`);
  }
  return `#!/bin/sh
# cake: "$@" under the guest's libfakeroot; ownership is kept in ${save}
faked=${prefix}/usr/bin/faked-sysv
if [ -s ${save} ]; then
  kp=$("$faked" --load --save-file ${save} < ${save})
else
  kp=$("$faked" --save-file ${save})
fi
key=\${kp%%:*}
pid=\${kp##*:}
if [ -z "$key" ] || [ -z "$pid" ] || [ "$key" = "$kp" ]; then
  echo "cake: faked-sysv did not start" >&2
  exit 111
fi
# cake stops a faked left behind by an interrupted run (the daemon outlives a killed wrapper)
echo "$pid" > ${save}.pid
FAKEROOTKEY=$key FAKED_MODE=unknown-is-root FAKEROOTDONTTRYCHOWN=1 LD_PRELOAD=${[...before, lib].join(':')} "$@"
rc=$?
kill -TERM "$pid"
# faked saves and exits at once; its zombie may wait a while for init, so the state is what counts
while kill -0 "$pid" 2>/dev/null; do
  st=$(cat /proc/$pid/stat 2>/dev/null) || st=
  case $st in *") Z "* | *") X "*) break ;; esac
  sleep 0.01
done
rm -f ${save}.pid
exit $rc
`;
}
