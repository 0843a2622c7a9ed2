/** Maps Node's process.arch to the distro-style names used in distros/ and env.json. */
export function distroArch(nodeArch: string): string {
  const map: Record<string, string> = { x64: 'x86_64', arm64: 'aarch64', arm: 'armv7', ia32: 'i686', riscv64: 'riscv64', ppc64: 'ppc64le', s390x: 's390x' };
  return map[nodeArch] ?? nodeArch;
}
