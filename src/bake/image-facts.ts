/**
 * What a cake image says about itself, for `cake boot`: a small text file, cake-image.txt, in the
 * boot partition (FAT, readable without mounting), with `key=value` lines — `init` (systemd,
 * sysvinit, busybox-env, busybox) and `ssh` (yes or no: whether the image has an SSH server, so
 * that boot prints the SSH forward only when something will answer). Pure.
 */
export const IMAGE_FACTS = 'cake-image.txt';

export interface ImageFacts {
  init?: string;
  ssh?: boolean;
}

export function imageFactsText(f: { init: string; ssh: boolean }): string {
  return `# Written by cake bake: what cake boot needs to know about this image.\ninit=${f.init}\nssh=${f.ssh ? 'yes' : 'no'}\n`;
}

export function parseImageFacts(text: string): ImageFacts {
  const facts: ImageFacts = {};
  for (const line of text.split('\n')) {
    const m = /^(\w+)=(.*)$/.exec(line.trim());
    if (m === null) continue;
    if (m[1] === 'init') facts.init = m[2] as string;
    if (m[1] === 'ssh') facts.ssh = m[2] === 'yes';
  }
  return facts;
}
