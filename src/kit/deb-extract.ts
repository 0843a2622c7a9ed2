/**
 * Single files out of a .deb's data.tar, into memory: the static busybox of busybox-static, the
 * systemd-boot EFI binary, syslinux's MBR code. Small files only (the package is streamed once).
 */
import { TarReader, type EntrySink, type TarEntry } from '../archive/tar-reader.js';
import { openDeb } from '../debian/deb-file.js';
import { CakeError } from '../model/errors.js';

/**
 * The contents of each file in `files`, keyed by its first name; each is a list of alternative
 * paths in the package (e.g. ['/bin/busybox', '/usr/bin/busybox']). Throws CakeError('bake') for
 * a file the package lacks under every name.
 */
export async function extractFromDeb(debPath: string, label: string, files: ReadonlyArray<readonly string[]>): Promise<Map<string, Buffer>> {
  const paths = files.flat();
  const wanted = new Set(paths.map((p) => p.replace(/^\/+/, '')));
  const out = new Map<string, Buffer>();
  const deb = await openDeb(debPath);
  const stream = await deb.dataStream();
  const reader = new TarReader((e: TarEntry): EntrySink | null => {
    const name = e.path.replace(/^(\.\/)+/, '');
    if (e.type !== 'file' || !wanted.has(name)) return null;
    const chunks: Buffer[] = [];
    return {
      write(buf, start, end) {
        chunks.push(Buffer.from(buf.subarray(start, end)));
      },
      end() {
        out.set(`/${name}`, Buffer.concat(chunks));
      },
    };
  });
  for await (const chunk of stream as AsyncIterable<Buffer>) reader.write(chunk);
  reader.end();
  const result = new Map<string, Buffer>();
  for (const alternatives of files) {
    const hit = alternatives.map((p) => out.get(`/${p.replace(/^\/+/, '')}`)).find((b) => b !== undefined);
    if (hit === undefined) throw new CakeError('bake', `${label} has no ${alternatives.join(' or ')}`, { hint: 'the package layout changed: pin another version' });
    result.set(alternatives[0] as string, hit);
  }
  return result;
}
