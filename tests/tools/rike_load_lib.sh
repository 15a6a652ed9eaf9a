# Sourced by test_rike_load.sh and test_rike_load_traffic.sh (after
# tests/interop/lib.sh): riked as a road-warrior gateway on loopback in
# namespace l, and rike-load against it.
#
#   rike-load 127.0.0.2:15500/15501  ->  riked 127.0.0.1:15500/15501
#   clients' inner 10.128.0.0+i          TSr 10.0.0.1/32

LOAD=$(rk_bin_dir)/rike-load
[[ -x $LOAD ]] || rk_fail "rike-load not built: $LOAD"
PSK=0x6c6f61642d746573742d736563726574

# load_gw_start: namespace l with riked "gw" for every client identity;
# its configuration stays in GW_CONF.
load_gw_start() {
	ns_create l
	ns_addr l lo 10.0.0.1/32
	GW_CONF=$(swrk_riked_conf gw "{ name = \"clients\"; local = \"127.0.0.1\"; remote = \"%any\";
  local_ts = [ \"10.0.0.1/32\" ]; remote_ts = [ \"10.128.0.0/10\" ];
  local_id = \"gw.load.example\"; remote_id = \"%any\";
  auth = { method = \"psk\"; secret = \"$PSK\"; };
  ike_proposals = [ \"aes128gcm16-prfsha256-x25519\" ]; esp_proposals = [ \"aes128gcm16\" ]; }")
	# One source address for every client: the per-source half-open cap goes up.
	GW_CONF=${GW_CONF/dataplane = \"userspace\";/dataplane = \"userspace\"; ike_port = 15500; natt_port = 15501; half_open_per_source = 100000; half_open_cookie_threshold = 100000;}
	GW_CONF=${GW_CONF/log_level = \"debug\"/log_level = \"notice\"}
	rk_start l gw "$GW_CONF"
}

# run_load SECS OUT ARGS...: rike-load in namespace l against gw, bounded
# by SECS; stdout to $RK_RUN/OUT, stderr to $RK_RUN/OUT.err.
run_load() {
	local secs=$1 out=$2
	shift 2
	timeout "$secs" ip netns exec "$(ns_name l)" "$LOAD" --remote 127.0.0.1 --local 127.0.0.2 \
		--port 15500 --natt-port 15501 --ike aes128gcm16-prfsha256-x25519 --esp aes128gcm16 \
		--remote-id gw.load.example "$@" >"$RK_RUN/$out" 2>"$RK_RUN/$out.err"
}
