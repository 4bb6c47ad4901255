# Host-side helpers for guest tests (sourced after test/common/autotest_common.sh): build or find
# the cached guest image, boot it with a per-run overlay, and serve its control channel: result
# lines are printed as they come, "@@ CMD ARGS" requests go to the test's handler, whose reply
# goes back to the guest. The guest is stopped by the EXIT trap, by its PID.

VM_COMMON_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VM_PID=""
VM_RUN=$TEST_TMP/vm
mkdir -p "$VM_RUN"

# vm_cache_dir: where downloaded packages and built images are kept between runs (never in the
# repository): $KEEL_VM_CACHE, else /var/cache/keel-vm for root, else ~/.cache/keel-vm.
vm_cache_dir() {
	if [ -n "${KEEL_VM_CACHE:-}" ]; then
		echo "$KEEL_VM_CACHE"
	elif [ "$(id -u)" -eq 0 ]; then
		echo /var/cache/keel-vm
	else
		echo "${XDG_CACHE_HOME:-$HOME/.cache}/keel-vm"
	fi
}

# vm_need_tools: every host tool the harness uses is there; prints what is missing.
vm_need_tools() {
	local t missing=()
	for t in qemu-system-x86_64 socat apt-get apt-cache dpkg-deb ldd python3 timeout mkfifo; do
		command -v "$t" > /dev/null 2>&1 || missing+=("$t")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "missing host tools: ${missing[*]} (scripts/pkgdep.sh installs them)"
		return 1
	fi
}

# vm_build_image NAME MKINITRAMFS_ARGS...: sets VM_KERNEL, VM_INITRD, VM_KVER. On failure the
# reason is in VM_ERROR and the status is non-zero.
vm_build_image() {
	local name=$1 out line
	shift
	VM_ERROR=""
	out=$(timeout -k 10 "${VM_BUILD_LIMIT:-400}" python3 "$VM_COMMON_DIR/mkinitramfs.py" image \
		--cache "$(vm_cache_dir)" --name "$name" "$@" 2> "$VM_RUN/build.log")
	local rc=$?
	cat "$VM_RUN/build.log"
	if [ $rc -ne 0 ]; then
		VM_ERROR=$(grep 'error:' "$VM_RUN/build.log" | tail -n 1)
		if [ $rc -eq 124 ]; then
			VM_ERROR="not done within ${VM_BUILD_LIMIT:-400} s"
		fi
		[ -n "$VM_ERROR" ] || VM_ERROR="mkinitramfs.py exited with status $rc"
		return 1
	fi
	while IFS= read -r line; do
		case $line in
		KERNEL=*) VM_KERNEL=${line#KERNEL=} ;;
		INITRD=*) VM_INITRD=${line#INITRD=} ;;
		KVER=*) VM_KVER=${line#KVER=} ;;
		esac
	done <<< "$out"
}

# vm_start OVERLAY_DIR LIMIT_S QEMU_LAUNCH_ARGS...: boots the image with OVERLAY_DIR's files
# over it (its etc/keel-vm/run is the test), the console in $VM_RUN/console.log.
vm_start() {
	local overlay=$1 limit=$2
	shift 2
	python3 "$VM_COMMON_DIR/mkinitramfs.py" overlay "$overlay" "$VM_RUN/overlay.cpio" || return 1
	cat "$VM_INITRD" "$VM_RUN/overlay.cpio" > "$VM_RUN/initrd.img" || return 1
	: > "$VM_RUN/console.log"
	"$VM_COMMON_DIR/qemu_launch.sh" -k "$VM_KERNEL" -i "$VM_RUN/initrd.img" \
		-c "$VM_RUN/console.log" -C "$VM_RUN/ctl" -l "$VM_RUN/socat.log" -t "$limit" "$@" \
		> "$VM_RUN/qemu.log" 2>&1 &
	VM_PID=$!
	local i
	for ((i = 0; i < 100; i++)); do
		[ -p "$VM_RUN/ctl.out" ] && [ -p "$VM_RUN/ctl.in" ] && break
		sleep 0.1
	done
	# Read-write opens do not wait for the other end.
	exec {VM_CTL_OUT}<> "$VM_RUN/ctl.out"
	exec {VM_CTL_IN}<> "$VM_RUN/ctl.in"
	VM_START_S=$SECONDS
}

# vm_reply LINE: the answer to the guest's current request.
vm_reply() {
	printf '%s\n' "$*" >&"$VM_CTL_IN"
}

# vm_serve HANDLER DEADLINE_S: until the guest says "@@ done" or QEMU ends or DEADLINE_S
# seconds after vm_start pass: prints PASS:/FAIL: lines with a "guest: " prefix, calls
# "HANDLER CMD ARGS..." for each request (it must call vm_reply once; "log" is answered here).
# Returns 0 if the guest finished and reported no failure.
vm_serve() {
	local handler=$1 deadline=$2 line done_status=""
	while :; do
		if ((SECONDS - VM_START_S > deadline)); then
			fail "guest: finished within ${deadline} s"
			vm_stop
			VM_QEMU_STATUS=killed
			break
		fi
		if ! IFS= read -r -t 2 line <&"$VM_CTL_OUT"; then
			if ! kill -0 "$VM_PID" 2> /dev/null; then
				# Drain what the guest wrote before QEMU ended.
				while IFS= read -r -t 0.2 line <&"$VM_CTL_OUT"; do
					vm_line "$handler" "${line%$'\r'}" && break 2
				done
				wait "$VM_PID" 2> /dev/null
				VM_QEMU_STATUS=$?
				VM_PID=""
				if [ "$VM_QEMU_STATUS" -eq 124 ]; then
					fail "guest: finished within ${deadline} s (QEMU killed at the limit)"
				else
					fail "guest: reports its end (QEMU exited without it)"
				fi
				break
			fi
			continue
		fi
		vm_line "$handler" "${line%$'\r'}" && break
	done
	if [ -n "$VM_PID" ]; then
		# The guest said it is done and powers off; QEMU ends by itself or at the limit.
		wait "$VM_PID" 2> /dev/null
		VM_QEMU_STATUS=$?
		VM_PID=""
	fi
	echo "guest ran $((SECONDS - VM_START_S)) s; QEMU exit status $VM_QEMU_STATUS"
	[ "$done_status" = 0 ]
}

# vm_line HANDLER LINE: one line from the guest; returns 0 when it is the last.
vm_line() {
	local handler=$1 line=$2 req
	case $line in
	"PASS: "*) pass "guest: ${line#PASS: }" ;;
	"FAIL: "*) fail "guest: ${line#FAIL: }" ;;
	"@@ done"*)
		done_status=${line#@@ done }
		return 0
		;;
	"@@ log "*)
		echo "guest: ${line#@@ log }"
		vm_reply ok
		;;
	"@@ "*)
		req=${line#@@ }
		echo "guest asks: $req"
		# shellcheck disable=SC2086 # the request's words are the handler's arguments
		$handler $req || true
		;;
	*) echo "guest: $line" ;;
	esac
	return 1
}

# vm_stop: QEMU killed if it still runs (the EXIT trap calls it too).
vm_stop() {
	if [ -n "$VM_PID" ] && kill -0 "$VM_PID" 2> /dev/null; then
		kill -TERM "$VM_PID" 2> /dev/null
		sleep 1
		kill -0 "$VM_PID" 2> /dev/null && kill -KILL "$VM_PID" 2> /dev/null
		wait "$VM_PID" 2> /dev/null
	fi
	VM_PID=""
}

# vm_dump_logs: the guest console's tail and socat's messages, for a failed run.
vm_dump_logs() {
	echo "--- guest console (last 60 lines)"
	tail -n 60 "$VM_RUN/console.log" 2> /dev/null
	echo "--- qemu"
	tail -n 20 "$VM_RUN/qemu.log" 2> /dev/null
	echo "--- socat"
	tail -n 20 "$VM_RUN/socat.log" 2> /dev/null
}

trap 'vm_stop; cleanup' EXIT
