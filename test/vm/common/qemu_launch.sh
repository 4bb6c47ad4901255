#!/usr/bin/env bash
# Boot a guest kernel and initramfs under QEMU (software emulation unless KEEL_VM_ACCEL=kvm) on
# user networking with restrict=on: the guest reaches nothing but the guestfwd addresses given
# with -f, each forwarded by a socat process per connection to a TCP port on the host's
# loopback. The console (ttyS0) goes to a log file; ttyS1 is the control channel, a FIFO pair
# CTL.in (host to guest) and CTL.out (guest to host). Runs in the foreground with a hard limit.
set -euo pipefail

usage() {
	cat << EOF2
Usage: $0 -k KERNEL -i INITRD -c CONSOLE_LOG -C CTL -l SOCAT_LOG [options] [-- QEMU_ARGS...]
  -k KERNEL        kernel image (bzImage)
  -i INITRD        initramfs (several archives may be concatenated in it)
  -c CONSOLE_LOG   file that receives the serial console
  -C CTL           control channel: the FIFOs CTL.in and CTL.out are created
  -l SOCAT_LOG     file for socat's own messages (never its stdout: that is the guest's TCP)
  -f G:P=H:Q       forward guest connections to G:P (e.g. 10.0.2.100:3260) to H:Q on the host
                   (127.0.0.1 only); repeat for more
  -F H:P=G:Q       forward host connections to H:P (127.0.0.1 only) to the guest's port Q at
                   its address G (10.0.2.15); repeat for more
  -M SOCKET        QEMU's monitor (QMP) on this Unix socket, for device_del and device_add
  -m MIB           guest memory (default 768)
  -a ARGS          extra kernel command line
  -t SECONDS       hard limit of the run (default 600); QEMU is killed after it
  QEMU_ARGS        more QEMU options (devices, drives), appended as they are
EOF2
}

kernel="" initrd="" console="" ctl="" socat_log="" mem=768 append="" limit=600 qmp=""
fwds=() hostfwds=()
while getopts "k:i:c:C:l:f:F:M:m:a:t:h" opt; do
	case $opt in
	k) kernel=$OPTARG ;;
	i) initrd=$OPTARG ;;
	c) console=$OPTARG ;;
	C) ctl=$OPTARG ;;
	l) socat_log=$OPTARG ;;
	f) fwds+=("$OPTARG") ;;
	F) hostfwds+=("$OPTARG") ;;
	M) qmp=$OPTARG ;;
	m) mem=$OPTARG ;;
	a) append=$OPTARG ;;
	t) limit=$OPTARG ;;
	h)
		usage
		exit 0
		;;
	*)
		usage >&2
		exit 2
		;;
	esac
done
shift $((OPTIND - 1))
if [ -z "$kernel" ] || [ -z "$initrd" ] || [ -z "$console" ] || [ -z "$ctl" ] ||
	[ -z "$socat_log" ]; then
	usage >&2
	exit 2
fi

netdev="user,id=net0,restrict=on,ipv6=off"
for f in "${fwds[@]}"; do
	guest=${f%%=*}
	host=${f#*=}
	case $host in
	127.0.0.1:[0-9]*) ;;
	*)
		echo "qemu_launch.sh: forwards go to 127.0.0.1 only, not '$host'" >&2
		exit 2
		;;
	esac
	# QEMU splits -netdev on commas, so the command has none; -lf keeps socat's messages out of
	# the forwarded byte stream.
	netdev+=",guestfwd=tcp:$guest-cmd:socat -lf $socat_log - TCP:$host"
done

for f in "${hostfwds[@]}"; do
	host=${f%%=*}
	guest=${f#*=}
	case $host in
	127.0.0.1:[0-9]*) ;;
	*)
		echo "qemu_launch.sh: host forwards listen on 127.0.0.1 only, not '$host'" >&2
		exit 2
		;;
	esac
	netdev+=",hostfwd=tcp:$host-$guest"
done
monitor=()
if [ -n "$qmp" ]; then
	monitor=(-qmp "unix:$qmp,server=on,wait=off")
fi

rm -f "$ctl.in" "$ctl.out"
mkfifo "$ctl.in" "$ctl.out"

# Software emulation by default: a /dev/kvm that is there does not mean it works (nested set-ups
# may hang the guest). KEEL_VM_ACCEL=kvm opts in.
accel=${KEEL_VM_ACCEL:-tcg}
cpu=max
if [ "$accel" = kvm ]; then
	cpu=host
fi

exec timeout -k 5 "$limit" qemu-system-x86_64 \
	-nodefaults -no-user-config -display none -no-reboot \
	-machine q35 -accel "$accel" -cpu "$cpu" -smp 1 -m "$mem" \
	-kernel "$kernel" -initrd "$initrd" \
	-append "console=ttyS0 panic=1 quiet loglevel=4 rdinit=/init $append" \
	-chardev file,id=con,path="$console" -serial chardev:con \
	-chardev pipe,id=ctl,path="$ctl" -serial chardev:ctl \
	-netdev "$netdev" -device virtio-net-pci,netdev=net0,romfile= \
	"${monitor[@]}" "$@"
