#!/bin/bash
# bench/mobike_announce.sh: a riked gateway holding N MOBIKE clients gets a
# new address; RFC 4555 3.6 has it tell every client, one INFORMATIONAL
# exchange each. How long until all have been told, and what the burst
# costs (the gateway's retransmissions, the clients' dropped datagrams),
# with announcements paced at mobike_announce_rate and, for comparison,
# effectively unpaced (1,000,000 per second).
#
#   [ns c] rike-load --mobike 10.77.0.1 ==== veth ==== 10.77.0.2 riked [ns g]
#                                            (+ 10.77.0.22 at t0)
#
# Per rate: riked starts, rike-load sets up N clients with MOBIKE and holds
# them; at t0 the gateway's veth gets a second address; riked's status is
# read every 100 ms until mobike_announcements reaches N (bounded). Printed:
# time to the last announcement, the gateway's IKE retransmissions and
# the client namespace's UDP receive-buffer drops during the wave.
#
# Environment: N (clients, default 20000), RATES (default "1000 1000000"),
# RIKE_BIN (a build directory, default build/), BOUND_S (120), TRACE=1 (log
# the count every poll), RIKED_LOG_LEVEL (warning; debug logs each
# announcement), RIKE_KEEP=1 (keep the run directory). Needs root.
set -u -o pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
export RIKE_BIN=${RIKE_BIN:-$SRC/build}
# shellcheck source=../tests/interop/lib.sh
source "$SRC/tests/interop/lib.sh"

N=${N:-20000}
RATES=${RATES:-1000 1000000}
BOUND_S=${BOUND_S:-120}
PSK=bench-mobike-announce-key
GW=10.77.0.2
GW2=10.77.0.22
CL=10.77.0.1

skip_unless_root
rk_need
need_cmd python3

ns_create c
ns_create g
link_ns c g $CL/24 $GW/24

riked_conf() {
	cat <<-EOF
		riked = { log = "stderr"; log_level = "${RIKED_LOG_LEVEL:-warning}"; dataplane = "userspace";
		          control_socket = "/run/riked.sock"; state_dir = "$(rk_dir "$1")/state";
		          half_open_per_source = 1000000; half_open_cookie_threshold = 1000000;
		          half_open_max = 1000000; qcd = { enabled = false; };
		          mobike_announce_rate = $2; };
		connections = ( { name = "clients"; local = "$GW"; remote = "%any";
		  local_id = "gw.load.example"; remote_id = "%any"; mobike = true;
		  auth = { method = "psk"; secret = "$PSK"; };
		  local_ts = [ "10.0.0.1/32" ]; remote_ts = [ "10.128.0.0/10" ];
		  ike_proposals = [ "aes128gcm16-prfsha256-x25519" ];
		  esp_proposals = [ "aes128gcm16" ]; } );
	EOF
}

# gw_stats NAME KEY...: riked NAME's status counters KEY..., one per line
gw_stats() {
	local name=$1
	shift
	rk_ctl "$name" status --json 2>/dev/null | python3 -c 'import json, sys
d = json.load(sys.stdin)["result"]
s = d.get("stats", d)
for k in sys.argv[1:]:
    print(s.get(k, -1))' "$@"
}

udp_rcvbuf_errors() {
	ns_exec c cat /proc/net/snmp | awk '/^Udp:/ { if (h) { print $6; exit } h = 1 }'
}

results=()
for rate in $RATES; do
	name=g$rate
	rk_start g "$name" "$(riked_conf "$name" "$rate")"
	rk_log "rate $rate: $N MOBIKE clients"
	ns_exec c "$RIKE_BIN/rike-load" --remote $GW --local $CL --psk "$PSK" \
		--remote-id gw.load.example --ike aes128gcm16-prfsha256-x25519 --esp aes128gcm16 \
		--count "$N" --concurrency 100 --timeout 60 --time-limit 300 --mobike \
		--hold $((BOUND_S + 60)) --json >"$RK_RUN/$name.json" 2>"$RK_RUN/$name.err" &
	load_pid=$!
	up=0
	for ((i = 0; i < 3000; i++)); do
		up=$(gw_stats "$name" sa_established)
		((up >= N)) && break
		sleep 0.1
	done
	((up >= N)) || rk_fail "rate $rate: only $up of $N clients up"
	sleep 1
	read -r rtx0 < <(gw_stats "$name" retransmits)
	ann0=$(gw_stats "$name" mobike_announcements)
	rk_log "rate $rate: $up clients up, $ann0 announcements before the change"
	drops0=$(udp_rcvbuf_errors)
	t0=$(rk_now_us)
	ns_exec g ip addr add $GW2/24 dev to_c || rk_fail "address"
	sent=0
	for ((i = 0; i < BOUND_S * 10; i++)); do
		sent=$(($(gw_stats "$name" mobike_announcements) - ann0))
		[[ -n ${TRACE:-} ]] && rk_log "  $((($(rk_now_us) - t0) / 1000)) ms: $sent announced"
		((sent >= N)) && break
		sleep 0.1
	done
	t1=$(rk_now_us)
	sleep 2 # answers and retransmissions of the last ones
	read -r rtx1 < <(gw_stats "$name" retransmits)
	drops1=$(udp_rcvbuf_errors)
	secs=$(python3 -c "print(f'{($t1 - $t0) / 1e6:.2f}')")
	line="rate $rate/s: $sent of $N announced in $secs s; gateway retransmits $((rtx1 - rtx0)); client UDP rcvbuf drops $((drops1 - drops0))"
	rk_log "$line"
	results+=("$line")
	kill "$load_pid" 2>/dev/null
	wait "$load_pid" 2>/dev/null
	rk_stop g "$name"
	ns_exec g ip addr del $GW2/24 dev to_c 2>/dev/null
done
printf '%s\n' "${results[@]}"
rk_pass "mobike_announce: done"
