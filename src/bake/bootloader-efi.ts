/**
 * UEFI boot: systemd-boot (from the archive's systemd-boot-efi, so it does not depend on the
 * host) as the removable-media loader \EFI\BOOT\BOOTX64.EFI, with one Boot Loader Specification
 * entry for the kernel and initramfs at the root of the same partition. No menu, no timeout, no
 * editor; nothing in it depends on the build time.
 */

export const SYSTEMD_BOOT_PATHS = ['/usr/lib/systemd/boot/efi/systemd-bootx64.efi'];

export interface EfiFile {
  path: string;
  content: Buffer | string;
}

export function efiFiles(systemdBoot: Buffer, cmdline: string, title: string): EfiFile[] {
  return [
    { path: 'EFI/BOOT/BOOTX64.EFI', content: systemdBoot },
    { path: 'loader/loader.conf', content: 'default cake.conf\ntimeout 0\nconsole-mode keep\neditor no\n' },
    { path: 'loader/entries/cake.conf', content: `title ${title}\nlinux /vmlinuz\ninitrd /initrd.img\noptions ${cmdline}\n` },
  ];
}
