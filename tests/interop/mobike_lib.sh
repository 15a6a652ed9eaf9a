# shellcheck shell=bash
#
# tests/interop/mobike_lib.sh: MOBIKE (RFC 4555) helpers shared by
# tests/interop/test_mobike_*.sh and bench/mobike.sh. Sourced after lib.sh.
#
# One connection "m" (IKE and Child config), PSK, IKE aes256gcm16-prfsha256-
# x25519 (the suite sw_ike_keyrow can turn into a tshark decryption row), ESP
# aes256gcm16, tunnel between the inner /32s MOB_CL_IN (client) and MOB_GW_IN
# (gateway) on lo. Either end is riked or charon:
#
#   mob_gateway KIND NS NAME [LOCAL]    KIND rike|sw, waits for the client
#   mob_client  KIND NS NAME REMOTE     KIND rike|sw, initiates, waits for the SA
#
# Every charon logs its IKE keys (sw_keylog_conf), so tshark can look inside
# SK. riked's MOBIKE interface (config keys, log events, status fields) is
# the one fixed in notes/mobike-spec.md.

[[ -n ${RK_MOBIKE_LIB_LOADED:-} ]] && return 0
RK_MOBIKE_LIB_LOADED=1

MOB_IKE=aes256gcm16-prfsha256-x25519
MOB_ESP=aes256gcm16
MOB_CL_IN=10.10.1.1
MOB_GW_IN=10.10.2.1
MOB_CL_ID=cl.rike.test
MOB_GW_ID=gw.rike.test

# The wire checks use RFC 4555's notify types by number: 16396
# MOBIKE_SUPPORTED (3.3), 16400 UPDATE_SA_ADDRESSES (3.5), 16401 COOKIE2 (3.7).

# mob_riked_conf NAME LOCAL REMOTE LOCAL_ID REMOTE_ID LOCAL_TS REMOTE_TS START [EXTRA]
mob_riked_conf() {
	swrk_riked_conf "$1" "$(swrk_riked_conn m "$2" "$3" "$4" "$5" "$6" "$7" "$MOB_IKE" \
		"$MOB_ESP" "$8" "${9:-}")"
}

# strongswan.conf additions of charon NAME: its IKE keys for tshark, unless
# MOB_SW_KEYLOG=0 (the benchmark: no extra logging in the measured daemon).
mob_sw_extra() {
	[[ ${MOB_SW_KEYLOG:-1} == 0 ]] || sw_keylog_conf "$1"
}

# mob_gateway KIND NS NAME [LOCAL]: the gateway (responder, any peer
# address). LOCAL (riked only) defaults to %any. strongSwan's default is
# mobike = yes.
mob_gateway() {
	local kind=$1 ns=$2 name=$3
	case $kind in
	sw)
		sw_start "$ns" "$name" "$(mob_sw_extra "$name")"
		sw_load "$ns" "$name" "$(swrk_sw_conf m %any %any "$MOB_GW_ID" "$MOB_CL_ID" \
			"$MOB_GW_IN/32" "$MOB_CL_IN/32" "$MOB_IKE" "$MOB_ESP")" || rk_fail "swanctl load ($name)"
		;;
	rike)
		rk_start "$ns" "$name" "$(mob_riked_conf "$name" "${4:-%any}" %any "$MOB_GW_ID" \
			"$MOB_CL_ID" "$MOB_GW_IN/32" "$MOB_CL_IN/32" wait "${MOB_RK_EXTRA:-}")"
		;;
	*) rk_fail "mob_gateway: kind '$kind'" ;;
	esac
}

# mob_client KIND NS NAME REMOTE: the mobile client (initiator, local %any:
# it may use any of its addresses), started and up within 15 s.
mob_client() {
	local kind=$1 ns=$2 name=$3 remote=$4
	case $kind in
	sw)
		sw_start "$ns" "$name" "$(mob_sw_extra "$name")"
		sw_load "$ns" "$name" "$(swrk_sw_conf m %any "$remote" "$MOB_CL_ID" "$MOB_GW_ID" \
			"$MOB_CL_IN/32" "$MOB_GW_IN/32" "$MOB_IKE" "$MOB_ESP")" || rk_fail "swanctl load ($name)"
		sw_initiate "$ns" "$name" m m 15 || rk_fail "charon $name: initiate failed"
		;;
	rike)
		rk_start "$ns" "$name" "$(mob_riked_conf "$name" %any "$remote" "$MOB_CL_ID" \
			"$MOB_GW_ID" "$MOB_CL_IN/32" "$MOB_GW_IN/32" start "${MOB_RK_EXTRA:-}")"
		wait_until 15 mob_up rike "$name" || rk_fail "riked $name: SA not up"
		;;
	*) rk_fail "mob_client: kind '$kind'" ;;
	esac
}

# mob_state KIND NAME: one line "spi_i spi_r local remote child_in child_out
# n_ike mobike" for connection m (local/remote as ADDR:PORT; IPv6 in
# brackets; mobike = riked's status mobike.enabled, "-" for charon). Child
# SPIs of the live (not DELETED) Child SA; "-" when there is none.
mob_state() {
	case $1 in
	rike)
		rk_status_json "$2" 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
s = [x for x in d["sas"] if x["conn"] == "m"]
if not s:
    print("- - - - - - 0 -"); sys.exit(0)
a = s[0]
c = [x for x in a["children"] if x.get("installed")]
mob = a.get("mobike", {}).get("enabled", "-")
print(a["spi_i"], a["spi_r"], a["local"], a["remote"],
      c[0]["spi_in"] if c else "-", c[0]["spi_out"] if c else "-", len(s), str(mob).lower())'
		;;
	sw)
		sw_list_sas "" "$2" --ike m --raw 2>/dev/null | python3 -c '
import re, sys
raw = sys.stdin.read()
ev = raw.split("list-sa event {")[1:]
n = len(ev)
if not n:
    print("- - - - - - 0 -"); sys.exit(0)
e = ev[0]
def g(k, s=e):
    m = re.search(r"(?:^|[ {])%s=(\S+)" % re.escape(k), s)
    return m.group(1) if m else "-"
def hp(h, p):
    return ("[%s]:%s" % (h, p)) if ":" in h else ("%s:%s" % (h, p))
live = [c for c in re.findall(r"\{name=m (.*?)\}", e) if "state=DELETED" not in c]
ci = g("spi-in", live[0]) if live else "-"
co = g("spi-out", live[0]) if live else "-"
if e.find("state=ESTABLISHED") < 0:
    n = 0
print(g("initiator-spi"), g("responder-spi"), hp(g("local-host"), g("local-port")),
      hp(g("remote-host"), g("remote-port")), ci, co, n, "-")'
		;;
	esac
}

# mob_up KIND NAME: the IKE SA of m is ESTABLISHED with an installed Child SA.
mob_up() {
	local st
	st=$(mob_state "$1" "$2") || return 1
	read -r -a f <<<"$st"
	[[ ${f[6]} != 0 && ${f[4]} != - ]]
}

# mob_local KIND NAME / mob_remote KIND NAME: the IKE SA's current addresses
# (without the port).
mob_field() {
	local st v
	st=$(mob_state "$1" "$2") || return 1
	read -r -a f <<<"$st"
	v=${f[$3]}
	v=${v%:*}
	v=${v#[}
	echo "${v%]}"
}
mob_local() { mob_field "$1" "$2" 2; }
mob_remote() { mob_field "$1" "$2" 3; }

# mob_wait_local KIND NAME ADDR TIMEOUT: until the IKE SA's local address is ADDR.
mob_local_is() {
	[[ $(mob_local "$1" "$2") == "$3" ]]
}

# mob_ping_resumed LABEL T0: a reply to a request sent after T0 has come.
mob_ping_resumed() {
	local r
	r=$(ping_report "$1" "$2")
	[[ $(kv outage_ms "$r") != none ]]
}

# mob_same_sa BEFORE AFTER WHAT: the IKE SPIs (fields 1-2 of mob_state) are
# the same and there is exactly one IKE SA: the move was done by MOBIKE, not
# by a new IKE SA (strongSwan falls back to reauthentication, "which can
# look like success": INTEROP-NOTES.md). Child SPIs may change: strongSwan
# with kernel-libipsec cannot update an SA's addresses and rekeys the Child
# SA after a move instead (logged, not asserted).
mob_same_sa() {
	local -a b a
	read -r -a b <<<"$1"
	read -r -a a <<<"$2"
	[[ ${a[6]} == 1 ]] || rk_fail "$3: ${a[6]} IKE SAs after the move (state: $2)"
	[[ ${b[0]} == "${a[0]}" && ${b[1]} == "${a[1]}" ]] ||
		rk_fail "$3: IKE SPIs changed ${b[0]}_i ${b[1]}_r -> ${a[0]}_i ${a[1]}_r: a new IKE SA, not MOBIKE"
	if [[ ${b[4]} == "${a[4]}" ]]; then
		rk_log "$3: same IKE SA ${a[0]}_i ${a[1]}_r, same Child SA ${a[4]}/${a[5]}"
	else
		rk_log "$3: same IKE SA ${a[0]}_i ${a[1]}_r; Child SA ${b[4]}/${b[5]} -> ${a[4]}/${a[5]} (rekeyed)"
	fi
}

# mob_rk_events NAME: riked NAME's MOBIKE log lines (notes/mobike-spec.md).
mob_rk_events() {
	grep -E ' mobike-[a-z-]+( |$)' "$(rk_log_file "$1")"
}

# mob_wire_check CAP KEYROW T0 OLD NEW GW_OLD GW_NEW RR [T_END]
# The capture CAP (only what came before epoch time T_END, if given) (on the gateway side), decrypted with KEYROW, after the
# client's address change at epoch time T0 from OLD to NEW (the gateway from
# GW_OLD to GW_NEW; the same unless the family changes):
#  - one IKE_SA_INIT request in the whole capture (no new IKE SA);
#  - IKE_AUTH request and response both carry MOBIKE_SUPPORTED (RFC 4555 3.3);
#  - after T0, an INFORMATIONAL request NEW -> GW_NEW carrying
#    UPDATE_SA_ADDRESSES (3.5) and its response GW_NEW -> NEW;
#  - ESP NEW -> GW_NEW after the update and GW_NEW -> NEW after T0; no
#    ESP GW_OLD -> OLD once that has started;
#  - RR=1: the gateway's return-routability check (3.7): an INFORMATIONAL
#    request GW_NEW -> NEW with COOKIE2 after the update, answered from NEW
#    with COOKIE2, and ESP GW_NEW -> NEW no earlier than that request.
# Prints a summary (ms after T0); fails the test with what is missing.
mob_wire_check() {
	local cap=$1 key=$2 out
	tshark_ike "$cap" "$key" >"$RK_RUN/wire-ike.txt"
	tshark_esp "$cap" >"$RK_RUN/wire-esp.txt"
	out=$(python3 - "$RK_RUN/wire-ike.txt" "$RK_RUN/wire-esp.txt" "${@:3}" <<-'PYEOF'
		import sys
		ikef, espf, t0, old, new, gwo, gwn, rr = sys.argv[1:9]
		t0, rr = float(t0), rr == "1"
		tend = float(sys.argv[9]) if len(sys.argv) > 9 and sys.argv[9] else float("inf")
		ike = []
		for l in open(ikef):
		    f = l.split()
		    if len(f) < 8:
		        continue
		    if float(f[1]) >= tend:
		        continue
		    ike.append(dict(fr=int(f[0]), t=float(f[1]), src=f[2], dst=f[3], x=int(f[4]),
		                    r=f[5] in ("1", "True"), mid=f[6], n=set(f[7].split(",")) - {"-"}))
		esp = []
		for l in open(espf):
		    f = l.split()
		    if len(f) >= 5 and float(f[1]) < tend:
		        esp.append(dict(fr=int(f[0]), t=float(f[1]), src=f[2], dst=f[3], spi=f[4]))
		errs, notes = [], []
		ms = lambda t: "%+.1f ms" % ((t - t0) * 1000)
		init = [m for m in ike if m["x"] == 34 and not m["r"]]
		if len(init) != 1:
		    errs.append("%d IKE_SA_INIT requests (a new IKE SA?)" % len(init))
		auth = [m for m in ike if m["x"] == 35]
		if not any("16396" in m["n"] for m in auth if not m["r"]) or \
		   not any("16396" in m["n"] for m in auth if m["r"]):
		    errs.append("MOBIKE_SUPPORTED not in both IKE_AUTH messages (notifies: %s)" %
		                "; ".join(",".join(sorted(m["n"])) or "none" for m in auth))
		upd = [m for m in ike if m["x"] == 37 and not m["r"] and m["t"] >= t0 and
		       m["src"] == new and m["dst"] == gwn and "16400" in m["n"]]
		if not upd:
		    info = [m for m in ike if m["x"] == 37 and m["t"] >= t0]
		    errs.append("no INFORMATIONAL request %s -> %s with UPDATE_SA_ADDRESSES after T0 "
		                "(INFORMATIONALs after T0: %s)" % (new, gwn, "; ".join(
		                    "%s->%s %s mid %s [%s]" % (m["src"], m["dst"], "resp" if m["r"] else "req",
		                    m["mid"], ",".join(sorted(m["n"]))) for m in info) or "none"))
		    print("; ".join(errs)); sys.exit(1)
		u = upd[0]
		notes.append("update frame %d %s (mid %s, notifies %s)" % (u["fr"], ms(u["t"]), u["mid"],
		             ",".join(sorted(u["n"]))))
		resp = [m for m in ike if m["x"] == 37 and m["r"] and m["mid"] == u["mid"] and
		        m["src"] == gwn and m["dst"] == new and m["t"] >= u["t"]]
		if not resp:
		    errs.append("no INFORMATIONAL response %s -> %s to the update" % (gwn, new))
		else:
		    notes.append("response frame %d %s" % (resp[0]["fr"], ms(resp[0]["t"])))
		up_new = [p for p in esp if p["src"] == new and p["dst"] == gwn and p["t"] >= u["t"]]
		dn_new = [p for p in esp if p["src"] == gwn and p["dst"] == new and p["t"] >= t0]
		if not up_new:
		    errs.append("no ESP %s -> %s after the update" % (new, gwn))
		else:
		    notes.append("ESP client->gw from %s %s (%d pkts)" % (new, ms(up_new[0]["t"]), len(up_new)))
		if not dn_new:
		    errs.append("no ESP %s -> %s" % (gwn, new))
		else:
		    first = dn_new[0]["t"]
		    notes.append("ESP gw->%s %s (%d pkts)" % (new, ms(first), len(dn_new)))
		    stale = [p for p in esp if p["src"] == gwo and p["dst"] == old and p["t"] > first]
		    if stale:
		        errs.append("%d ESP packets %s -> %s after ESP went to %s (last %s)" % (
		            len(stale), gwo, old, new, ms(stale[-1]["t"])))
		    chk = [m for m in ike if m["x"] == 37 and not m["r"] and m["src"] == gwn and
		           m["dst"] == new and m["t"] >= u["t"]]
		    ck = [m for m in chk if "16401" in m["n"]]
		    if not rr:
		        notes.append("gateway COOKIE2 check: %s" % (
		            "frame %d %s" % (ck[0]["fr"], ms(ck[0]["t"])) if ck else "none"))
		    else:
		        if not ck:
		            errs.append("no return-routability check: no INFORMATIONAL request %s -> %s "
		                        "with COOKIE2 after the update (gateway requests: %s)" % (
		                        gwn, new, "; ".join("mid %s [%s]" % (m["mid"], ",".join(sorted(m["n"])))
		                                            for m in chk) or "none"))
		        else:
		            c = ck[0]
		            notes.append("RR check frame %d %s (mid %s)" % (c["fr"], ms(c["t"]), c["mid"]))
		            cr = [m for m in ike if m["x"] == 37 and m["r"] and m["mid"] == c["mid"] and
		                  m["src"] == new and m["dst"] == gwn and "16401" in m["n"]]
		            if not cr:
		                errs.append("the RR check (mid %s) got no response with COOKIE2" % c["mid"])
		            if first < c["t"]:
		                errs.append("ESP went to %s (%s) before the RR check (%s)" % (
		                    new, ms(first), ms(c["t"])))
		if errs:
		    print("; ".join(errs + ["seen: " + "; ".join(notes)]))
		    sys.exit(1)
		print("; ".join(notes))
	PYEOF
	) || rk_fail "on the wire: $out"
	rk_log "on the wire: $out"
}

# mob_report WHAT LABEL T_EVENT [T_MON]: log the ping stream's figures
# around the change handed to ip at epoch time T_EVENT (RK_DEL_T0; T_MON:
# when ip monitor read it, from mon_event_time; the outage runs from
# T_EVENT to the first reply to a request sent after T_MON); fail when traffic did not
# resume or the last 50 requests were not all answered. Loss and outage are
# reported, not asserted (timing targets live in bench/mobike.sh).
mob_report() {
	local r
	r=$(ping_report "$2" "$3" 0 "${4:-$3}")
	rk_log "$1: pings $r (from the change handed to ip; ip monitor read it at ${4:+$(mob_ms "$3" "$4")} ms, seen done at $(mob_ms "$3" "$RK_DEL_T1") ms)"
	[[ $(kv outage_ms "$r") != none ]] || rk_fail "$1: no ping answered after the change"
	(($(kv after "$r") >= 50)) || rk_fail "$1: only $(kv after "$r") pings answered after the change"
	[[ $(kv tail_lost "$r") == 0 ]] || rk_fail "$1: pings still lost at the end ($r)"
	# shellcheck disable=SC2034 # read by the callers
	MOB_LAST_REPORT=$r
}

# mob_ms T0 T: (T - T0) in ms, one decimal.
mob_ms() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.1f", (b - a) * 1000 }'
}
