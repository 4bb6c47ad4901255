# Helpers for guest-side test scripts (busybox sh), sourced by /init and by the test's
# /etc/keel-vm/run. Results and requests go to the host over fd 3 (the second serial port,
# opened by /init); the host prints PASS:/FAIL: lines as they come and answers "@@" requests.

if ! { true >&3; } 2> /dev/null; then
	exec 3<> /dev/ttyS1
fi

# vm_say LINE: one line to the host (and to the console, for the log).
vm_say() {
	printf '%s\n' "$*" >&3
	printf 'keel-vm: %s\n' "$*" > /dev/console
}

VM_FAILED=0
vm_pass() { vm_say "PASS: $*"; }
vm_fail() {
	vm_say "FAIL: $*"
	VM_FAILED=$((VM_FAILED + 1))
}

# vm_check NAME CMD...: PASS if CMD exits 0; its output goes to the console.
vm_check() {
	local name=$1
	shift
	if "$@" > /dev/console 2>&1; then
		vm_pass "$name"
		return 0
	fi
	vm_fail "$name"
	return 1
}

# vm_log MSG: a note on the host's log (not a result).
vm_log() {
	vm_say "@@ log $*"
	vm_host_reply > /dev/null
}

# vm_host_reply [TIMEOUT_S]: the host's next reply line, without its CR; fails on timeout.
vm_host_reply() {
	local line
	if read -r -t "${1:-120}" line <&3; then
		printf '%s\n' "${line%"$(printf '\r')"}"
		return 0
	fi
	return 1
}

# vm_host CMD ARGS...: ask the host to do CMD; prints its reply ("ok ...", "error ...").
# Exits non-zero unless the reply starts with "ok".
vm_host() {
	local reply
	vm_say "@@ $*"
	reply=$(vm_host_reply "${VM_HOST_TIMEOUT:-180}") || {
		echo "no reply from the host to: $*"
		return 1
	}
	echo "$reply"
	case "$reply" in
	ok*) return 0 ;;
	*) return 1 ;;
	esac
}
