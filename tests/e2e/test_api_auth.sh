#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# The peer's credentials decide: root and agent.admin_group change state, other users who can
# connect only read and get 403 (audited); the TCP listener answers nothing without the token.
. "$(dirname "$0")/lib.sh"
require_root
setup_netns || { fail "setup" "cannot create namespaces"; exit 1; }
RGROUP="aegr$ID"
AGROUP="aega$ID"
groupadd "$RGROUP" && groupadd "$AGROUP" || { fail "setup" "groupadd"; exit 1; }
on_cleanup groupdel "$RGROUP"
on_cleanup groupdel "$AGROUP"
chmod 755 "$TMP"	# let other users reach the socket; its own mode (0660) decides
PORT=$((20000 + ID % 20000))
head -c 24 /dev/urandom | base64 >"$TMP/token"
chmod 600 "$TMP/token"
write_config
sed -i "s|^  log_level: .*|&\n  socket_group: $RGROUP\n  admin_group: $AGROUP\n  listen_tcp: 127.0.0.1:$PORT\n  token_file: $TMP/token|" "$TMP/agent.yaml"
start_agent || { fail "agent starts" "$(tail -5 "$TMP/agent.log")"; exit 1; }

as_reader() { runuser -u nobody -G "$RGROUP" -- "$AEGIS" --socket "$SOCK" "$@"; }
as_admin() { runuser -u nobody -G "$RGROUP" -G "$AGROUP" -- "$AEGIS" --socket "$SOCK" "$@"; }

check "the socket is mode 0660, group $RGROUP" bash -c "[ \"\$(stat -c '%a %G' '$SOCK')\" = '660 $RGROUP' ]"
check "a socket_group member reads status" as_reader status
out=$(as_reader guard mode block 2>&1); rc=$?
if [ $rc -eq 1 ] && echo "$out" | grep -q "permission denied" && echo "$out" | grep -q "403"; then
	pass "a reader is refused a change with 403"
else
	fail "a reader is refused a change with 403" "rc=$rc $out"
fi
jcheck "the refused change changed nothing" '.interfaces[0].mode == "observe"' guard --json
check "the refusal is audited with the peer's uid" bash -c "jq -s -e '[.[] | select(.op == \"guard.mode\" and .result == \"refused\" and .actor.uid == 65534 and .actor.comm == \"aegis\")] | length == 1' '$TMP/audit.jsonl'"
check_fails "a reader may not read the audit log" as_reader audit
out=$(runuser -u nobody -- "$AEGIS" --socket "$SOCK" status 2>&1); rc=$?
if [ $rc -eq 1 ] && echo "$out" | grep -q "permission denied on"; then pass "a user outside socket_group cannot connect, and is told why"; else fail "a user outside socket_group cannot connect" "rc=$rc $out"; fi
check "an admin_group member changes the mode" as_admin guard mode block
jcheck "the change took effect" '.interfaces[0].mode == "block"' guard --json
check "the change is audited with the peer's uid" bash -c "jq -s -e '[.[] | select(.op == \"guard.mode\" and .result == \"ok\" and .actor.uid == 65534 and .to == \"block\")] | length == 1' '$TMP/audit.jsonl'"
check "root changes the mode" cli guard mode observe
check "bad request bodies get 400 naming the problem" bash -c "curl -s --unix-socket '$SOCK' -X POST -d '{\"mode\": 5}' http://l/v1/guard/mode | grep -q 'body must be'"
check "malformed JSON gets 400 with its position" bash -c "curl -s --unix-socket '$SOCK' -X POST -d '{\"mode\": ' http://l/v1/guard/mode | grep -q 'not valid JSON: line 1'"
check "an unknown endpoint gets 404" bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --unix-socket '$SOCK' http://l/v1/nope)\" = 404 ]"
check "a wrong method gets 405" bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --unix-socket '$SOCK' -X DELETE http://l/v1/status)\" = 405 ]"

code=$(in_srv curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v1/status")
if [ "$code" = 401 ]; then pass "TCP without the token gets 401"; else fail "TCP without the token gets 401" "got $code"; fi
code=$(in_srv curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer wrong-token-wrong-token" "http://127.0.0.1:$PORT/v1/status")
if [ "$code" = 401 ]; then pass "TCP with a wrong token gets 401"; else fail "TCP with a wrong token gets 401" "got $code"; fi
code=$(in_srv curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(cat "$TMP/token")" "http://127.0.0.1:$PORT/v1/status")
if [ "$code" = 200 ]; then pass "TCP with the token gets 200"; else fail "TCP with the token gets 200" "got $code"; fi
check "TCP refusals are audited" audit_has request refused "token"
finish
