# kunit.py --qemu_config for kvmrun (README: QEMU-compatible mode).
#
# kunit.py runs 'qemu-system-<qemu_arch>' from PATH: put a directory first in
# PATH whose qemu-system-x86_64 is a symlink to kvmrun, then
#
#   kunit.py exec --build_dir=DIR --qemu_config=tools/kunit/kvmrun_x86_64.py
#
# where DIR holds the test kernel's vmlinux (tools/build-linux-guest.sh builds
# one with KUnit in it; tests/integration/kunit_py.sh does all of this).
# kvmrun boots the ELF vmlinux through its PVH entry: no firmware and no
# decompressor, which matter on hosts where guest kernel code is emulated.
# For the same reason it overrides kunit.py's '-m 1024' (the last -m wins, as
# in QEMU): the kernel initialises its page structures in emulated code there,
# and KUnit needs little RAM; one vCPU spares the emulated AP bring-up.
from ..qemu_config import QemuArchParams

QEMU_ARCH = QemuArchParams(linux_arch='x86_64',
			   kconfig='''
CONFIG_SERIAL_8250=y
CONFIG_SERIAL_8250_CONSOLE=y
CONFIG_PVH=y''',
			   qemu_arch='x86_64',
			   kernel_path='vmlinux',
			   kernel_command_line='console=ttyS0 panic=-1',
			   extra_qemu_params=['-enable-kvm', '-cpu', 'host', '-smp', '1', '-m', '256'])
